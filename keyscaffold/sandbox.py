"""Safe execution of model-written Python functions.

`run_untrusted` extracts the code from a model's answer, checks its syntax tree
against a small subset of Python (numpy and math only, no underscore names, no
introspection, file, process or eval doors) and runs the requested function in
a fresh, locked-down interpreter. Values cross the process boundary as tagged
JSON, never as pickles. Failures raise `SandboxError` with a machine-readable
``reason`` and a ``message`` that can be quoted back to the model. See
``docs/sandbox.md`` for the threat model and its limits.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import dataclasses
import json
import math
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from keyscaffold import _sandbox_child as child

REASONS = frozenset(
    "syntax forbidden_import forbidden_name missing_entry timeout memory runtime_error "
    "bad_output output_too_large".split()
)
FORBIDDEN_NAMES = frozenset(
    "exec eval compile open input getattr setattr delattr hasattr globals locals vars dir "
    "breakpoint memoryview help exit quit type super copyright credits license".split()
)
ALLOWED_HINT = (
    "Allowed: `import numpy as np`, `import math` (and the numpy submodules linalg, "
    "random, fft, polynomial), plain functions, loops, comprehensions and common builtins. "
    "Not allowed: other imports, names or attributes starting with '_', eval/exec/open/"
    "getattr-style introspection, numpy file I/O, global/nonlocal."
)
_CHILD_REASONS = frozenset(
    {"missing_entry", "timeout", "memory", "runtime_error", "bad_output", "output_too_large"}
)
_FENCE_RE = re.compile(
    r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE
)
_FORMAT_FIELD_RE = re.compile(r"[.\[]\s*_")
_NAME_FIELDS: dict[type, str] = {ast.Name: "id", ast.arg: "arg", ast.keyword: "arg"}
_NAME_FIELDS.update(dict.fromkeys([ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef], "name"))
_NAME_FIELDS.update(dict.fromkeys([ast.ExceptHandler, ast.MatchAs, ast.MatchStar], "name"))
_NAME_FIELDS[ast.MatchMapping] = "rest"
_DTYPE_RE = re.compile(r"^[<>|][biufcUS][0-9]{1,5}$")
_CHILD_BOOT = (
    "import sys;sys.path[:0]=[sys.argv[2]];p=sys.argv[1];g={'__name__':'sandbox_child'};"
    "exec(compile(open(p,encoding='utf-8').read(),p,'exec'),g);g['main']()"
)
_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_STARTUP_GRACE_S = 3.0
_ENVELOPE_SLACK = 4096
_STDERR_CAP = 65536
_MEMORY_HINTS = (b"MemoryError", b"bad_alloc", b"Cannot allocate memory", b"out of memory")


class SandboxError(Exception):
    """Model code was refused or failed inside the sandbox.

    Attributes:
        reason: One of `REASONS`.
        message: Explanation suitable for quoting back to the model.
    """

    def __init__(self, reason: str, message: str) -> None:
        """Create the error from a reason in `REASONS` and an explanation."""
        if reason not in REASONS:
            raise ValueError(f"unknown sandbox reason {reason!r}")
        super().__init__(f"[{reason}] {message}")
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        """Pickle support (e.g. across a process pool) for the two-argument constructor."""
        return (SandboxError, (self.reason, self.message))


def extract_code(text: str) -> str:
    """Pull the Python code out of a model answer.

    Args:
        text: The model's raw answer, possibly with Markdown code fences.

    Returns:
        The last ```python (or ```py) block, else the last fenced block of any
        language, else the text after an unterminated opening fence, else the
        whole text.
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE_RE.finditer(text)]
    python_blocks = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    if python_blocks:
        return python_blocks[-1]
    if blocks:
        return blocks[-1][1]
    opening = re.search(r"^[ \t]*```[^\n]*\n", text, re.MULTILINE)
    return text[opening.end() :] if opening else text


def _name_problem(name: str | None) -> tuple[str, str] | None:
    if name is None:
        return None
    if name.startswith("_"):
        return "forbidden_name", f"name {name!r} starts with an underscore"
    if name in FORBIDDEN_NAMES:
        return "forbidden_name", f"{name!r} is not available"
    return None


def _attribute_problem(attr: str) -> tuple[str, str] | None:
    if child.is_forbidden_attribute(attr):
        return "forbidden_name", f"attribute {attr!r} is not allowed"
    return None


