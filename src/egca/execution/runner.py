"""The code that runs inside a sandboxed child: load the program, run each test, report each result.

Every test produces one explicit record on the result channel: JSON produced by the C encoder of
``_json`` and authenticated with an HMAC computed with the C SHA-256, both bound at import, so
neither printing, writing to inherited file descriptors nor patching ``json``/``hmac``/builtins can
produce a record the parent accepts. Modules the harness relies on are restored to their
import-time state before each test and each record.
"""

from __future__ import annotations

import _json
import builtins
import copy
import hashlib
import io
import math
import operator
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from egca import values
from egca.execution import oracles
from egca.execution.rewrite import CHECKER_NAME
from egca.tasks.task import MISSING
from egca.trace.tracer import make_tracer, snapshot
from egca.trace.writes import write_sets

CANDIDATE_FILE = "<candidate>"
MESSAGE_LIMIT = 1000

_sha256 = hashlib.sha256
_deepcopy = copy.deepcopy
_perf = time.perf_counter
_is = operator.is_
_os_write = os.write
_isinstance = isinstance
_BaseException = BaseException
_MemoryError = MemoryError
_RecursionError = RecursionError


class CheckFailed(Exception):
    """A rewritten test assertion did not hold."""


class UntrustedResult(Exception):
    """The entry point returned an object whose class could steer the test code."""


# --------------------------------------------------------------------------------------------------
# Keeping the harness honest


def _dict_version_reader() -> Callable[[dict[str, Any]], int] | None:
    """A reader of CPython's private dict version tag, if it works on this interpreter.

    Reading memory does not write to the dict, so checking a guarded dictionary in a forked child
    costs no copy-on-write page faults (iterating it would touch every key and value). The reader
    is only used after a self-test shows that the tag changes when the dict changes.
    """
    if sys.implementation.name != "cpython":
        return None
    import ctypes

    def read(d: dict[str, Any]) -> int:
        return int(ctypes.c_uint64.from_address(id(d) + 24).value)

    probe: dict[str, Any] = {"a": 1}
    try:
        v0 = read(probe)
        probe["b"] = 2
        v1 = read(probe)
        del probe["a"]
        v2 = read(probe)
    except (ValueError, OSError):
        return None
    return read if v0 != v1 != v2 else None


class Guard:
    """Snapshots of dictionaries (modules, classes, builtins), restored before each test and record.

    The check reads each dict's version tag when the interpreter allows it, otherwise it compares
    keys and values by identity in C (``map(operator.is_, ...)``); neither calls an ``__eq__`` a
    program may have planted.
    """

    def __init__(self, dicts: list[dict[str, Any]], classes: list[type]) -> None:
        self._dicts = [(d, dict(d)) for d in dicts]
        self._classes = [(c, dict(vars(c))) for c in classes]
        self._keys = [(tuple(snap), tuple(snap.values())) for _, snap in self._dicts]
        self._ckeys = [(tuple(snap), tuple(snap.values())) for _, snap in self._classes]
        self._version = _dict_version_reader()
        import gc

        # The real dict behind each class's mappingproxy (for the version tag).
        self._cdicts = [gc.get_referents(vars(c))[0] for c in classes]
        self._versions = self._read_versions()

    def _read_versions(self) -> list[int] | None:
        if self._version is None:
            return None
        return [self._version(d) for d, _ in self._dicts] + [self._version(d) for d in self._cdicts]

    @staticmethod
    def _same(live: Any, keys: tuple[Any, ...], vals: tuple[Any, ...]) -> bool:
        return (
            len(live) == len(keys) and all(map(_is, live.keys(), keys)) and all(map(_is, live.values(), vals))
        )

    def restore(self) -> bool:
        """Undo any change to the guarded dictionaries and classes; return True if one changed."""
        if self._versions is not None and self._read_versions() == self._versions:
            return False
        changed = False
        for (live, snap), (keys, vals) in zip(self._dicts, self._keys):
            if self._same(live, keys, vals):
                continue
            changed = True
            live.clear()  # also restores the insertion order the identity check relies on
            live.update(snap)
        for (cls, csnap), (keys, vals) in zip(self._classes, self._ckeys):
            current = vars(cls)
            if self._same(current, keys, vals):
                continue
            changed = True
            for k in [k for k in current if k not in csnap]:
                type.__delattr__(cls, k)
            for k, v in csnap.items():
                if current.get(k, MISSING) is not v and k not in ("__dict__", "__weakref__"):
                    type.__setattr__(cls, k, v)
        self._versions = self._read_versions()
        return changed


