"""Framing between egca's own processes: main <-> worker, and worker <-> candidate zygote.

4-byte big-endian length + pickle. Both ends are egca code; sandboxed processes never hold these
pipes (the test side's records use :mod:`egca.execution.records`, the boundary :mod:`egca.execution.wire`).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
from typing import Any, ClassVar

_HEADER = struct.Struct(">I")


class ProtocolError(RuntimeError):
    """The other end closed the pipe or sent something malformed."""


def send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    buf = memoryview(_HEADER.pack(len(data)) + data)
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def _read_exact(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise ProtocolError("pipe closed")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class _Unpickler(pickle.Unpickler):
    """Resolves egca's classes from a registry, so a worker can drop egca from ``sys.modules``."""

    registry: ClassVar[dict[tuple[str, str], Any]] = {}

    def find_class(self, module: str, name: str) -> Any:
        hit = self.registry.get((module, name))
        return hit if hit is not None else super().find_class(module, name)


def register_classes() -> None:
    """Remember every class and constant of egca's loaded modules for :func:`recv`."""
    for modname, mod in list(sys.modules.items()):
        if modname == "egca" or modname.startswith("egca."):
            for name, value in list(vars(mod).items()):
                _Unpickler.registry[(modname, name)] = value


def recv(fd: int) -> Any:
    (n,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return _Unpickler(io.BytesIO(_read_exact(fd, n))).load()
