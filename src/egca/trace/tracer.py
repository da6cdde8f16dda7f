"""The tracer: run one call of a program's function and record what the program's own code did.

Runs inside the sandboxed child (see ``ExecJob.trace``). Only the traced program's code is
instrumented: on Python >= 3.12 with ``sys.monitoring`` events enabled per code object
(:class:`MonitoringTracer`), before that with ``sys.settrace`` returning no local tracer for other
frames (:class:`Tracer`). On each line event only the names the *previous* line of that frame
writes (static write-sets, :mod:`egca.trace.writes`) are snapshotted, as bounded plain values.
Both produce the same events:

- ``["call", depth, function, line, {arg: value}]``
- ``["write", depth, line, {name: value}]``: values written by ``line`` (seen at the next event)
- ``["line", depth, line]``
- ``["return", depth, function, line, value]``
- ``["raise", depth, function, line, exception type]``

A cap on events sets ``truncated`` and stops recording (the call still runs to completion).
"""

from __future__ import annotations

import hashlib
import sys
import types
from collections.abc import Callable
from typing import Any

from egca import values

MAX_EVENTS = 10_000
MAX_ITEMS = 16  # containers longer than this are summarised (length, hash, first items)


def snapshot(v: Any, max_items: int = MAX_ITEMS) -> Any:
    """A bounded wire encoding of ``v``'s plain value, taken now (later mutation cannot change it)."""
    p = values.plain(v)
    return _bounded(p, max_items)


def _bounded(p: Any, max_items: int, depth: int = 0) -> Any:
    """Wire encoding of a plain value in which every long container or string is summarised."""
    t = type(p)
    if t in (list, tuple, set, frozenset, dict) and len(p) > max_items:
        items = list(p.items()) if t is dict else list(p)
        if t in (set, frozenset, dict):
            items.sort(key=repr)
        digest = hashlib.sha256(repr(items).encode("utf-8", "backslashreplace")).hexdigest()[:16]
        return {
            "t": "summary",
            "v": {
                "type": t.__name__,
                "len": len(p),
                "hash": digest,
                "head": [values.to_wire(_head(e)) for e in items[:16]],
            },
        }
    if t is str and len(p) > 256:
        digest = hashlib.sha256(p.encode("utf-8", "backslashreplace")).hexdigest()[:16]
        return {"t": "summary", "v": {"type": "str", "len": len(p), "hash": digest, "head": p[:64]}}
    if depth < values.MAX_DEPTH:
        if t is list:
            return [_bounded(e, max_items, depth + 1) for e in p]
        if t is tuple:
            return {"t": "tuple", "v": [_bounded(e, max_items, depth + 1) for e in p]}
        if t is dict:
            return {
                "t": "dict",
                "v": [[values.to_wire(k), _bounded(v, max_items, depth + 1)] for k, v in p.items()],
            }
    return values.to_wire(p)


def _head(e: Any) -> Any:
    return e if type(e) is not tuple or len(e) != 2 else (e[0], e[1])


