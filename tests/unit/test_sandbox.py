"""Tests for keyscaffold.sandbox: hostile corpus, OS-level containment, codec and overhead."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hostile_programs import HOSTILE_PROGRAMS
from hypothesis import given, settings
from hypothesis import strategies as st

from keyscaffold import _sandbox_child as child
from keyscaffold import sandbox
from keyscaffold.sandbox import SandboxError, check_code, extract_code, run_untrusted

IKER_SOURCE = '''
Here is the function you asked for.

```python
import numpy as np
from math import sqrt


def get_interaction_data(keypoint_coordinates):
    """Move keypoint 1 above keypoint 2 and report the grasped object."""
    updated = {key: value.copy() for key, value in keypoint_coordinates.items()}
    target = keypoint_coordinates["2"] + np.array([0.0, 0.0, 0.1])
    updated["1"] = target
    distance = sqrt(float(np.sum((target - keypoint_coordinates["1"]) ** 2)))
    return "apple", [1, 3], bool(distance > 0.05), updated
```
'''


def _sandbox_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("keyscaffold-sandbox-*")}


def _live_children() -> list[int]:
    """Non-zombie child processes of this test process."""
    pids = []
    for path in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        pids += [int(pid) for pid in path.read_text().split()]
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@pytest.fixture()
def in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE_PROGRAMS) >= 40
    assert len({name for name, _, _ in HOSTILE_PROGRAMS}) == len(HOSTILE_PROGRAMS)
    assert {reason for _, reason, _ in HOSTILE_PROGRAMS} == sandbox.REASONS


@pytest.mark.parametrize(
    ("name", "reason", "source"), HOSTILE_PROGRAMS, ids=[h[0] for h in HOSTILE_PROGRAMS]
)
def test_hostile_program_is_refused(name: str, reason: str, source: str, in_tmp_cwd: Path) -> None:
    before = _sandbox_dirs()
    with pytest.raises(SandboxError) as caught:
        run_untrusted(source, "f", timeout_s=1.0)
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.message
    assert list(in_tmp_cwd.iterdir()) == []
    assert _sandbox_dirs() <= before


def test_parent_survives_the_corpus() -> None:
    # Runs after the parametrized corpus above (pytest keeps file order).
    assert os.getppid() > 0 and Path(f"/proc/{os.getpid()}").exists()
    assert _live_children() == []


def test_messages_are_useful_for_a_retry() -> None:
    with pytest.raises(SandboxError) as caught:
        run_untrusted("def f():\n    x = 0\n    return 1 / x\n", "f")
    assert "ZeroDivisionError" in caught.value.message and "line 3" in caught.value.message
    with pytest.raises(SandboxError) as caught:
        run_untrusted("import os\ndef f():\n    return 1\n", "f")
    assert "'os'" in caught.value.message and "import numpy as np" in caught.value.message
    with pytest.raises(SandboxError) as caught:
        run_untrusted("def f(n=0):\n    return f(n + 1)\n", "f")
    assert "RecursionError" in caught.value.message
    with pytest.raises(SandboxError) as caught:
        run_untrusted("def f(:\n", "f")
    assert "line 1" in caught.value.message


def test_iker_style_function_round_trips_arrays_exactly(in_tmp_cwd: Path) -> None:
    keypoints = {
        "1": np.array([0.1, 0.2, 0.3]),
        "2": np.array([0.5, -0.25, 1e-300]),
        "3": np.array([np.nextafter(1.0, 2.0), -0.0, 7.0]),
    }
    name, indices, flag, updated = run_untrusted(
        IKER_SOURCE, entry="get_interaction_data", kwargs={"keypoint_coordinates": keypoints}
    )
    assert name == "apple" and indices == [1, 3] and flag is True
    assert set(updated) == {"1", "2", "3"}
    expected = keypoints["2"] + np.array([0.0, 0.0, 0.1])
    assert updated["1"].tobytes() == expected.tobytes() and updated["1"].dtype == np.float64
    for key in ("2", "3"):
        assert np.array_equal(updated[key], keypoints[key])
        assert updated[key].tobytes() == keypoints[key].tobytes()
    assert list(in_tmp_cwd.iterdir()) == []


def test_values_of_many_kinds_round_trip_through_the_child() -> None:
    value = {
        "f64": np.array([[np.nan, np.inf], [-np.inf, -0.0]]),
        "big_endian": np.arange(5, dtype=">f8"),
        "ints": [np.arange(4, dtype=dt) for dt in ("i1", "u2", "i4", "u8")],
        "flags": np.array([True, False]),
        "complex": np.array([1 + 2j], dtype=np.complex64),
        "text": np.array(["cup", "lid"]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalars": (np.float64(0.1), np.int32(-7), np.bool_(True), 1.5, 2, None, "s"),
        (1, "a"): {3: [1.0, float("nan")]},
    }
    result = run_untrusted("def f(value):\n    return value\n", "f", {"value": value})
    assert set(result) == set(value)
    for key in ("f64", "big_endian", "flags", "complex", "text", "fortran", "empty"):
        assert result[key].dtype == value[key].dtype
        assert result[key].shape == value[key].shape
        assert (
            np.ascontiguousarray(result[key]).tobytes()
            == np.ascontiguousarray(value[key]).tobytes()
        )
    assert [a.dtype for a in result["ints"]] == [a.dtype for a in value["ints"]]
    scalars = result["scalars"]
    assert isinstance(scalars, tuple)
    assert [type(s) for s in scalars] == [type(s) for s in value["scalars"]]
    assert scalars[:3] == value["scalars"][:3]
    assert result[(1, "a")][3][0] == 1.0 and np.isnan(result[(1, "a")][3][1])
    assert result["f64"].flags.writeable


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=20),
    st.sampled_from(["<f8", ">f8", "<f4", "<i8", "|u1", "|b1"]),
)
def test_codec_round_trip_is_exact(values: list[float], dtype: str) -> None:
    array = np.array(values, dtype=np.float64)
    if np.dtype(dtype).kind != "f":
        array = np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=-1.0).clip(-100, 100)
    with np.errstate(over="ignore", invalid="ignore"):
        array = array.astype(dtype)
        total = array.sum()
    text = child.encode_payload({"a": array, "t": (total,)})
    decoded = sandbox._decode_value(json.loads(text), 0)
    assert decoded["a"].dtype == array.dtype and decoded["a"].tobytes() == array.tobytes()
    assert decoded["t"][0].tobytes() == total.tobytes()


@pytest.mark.parametrize(
    "envelope",
    [
        b"not json",
        b"[]",
        b'{"ok": 1}',
        b'{"ok": true, "value": {"t": "array", "dtype": "|O8", "b64": "AAAAAAAAAAA=", '
        b'"shape": [1]}}',
        b'{"ok": true, "value": {"t": "array", "dtype": "<f8", "b64": "AAAA", "shape": [1]}}',
        b'{"ok": true, "value": {"t": "array", "dtype": "<f8", "b64": "!!", "shape": [1]}}',
        b'{"ok": true, "value": {"t": "array", "dtype": "V8", "b64": "", "shape": [0]}}',
        b'{"ok": true, "value": {"t": "array", "dtype": "<f8", "b64": "", "shape": [-1]}}',
        b'{"ok": true, "value": {"t": "pickle", "v": []}}',
        b'{"ok": true, "value": {"t": "tuple", "v": [], "x": 1}}',
        b'{"ok": true, "value": {"t": "dict", "v": [[[1], 2]]}}',
        b'{"ok": true, "value": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"ok": true, "value": ' + b"9" * 5000 + b"}",
        b'{"ok": false, "reason": "everything_is_fine", "message": "x"}',
    ],
)
def test_hostile_envelopes_are_rejected(envelope: bytes) -> None:
    with pytest.raises(SandboxError) as caught:
        sandbox._decode_envelope(envelope, sandbox._Limits(1.0, 512, 10**6))
    assert caught.value.reason == "bad_output"


def _escape_program() -> str:
    """Model code that assumes the static check was bypassed and probes the OS layer."""
    return """