def default_guard(extra: tuple[dict[str, Any], ...] = ()) -> Guard:
    """Guard the builtins, the modules the harness and tests rely on, and the harness's classes."""
    own = [sys.modules[n] for n in ("egca.execution.runner", "egca.values", "egca.tasks.task")]
    modules = [builtins, math, operator, copy, values, oracles, *own]
    classes = [Checker, CheckFailed, UntrustedResult, Channel, Mac, values.Opaque]
    return Guard([m.__dict__ for m in modules] + list(extra), classes)


class Mac:
    """HMAC-SHA256 (truncated to 128 bits, hex) from the C hash only; pads computed once."""

    def __init__(self, key: bytes) -> None:
        k = key.ljust(64, b"\0")
        self._inner = bytes(b ^ 0x36 for b in k)
        self._outer = bytes(b ^ 0x5C for b in k)

    def __call__(self, msg: bytes) -> bytes:
        inner = _sha256(self._inner + msg).digest()
        return _sha256(self._outer + inner).hexdigest()[:32].encode()


def _not_serializable(obj: object) -> Any:
    raise TypeError(f"record value of type {type(obj).__name__}")


_encode = _json.make_encoder(  # the C encoder, immune to patches of the json package
    None, _not_serializable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


class Channel:
    """Writes authenticated records to the result pipe."""

    def __init__(self, fd: int, mac: Mac, guard: Guard) -> None:
        self._fd, self._mac, self._guard = fd, mac, guard
        self._seq = 0

    def emit(self, record: dict[str, Any]) -> None:
        self._guard.restore()
        record["seq"] = self._seq
        self._seq += 1
        payload = "".join(_encode(record, 0)).encode("ascii")
        line = self._mac(payload) + b" " + payload + b"\n"
        view = memoryview(line)
        while view:
            n = _os_write(self._fd, view)
            view = view[n:]


# --------------------------------------------------------------------------------------------------
# Checks used by rewritten asserts


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "Eq": operator.eq,
    "NotEq": operator.ne,
    "Lt": operator.lt,
    "LtE": operator.le,
    "Gt": operator.gt,
    "GtE": operator.ge,
    "In": lambda a, b: operator.contains(b, a),
    "NotIn": lambda a, b: not operator.contains(b, a),
}


def _user_message(msg: Any) -> str:
    if msg is None:
        return ""
    try:
        return " (" + values.short_repr(values.plain(msg()), 200) + ")"
    except _BaseException:
        return ""


class Checker:
    """Target of rewritten asserts: compares plain forms only."""

    def compare(self, ops: tuple[str, ...], text: str, msg: Any, *operands: Any) -> None:
        plains = [values.plain(o) for o in operands]
        for i, op in enumerate(ops):
            a, b = plains[i], plains[i + 1]
            if not _COMPARE[op](a, b):
                detail = f"left = {values.short_repr(a)}, right = {values.short_repr(b)}"
                raise CheckFailed(f"{text}: {detail}{_user_message(msg)}")

    @staticmethod
    def _truth(text: str, value: Any) -> tuple[bool, Any]:
        p = values.plain(value)
        if _isinstance(p, values.Opaque):
            if p.name in ("deque", "array"):
                return bool(p.fields[-1]), p
            raise CheckFailed(f"{text}: truth value of a {p.name} object is not trusted")
        return bool(p), p

    def truthy(self, text: str, msg: Any, value: Any) -> None:
        ok, p = self._truth(text, value)
        if not ok:
            raise CheckFailed(f"{text}: got {values.short_repr(p)}{_user_message(msg)}")

    def falsy(self, text: str, msg: Any, value: Any) -> None:
        ok, p = self._truth(text, value)
        if ok:
            raise CheckFailed(f"{text}: got {values.short_repr(p)}{_user_message(msg)}")


def check_output(oracle: str, out: Any, expected: Any, args: tuple[Any, ...], atol: float) -> str | None:
    """Compare a ``call`` test's output; return a failure message or None."""
    if oracles.check(oracle, out, expected, args, atol):
        return None
    return f"got {values.short_repr(values.plain(out))}, expected {values.short_repr(expected)}"


# --------------------------------------------------------------------------------------------------
# Errors


def _char_col(source_lines: list[str], line: int | None, byte_col: int | None) -> int | None:
    if line is None or byte_col is None or not 1 <= line <= len(source_lines):
        return byte_col
    return len(source_lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "ignore"))


