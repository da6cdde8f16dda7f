"""Map program positions to the generated tokens of a completion (docs/method.md, "From code to tokens").

Character offsets are those of the **generated ids**, not of a re-tokenization of their text.

Contract: the completion text is ``tokenizer.decode(completion_ids, skip_special_tokens=True)``,
the same string that was passed to :func:`egca.tasks.extract.build_program`. Special tokens (EOS,
pad, ``<|im_start|>``, any added token marked special) are absent from that text: each maps to an
empty span at the current position (after the text decoded so far; an EOS at the end therefore
maps to ``(len(text), len(text))``). Empty spans never make a token part of a character span.

A byte-level token that holds only part of a multi-byte UTF-8 character is given the whole
character, as the fast tokenizers' ``offset_mapping`` does: the tokens of one character share its
span. Offsets are therefore monotone (starts never decrease, nor do the ends of non-empty tokens),
may overlap on split characters, and their union is the whole text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from egca.credit.types import TokenSpan
from egca.tasks.extract import Program

Offsets = Sequence[tuple[int, int]]
Method = Literal["offsets", "incremental"]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_PREFIX_BATCH = 128  # prefixes decoded per batch_decode call on the slow path


class SpanMappingError(ValueError):
    """The generated ids cannot be mapped onto the given completion text."""


@dataclass(frozen=True)
class TokenOffsets:
    """Character span ``(start, end)`` of each generated token inside ``text``.

    ``method``: ``"offsets"`` when re-encoding ``text`` gave back the generated ids and the fast
    tokenizer's offset mapping was used; ``"incremental"`` otherwise (the tokens' decoded bytes,
    or decoding of growing id prefixes).
    """

    offsets: tuple[tuple[int, int], ...]
    method: Method
    text: str

    def __len__(self) -> int:
        return len(self.offsets)


# -- characters of the generated ids ---------------------------------------------------------------


def char_offsets_of_ids(
    tokenizer: Any,
    completion_ids: Sequence[int],
    text: str | None = None,
    *,
    method: Literal["auto", "offsets", "incremental"] = "auto",
) -> TokenOffsets:
    """The character span of each id of ``completion_ids`` inside the decoded completion.

    ``text`` defaults to ``tokenizer.decode(completion_ids, skip_special_tokens=True)``; a text
    given must be that string. ``method="auto"`` uses the offset mapping when re-encoding ``text``
    (no special tokens added) gives back exactly the non-special ids, else incremental decoding;
    the other values force a path (for tests). Raises :class:`SpanMappingError` when the ids do
    not decode to ``text``.
    """
    ids = [int(i) for i in completion_ids]
    if text is None:
        text = tokenizer.decode(ids, skip_special_tokens=True)
    special = _special_ids(tokenizer)
    if method != "incremental":
        found = _mapping_offsets(tokenizer, ids, text, special)
        if found is not None:
            return TokenOffsets(tuple(found), "offsets", text)
        if method == "offsets":
            raise SpanMappingError("re-encoding the text does not give back the generated ids")
    found = _byte_offsets(tokenizer, ids, text, special)
    if found is None:
        found = _prefix_offsets(tokenizer, ids, text, special)
    return TokenOffsets(tuple(found), "incremental", text)


def _special_ids(tokenizer: Any) -> frozenset[int]:
    """Ids that ``decode(..., skip_special_tokens=True)`` drops."""
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    found = {int(i) for i, tok in added.items() if getattr(tok, "special", False)}
    return frozenset(found | {int(i) for i in getattr(tokenizer, "all_special_ids", ())})


def _mapping_offsets(
    tokenizer: Any, ids: list[int], text: str, special: frozenset[int]
) -> list[tuple[int, int]] | None:
    """Offsets from the fast tokenizer's ``offset_mapping``; None when re-encoding differs."""
    plain = [i for i in ids if i not in special]
    if not plain:
        return [(0, 0)] * len(ids) if not text else None
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    except (NotImplementedError, TypeError, ValueError):  # a slow tokenizer has no offsets
        return None
    if list(enc["input_ids"]) != plain:
        return None
    mapped = iter(enc["offset_mapping"])
    out: list[tuple[int, int]] = []
    pos = 0  # end of the text covered so far; gaps (trimmed whitespace) go to the next token
    for i in ids:
        if i in special:
            out.append((pos, pos))
            continue
        s, e = (int(x) for x in next(mapped))
        s = min(s, pos)
        if e <= s:
            return None
        out.append((s, e))
        pos = max(pos, e)
    if pos < len(text):  # trailing whitespace trimmed from the last token
        last = max(k for k, i in enumerate(ids) if i not in special)
        out[last] = (out[last][0], len(text))
        out[last + 1 :] = [(len(text), len(text))] * (len(out) - last - 1)
    return out if _tiles(out, ids, special, len(text)) else None


