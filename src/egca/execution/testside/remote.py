"""The test side's end of the boundary: requests to the candidate's process and their replies."""

from __future__ import annotations

import builtins
import types
from typing import Any

from egca import values
from egca.execution import wire
from egca.execution.checks import REMOTE_ATTR, CheckFailed, dropped_note
from egca.trace.tracer import snapshot

MAX_RECORDED_CALLS = 64
MAX_RECORDED_ITEMS = 10_000  # longer containers are recorded as a summary (length, hash, head)
TEST_FILES = ("<tests>", "<test prelude>")
TESTS_MODULE = "__egca_tests__"


class NeedsFallback(BaseException):
    """The test passes one of its own functions or objects to the program: run it in-process.

    A ``BaseException`` so that a test's ``except Exception`` cannot swallow it.
    """


class RemoteBaseException(BaseException):
    """The candidate raised an exception that is not an ``Exception`` (``SystemExit``, ...)."""


class RemoteException(Exception):
    """The candidate raised an exception of a class the test side does not know."""


class Unreachable(Exception):
    """A reply that cannot be used (too large, malformed): an ``error`` of the candidate."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        rec = {"type": kind, "message": message, "line": None, "col": None, "end_line": None}
        setattr(self, REMOTE_ATTR, {**rec, "end_col": None, "in_candidate": True})


_UNSET: Any = object()


class Client:
    """Sends requests and reads replies; counts the calls that crossed."""

    def __init__(self, out_fd: int, reader: wire.Reader, cap: int) -> None:
        self.out_fd, self.reader, self.cap = out_fd, reader, cap
        self.calls = 0
        self.record: list[dict[str, Any]] | None = None  # entry-point calls of the current test
        self.entry = ""
        self.gone = False  # the candidate's process ended: every later request fails at once
        self.expect: str | None = None  # the function whose call of this test was sent ahead
        self.output: tuple[list[str], list[str]] = ([], [])  # the program's stdout and stderr
        self.dropped = [0, 0]

    def send(self, msg: dict[str, Any]) -> None:
        if self.gone:
            raise wire.Gone("the candidate's process ended")
        wire.send(self.out_fd, msg)

    def receive(self) -> dict[str, Any]:
        """The next reply; :class:`wire.Gone` propagates (the worker decides why)."""
        try:
            msg = self.reader.message(self.cap)
        except wire.Gone:
            self.gone = True
            raise
        except (wire.TooLarge, wire.Malformed) as e:
            return {"bad": str(e)}
        for key, parts in zip(("o", "e"), self.output):
            if type(msg.get(key)) is str:
                parts.append(msg[key])
        dropped = msg.get("dropped")
        if type(dropped) is list and len(dropped) == 2 and all(type(d) is int for d in dropped):
            self.dropped = dropped
        return msg

    def program_output(self) -> tuple[str, str]:
        """The program's stdout and stderr as received so far (capped on its side)."""
        return (
            "".join(self.output[0]) + dropped_note(self.dropped[0]),
            "".join(self.output[1]) + dropped_note(self.dropped[1]),
        )

    def ref(self, obj: Any) -> Any:
        """The wire reference of one of this client's handles, else None."""
        if type(obj) is Handle and object.__getattribute__(obj, "_egca_client") is self:
            return {"t": "handle", "v": object.__getattribute__(obj, "_egca_id")}
        if type(obj) is RemoteFunction and obj._client is self:
            return {"t": "handle", "v": obj._name}
        return None

    def call(self, target: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call a function of the program (``{"f": name}``) or a handle (``{"h": id}``)."""
        try:
            wargs = [self.wire_arg(a) for a in args]
            wkwargs = {"t": "dict", "v": [[k, self.wire_arg(v)] for k, v in kwargs.items()]}
        except wire.NonPlain as e:
            raise NeedsFallback(str(e)) from None
        mutable = any(type(a) in (list, dict, set, bytearray) for a in args)
        record = None
        name = target.get("f")
        if self.record is not None and name == self.entry and len(self.record) < MAX_RECORDED_CALLS:
            record = {
                "args": snapshot(args, MAX_RECORDED_ITEMS),
                "kwargs": snapshot(kwargs, MAX_RECORDED_ITEMS),
            }
            self.record.append(record)
        if self.expect is not None and self.expect == name:
            self.expect = None  # sent ahead with the other calls of its run of tests
        else:
            self.send({"op": "call", **target, "a": wargs, "k": wkwargs, "m": mutable})
        self.calls += 1
        reply = self.receive()
        try:
            result = outcome(reply, self)
        except BaseException as e:
            if record is not None:
                record["raised"] = type(e).__name__
            raise
        if "m" in reply:
            _apply_mutation(args, reply["m"])
        if record is not None:
            record["result"] = snapshot(result, MAX_RECORDED_ITEMS)
        return result

    def attribute(self, handle: int, name: str, value: Any = _UNSET) -> Any:
        """Read, or set, an attribute of a kept object."""
        msg: dict[str, Any] = {"op": "attr", "h": handle, "n": name}
        if value is not _UNSET:
            try:
                msg["v"] = self.wire_arg(value)
            except wire.NonPlain as e:
                raise NeedsFallback(str(e)) from None
        self.send(msg)
        self.calls += 1
        return outcome(self.receive(), self)

    def wire_arg(self, a: Any) -> Any:
        """An argument's wire form: exact builtin values and handles, else the plain value."""
        try:
            return wire.exact_to_wire(a, self.ref)
        except wire.NonPlain:
            pass
        try:
            return wire.to_wire_strict(a)
        except wire.NonPlain:
            if _contains_test_object(a):
                raise
            raise CheckFailed(
                f"the test passes a {type(a).__name__} value to the program; it cannot cross the boundary"
            ) from None


class Handle:
    """An object of the program without a plain form, kept in the candidate's process.

    The test code can read and set its attributes, call it and pass it back to the program; it
    equals only itself, and its truth value is the one the program's process reported.
    """

    __slots__ = ("_egca_client", "_egca_id", "_egca_name", "_egca_truth")

    def __init__(self, client: Client, hid: int, name: str, truth: bool | None) -> None:
        object.__setattr__(self, "_egca_client", client)
        object.__setattr__(self, "_egca_id", hid)
        object.__setattr__(self, "_egca_name", name)
        object.__setattr__(self, "_egca_truth", truth)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return object.__getattribute__(self, "_egca_client").attribute(
            object.__getattribute__(self, "_egca_id"), name
        )

    def __setattr__(self, name: str, value: Any) -> None:
        object.__getattribute__(self, "_egca_client").attribute(
            object.__getattribute__(self, "_egca_id"), name, value
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        client = object.__getattribute__(self, "_egca_client")
        return client.call({"h": object.__getattribute__(self, "_egca_id")}, args, kwargs)

    def __bool__(self) -> bool:
        truth = object.__getattribute__(self, "_egca_truth")
        return True if truth is None else bool(truth)

    def __repr__(self) -> str:
        return f"<{object.__getattribute__(self, '_egca_name')} object (candidate)>"


def opaque_of(value: Any) -> Any:
    """A handle as the checker compares it: an opaque value with its truth; others unchanged."""
    if type(value) is not Handle:
        return value
    get = object.__getattribute__
    return values.Opaque(
        id(Handle), get(value, "_egca_name"), get(value, "_egca_id"), get(value, "_egca_truth")
    )


def _is_test_object(x: Any) -> bool:
    """A function or object created by the test code itself (it may cross as a fallback)."""
    if isinstance(x, types.FunctionType):
        return x.__code__.co_filename in TEST_FILES
    return getattr(type(x), "__module__", None) == TESTS_MODULE


def _contains_test_object(a: Any, depth: int = 0) -> bool:
    if _is_test_object(a):
        return True
    if depth > 8:
        return False
    if type(a) in (list, tuple, set, frozenset):
        return any(_contains_test_object(e, depth + 1) for e in a)
    if type(a) is dict:
        return any(_contains_test_object(e, depth + 1) for e in a.values())
    return False


def _apply_mutation(args: tuple[Any, ...], post: Any) -> None:
    """Bring the test side's mutable arguments to their state after the call."""
    if type(post) is not list or len(post) != len(args):
        return
    for a, w in zip(args, post):
        if w is None:
            continue
        try:
            new = values.from_wire(w)
        except (ValueError, TypeError, KeyError, RecursionError):
            continue
        if type(a) is list and type(new) is list:
            a[:] = new
        elif (type(a) is dict and type(new) is dict) or (type(a) is set and type(new) is set):
            a.clear()
            a.update(new)
        elif type(a) is bytearray and type(new) is bytes:
            a[:] = new


def remote_exception(err: Any) -> BaseException:
    """An exception for the test code to see, rebuilt from the candidate's error record."""
    if type(err) is not dict:
        err = {}
    name = str(err.get("type", "Exception"))[:100]
    message = str(err.get("message", ""))[:1000]
    rec = {
        "type": name,
        "message": message,
        "line": err.get("line") if type(err.get("line")) is int else None,
        "col": err.get("col") if type(err.get("col")) is int else None,
        "end_line": err.get("end_line") if type(err.get("end_line")) is int else None,
        "end_col": err.get("end_col") if type(err.get("end_col")) is int else None,
        "in_candidate": err.get("in_candidate") is True,
    }
    cls = getattr(builtins, name, None)
    exc: BaseException
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = cls(message)
        except Exception:
            exc = RemoteException(f"{name}: {message}")
    elif (isinstance(cls, type) and issubclass(cls, BaseException)) or name in (
        "SystemExit",
        "KeyboardInterrupt",
    ):
        exc = RemoteBaseException(f"{name}: {message}")
    else:
        exc = RemoteException(f"{name}: {message}")
    setattr(exc, REMOTE_ATTR, rec)
    return exc


def outcome(reply: dict[str, Any], client: Client | None = None) -> Any:
    """The value a call returned, or the exception it raised, from its reply (a :class:`Handle`
    for an object without a plain form, when the reply names one and ``client`` is given)."""
    if "r" in reply:
        try:
            return wire.from_wire(reply["r"])
        except (ValueError, TypeError, KeyError, RecursionError, AttributeError):
            raise Unreachable("MalformedReply", "the candidate sent a malformed value") from None
    if "x" in reply:
        raise remote_exception(reply["x"])
    if "np" in reply:
        truth = reply.get("b")
        if client is not None and type(reply.get("h")) is int:
            return Handle(client, reply["h"], str(reply["np"])[:100], truth if type(truth) is bool else None)
        return values.Opaque(0, str(reply["np"])[:100], None, truth if type(truth) is bool else None)
    if "big" in reply:
        raise Unreachable(
            "WireLimit", f"the return value is too large to cross the boundary ({reply['big']} bytes)"
        )
    if "bad" in reply:
        raise Unreachable(
            "WireLimit" if "exceeded" in str(reply["bad"]) else "MalformedReply", str(reply["bad"])
        )
    raise Unreachable("MalformedReply", "the candidate sent a reply of an unknown kind")


class RemoteFunction:
    """A function of the program as the test code sees it: each call crosses the boundary."""

    __slots__ = ("_client", "_name")

    def __init__(self, client: Client, name: str) -> None:
        self._client, self._name = client, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.call({"f": self._name}, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self._name} (candidate)>"
