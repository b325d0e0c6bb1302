"""Hostile model programs and the sandbox reason each one must produce.

Every program defines (or tries to define) a top-level function ``f()`` that the
tests call with no arguments and ``timeout_s=1.0``.
"""

from __future__ import annotations

# (identifier, expected reason, source)
HOSTILE_PROGRAMS: list[tuple[str, str, str]] = [
    # ---- imports outside numpy and math ---------------------------------------------------
    ("import_os", "forbidden_import", "import os\ndef f():\n    return os.getcwd()\n"),
    ("import_sys", "forbidden_import", "import sys\ndef f():\n    return sys.path\n"),
    (
        "import_subprocess",
        "forbidden_import",
        "import subprocess\ndef f():\n    return subprocess.run(['id'])\n",
    ),
    (
        "import_socket",
        "forbidden_import",
        "def f():\n    import socket\n    return socket.socket()\n",
    ),
    (
        "import_importlib",
        "forbidden_import",
        "import importlib\ndef f():\n    return importlib.import_module('os')\n",
    ),
    (
        "import_ctypes",
        "forbidden_import",
        "import ctypes\ndef f():\n    return ctypes.CDLL(None)\n",
    ),
    (
        "import_pickle",
        "forbidden_import",
        "import pickle\ndef f():\n    return pickle.loads(b'')\n",
    ),
    (
        "from_os_import_system",
        "forbidden_import",
        "from os import system\ndef f():\n    return system('id')\n",
    ),
    (
        "from_numpy_import_load",
        "forbidden_import",
        "from numpy import load\ndef f():\n    return load('x.npy')\n",
    ),
    ("from_numpy_import_star", "forbidden_import", "from numpy import *\ndef f():\n    return 1\n"),
    (
        "import_numpy_ctypeslib",
        "forbidden_import",
        "import numpy.ctypeslib\ndef f():\n    return 1\n",
    ),
    (
        "from_numpy_lib_import",
        "forbidden_import",
        "from numpy.lib import stride_tricks\ndef f():\n    return 1\n",
    ),
    ("import_numpy_testing", "forbidden_import", "import numpy.testing\ndef f():\n    return 1\n"),
    ("relative_import", "forbidden_import", "from . import secrets\ndef f():\n    return 1\n"),
    (
        "kill_parent",
        "forbidden_import",
        "import os\nimport signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n",
    ),
    ("fork_bomb", "forbidden_import", "import os\ndef f():\n    while True:\n        os.fork()\n"),
    # ---- underscore names and introspection ----------------------------------------------
    ("dunder_import", "forbidden_name", "def f():\n    return __import__('os').getcwd()\n"),
    ("builtins_dict", "forbidden_name", "def f():\n    return __builtins__['eval']('1')\n"),
    (
        "class_mro_walk",
        "forbidden_name",
        "def f():\n    return ().__class__.__mro__[1].__subclasses__()\n",
    ),
    (
        "class_base_subclasses",
        "forbidden_name",
        "def f():\n    return [c for c in ().__class__.__base__.__subclasses__()]\n",
    ),
    ("function_globals", "forbidden_name", "def f():\n    return f.__globals__['__builtins__']\n"),
    ("lambda_code", "forbidden_name", "def f():\n    return (lambda: 0).__code__\n"),
    (
        "generator_frame",
        "forbidden_name",
        "def f():\n    g = (x for x in [1])\n    return g.gi_frame.f_back.f_globals\n",
    ),
    (
        "frame_globals",
        "forbidden_name",
        "def f():\n    g = (x for x in [1])\n    frame = g.gi_frame\n    return frame.f_globals\n",
    ),
    (
        "coroutine_frame",
        "forbidden_name",
        "async def g():\n    return 1\ndef f():\n    return g().cr_frame\n",
    ),
    (
        "traceback_frame",
        "forbidden_name",
        "def f():\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
        "        return e.__traceback__.tb_frame\n",
    ),
    ("mro_method", "forbidden_name", "def f():\n    return int.mro()\n"),
    ("private_name", "forbidden_name", "_secret = 1\ndef f():\n    return _secret\n"),
    (
        "dunder_method_def",
        "forbidden_name",
        "class A:\n    def __init__(self):\n        pass\ndef f():\n    return 1\n",
    ),
    ("class_slots", "forbidden_name", "class A:\n    __slots__ = ()\ndef f():\n    return 1\n"),
    (
        "match_class_attribute",
        "forbidden_name",
        "def f():\n    match 1:\n        case int(__class__=c):\n            return c\n",
    ),
    (
        "format_field_dunder",
        "forbidden_name",
        "def f():\n    return '{0.__class__.__mro__}'.format(1)\n",
    ),
    # ---- forbidden builtins -----------------------------------------------------------------
    ("open_passwd", "forbidden_name", "def f():\n    return open('/etc/passwd').read()\n"),
    ("exec_call", "forbidden_name", "def f():\n    exec('x = 1')\n    return 1\n"),
    ("eval_call", "forbidden_name", "def f():\n    return eval('1 + 1')\n"),
    ("compile_call", "forbidden_name", "def f():\n    return compile('1', 'x', 'eval')\n"),
    ("exec_decorator", "forbidden_name", "@exec\ndef g():\n    pass\ndef f():\n    return 1\n"),
    (
        "lambda_default_globals",
        "forbidden_name",
        "def f():\n    return (lambda g=globals: g())()\n",
    ),
    (
        "getattr_built_name",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return getattr(np, 'lo' + 'ad')('x.npy')\n",
    ),
    ("vars_module", "forbidden_name", "import numpy as np\ndef f():\n    return vars(np)\n"),
    (
        "setattr_call",
        "forbidden_name",
        "import numpy as np\ndef f():\n    setattr(np, 'x', 1)\n    return 1\n",
    ),
    ("type_call", "forbidden_name", "def f():\n    return type(f)\n"),
    ("memoryview_call", "forbidden_name", "def f():\n    return memoryview(b'ab')\n"),
    ("breakpoint_call", "forbidden_name", "def f():\n    breakpoint()\n"),
    ("exit_call", "forbidden_name", "def f():\n    exit(0)\n"),
    ("global_statement", "forbidden_name", "x = 1\ndef f():\n    global x\n    return x\n"),
    (
        "nonlocal_statement",
        "forbidden_name",
        "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2\n"
        "    g()\n    return x\n",
    ),
    # ---- numpy file, pickle, ctypes and raw-memory doors ------------------------------------
    ("np_load", "forbidden_name", "import numpy as np\ndef f():\n    return np.load('x.npy')\n"),
    (
        "np_save",
        "forbidden_name",
        "import numpy as np\ndef f():\n    np.save('x.npy', np.zeros(3))\n    return 1\n",
    ),
    (
        "np_fromfile",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.fromfile('/etc/passwd', dtype=np.uint8)\n",
    ),
    (
        "np_savetxt",
        "forbidden_name",
        "import numpy as np\ndef f():\n    np.savetxt('x.txt', np.zeros(3))\n    return 1\n",
    ),
    (
        "np_memmap",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.memmap('x', mode='w+', shape=(3,))\n",
    ),
    (
        "np_tofile",
        "forbidden_name",
        "import numpy as np\ndef f():\n    np.zeros(3).tofile('x.bin')\n    return 1\n",
    ),
    (
        "np_lib_stride_tricks",
        "forbidden_name",
        "import numpy as np\ndef f():\n"
        "    return np.lib.stride_tricks.as_strided(np.zeros(1), (9,))\n",
    ),
    (
        "np_ctypeslib",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.ctypeslib.as_array(0, (1,))\n",
    ),
    (
        "array_ctypes",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.zeros(1).ctypes\n",
    ),
    (
        "np_datasource",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.DataSource().open('/etc/passwd')\n",
    ),
    ("np_testing", "forbidden_name", "import numpy as np\ndef f():\n    return np.testing\n"),
    ("np_f2py", "forbidden_name", "import numpy as np\ndef f():\n    return np.f2py\n"),
    (
        "np_module_chain_os",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.ma.core.os.getcwd()\n",
    ),
    (
        "np_module_chain_functools",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.polynomial.polyutils.functools.reduce\n",
    ),
    (
        "memoryview_cast_pointers",
        "forbidden_name",
        "import numpy as np\ndef f():\n    o = np.array([1.5], dtype=object)\n"
        "    return o.data.cast('B')\n",
    ),
    (
        "resize_without_refcheck",
        "forbidden_name",
        "import numpy as np\ndef f():\n    a = np.zeros(4)\n    v = a[:]\n"
        "    a.resize(10**6, refcheck=False)\n    return v\n",
    ),
    (
        "array_dump_pickle",
        "forbidden_name",
        "import numpy as np\ndef f():\n    return np.zeros(2).dumps()\n",
    ),
    # ---- paths that pass the static check but are stopped at run time ----------------------
    (
        "fake_object_from_buffer",
        "runtime_error",
        "import numpy as np\ndef f():\n    raw = np.array([4702111234474983745], dtype=np.int64)\n"
        "    forged = np.ndarray((1,), dtype=object, buffer=raw)\n    return repr(forged[0])\n",
    ),
    (
        "fake_object_struct_field",
        "runtime_error",
        "import numpy as np\ndef f():\n    raw = np.zeros(2, dtype=np.int64)\n"
        "    return np.ndarray((1,), dtype=[('a', 'i8'), ('b', 'O')], buffer=raw)\n",
    ),
    (
        "pointer_view_of_object_array",
        "runtime_error",
        "import numpy as np\ndef f():\n    o = np.array([1.5], dtype=object)\n"
        "    return np.frombuffer(o, dtype=np.int64)\n",
    ),
    (
        "pointer_ndarray_over_object_array",
        "runtime_error",
        "import numpy as np\ndef f():\n    o = np.array([1.5], dtype=object)\n"
        "    return np.ndarray((1,), dtype=np.int64, buffer=o)\n",
    ),
    (
        "recarray_over_buffer",
        "forbidden_name",
        "import numpy as np\ndef f():\n    raw = np.zeros(1, dtype=np.int64)\n"
        "    return np.recarray((1,), dtype=[('a', 'O')], buf=raw)\n",
    ),
    (
        "rec_module_not_exposed",
        "runtime_error",
        "import numpy as np\ndef f():\n    return np.rec.array([(1,)], dtype=[('a', 'O')])\n",
    ),
    (
        "numpy_submodule_not_exposed",
        "runtime_error",
        "import numpy as np\ndef f():\n    return np.char.upper(['a'])\n",
    ),
    (
        "numpy_emath_not_exposed",
        "runtime_error",
        "def f():\n    import numpy\n    return numpy.emath.sqrt(-1)\n",
    ),
    ("unavailable_builtin", "runtime_error", "def f():\n    return id(f)\n"),
    ("zero_division", "runtime_error", "def f():\n    x = 0\n    return 1 / x\n"),
    ("deep_recursion", "runtime_error", "def f(n=0):\n    return f(n + 1)\n"),
    ("huge_int_parse", "runtime_error", "def f():\n    return int('9' * 5000)\n"),
    # ---- CPU and wall time -----------------------------------------------------------------
    ("infinite_loop", "timeout", "def f():\n    while True:\n        pass\n"),
    (
        "loop_swallowing_exceptions",
        "timeout",
        "def f():\n    while True:\n        try:\n            pass\n"
        "        except:\n            pass\n",
    ),
    ("module_level_loop", "timeout", "while True:\n    pass\ndef f():\n    return 1\n"),
    (
        "numpy_busy_loop",
        "timeout",
        "import numpy as np\ndef f():\n    a = np.ones((200, 200))\n    while True:\n"
        "        a = np.sqrt(a @ a / 200.0 + 1.0)\n",
    ),
    # ---- memory --------------------------------------------------------------------------
    ("list_bomb", "memory", "def f():\n    return [0] * 10**10\n"),
    ("numpy_bomb", "memory", "import numpy as np\ndef f():\n    return np.ones(10**11)\n"),
    ("string_bomb", "memory", "def f():\n    return 'a' * 10**10\n"),
    (
        "growing_bomb",
        "memory",
        "import numpy as np\ndef f():\n    keep = []\n    while True:\n"
        "        keep.append(np.empty(10**7))\n",
    ),
    # ---- outputs -------------------------------------------------------------------------
    (
        "output_100mb_array",
        "output_too_large",
        "import numpy as np\ndef f():\n    return np.zeros(100 * 2**20 // 8)\n",
    ),
    ("output_long_list", "output_too_large", "def f():\n    return list(range(10**6))\n"),
    ("output_long_string", "output_too_large", "def f():\n    return 'x' * 2_000_000\n"),
    ("return_function", "bad_output", "def f():\n    return f\n"),
    ("return_set", "bad_output", "def f():\n    return {1, 2}\n"),
    (
        "return_object_array",
        "bad_output",
        "import numpy as np\ndef f():\n    return np.array([1, None], dtype=object)\n",
    ),
    ("return_generator", "bad_output", "def f():\n    return (i for i in range(3))\n"),
    ("return_instance", "bad_output", "class A:\n    pass\ndef f():\n    return A()\n"),
    ("return_cycle", "bad_output", "def f():\n    a = []\n    a.append(a)\n    return a\n"),
    ("return_complex", "bad_output", "def f():\n    return 1j\n"),
    ("return_module", "bad_output", "import numpy as np\ndef f():\n    return np\n"),
    ("return_exception", "bad_output", "def f():\n    return ValueError('x')\n"),
    ("return_bytes", "bad_output", "def f():\n    return b'raw'\n"),
    # ---- structure -----------------------------------------------------------------------
    ("no_function", "missing_entry", "x = 1\n"),
    ("wrong_name", "missing_entry", "def g():\n    return 1\n"),
    ("nested_definition", "missing_entry", "if True:\n    def f():\n        return 1\n"),
    ("lambda_entry", "missing_entry", "f = lambda: 1\n"),
    ("entry_deleted", "missing_entry", "def f():\n    return 1\ndel f\n"),
    ("syntax_error", "syntax", "def f(:\n    return 1\n"),
    ("return_outside_function", "syntax", "return 1\ndef f():\n    return 1\n"),
    ("bad_indentation", "syntax", "def f():\nreturn 1\n"),
    ("null_byte", "syntax", "def f():\n    return 1\x00\n"),
]
