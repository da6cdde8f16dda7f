"""The tracer: run one call of a program's function and record what the program's own code did.

Runs inside the sandboxed child (see ``ExecJob.trace``). Only frames whose code belongs to the
traced program are instrumented (``sys.settrace`` returns no local tracer for other frames), and
on each line event only the names the *previous* line of that frame writes (static write-sets,
:mod:`egca.trace.writes`) are snapshotted, as bounded plain values. Events:

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

from egca.execution import values

MAX_EVENTS = 10_000
MAX_ITEMS = 16  # containers longer than this are summarised (length, hash, first items)


def snapshot(v: Any, max_items: int = MAX_ITEMS) -> Any:
    """A bounded wire encoding of ``v``'s plain value, taken now (later mutation cannot change it)."""
    p = values.plain(v)
    return _bounded(p, max_items)


def _bounded(p: Any, max_items: int) -> Any:
    if type(p) in (list, tuple, set, frozenset, dict) and len(p) > max_items:
        items = list(p.items()) if type(p) is dict else list(p)
        if type(p) in (set, frozenset, dict):
            items.sort(key=repr)
        digest = hashlib.sha256(repr(items).encode("utf-8", "backslashreplace")).hexdigest()[:16]
        return {
            "t": "summary",
            "v": {
                "type": type(p).__name__,
                "len": len(p),
                "hash": digest,
                "head": [values.to_wire(_head(e)) for e in items[:max_items]],
            },
        }
    if type(p) is str and len(p) > 256:
        digest = hashlib.sha256(p.encode("utf-8", "backslashreplace")).hexdigest()[:16]
        return {"t": "summary", "v": {"type": "str", "len": len(p), "hash": digest, "head": p[:64]}}
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