def _tiles(out: list[tuple[int, int]], ids: list[int], special: frozenset[int], n: int) -> bool:
    """Monotone, non-empty for non-special ids, and covering ``[0, n)`` without gaps."""
    pos = 0
    prev_start = 0
    for (s, e), i in zip(out, ids):
        if s < prev_start or s > pos or e < s or e > n:
            return False
        if i not in special and (e == s or e < pos):
            return False
        prev_start = s
        pos = max(pos, e)
    return pos == n


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: printable character -> byte."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _byte_offsets(
    tokenizer: Any, ids: list[int], text: str, special: frozenset[int]
) -> list[tuple[int, int]] | None:
    """Offsets from each token's bytes (byte-level BPE), O(T); None when they do not rebuild ``text``."""
    if not ids:
        return [] if not text else None
    try:
        tokens = tokenizer.convert_ids_to_tokens(ids)
    except (IndexError, KeyError, TypeError, ValueError, OverflowError):
        return None
    table = _byte_decoder()
    pieces: list[bytes] = []
    for i, tok in zip(ids, tokens):
        if i in special:
            pieces.append(b"")
        elif not isinstance(tok, str):
            return None
        elif all(c in table for c in tok):
            pieces.append(bytes(table[c] for c in tok))
        else:  # what the byte-level decoder does with a token outside its alphabet
            pieces.append(tok.encode("utf-8"))
    data = b"".join(pieces)
    try:
        if data.decode("utf-8") != text:
            return None
    except UnicodeDecodeError:
        return None
    char_starts: list[int] = []  # byte offset of each character
    b = 0
    for ch in text:
        char_starts.append(b)
        b += len(ch.encode("utf-8"))
    char_ends = [*char_starts[1:], b] if text else []
    out: list[tuple[int, int]] = []
    b = 0
    for piece in pieces:
        if not piece:
            done = bisect_right(char_ends, b)  # characters complete before byte b
            out.append((done, done))
            continue
        s = bisect_right(char_starts, b) - 1
        e = bisect_right(char_starts, b + len(piece) - 1)
        out.append((s, e))
        b += len(piece)
    return out


def _prefix_offsets(
    tokenizer: Any, ids: list[int], text: str, special: frozenset[int]
) -> list[tuple[int, int]]:
    """Offsets by decoding growing prefixes (RLTF's ``find_position``): O(T) decode calls.

    After token ``i`` the settled length is the common prefix of the decoded prefix and ``text``;
    a decoded prefix longer than that (a partial character shown as U+FFFD) means the token also
    touches the next character, and a token that adds nothing belongs to the previous character.
    """
    out: list[tuple[int, int]] = []
    settled = 0
    decode_batch = _fast_decode_batch(tokenizer, ids, text)
    for start in range(0, len(ids), _PREFIX_BATCH):
        stop = min(start + _PREFIX_BATCH, len(ids))
        prefixes = decode_batch([ids[: k + 1] for k in range(start, stop)])
        for i, decoded in zip(ids[start:stop], prefixes):
            now = max(settled, _common_prefix(decoded, text))
            if i in special and now == settled:
                out.append((now, now))
            else:
                start = settled
                end = min(len(text), now + 1) if len(decoded) > now else now
                if start == end and out and out[-1][0] < start:
                    start -= 1  # adds no character: the rest of the previous one (e.g. a final U+FFFD)
                out.append((start, end))
            settled = now
    if settled != len(text):
        raise SpanMappingError("the generated ids do not decode to the completion text")
    return out