def _import_problems(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str] | None]:
    if isinstance(node, ast.Import):
        return [
            ("forbidden_import", f"import of {alias.name!r} is not allowed")
            if alias.name not in child.IMPORTABLE_MODULES
            else _name_problem(alias.asname)
            for alias in node.names
        ]
    module = node.module or ""
    if node.level != 0 or module not in child.IMPORTABLE_MODULES:
        return [("forbidden_import", f"import from {'.' * node.level}{module!r} is not allowed")]
    return [
        ("forbidden_import", f"'from {module} import {alias.name}' is not allowed")
        if alias.name == "*" or child.is_forbidden_attribute(alias.name)
        else _name_problem(alias.asname)
        for alias in node.names
    ]


def _node_problems(node: ast.AST) -> list[tuple[str, str] | None]:
    """Problems carried by one syntax-tree node (None entries mean no problem)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _import_problems(node)
    if type(node) in _NAME_FIELDS:
        return [_name_problem(getattr(node, _NAME_FIELDS[type(node)]))]
    if isinstance(node, ast.Attribute):
        return [_attribute_problem(node.attr)]
    if isinstance(node, ast.MatchClass):
        return [_attribute_problem(attr) for attr in node.kwd_attrs]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return [("forbidden_name", "'global' and 'nonlocal' statements are not allowed")]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if "{" in node.value and _FORMAT_FIELD_RE.search(node.value):
            return [("forbidden_name", "format fields may not read underscore attributes")]
    return []


def check_code(code: str, entry: str) -> None:
    """Statically check model code before anything runs.

    Args:
        code: Python source (already extracted from any Markdown fences).
        entry: Name of the function that must be defined at top level.

    Raises:
        SandboxError: With reason ``syntax``, ``forbidden_import``,
            ``forbidden_name`` or ``missing_entry``.
    """
    try:
        tree = ast.parse(code, filename=child.MODEL_FILENAME)
        compile(tree, child.MODEL_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        text = f": `{exc.text.strip()}`" if exc.text else ""
        raise SandboxError("syntax", f"SyntaxError: {exc.msg}{where}{text}") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise SandboxError("syntax", f"The code cannot be parsed: {exc}") from None
    found = []
    for node in ast.walk(tree):
        for problem in _node_problems(node):
            if problem is not None:
                found.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), problem))
    if found:
        found.sort(key=lambda item: (item[0], item[1]))
        details = "; ".join(f"line {line}: {text}" for line, _, (_, text) in found[:3])
        raise SandboxError(found[0][2][0], f"The code was refused ({details}). {ALLOWED_HINT}")
    if not any(isinstance(n, ast.FunctionDef) and n.name == entry for n in tree.body):
        raise SandboxError(
            "missing_entry",
            f"The code must define a top-level function `def {entry}(...)`; none was found.",
        )


@dataclasses.dataclass(frozen=True)
class _Limits:
    timeout_s: float
    memory_mb: int
    max_output_bytes: int


@dataclasses.dataclass(frozen=True)
class _Outcome:
    stdout: bytes
    stderr: bytes
    verdict: str | None  # "timeout" or "output_too_large" when the parent stopped the child
    exit_code: int | None  # negative for a signal, None when the status was lost
    cpu_s: float


def _child_argv() -> list[str]:
    numpy_root = os.path.dirname(os.path.dirname(os.path.abspath(child.np.__file__)))
    return [sys.executable, "-I", "-S", "-c", _CHILD_BOOT, child.__file__, numpy_root]


def _feed(stdin: Any, pending: memoryview, sel: selectors.BaseSelector) -> memoryview:
    """Write the next chunk of the request; close stdin once all is written."""
    try:
        pending = pending[os.write(stdin.fileno(), pending[:65536]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        pending = pending[:0]
    if not pending:
        sel.unregister(stdin)
        stdin.close()
    return pending


def _exchange(
    proc: subprocess.Popen[bytes], request: bytes, deadline: float, out_cap: int
) -> tuple[bytes, bytes, str | None]:
    """Send the request and collect stdout/stderr until EOF, the deadline or the cap."""
    stdout, stderr = bytearray(), bytearray()
    pending = memoryview(request)
    os.set_blocking(proc.stdin.fileno(), False)  # type: ignore[union-attr]
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdin, selectors.EVENT_WRITE)  # type: ignore[arg-type]
        sel.register(proc.stdout, selectors.EVENT_READ, stdout)  # type: ignore[arg-type]
        sel.register(proc.stderr, selectors.EVENT_READ, stderr)  # type: ignore[arg-type]
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(stdout), bytes(stderr), "timeout"
            for key, _ in sel.select(remaining):
                if key.data is None:
                    pending = _feed(key.fileobj, pending, sel)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.data is stdout:
                    stdout += chunk
                    if len(stdout) > out_cap:
                        return bytes(stdout), bytes(stderr), "output_too_large"
                elif len(stderr) < _STDERR_CAP:
                    stderr += chunk
    return bytes(stdout), bytes(stderr), None


def _reap(pid: int, deadline: float) -> tuple[int | None, float, bool]:
    """Wait until `deadline` for the child, kill its group, collect it.

    Returns exit code (negative: signal; None: unknown), CPU seconds, and
    whether the deadline forced the kill.
    """
    killed = False
    try:
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() >= deadline:
                killed = True
                break
            time.sleep(0.0005)
        for kill in (os.killpg, os.kill):  # the group outlives its leader's exit
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    except ChildProcessError:  # reaped elsewhere, e.g. SIGCHLD set to SIG_IGN
        return None, 0.0, killed
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, killed


def _spawn(request: bytes, limits: _Limits, argv: list[str]) -> _Outcome:
    """Run the child in an empty, read-only temporary directory and collect its outcome."""
    deadline = time.monotonic() + limits.timeout_s + _STARTUP_GRACE_S
    with tempfile.TemporaryDirectory(prefix="keyscaffold-sandbox-") as workdir:
        os.chmod(workdir, 0o500)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            start_new_session=True,
            env={**_CHILD_ENV, **{k: v for k, v in os.environ.items() if k == "LD_LIBRARY_PATH"}},
        )
        verdict: str | None = "interrupted"
        try:
            out, err, verdict = _exchange(
                proc, request, deadline, limits.max_output_bytes + _ENVELOPE_SLACK
            )
        finally:
            code, cpu_s, killed = _reap(proc.pid, deadline if verdict is None else 0.0)
            proc.returncode = code if code is not None else -1
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            os.chmod(workdir, 0o700)
    return _Outcome(out, err, "timeout" if killed and verdict is None else verdict, code, cpu_s)


def _limit_error(reason: str, limits: _Limits) -> SandboxError:
    """The standard error for a limit the code ran into."""
    messages = {
        "timeout": f"The code did not finish within {limits.timeout_s:g} s (CPU or wall-clock "
        "limit). Avoid unbounded loops and very expensive computations.",
        "memory": f"The code exceeded the memory limit of {limits.memory_mb} MB. "
        "Avoid building huge arrays or lists.",
        "output_too_large": f"The returned value is larger than {limits.max_output_bytes} "
        "bytes when serialized. Return only what is needed.",
    }
    return SandboxError(reason, messages[reason])


def _signal_error(signum: int, outcome: _Outcome, limits: _Limits) -> SandboxError:
    """Classify a child killed by a signal."""
    if signum in (signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU) or (
        signum == signal.SIGKILL and outcome.cpu_s >= 0.9 * limits.timeout_s
    ):
        return _limit_error("timeout", limits)
    if signum == signal.SIGKILL or any(h in outcome.stderr for h in _MEMORY_HINTS):
        return _limit_error("memory", limits)  # SIGKILL without CPU use: the OOM killer
    name = signal.Signals(signum).name if signum in signal.valid_signals() else str(signum)
    return SandboxError(
        "runtime_error",
        f"The sandboxed process crashed with signal {name}; a numpy call probably "
        "received invalid input.",
    )


def _interpret(outcome: _Outcome, limits: _Limits) -> Any:
    """Turn the child's outcome into a value or a SandboxError."""
    if outcome.verdict is not None:
        raise _limit_error(outcome.verdict, limits)
    if outcome.exit_code is not None and outcome.exit_code < 0:
        raise _signal_error(-outcome.exit_code, outcome, limits)
    if not outcome.stdout:
        if any(hint in outcome.stderr for hint in _MEMORY_HINTS):
            raise _limit_error("memory", limits)
        last = outcome.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise SandboxError(
            "runtime_error",
            f"The sandboxed interpreter exited with status {outcome.exit_code} before "
            f"returning a result{': ' + last[0][:300] if last else ''}.",
        )
    return _decode_envelope(outcome.stdout, limits)


