"""Framing between the main process and a worker (fork server), and of child result records.

Main <-> worker: 4-byte big-endian length + pickle. Both ends are egca code; sandboxed children
never hold these pipes. Child -> worker: one line per record, ``<hmac> <json>``, decoded only after
the HMAC and the sequence number are verified (see :mod:`egca.execution.runner`).
"""

from __future__ import annotations

import hmac
import json
import os
import pickle
import struct
from typing import Any

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


def recv(fd: int) -> Any:
    (n,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return pickle.loads(_read_exact(fd, n))


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
