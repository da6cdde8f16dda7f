"""The test side's end of the boundary: requests to the candidate's process and their replies."""

from __future__ import annotations

import builtins
import types
from typing import Any

from egca import values
from egca.execution import wire
from egca.execution.checks import REMOTE_ATTR, CheckFailed
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


class Client:
    """Sends requests and reads replies; counts the calls that crossed."""

    def __init__(self, out_fd: int, reader: wire.Reader, cap: int) -> None:
        self.out_fd, self.reader, self.cap = out_fd, reader, cap
        self.calls = 0
        self.record: list[dict[str, Any]] | None = None  # entry-point calls of the current test
        self.entry = ""
        self.gone = False  # the candidate's process ended: every later request fails at once

    def send(self, msg: dict[str, Any]) -> None:
        if self.gone:
            raise wire.Gone("the candidate's process ended")
        wire.send(self.out_fd, msg)

    def receive(self) -> dict[str, Any]:
        """The next reply; :class:`wire.Gone` propagates (the worker decides why)."""
        try:
            return self.reader.message(self.cap)
        except wire.Gone:
            self.gone = True
            raise
        except (wire.TooLarge, wire.Malformed) as e:
            return {"bad": str(e)}

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            wargs = [wire_arg(a) for a in args]
            wkwargs = {"t": "dict", "v": [[k, wire_arg(v)] for k, v in kwargs.items()]}
        except wire.NonPlain as e:
            raise NeedsFallback(str(e)) from None
        mutable = any(type(a) in (list, dict, set, bytearray) for a in args)
        record = None
        if self.record is not None and name == self.entry and len(self.record) < MAX_RECORDED_CALLS:
            record = {
                "args": snapshot(args, MAX_RECORDED_ITEMS),
                "kwargs": snapshot(kwargs, MAX_RECORDED_ITEMS),
            }
            self.record.append(record)
        self.send({"op": "call", "f": name, "a": wargs, "k": wkwargs, "m": mutable})
        self.calls += 1
        reply = self.receive()
        try:
            result = outcome(reply)
        except BaseException as e:
            if record is not None:
                record["raised"] = type(e).__name__
            raise
        if "m" in reply:
            _apply_mutation(args, reply["m"])
        if record is not None:
            record["result"] = snapshot(result, MAX_RECORDED_ITEMS)
        return result


def _is_test_object(x: Any) -> bool:
    """A function or object created by the test code itself (it may cross as a fallback)."""
    if isinstance(x, types.FunctionType):
        return x.__code__.co_filename in TEST_FILES
    return getattr(type(x), "__module__", None) == TESTS_MODULE or isinstance(x, RemoteFunction)


def wire_arg(a: Any) -> Any:
    try:
        return wire.to_wire_strict(a)
    except wire.NonPlain:
        if _contains_test_object(a):
            raise
        raise CheckFailed(
            f"the test passes a {type(a).__name__} value back to the program; it cannot cross the boundary"
        ) from None


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


def outcome(reply: dict[str, Any]) -> Any:
    """The value a call returned, or the exception it raised, from its reply."""
    if "r" in reply:
        try:
            return wire.from_wire(reply["r"])
        except (ValueError, TypeError, KeyError, RecursionError, AttributeError):
            raise Unreachable("MalformedReply", "the candidate sent a malformed value") from None
    if "x" in reply:
        raise remote_exception(reply["x"])
    if "np" in reply:
        truth = reply.get("b")
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
        return self._client.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self._name} (candidate)>"
