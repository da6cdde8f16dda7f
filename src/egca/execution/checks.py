"""Checks and verdict words shared by both sides of the boundary.

:class:`Checker` is the target of rewritten asserts (see :mod:`egca.execution.rewrite`); it compares
plain forms only. :func:`classify` turns an exception raised while running a test into a verdict:
an exception of the candidate (raised in its frames, or reported across the boundary as such) is an
``error``, an exception of the test code itself is a wrong answer.
"""

from __future__ import annotations

import io
import operator
from collections.abc import Callable
from typing import Any

from egca import values
from egca.execution import oracles

CANDIDATE_FILE = "<candidate>"
MESSAGE_LIMIT = 1000
REMOTE_ATTR = "__egca_remote__"  # on exceptions rebuilt from the candidate side: its error record

_isinstance = isinstance
_BaseException = BaseException
_MemoryError = MemoryError


class CheckFailed(Exception):
    """A rewritten test assertion did not hold."""


class UntrustedResult(Exception):
    """The entry point returned an object whose class could steer the test code."""


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
    """Target of rewritten asserts: compares plain forms only.

    ``convert`` maps a value to what is compared (the test side turns a handle to an object in the
    candidate's process into an opaque value that carries its truth).
    """

    def __init__(self, convert: Callable[[Any], Any] | None = None) -> None:
        self._convert = convert

    def _plain(self, value: Any) -> Any:
        return values.plain(self._convert(value) if self._convert is not None else value)

    def compare(self, ops: tuple[str, ...], text: str, msg: Any, *operands: Any) -> None:
        plains = [self._plain(o) for o in operands]
        for i, op in enumerate(ops):
            a, b = plains[i], plains[i + 1]
            if not _COMPARE[op](a, b):
                detail = f"left = {values.short_repr(a)}, right = {values.short_repr(b)}"
                raise CheckFailed(f"{text}: {detail}{_user_message(msg)}")

    def _truth(self, text: str, value: Any) -> tuple[bool, Any]:
        p = self._plain(value)
        if _isinstance(p, values.Opaque):
            if p.truth is not None:
                return p.truth, p
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


def classify_error(err: dict[str, Any], memory: bool) -> tuple[str, str, dict[str, Any] | None]:
    """(status, message, error) for an exception described by its error record."""
    if memory:
        return "memory", f"MemoryError: {err['message']}", err
    text = f"{err['type']}: {err['message']}"
    if not err["in_candidate"] and err["type"] not in ("SystemExit", "KeyboardInterrupt"):
        # Raised by the test code itself (e.g. on a wrong-typed result): a wrong answer.
        return "failed", f"test raised {text}"[:MESSAGE_LIMIT], err
    return "error", text[:MESSAGE_LIMIT], err


def classify(exc: BaseException, source_lines: list[str]) -> tuple[str, str, dict[str, Any] | None]:
    """(status, message, error) for an exception raised while running a test."""
    if _isinstance(exc, (CheckFailed, UntrustedResult)):
        return "failed", str(exc)[:MESSAGE_LIMIT], None
    remote = getattr(exc, REMOTE_ATTR, None)
    if type(remote) is dict:  # raised by the candidate on the other side of the boundary
        return classify_error(remote, remote.get("type") == "MemoryError")
    return classify_error(error_record(exc, source_lines), _isinstance(exc, _MemoryError))


class CappedWriter(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        self._sent = 0
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
        return "".join(self._parts) + dropped_note(self.dropped)

    def new_text(self) -> str:
        """What was written since the last call (sent along with each reply of the call server)."""
        new = "".join(self._parts[self._sent :])
        self._sent = len(self._parts)
        return new


def dropped_note(n: int) -> str:
    return f"\n[... {n} characters dropped]" if n else ""