def _decode_array(record: dict[str, Any]) -> Any:
    """Rebuild an array or numpy scalar from the child after checking every field."""
    keys = {"t", "dtype", "b64"} | ({"shape"} if record["t"] == "array" else set())
    if set(record) != keys or not all(isinstance(record[k], str) for k in ("dtype", "b64")):
        raise ValueError("malformed array record")
    if not _DTYPE_RE.match(record["dtype"]):
        raise ValueError(f"dtype {record['dtype']!r} is not allowed")
    dtype = np.dtype(record["dtype"])
    if dtype.kind not in child.ARRAY_KINDS or dtype.hasobject or dtype.itemsize == 0:
        raise ValueError(f"dtype {record['dtype']!r} is not allowed")
    raw = base64.b64decode(record["b64"].encode("ascii"), validate=True)
    shape = record.get("shape", [])
    if type(shape) is not list or len(shape) > 32:
        raise ValueError("array shape must be a short list")
    if not all(type(dim) is int and dim >= 0 for dim in shape):
        raise ValueError("array dimensions must be non-negative integers")
    if math.prod(shape) * dtype.itemsize != len(raw):
        raise ValueError("array data does not match its dtype and shape")
    array = np.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    return array if record["t"] == "array" else array[()]


def _decode_value(obj: Any, depth: int) -> Any:
    """Strictly rebuild a value from the child's (untrusted) tagged JSON."""
    if depth > child.MAX_DEPTH:
        raise ValueError("the value is nested too deeply")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [_decode_value(item, depth + 1) for item in obj]
    if type(obj) is not dict or obj.get("t") not in ("array", "scalar", "tuple", "dict"):
        raise ValueError("unexpected JSON structure")
    if obj["t"] in ("array", "scalar"):
        return _decode_array(obj)
    if set(obj) != {"t", "v"} or type(obj["v"]) is not list:
        raise ValueError(f"malformed {obj['t']} record")
    if obj["t"] == "tuple":
        return tuple(_decode_value(item, depth + 1) for item in obj["v"])
    if not all(type(pair) is list and len(pair) == 2 for pair in obj["v"]):
        raise ValueError("malformed dict entry")
    return {_decode_value(k, depth + 1): _decode_value(v, depth + 1) for k, v in obj["v"]}


