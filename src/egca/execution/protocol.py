"""Framing between the main process and a worker (fork server), and of child result records.

Main <-> worker: 4-byte big-endian length + pickle. Both ends are egca code; sandboxed children
never hold these pipes. Child -> worker: one line per record, ``<hmac> <json>``, decoded only after
the HMAC and the sequence number are verified (see :mod:`egca.execution.runner`).
"""

from __future__ import annotations

import hmac
import io
import json
import os
import pickle
import struct
import sys
from typing import Any, ClassVar

from egca.execution.runner import Mac

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


def verify_record(mac: Mac, line: bytes, expected_seq: int) -> dict[str, Any] | None:
    """The record carried by ``line`` if its HMAC and sequence number are right, else None."""
    tag, _, payload = line.partition(b" ")
    if not hmac.compare_digest(tag, mac(payload)):
        return None
    try:
        record = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if type(record) is not dict or record.get("seq") != expected_seq:
        return None
    return record