def _fast_decode_batch(tokenizer: Any, ids: list[int], text: str) -> Any:
    """Batch decoding without special tokens: the Rust tokenizer's own ``decode_batch`` when it
    decodes ``ids`` to exactly ``text`` (transformers' ``batch_decode`` converts every prefix to
    Python lists first: O(T²) Python work that dominated the analysis of long random rollouts),
    else ``tokenizer.batch_decode``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        try:
            if backend.decode(ids, skip_special_tokens=True) == text:
                return lambda seqs: backend.decode_batch(seqs, skip_special_tokens=True)
        except (TypeError, ValueError, OverflowError):
            pass
    return lambda seqs: tokenizer.batch_decode(seqs, skip_special_tokens=True)


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    for k in range(n - 1, max(n - 8, 0) - 1, -1):  # the mismatch is usually in the last characters
        if a[:k] == b[:k]:
            lo = k
            break
        hi = k
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


# -- characters to tokens --------------------------------------------------------------------------


def char_span_to_token_span(offsets: TokenOffsets | Offsets, start: int, end: int) -> TokenSpan | None:
    """The tokens overlapping the half-open character span ``[start, end)``; None when none does.

    A token straddling a boundary belongs to the span; empty (special) tokens never overlap
    anything, but one lying between two overlapping tokens is inside the returned range.
    ``offsets`` must be monotone, as :func:`char_offsets_of_ids` returns them.
    """
    spans = offsets.offsets if isinstance(offsets, TokenOffsets) else offsets
    if end <= start:
        return None
    hi = bisect_left(spans, end, key=lambda o: o[0])  # tokens [0, hi) start before `end`
    first = last = None
    for k in range(hi - 1, -1, -1):
        s, e = spans[k]
        if e <= s:
            continue
        if e <= start:
            break  # ends of non-empty tokens are monotone: no earlier token reaches `start`
        first = k
        if last is None:
            last = k
    if first is None or last is None:
        return None
    return TokenSpan(first, last + 1)


def _checked_offsets(
    program: Program, tokenizer: Any, completion_ids: Sequence[int], offsets: TokenOffsets | None
) -> TokenOffsets | None:
    """The offsets of the ids, or None when mapping fails or ``program`` is not from this text."""
    if offsets is None:
        try:
            offsets = char_offsets_of_ids(tokenizer, completion_ids)
        except SpanMappingError:
            return None
    ex = program.extracted
    if not 0 <= ex.start <= ex.end <= len(offsets.text) or offsets.text[ex.start : ex.end] != ex.code:
        return None
    return offsets


def code_span_to_tokens(
    program: Program,
    tokenizer: Any,
    completion_ids: Sequence[int],
    start_line: int,
    start_col: int,
    end_line: int,
    end_col: int,
    *,
    offsets: TokenOffsets | None = None,
) -> TokenSpan | None:
    """The generated tokens of a span of ``program.source`` (lines 1-based, **character** columns).

    ``program`` must come from ``build_program(task, text)`` with ``text`` the decoded completion
    (see the module docstring); otherwise, or when the span lies in text egca added, or mapping
    fails, None. Convert ``ast`` byte columns with :meth:`Program.char_column`. ``offsets``: the
    result of :func:`char_offsets_of_ids` for these ids, to reuse it.
    """
    found = _checked_offsets(program, tokenizer, completion_ids, offsets)
    if found is None:
        return None
    span = program.line_span_to_completion(start_line, start_col, end_line, end_col)
    if span is None:
        return None
    return char_span_to_token_span(found, *span)


# -- statements ------------------------------------------------------------------------------------


def statement_token_spans(
    program: Program,
    tokenizer: Any,
    completion_ids: Sequence[int],
    *,
    offsets: TokenOffsets | None = None,
) -> tuple[TokenSpan, ...]:
    """The token span of every ``ast.stmt`` of ``program.source`` in the completion, in source order.

    Compound statements contribute their header only (``if cond``, ``for x in xs``, ``with a as
    b``, ``def f(x) -> int``, ``try``), never their body. Statements in text egca added are
    skipped; one straddling it keeps its generated part. Duplicates are dropped. Empty when the
    program does not parse or the ids cannot be mapped.
    """
    found = _checked_offsets(program, tokenizer, completion_ids, offsets)
    if found is None:
        return ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning (invalid escapes) and the like
            tree = ast.parse(program.source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    stmts = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.stmt)), key=lambda n: (n.lineno, n.col_offset)
    )
    seen: set[TokenSpan] = set()
    out: list[TokenSpan] = []
    for stmt in stmts:
        header = _header(program, stmt)
        if header is None:
            continue
        chars = program.line_span_to_completion(*header)
        if chars is None:
            continue
        span = char_span_to_token_span(found, *chars)
        if span is not None and span not in seen:
            seen.add(span)
            out.append(span)
    return tuple(out)


def _header(program: Program, stmt: ast.stmt) -> tuple[int, int, int, int] | None:
    """(start line, start char col, end line, end char col) of a statement, header only."""
    line, col = stmt.lineno, program.char_column(stmt.lineno, stmt.col_offset)
    end: ast.AST | None = None
    if isinstance(stmt, (ast.If, ast.While)):
        end = stmt.test
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        end = stmt.iter
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        item = stmt.items[-1]
        end = item.optional_vars or item.context_expr
    elif isinstance(stmt, ast.Match):
        end = stmt.subject
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        body = stmt.body[0]
        return _before_colon(
            program, line, col, (body.lineno, program.char_column(body.lineno, body.col_offset))
        )
    elif type(stmt).__name__ in ("Try", "TryStar"):
        return line, col, line, col + 3  # the `try` keyword
    else:
        end = stmt
    end_line, end_col = getattr(end, "end_lineno", None), getattr(end, "end_col_offset", None)
    if end_line is None or end_col is None:
        return None
    return line, col, end_line, program.char_column(end_line, end_col)


def _before_colon(
    program: Program, line: int, col: int, body: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """From (``line``, ``col``) to the end of the header before its ``:`` (a ``def``/``class``).

    Only the text up to the first statement of the ``body`` is tokenized.
    """
    begin, stop = program.offset(line, col), program.offset(*body)
    if begin is None or stop is None or stop < begin:
        return None
    rest = program.source[begin:stop]
    try:
        colon = _header_colon(rest)
    except (tokenize.TokenError, SyntaxError):
        return None
    if colon is None:
        return None
    stop = begin + len(rest[:colon].rstrip())
    starts = [0] + [m.end() for m in _NEWLINE.finditer(program.source)]  # as `Program.offset` counts
    end_line = bisect_right(starts, stop)
    return line, col, end_line, stop - starts[end_line - 1]


def _header_colon(code: str) -> int | None:
    """Offset in ``code`` of the first ``:`` outside brackets (the end of a compound header)."""
    starts = [0]
    for k, ch in enumerate(code):
        if ch == "\n":
            starts.append(k + 1)
    depth = 0
    tokens: Iterator[tokenize.TokenInfo] = tokenize.generate_tokens(io.StringIO(code).readline)
    for tok in tokens:
        if tok.type != tokenize.OP:
            continue
        if tok.string in ("(", "[", "{"):
            depth += 1
        elif tok.string in (")", "]", "}"):
            depth -= 1
        elif tok.string == ":" and depth == 0:
            row, c = tok.start
            return starts[row - 1] + c
    return None
