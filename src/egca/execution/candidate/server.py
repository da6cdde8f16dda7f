"""The candidate's process: load the program once, then answer the test side's requests.

Requests arrive on fd :data:`IN_FD`, one JSON object per line; replies go to :data:`OUT_FD`:

- ``{"op": "call", "f": name, "a": args, "k": kwargs, "m": bool}``: call a function of the program
  with wire-decoded arguments; reply ``{"r": value}`` (plus ``"m"``: the arguments' state after the
  call where it changed), ``{"x": error record}`` when it raised, ``{"np": type}`` when the result
  has no plain form, ``{"big": n}`` when its encoding exceeds the wire cap.
  Instead of ``"f"``, ``"h"`` calls a kept object. A result without a plain form is kept here and
  named by a handle (``{"np": type, "b": truth, "h": n}``); the test side can read and set its
  attributes (``{"op": "attr", "h": n, "n": name[, "v": value]}``), call it and pass it back.
- ``{"op": "batch", "f": name, "calls": [args, ...]}``: the same for many calls, one reply each;
  ``{"op": "calls", "calls": [{"f", "a", "k"}, ...]}`` for calls of different functions.
- ``{"op": "test", ...}``: the in-process fallback (:mod:`egca.execution.candidate.fallback`).
- ``{"op": "trace"}``: run the traced call; ``{"op": "end"}``: report output and coverage, exit.
"""

from __future__ import annotations

import copy
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from egca.execution import wire
from egca.execution.candidate import fallback
from egca.execution.checks import CANDIDATE_FILE, MESSAGE_LIMIT, CappedWriter, error_record
from egca.execution.guard import Guard
from egca.execution.records import encode, write_all
from egca.trace.tracer import make_tracer
from egca.trace.writes import write_sets

IN_FD, OUT_FD = 3, 4
GLOBAL_VALUE_BYTES = 256 * 1024  # program constants larger than this are not copied to the test side
_perf = time.perf_counter
_deepcopy = copy.deepcopy
_BaseException = BaseException
_MUTABLE = (list, dict, set, bytearray)