def f():
    os = None
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            os = cls.__init__.__globals__
    out = {}
    def attempt(name, action):
        try:
            action()
            out[name] = "allowed"
        except Exception as exc:
            out[name] = exc.__class__.__name__
    def fork():
        if os["fork"]() == 0:
            os["_exit"](0)
    attempt("fork", fork)
    attempt("write_file", lambda: os["open"]("escape.txt", os["O_WRONLY"] | os["O_CREAT"], 420))
    attempt("read_file", lambda: os["open"]("/etc/hostname", os["O_RDONLY"]))
    attempt("signal_parent", lambda: os["kill"](os["getppid"](), 0))
    attempt("exec", lambda: os["execv"]("/bin/true", ["true"]))
    attempt("import_socket", lambda: os["__builtins__"]["__import__"]("socket"))
    resource = os["__builtins__"]["__import__"]("resource")  # already loaded by the child
    attempt("query_parent_limits", lambda: resource.prlimit(os["getppid"](), resource.RLIMIT_CORE))
    return out
"""


def test_os_layer_contains_code_that_got_past_the_static_check(in_tmp_cwd: Path) -> None:
    limits = sandbox._Limits(timeout_s=2.0, memory_mb=512, max_output_bytes=10**6)
    result = sandbox._run_in_child(_escape_program(), "f", {}, limits)
    assert result == {name: result[name] for name in result if result[name] != "allowed"}
    assert set(result) == {
        "fork",
        "write_file",
        "read_file",
        "signal_parent",
        "exec",
        "import_socket",
        "query_parent_limits",
    }
    assert list(in_tmp_cwd.iterdir()) == []


def test_crashing_child_is_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = sandbox._Limits(timeout_s=1.0, memory_mb=512, max_output_bytes=1000)
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    outcome = sandbox._spawn(b"{}", limits, [sys.executable, "-c", crash])
    with pytest.raises(SandboxError) as caught:
        sandbox._interpret(outcome, limits)
    assert caught.value.reason == "runtime_error" and "SIGSEGV" in caught.value.message
    killed = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    outcome = sandbox._spawn(b"{}", limits, [sys.executable, "-c", killed])
    with pytest.raises(SandboxError) as caught:
        sandbox._interpret(outcome, limits)
    assert caught.value.reason == "memory"
    monkeypatch.setattr(sandbox, "_STARTUP_GRACE_S", 0.2)
    started = time.monotonic()
    outcome = sandbox._spawn(b"{}", limits, [sys.executable, "-c", "import time; time.sleep(60)"])
    assert time.monotonic() - started < 5.0
    with pytest.raises(SandboxError) as caught:
        sandbox._interpret(outcome, limits)
    assert caught.value.reason == "timeout"


def test_process_group_is_killed_with_the_child() -> None:
    limits = sandbox._Limits(timeout_s=1.0, memory_mb=512, max_output_bytes=1000)
    script = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.close(1); os.close(2); time.sleep(60); os._exit(0)\n"
        "print(pid)\n"
    )
    outcome = sandbox._spawn(b"{}", limits, [sys.executable, "-c", script])
    grandchild = int(outcome.stdout)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild outlived the sandboxed process")


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nimport math\ndef f():\n    return float(np.sqrt(2) * math.pi)\n",
        "from math import sqrt, pi\ndef f():\n    return sqrt(pi)\n",
        "import numpy.linalg as la\ndef f():\n    return float(la.norm([3.0, 4.0]))\n",
        "from numpy.linalg import norm\ndef f():\n    return float(norm([3.0, 4.0]))\n",
        "import numpy as np\ndef f():\n    return np.random.default_rng(0).normal(size=2).shape\n",
        "import numpy as np\ndef f():\n    return float(np.median(np.arange(5.0)))\n",
        "import numpy as np\ndef f():\n    x = np.zeros(2)\n    return isinstance(x, np.ndarray)\n",
        "class Box:\n    size = 2\ndef f():\n    b = Box()\n    b.size = 3\n    return b.size\n",
        "def f():\n    print('debug', 1)\n    return f'{1.23456:.2f}'\n",
        "import numpy as np\ndef f():\n    return np.ndarray((2,), float, np.zeros(2)).tolist()\n",
        # array methods make numpy's C code import its helpers at call time
        "import numpy as np\ndef f():\n    x = np.arange(6.0).reshape(3, 2)\n"
        "    return [x.mean(axis=0).tolist(), float(x.sum()), float(x.max()), float(x.std())]\n",
    ],
)
def test_ordinary_code_runs(source: str) -> None:
    check_code(source, "f")
    assert run_untrusted(source, "f") is not None


def test_extract_code_handles_fences() -> None:
    assert extract_code("def f():\n    return 1\n") == "def f():\n    return 1\n"
    plain = "Text\n```\nx = 1\n```\nmore\n```\nx = 2\n```\n"
    assert extract_code(plain) == "x = 2\n"
    mixed = "```python\na = 1\n```\n```text\nnot code\n```\n```py\nb = 2\n```\n```\nc = 3\n```"
    assert extract_code(mixed) == "b = 2\n"
    assert extract_code("```Python\nA = 1\n```\n```python\nB = 2\n```") == "B = 2\n"
    assert extract_code("Sure:\n```python\nunterminated = 1\n") == "unterminated = 1\n"


def test_numpy_internals_stay_out_of_reach_of_model_code() -> None:
    for source in (
        "import numpy._core._methods as m\ndef f():\n    return 1\n",
        "from numpy._core import _methods\ndef f():\n    return 1\n",
    ):
        with pytest.raises(SandboxError) as raised:
            run_untrusted(source, "f")
        assert raised.value.reason == "forbidden_import"


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        run_untrusted("def f():\n    return 1\n", "_f")
    with pytest.raises(ValueError):
        run_untrusted("def f():\n    return 1\n", "f", timeout_s=0)
    with pytest.raises(TypeError):
        run_untrusted("def f(x):\n    return 1\n", "f", {"x": object()})


def test_sandbox_error_reasons_are_checked() -> None:
    with pytest.raises(ValueError):
        SandboxError("nonsense", "x")
    error = SandboxError("timeout", "too slow")
    assert error.reason == "timeout" and error.message == "too slow"


def test_per_call_overhead_is_small() -> None:
    source = "def f(x):\n    return x + 1\n"
    run_untrusted(source, "f", {"x": 1})
    durations = []
    for i in range(10):
        started = time.perf_counter()
        assert run_untrusted(source, "f", {"x": i}) == i + 1
        durations.append(time.perf_counter() - started)
    assert statistics.median(durations) < 0.3