def _decode_envelope(raw: bytes, limits: _Limits) -> Any:
    """Validate the child's JSON envelope and rebuild its value."""
    try:
        envelope = json.loads(raw)
        if type(envelope) is not dict or type(envelope.get("ok")) is not bool:
            raise ValueError("the result envelope is malformed")
        if envelope["ok"]:
            return _decode_value(envelope["value"], 0)
        reason, message = envelope.get("reason"), envelope.get("message")
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as exc:
        raise SandboxError("bad_output", f"The result could not be decoded: {exc}"[:500]) from None
    if reason not in _CHILD_REASONS or not isinstance(message, str):
        raise SandboxError("bad_output", "The sandboxed process reported an unknown failure.")
    if reason in ("timeout", "memory", "output_too_large"):
        raise _limit_error(reason, limits)
    raise SandboxError(reason, message[:4000])


def _run_in_child(code: str, entry: str, kwargs: dict[str, Any], limits: _Limits) -> Any:
    """Execute already-checked `code` in a fresh locked-down interpreter."""
    try:
        encoded = child.encode_payload(kwargs)
    except child.CodecError as exc:
        raise TypeError(f"kwargs cannot be sent to the sandbox: {exc.message}") from None
    request = {"source": code, "entry": entry, "kwargs": encoded, **dataclasses.asdict(limits)}
    outcome = _spawn(json.dumps(request).encode("utf-8"), limits, _child_argv())
    return _interpret(outcome, limits)


def run_untrusted(
    source: str,
    entry: str,
    kwargs: dict[str, Any] | None = None,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_output_bytes: int = 1_000_000,
) -> Any:
    """Run a function written by a model in a locked-down child process.

    Args:
        source: The model's answer; Markdown fences are handled by `extract_code`.
        entry: Name of the top-level function to call.
        kwargs: Keyword arguments: plain data and numpy arrays of plain dtypes.
        timeout_s: CPU and wall-clock budget of the model code, in seconds.
        memory_mb: Address space granted to the model code beyond the interpreter's.
        max_output_bytes: Bound on the serialized return value.

    Returns:
        The function's return value, rebuilt in this process (numpy arrays keep
        their exact dtype and contents; tuples stay tuples).

    Raises:
        SandboxError: When the code is refused, fails, or returns unusable output.
        ValueError: When the limits or the entry name are invalid.
        TypeError: When `kwargs` holds values that cannot be sent to the child.
    """
    if not entry.isidentifier() or entry.startswith("_"):
        raise ValueError(f"invalid entry name {entry!r}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError("timeout_s must be a positive number")
    if memory_mb < 1 or max_output_bytes < 1:
        raise ValueError("memory_mb and max_output_bytes must be positive")
    code = extract_code(source)
    check_code(code, entry)
    limits = _Limits(float(timeout_s), int(memory_mb), int(max_output_bytes))
    return _run_in_child(code, entry, dict(kwargs or {}), limits)