def error_record(exc: BaseException, source_lines: list[str]) -> dict[str, Any]:
    """Type, message and innermost candidate position of an exception."""
    line = col = end_line = end_col = None
    in_candidate = False
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == CANDIDATE_FILE:
            in_candidate = True
            line = tb.tb_lineno
            positions = getattr(code, "co_positions", None)
            if positions is not None and tb.tb_lasti >= 0:
                pos = list(positions())[tb.tb_lasti // 2]
                if pos[0] is not None:
                    line, end_line = pos[0], pos[1]
                    col = _char_col(source_lines, pos[0], pos[2])
                    end_col = _char_col(source_lines, pos[1], pos[3])
        tb = tb.tb_next
    try:
        message = str(exc)
    except _BaseException:
        message = "<unprintable>"
    return {
        "type": type(exc).__name__,
        "message": message[:MESSAGE_LIMIT],
        "line": line,
        "col": col,
        "end_line": end_line,
        "end_col": end_col,
        "in_candidate": in_candidate,
    }


def classify(exc: BaseException, source_lines: list[str]) -> tuple[str, str, dict[str, Any] | None]:
    """(status, message, error) for an exception raised while running a test."""
    if _isinstance(exc, (CheckFailed, UntrustedResult)):
        return "failed", str(exc)[:MESSAGE_LIMIT], None
    err = error_record(exc, source_lines)
    if _isinstance(exc, _MemoryError):
        return "memory", f"MemoryError: {err['message']}", err
    text = f"{err['type']}: {err['message']}"
    if not err["in_candidate"] and not _isinstance(exc, (SystemExit, KeyboardInterrupt)):
        # Raised by the test code itself (e.g. on a wrong-typed result): a wrong answer.
        return "failed", f"test raised {text}"[:MESSAGE_LIMIT], err
    return "error", text[:MESSAGE_LIMIT], err


# --------------------------------------------------------------------------------------------------
# Output capture


class CappedWriter(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        self.dropped = 0

    def write(self, s: str) -> int:
        s = str(s)
        room = self._limit - self._size
        if room > 0:
            self._parts.append(s[:room])
            self._size += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def writable(self) -> bool:
        return True

    def text(self) -> str:
        out = "".join(self._parts)
        return out + (f"\n[... {self.dropped} characters dropped]" if self.dropped else "")


# --------------------------------------------------------------------------------------------------
# The run


MAX_RECORDED_CALLS = 64
MAX_RECORDED_ITEMS = 10_000  # longer containers are recorded as a summary (length, hash, head)


def _wrap_entry(
    fn: Callable[..., Any], trusted: frozenset[int], calls: list[dict[str, Any]] | None = None
) -> Callable[..., Any]:
    """The entry point as the tests see it: results are checked, calls optionally recorded.

    With ``calls``, every call from the test code (not the program's own recursion) appends
    ``{"args": wire, "kwargs": wire, "result": wire}`` or ``{"args": ..., "raised": type name}``;
    arguments are snapshotted before the call, so later mutation does not rewrite them.
    """

    def candidate(*args: Any, **kwargs: Any) -> Any:
        record: dict[str, Any] | None = None
        if calls is not None and len(calls) < MAX_RECORDED_CALLS:
            record = {
                "args": snapshot(args, MAX_RECORDED_ITEMS),
                "kwargs": snapshot(kwargs, MAX_RECORDED_ITEMS),
            }
            calls.append(record)
        try:
            result = fn(*args, **kwargs)
        except _BaseException as e:
            if record is not None:
                record["raised"] = type(e).__name__
            raise
        bad = values.untrusted_type(result, trusted)
        if bad is not None:
            raise UntrustedResult(
                f"the entry point returned an instance of {bad}, a class that overrides comparison or "
                "arithmetic; results must be plain values"
            )
        if record is not None:
            record["result"] = snapshot(result, MAX_RECORDED_ITEMS)
        return result

    return candidate


def _coverage_tracer(covered: set[int]) -> Callable[..., Any]:
    """Lines of the program executed by the tests (``sys.settrace``, program frames only)."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            covered.add(frame.f_lineno)
        return local

    def global_(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == CANDIDATE_FILE else None

    return global_


def run_job(
    job: Any,
    compiled_tests: list[Any],
    compiled_prelude: Any,
    channel: Channel,
    guard: Guard,
    namespaces: tuple[dict[str, Any], dict[str, Any]],
    trusted: frozenset[int],
    output_limit: int,
) -> None:
    """Run ``job`` (an :class:`~egca.execution.job.ExecJob`) and emit one record per test."""
    out, err = CappedWriter(output_limit), CappedWriter(output_limit)
    sys.stdout, sys.stderr = out, err
    source_lines = job.program.splitlines()
    t0 = _perf()

    def load_failed(status: str, message: str, error: dict[str, Any] | None) -> None:
        channel.emit({"k": "load", "ok": False, "status": status, "message": message, "error": error})
        channel.emit({"k": "end", "stdout": out.text(), "stderr": err.text()})

    prog_builtins, test_builtins = namespaces  # fresh copies made by the worker before the fork
    prog_ns: dict[str, Any] = {"__name__": "__egca_candidate__", "__builtins__": prog_builtins}
    try:
        if job.setup:
            exec(compile(job.setup, "<setup>", "exec", dont_inherit=True), prog_ns)
        code = compile(job.program, CANDIDATE_FILE, "exec", dont_inherit=True)
    except SyntaxError as e:
        col = (e.offset - 1) if e.offset else None
        end_col = (e.end_offset - 1) if e.end_offset else None
        error: dict[str, Any] | None = {
            "type": type(e).__name__,
            "message": str(e.msg)[:MESSAGE_LIMIT],
            "line": e.lineno,
            "col": col,
            "end_line": getattr(e, "end_lineno", None),
            "end_col": end_col,
            "in_candidate": e.filename == CANDIDATE_FILE,
        }
        load_failed("syntax_error", f"{type(e).__name__}: {e.msg} (line {e.lineno})", error)
        return
    except _BaseException as e:  # null bytes, or the setup code failed
        status, message, error = classify(e, source_lines)
        load_failed("syntax_error" if _isinstance(e, ValueError) else "error", message, error)
        return
    try:
        exec(code, prog_ns)
    except _BaseException as e:
        status, message, error = classify(e, source_lines)
        if status == "failed":  # raised outside the program's frames during load
            status = "error"
        load_failed(status, message, error)
        return
    entry = None
    if job.entry_point:
        entry = prog_ns.get(job.entry_point)
        if not callable(entry):
            load_failed(
                "error",
                f"NameError: the program does not define the entry point {job.entry_point!r}",
                {
                    "type": "NameError",
                    "message": f"the program does not define the entry point {job.entry_point!r}",
                    "line": None,
                    "col": None,
                    "end_line": None,
                    "end_col": None,
                    "in_candidate": False,
                },
            )
            return
    guard.restore()
    shadow = test_builtins.keys()
    test_ns: dict[str, Any] = {k: v for k, v in prog_ns.items() if k not in shadow or k == job.entry_point}
    test_ns["__builtins__"] = test_builtins  # guarded: restored before every test
    test_ns["__name__"] = "__egca_tests__"
    test_ns[CHECKER_NAME] = Checker()
    calls: list[dict[str, Any]] | None = [] if job.record_calls else None
    wrapped = _wrap_entry(entry, trusted, calls) if entry is not None else None
    if compiled_prelude is not None:
        try:
            exec(compiled_prelude, test_ns)
        except _BaseException as e:
            status, message, error = classify(e, source_lines)
            load_failed("error", f"test prelude raised {message}", error)
            return
    if wrapped is not None:
        test_ns["candidate"] = wrapped
        test_ns[job.entry_point] = wrapped
    test_ns[CHECKER_NAME] = Checker()
    channel.emit({"k": "load", "ok": True, "duration_s": _perf() - t0})
    target = prog_ns.get(job.trace_function) if job.trace_function else entry
    if job.trace is not None and callable(target):
        args, kwargs = job.trace
        tracer = make_tracer(CANDIDATE_FILE, write_sets(job.program), job.trace_max_events)
        traced = tracer.run(target, _deepcopy(tuple(args)), _deepcopy(dict(kwargs)))
        channel.emit({"k": "trace", **traced})
        channel.emit({"k": "end", "stdout": out.text(), "stderr": err.text()})
        return

    covered: set[int] = set()
    previous_trace = sys.gettrace()
    if job.coverage:
        sys.settrace(_coverage_tracer(covered))
    for i, test in enumerate(job.tests):
        guard.restore()
        if calls is not None:
            calls.clear()
        start = _perf()
        status, message, error, output = "passed", "", None, None
        try:
            if test.kind == "call":
                if wrapped is None:
                    raise CheckFailed("a call test needs an entry point")
                result = wrapped(*_deepcopy(test.args))
                if job.capture:
                    output = values.to_wire(oracles.captured_output(job.oracle, result))
                if test.expected is MISSING:
                    if not job.capture:
                        raise CheckFailed("expected output unknown")
                else:
                    failure = check_output(job.oracle, result, test.expected, test.args, test.atol)
                    if failure is not None:
                        raise CheckFailed(failure)
            else:
                exec(compiled_tests[i], test_ns)
        except _BaseException as e:
            status, message, error = classify(e, source_lines)
        record = {
            "k": "test",
            "i": i,
            "status": status,
            "message": message,
            "error": error,
            "duration_s": _perf() - start,
        }
        if output is not None:
            record["output"] = output
        if calls:
            record["calls"] = list(calls)
        channel.emit(record)
        if job.fail_fast and status != "passed":
            break
    end: dict[str, Any] = {"k": "end", "stdout": out.text(), "stderr": err.text()}
    if job.coverage:
        sys.settrace(previous_trace)
        end["covered"] = sorted(covered)
    channel.emit(end)
