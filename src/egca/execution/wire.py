"""Messages across the boundary between the test side and the candidate side.

One JSON object per line. Values are plain data in :mod:`egca.values`' wire format: the test side
rebuilds them from builtin types only (``json`` then :func:`egca.values.from_wire`), so nothing the
candidate's process sends can run code or carry behaviour into the test side. A reply longer than
the cap is discarded as it streams in (the reader stays in step with the next reply).
"""

from __future__ import annotations

import json
import os
import select
import types
from collections.abc import Callable
from typing import Any

from egca import values
from egca.execution.records import encode, write_all

ITER_LIMIT = 1_000_000  # items materialized from a returned iterator or generator
_decoder = json.JSONDecoder()  # bound at import: a program patching json cannot break replies
_Opaque = values.Opaque


class Gone(Exception):
    """The other side closed its pipe, or the worker announced that the candidate is gone."""


class TooLarge(Exception):
    """A reply exceeded the wire cap."""


class Malformed(Exception):
    """A reply that is not a JSON object."""


class NonPlain(Exception):
    """A value that has no plain wire form (an instance of a program's class, a function, ...)."""


def send(fd: int, obj: Any) -> None:
    write_all(fd, encode(obj) + b"\n")


class Reader:
    """Reads one line at a time from ``fd``; ``notify_fd`` becoming readable (EOF) means gone."""

    def __init__(self, fd: int, notify_fd: int | None = None) -> None:
        self.fd, self.notify = fd, notify_fd
        self._buf = bytearray()
        self._scan = 0
        self._skipping = False

    def _fill(self) -> None:
        fds = [self.fd] if self.notify is None else [self.fd, self.notify]
        ready, _, _ = select.select(fds, [], [])
        if self.fd in ready:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise Gone("the candidate's process closed its pipe")
            self._buf += chunk
        elif ready:
            raise Gone("the candidate's process ended")

    def line(self, cap: int) -> bytes:
        """The next line (without its newline); :class:`TooLarge` when it exceeds ``cap`` bytes."""
        while True:
            i = self._buf.find(b"\n", self._scan)
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[: i + 1]
                self._scan = 0
                if self._skipping:
                    self._skipping = False
                    raise TooLarge(f"the reply exceeded {cap} bytes")
                return line
            self._scan = len(self._buf)
            if len(self._buf) > cap:
                self._skipping = True
                self._buf.clear()
                self._scan = 0
            self._fill()

    def message(self, cap: int) -> dict[str, Any]:
        """The next message as a dict of builtin values."""
        raw = self.line(cap)
        try:
            msg = _decoder.decode(raw.decode("utf-8"))
        except (ValueError, RecursionError, UnicodeDecodeError) as e:
            raise Malformed(f"the candidate sent a malformed reply ({type(e).__name__})") from None
        if type(msg) is not dict:
            raise Malformed("the candidate sent a reply that is not an object")
        return msg


def decode_request(raw: bytes) -> Any:
    return _decoder.decode(raw.decode("utf-8"))


Ref = Callable[[Any], Any]  # an object -> its wire reference (a handle), or None


def _strict(p: Any, depth: int = 0, ref: Ref | None = None) -> Any:
    t = type(p)
    if p is None or t in (bool, str):
        return p
    if t is int:
        return p if abs(p) < 2**53 else {"t": "int", "v": hex(p)}
    if t is float:
        return values.to_wire(p)
    if depth > values.MAX_DEPTH:
        raise NonPlain("a value nested too deeply")
    d = depth + 1
    if t is list:
        return [_strict(e, d, ref) for e in p]
    if t is tuple:
        return {"t": "tuple", "v": [_strict(e, d, ref) for e in p]}
    if t is dict:
        return {"t": "dict", "v": [[_strict(k, d, ref), _strict(e, d, ref)] for k, e in p.items()]}
    if t in (set, frozenset):
        return {"t": t.__name__, "v": [_strict(e, d, ref) for e in p]}
    if t in (complex, bytes):
        return values.to_wire(p)
    name = getattr(p, "__name__", "") if t is type else ""
    if name and values.WIRE_TYPES.get(name) is p:
        return {"t": "type", "v": name}
    r = ref(p) if ref is not None else None
    if r is not None:
        return r
    raise NonPlain(p.name if t is _Opaque else t.__name__)


def exact_to_wire(x: Any, ref: Ref) -> Any:
    """The wire form of a value built from exact builtin types and referenced objects (``ref``)."""
    return _strict(x, 0, ref)


def to_wire_strict(x: Any) -> Any:
    """The wire form of ``x``'s plain value; :class:`NonPlain` when it has none.

    A returned generator or builtin iterator is read out (up to :data:`ITER_LIMIT` items) and sent
    as ``{"t": "iter", "v": [...]}``: the test side gets an iterator over the same items.
    """
    if isinstance(x, types.GeneratorType) or (
        hasattr(type(x), "__next__")
        and values.is_immutable_type(type(x))
        and type(x).__module__ == "builtins"
    ):
        items = []
        for item in x:
            items.append(_strict(values.plain(item)))
            if len(items) > ITER_LIMIT:
                raise NonPlain(f"an iterator of more than {ITER_LIMIT} items")
        return {"t": "iter", "v": items}
    return _strict(values.plain(x))


def from_wire(w: Any, resolve: Callable[[Any], Any] | None = None) -> Any:
    """Inverse of :func:`to_wire_strict` (and of :func:`egca.values.to_wire`); ``resolve`` turns
    a handle into the object it names."""
    if type(w) is dict and w.get("t") == "iter" and type(w.get("v")) is list:
        return iter([values.from_wire(e, resolve) for e in w["v"]])
    return values.from_wire(w, resolve)