def _coverage_tracer(covered: set[int]) -> Callable[..., Any]:
    """Lines of the program executed by the tests (``sys.settrace``, program frames only)."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            covered.add(frame.f_lineno)
        return local

    def global_(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == CANDIDATE_FILE else None

    return global_


def _truth(x: Any) -> bool | None:
    """The truth value of a result that has no plain form (``re.search`` returns a match)."""
    try:
        return bool(x)
    except _BaseException:
        return None


def _describe(name: str, v: Any, handles: list[Any]) -> list[Any]:
    """How the test side binds a global of the program: a module to import (``m``), a function or
    class to call across (``f``/``c``), a plain copy (``v``) or a handle to the object (``h``)."""
    if isinstance(v, types.ModuleType):
        return ["m", str(getattr(v, "__name__", name))]
    if isinstance(v, type):
        return ["c"]
    if callable(v):
        return ["f"]
    if not hasattr(type(v), "__next__"):  # iterators are not read out here: the tests may do it
        try:
            w = wire.to_wire_strict(v)
            if len(encode(w)) <= GLOBAL_VALUE_BYTES:
                return ["v", w]
        except (wire.NonPlain, RecursionError, ValueError):
            pass
    handles.append(v)
    return ["h", len(handles) - 1, type(v).__name__]


class Server:
    """State of one candidate process: the program's namespace and its output."""

    def __init__(self, spec: dict[str, Any], guard: Guard, namespaces: tuple[dict[str, Any], ...]) -> None:
        self.spec = spec
        self.guard = guard
        self.prog_builtins, self.test_builtins = namespaces
        self.out = CappedWriter(spec["output_bytes"])
        self.err = CappedWriter(spec["output_bytes"])
        self.source_lines = spec["program"].splitlines()
        self.prog_ns: dict[str, Any] = {"__name__": "__egca_candidate__", "__builtins__": self.prog_builtins}
        self.functions: dict[str, Any] = {}
        self.entry: Any = None
        self.covered: set[int] = set()
        self.cap = int(spec["wire_bytes"])
        self.fallback: fallback.Fallback | None = None
        self.handles: list[Any] = []  # objects without a plain form, named by index on the test side

    def reply(self, msg: dict[str, Any]) -> None:
        """Send a reply, with the program's output since the last one (no request needed at the end)."""
        self.guard.restore()
        out, err = self.out.new_text(), self.err.new_text()
        if out:
            msg["o"] = out
        if err:
            msg["e"] = err
        if self.out.dropped or self.err.dropped:
            msg["dropped"] = [self.out.dropped, self.err.dropped]
        data = encode(msg)
        if len(data) > self.cap:
            data = encode({"big": len(data)})
        write_all(OUT_FD, data + b"\n")

    # loading -------------------------------------------------------------------------------------

    def _load_failed(self, status: str, message: str, error: dict[str, Any] | None) -> None:
        self.reply(
            {
                "ok": False,
                "status": status,
                "message": message,
                "error": error,
            }
        )

    def load(self) -> bool:
        spec = self.spec
        try:
            if spec["setup"]:
                exec(compile(spec["setup"], "<setup>", "exec", dont_inherit=True), self.prog_ns)
            code = compile(spec["program"], CANDIDATE_FILE, "exec", dont_inherit=True)
        except SyntaxError as e:
            error = {
                "type": type(e).__name__,
                "message": str(e.msg)[:MESSAGE_LIMIT],
                "line": e.lineno,
                "col": (e.offset - 1) if e.offset else None,
                "end_line": getattr(e, "end_lineno", None),
                "end_col": (e.end_offset - 1) if e.end_offset else None,
                "in_candidate": e.filename == CANDIDATE_FILE,
            }
            self._load_failed("syntax_error", f"{type(e).__name__}: {e.msg} (line {e.lineno})", error)
            return False
        except _BaseException as e:  # null bytes, or the setup code failed
            err = error_record(e, self.source_lines)
            status = "syntax_error" if isinstance(e, ValueError) else "error"
            self._load_failed(status, f"{err['type']}: {err['message']}"[:MESSAGE_LIMIT], err)
            return False
        try:
            exec(code, self.prog_ns)
        except _BaseException as e:
            err = error_record(e, self.source_lines)
            status = "memory" if isinstance(e, MemoryError) else "error"
            self._load_failed(status, f"{err['type']}: {err['message']}"[:MESSAGE_LIMIT], err)
            return False
        entry_point = spec["entry_point"]
        if entry_point:
            self.entry = self.prog_ns.get(entry_point)
            if not callable(self.entry):
                message = f"the program does not define the entry point {entry_point!r}"
                err = {
                    "type": "NameError",
                    "message": message,
                    "line": None,
                    "col": None,
                    "end_line": None,
                    "end_col": None,
                    "in_candidate": False,
                }
                self._load_failed("error", f"NameError: {message}", err)
                return False
        self.guard.restore()
        shadow = self.test_builtins.keys()
        names: dict[str, list[Any]] = {}
        for k, v in list(self.prog_ns.items()):
            if type(k) is not str or k.startswith("__") or (k in shadow and k != entry_point):
                continue
            self.functions[k] = v
            names[k] = _describe(k, v, self.handles)
        self.reply({"ok": True, "names": names})
        return True

    # requests ------------------------------------------------------------------------------------

    def _resolve(self, i: Any) -> Any:
        if type(i) is str and i in self.functions:  # a function of the program, passed by name
            return self.functions[i]
        if type(i) is not int or not 0 <= i < len(self.handles):
            raise ValueError(f"no object with handle {i!r}")
        return self.handles[i]

    def _value(self, x: Any) -> dict[str, Any]:
        """A reply carrying ``x``: its plain value, or a handle to it (kept here)."""
        try:
            return {"r": wire.to_wire_strict(x)}
        except wire.NonPlain as e:
            self.handles.append(x)
            return {"np": str(e)[:200], "b": _truth(x), "h": len(self.handles) - 1}

    def call(self, msg: dict[str, Any], mutation: bool) -> dict[str, Any]:
        """Call a function of the program (``"f"``) or a kept object (``"h"``)."""
        self.guard.restore()
        name = msg.get("f")
        try:
            if "h" in msg:
                fn = self._resolve(msg["h"])
            else:
                fn = (
                    self.entry
                    if name == self.spec["entry_point"] and self.entry is not None
                    else self.functions[str(name)]
                )
            wargs = msg["a"]
            args = tuple(wire.from_wire(wargs, self._resolve))
            kwargs = dict(wire.from_wire(msg["k"], self._resolve)) if msg.get("k") is not None else {}
        except KeyError:
            err = {
                "type": "NameError",
                "message": f"name {name!r} is not defined by the program",
                "line": None,
            }
            return {"x": {**err, "in_candidate": False}}
        except Exception as e:
            return {
                "x": {"type": "HarnessError", "message": f"bad request: {e}"[:200], "in_candidate": False}
            }
        t0 = _perf()
        try:
            result = fn(*args, **kwargs)
            reply = self._value(result)
            if mutation:
                post = [wire.to_wire_strict(a) if type(a) in _MUTABLE else None for a in args]
                if any(p is not None and p != w for p, w in zip(post, wargs)):
                    reply["m"] = post
        except wire.NonPlain:
            pass  # an argument the call mutated into something without a plain form: not sent back
        except _BaseException as e:
            reply = {"x": error_record(e, self.source_lines)}
        reply["d"] = _perf() - t0
        return reply

    def attribute(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Read (``"v"`` absent) or set an attribute of a kept object."""
        self.guard.restore()
        try:
            obj = self._resolve(msg["h"])
            name = str(msg["n"])
            if "v" in msg:
                setattr(obj, name, wire.from_wire(msg["v"], self._resolve))
                return {"r": None}
            return self._value(getattr(obj, name))
        except _BaseException as e:
            return {"x": error_record(e, self.source_lines)}

    def serve(self) -> None:
        sys.stdout, sys.stderr = self.out, self.err
        if not self.load():
            return
        previous = sys.gettrace()
        if self.spec["coverage"]:
            sys.settrace(_coverage_tracer(self.covered))
        reader = wire.Reader(IN_FD)
        while True:
            try:
                msg = wire.decode_request(reader.line(1 << 40))
            except wire.Gone:
                return
            op = msg.get("op")
            if op == "call":
                self.reply(self.call(msg, bool(msg.get("m"))))
            elif op == "batch":
                for wargs in msg["calls"]:
                    self.reply(self.call({"f": msg["f"], "a": wargs}, False))
            elif op == "calls":  # prefetched calls of assert tests, answered in order
                for item in msg["calls"]:
                    self.reply(self.call(item, False))
            elif op == "attr":
                self.reply(self.attribute(msg))
            elif op == "test":
                if self.fallback is None:
                    entry = (self.spec["entry_point"], self.entry) if self.entry is not None else None
                    self.fallback = fallback.Fallback(
                        self.functions,
                        entry,
                        self.test_builtins,
                        self.guard,
                        self.source_lines,
                        self.spec["trusted"],
                        str(msg.get("prelude", "")),
                    )
                self.reply(self.fallback.run(msg["src"]))
            elif op == "trace":
                self.reply({"trace": self.trace()})
            elif op == "end":
                sys.settrace(previous)
                end: dict[str, Any] = {}
                if self.spec["coverage"]:
                    end["covered"] = sorted(self.covered)
                self.reply(end)
                return

    def trace(self) -> dict[str, Any]:
        spec = self.spec
        target = self.prog_ns.get(spec["trace_function"]) if spec["trace_function"] else self.entry
        if not callable(target):
            return {"events": [], "truncated": False, "raised": "NameError: nothing to trace"}
        args, kwargs = spec["trace"]
        tracer = make_tracer(CANDIDATE_FILE, write_sets(spec["program"]), spec["trace_max_events"])
        return dict(tracer.run(target, _deepcopy(tuple(args)), _deepcopy(dict(kwargs))))