class Tracer:
    """``sys.settrace`` tracer limited to code objects compiled from ``filename``."""

    def __init__(
        self, filename: str, writes: dict[int, frozenset[str]], max_events: int = MAX_EVENTS
    ) -> None:
        self.filename = filename
        self.writes = writes
        self.max_events = max_events
        self.events: list[list[Any]] = []
        self.truncated = False
        self._depth = 0
        self._prev_line: dict[int, int] = {}  # id(frame) -> last line event in that frame

    def _emit(self, event: list[Any]) -> None:
        if len(self.events) >= self.max_events:
            self.truncated = True
            return
        self.events.append(event)

    def _flush_writes(self, frame: types.FrameType) -> None:
        line = self._prev_line.get(id(frame))
        if line is None:
            return
        names = self.writes.get(line)
        if not names:
            return
        local = frame.f_locals
        written = {n: snapshot(local[n]) for n in sorted(names) if n in local}
        if written:
            self._emit(["write", self._depth, line, written])

    def global_trace(self, frame: types.FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event != "call" or frame.f_code.co_filename != self.filename or self.truncated:
            return None
        self._depth += 1
        code = frame.f_code
        args = {
            n: snapshot(frame.f_locals[n])
            for n in code.co_varnames[: code.co_argcount]
            if n in frame.f_locals
        }
        self._emit(["call", self._depth, code.co_name, frame.f_lineno, args])
        return self.local_trace

    def local_trace(self, frame: types.FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if self.truncated:
            return None
        if event == "line":
            self._flush_writes(frame)
            self._prev_line[id(frame)] = frame.f_lineno
            self._emit(["line", self._depth, frame.f_lineno])
        elif event == "return":
            self._flush_writes(frame)
            self._prev_line.pop(id(frame), None)
            self._emit(["return", self._depth, frame.f_code.co_name, frame.f_lineno, snapshot(arg)])
            self._depth -= 1
        elif event == "exception":
            self._emit(["raise", self._depth, frame.f_code.co_name, frame.f_lineno, arg[0].__name__])
        return self.local_trace

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Call ``fn`` under the tracer; the trace plus the result (or the exception)."""
        out: dict[str, Any] = {}
        previous = sys.gettrace()
        sys.settrace(self.global_trace)
        try:
            result = fn(*args, **kwargs)
            out["result"] = snapshot(result)
        except BaseException as e:  # the trace of a failing call is what localization needs
            out["raised"] = type(e).__name__
        finally:
            sys.settrace(previous)
        out["events"] = self.events
        out["truncated"] = self.truncated
        return out


def _program_code_objects(fn: Callable[..., Any], filename: str) -> list[types.CodeType]:
    """Every code object compiled from ``filename`` reachable from ``fn``'s module namespace."""
    roots: list[types.CodeType] = []
    namespace = getattr(fn, "__globals__", {})
    for value in [fn, *namespace.values()]:
        candidates = [value]
        if isinstance(value, type):
            candidates = list(vars(value).values())
        for v in candidates:
            code = getattr(v, "__code__", None)
            if isinstance(code, types.CodeType) and code.co_filename == filename:
                roots.append(code)
    seen: dict[int, types.CodeType] = {}
    while roots:
        code = roots.pop()
        if id(code) in seen:
            continue
        seen[id(code)] = code
        roots.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return list(seen.values())


class MonitoringTracer(Tracer):
    """The same events as :class:`Tracer`, from ``sys.monitoring`` (PEP 669, Python >= 3.12).

    Events are enabled only on the program's code objects, so library code runs at full speed.
    """

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        mon = sys.monitoring  # type: ignore[attr-defined]
        tool = next((i for i in range(6) if mon.get_tool(i) is None), None)
        if tool is None:  # every tool id is taken: fall back to settrace
            return super().run(fn, args, kwargs)
        ev = mon.events
        codes = _program_code_objects(fn, self.filename)
        mon.use_tool_id(tool, "egca")
        callbacks = {
            ev.PY_START: self._start,
            ev.PY_RESUME: self._resume,
            ev.LINE: self._line,
            ev.PY_RETURN: self._return,
            ev.PY_YIELD: self._return,
            ev.PY_UNWIND: self._unwind,
            ev.RAISE: self._raise,
        }
        mask = 0
        global_only = ev.PY_UNWIND | ev.RAISE  # cannot be enabled per code object: filtered below
        for event, cb in callbacks.items():
            mon.register_callback(tool, event, cb)
            if not event & global_only:
                mask |= event
        for code in codes:
            mon.set_local_events(tool, code, mask)
        mon.set_events(tool, global_only)
        self._codes = {id(c) for c in codes}
        self._frames: list[tuple[int, int]] = []  # (frame id, first line) of the active program frames
        out: dict[str, Any] = {}
        try:
            result = fn(*args, **kwargs)
            out["result"] = snapshot(result)
        except BaseException as e:
            out["raised"] = type(e).__name__
        finally:
            mon.set_events(tool, 0)
            for code in codes:
                mon.set_local_events(tool, code, 0)
            for event in callbacks:
                mon.register_callback(tool, event, None)
            mon.free_tool_id(tool)
        out["events"] = self.events
        out["truncated"] = self.truncated
        return out

    # Callbacks run with the monitored frame one level up.

    def _start(self, code: types.CodeType, offset: int) -> Any:
        frame = sys._getframe(1)
        self._depth += 1
        self._frames.append((id(frame), frame.f_lineno))
        if not self.truncated:  # a resumed generator is a "call" too, as with settrace
            args = {
                n: snapshot(frame.f_locals[n])
                for n in code.co_varnames[: code.co_argcount]
                if n in frame.f_locals
            }
            self._emit(["call", self._depth, code.co_name, frame.f_lineno, args])
        return None

    _resume = _start

    def _line(self, code: types.CodeType, line: int) -> Any:
        if self.truncated:
            return None
        frame = sys._getframe(1)
        self._flush_writes(frame)
        self._prev_line[id(frame)] = line
        self._emit(["line", self._depth, line])
        return None

    def _return(self, code: types.CodeType, offset: int, value: Any) -> Any:
        frame = sys._getframe(1)
        if not self.truncated:
            self._flush_writes(frame)
            self._emit(["return", self._depth, code.co_name, frame.f_lineno, snapshot(value)])
        self._prev_line.pop(id(frame), None)
        if self._frames:
            self._frames.pop()
        self._depth -= 1
        return None

    def _unwind(self, code: types.CodeType, offset: int, exc: BaseException) -> Any:
        """A frame left by an exception (its frame object is already gone from the stack)."""
        if id(code) not in self._codes or not self._frames:
            return None
        frame_id, first_line = self._frames.pop()
        line = self._prev_line.pop(frame_id, first_line)
        if not self.truncated:
            self._emit(["return", self._depth, code.co_name, line, snapshot(None)])
        self._depth -= 1
        return None

    def _raise(self, code: types.CodeType, offset: int, exc: BaseException) -> Any:
        if id(code) in self._codes and not self.truncated:
            frame = sys._getframe(1)
            self._emit(["raise", self._depth, code.co_name, frame.f_lineno, type(exc).__name__])
        return None


def make_tracer(filename: str, writes: dict[int, frozenset[str]], max_events: int = MAX_EVENTS) -> Tracer:
    """``sys.monitoring`` on Python >= 3.12, ``sys.settrace`` before."""
    cls = MonitoringTracer if hasattr(sys, "monitoring") else Tracer
    return cls(filename, writes, max_events)
