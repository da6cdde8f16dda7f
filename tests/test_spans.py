"""Program spans to generated tokens (docs/method.md, "From code to tokens"), with a real offline byte-level BPE."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from egca.credit.spans import (
    SpanMappingError,
    TokenOffsets,
    _byte_offsets,
    _prefix_offsets,
    _special_ids,
    char_offsets_of_ids,
    char_span_to_token_span,
    code_span_to_tokens,
    statement_token_spans,
)
from egca.credit.types import TokenSpan
from egca.tasks import Task, build_program
from tests.tiny import train_tokenizer

EOS, PAD = 2, 0  # <|im_end|>, <|endoftext|>

FUNC = "def f(xs):\n    total = 0\n    for x in xs:\n        if x > 0:\n            total += x * 2\n    return total\n"
CHAT = f"Here is the code:\n```python\n{FUNC}```\nIt doubles the positive numbers."
MBPP = Task(task_id="Mbpp/0", prompt="Write a function f.", entry_point="f", reference="", tests=())
HE_PROMPT = 'def f(xs):\n    """Twice the sum of the positive numbers."""\n'
HE_BODY = FUNC.split("\n", 1)[1]
HUMANEVAL = Task(task_id="HumanEval/0", prompt=HE_PROMPT, entry_point="f", reference="", tests=())


@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return train_tokenizer(tmp_path_factory.mktemp("spans-tokenizer"))


def enc(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def check_offsets(tok: Any, ids: list[int], off: TokenOffsets) -> None:
    """Monotone, special tokens empty, real tokens non-empty, the union tiles the text."""
    special = _special_ids(tok)
    assert len(off) == len(ids)
    pos, prev_start = 0, 0
    for i, (s, e) in zip(ids, off.offsets):
        assert prev_start <= s <= pos and s <= e <= len(off.text)
        if i in special:
            assert s == e
        else:
            assert s < e and e >= pos
            piece = tok.decode([i])
            if "\ufffd" not in piece:  # a whole-character token: its span is exactly its text
                assert off.text[s:e] == piece
        prev_start, pos = s, max(pos, e)
    assert pos == len(off.text)


def brute_span(off: TokenOffsets, start: int, end: int) -> TokenSpan | None:
    hits = [k for k, (s, e) in enumerate(off.offsets) if start < end and s < e and s < end and e > start]
    return TokenSpan(hits[0], hits[-1] + 1) if hits else None


# -- char_offsets_of_ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [FUNC, CHAT, "x", "", "  a  b\n\n\t c  ", "café 日本 😀 x"])
def test_canonical_ids_use_the_offset_mapping(tok: Any, text: str) -> None:
    ids = enc(tok, text)
    off = char_offsets_of_ids(tok, ids)
    assert off.method == "offsets" and off.text == text
    check_offsets(tok, ids, off)
    forced = char_offsets_of_ids(tok, ids, method="incremental")  # the same answer on the slow path
    assert forced.method == "incremental" and forced.offsets == off.offsets
    assert tuple(_prefix_offsets(tok, ids, text, _special_ids(tok))) == off.offsets


def test_split_characters_share_their_span(tok: Any) -> None:
    text = "é日😀"
    ids = enc(tok, text)
    assert len(ids) > len(text)  # byte-level tokens split every character here
    off = char_offsets_of_ids(tok, ids)
    check_offsets(tok, ids, off)
    chars = [text[s:e] for s, e in off.offsets]
    assert chars == ["é"] * 2 + ["日"] * 3 + ["😀"] * 4
    assert char_span_to_token_span(off, 1, 2) == TokenSpan(2, 5)  # all three tokens of 日


def non_canonical(tok: Any, left: str, right: str) -> list[int]:
    ids = enc(tok, left) + enc(tok, right)
    assert ids != enc(tok, left + right)
    return ids


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("def has_close_elem", "ents(numbers, threshold):\n    return True\n"),
        ("s = 'café 日本 😀 thresh", "old'\n"),
        ("x = '日本 😀'  # has_clo", "se_elements é\n"),
    ],
)
def test_non_canonical_ids_fall_back_to_incremental_decoding(tok: Any, left: str, right: str) -> None:
    ids = non_canonical(tok, left, right)
    off = char_offsets_of_ids(tok, ids)
    assert off.method == "incremental" and off.text == left + right
    check_offsets(tok, ids, off)
    assert char_span_to_token_span(off, len(left), len(left) + 1) == TokenSpan(
        len(enc(tok, left)), len(enc(tok, left)) + 1
    )
    assert tuple(_prefix_offsets(tok, ids, off.text, _special_ids(tok))) == off.offsets
    with pytest.raises(SpanMappingError):
        char_offsets_of_ids(tok, ids, method="offsets")


class _PythonDecodeOnly:
    """The tokenizer's ``batch_decode`` alone: no Rust ``backend_tokenizer`` to shortcut through."""

    def __init__(self, tok: Any) -> None:
        self.batch_decode = tok.batch_decode


def test_prefix_decoding_is_the_same_with_and_without_the_rust_batch_decoder(tok: Any) -> None:
    ids = non_canonical(tok, "s = 'café 日本 😀 thresh", "old'\n") + enc(tok, "  x")
    text = tok.decode(ids, skip_special_tokens=True)
    fast = _prefix_offsets(tok, ids, text, _special_ids(tok))
    assert _prefix_offsets(_PythonDecodeOnly(tok), ids, text, _special_ids(tok)) == fast


def test_invalid_utf8_goes_to_prefix_decoding(tok: Any) -> None:
    ids = enc(tok, "ok 日本")[:-1]  # the last character is cut: the text ends with U+FFFD
    text = tok.decode(ids)
    assert text == "ok 日\ufffd"
    assert _byte_offsets(tok, ids, text, _special_ids(tok)) is None  # not valid UTF-8
    off = char_offsets_of_ids(tok, ids)
    assert off.method == "incremental" and off.offsets[-2:] == ((4, 5), (4, 5))
    check_offsets(tok, ids, off)
    bad = [enc(tok, "日")[0], *enc(tok, "日o")]  # a lone lead byte in the middle
    off = char_offsets_of_ids(tok, bad)
    assert off.text == "\ufffd日o" and off.offsets == ((0, 1), (1, 2), (1, 2), (1, 2), (2, 3))


def test_special_tokens_map_to_an_empty_span_at_the_end(tok: Any) -> None:
    ids = [*enc(tok, "return total"), EOS, PAD, PAD]
    for method in ("auto", "incremental"):
        off = char_offsets_of_ids(tok, ids, method=method)
        assert off.text == "return total"
        assert off.offsets[-3:] == ((12, 12),) * 3
        check_offsets(tok, ids, off)
        assert char_span_to_token_span(off, 7, 12) == TokenSpan(len(ids) - 4, len(ids) - 3)
        assert char_span_to_token_span(off, 12, 13) is None


def test_special_token_in_the_middle(tok: Any) -> None:
    left, right = enc(tok, "a = 1\n"), enc(tok, "b = 2\n")
    ids = [*left, 1, *right]  # <|im_start|> is skipped by the decoding
    off = char_offsets_of_ids(tok, ids)
    assert off.text == "a = 1\nb = 2\n" and off.offsets[len(left)] == (6, 6)
    check_offsets(tok, ids, off)
    assert char_span_to_token_span(off, 4, 7) == TokenSpan(len(left) - 2, len(left) + 2)


def test_wrong_text_is_rejected(tok: Any) -> None:
    ids = enc(tok, "x = 1")
    with pytest.raises(SpanMappingError):
        char_offsets_of_ids(tok, ids, text="x = 2")


# -- char_span_to_token_span -----------------------------------------------------------------------


def test_char_span_includes_straddling_tokens() -> None:
    offsets = [(0, 3), (3, 7), (7, 7), (7, 10), (10, 12)]
    assert char_span_to_token_span(offsets, 3, 7) == TokenSpan(1, 2)
    assert char_span_to_token_span(offsets, 4, 8) == TokenSpan(1, 4)  # both boundaries straddle
    assert char_span_to_token_span(offsets, 2, 3) == TokenSpan(0, 1)
    assert char_span_to_token_span(offsets, 0, 12) == TokenSpan(0, 5)
    assert char_span_to_token_span(offsets, 5, 5) is None  # empty character span
    assert char_span_to_token_span(offsets, 12, 20) is None
    assert char_span_to_token_span([(0, 2), (2, 2), (2, 2)], 2, 3) is None  # empty tokens alone


def test_char_span_matches_brute_force(tok: Any) -> None:
    off = char_offsets_of_ids(tok, non_canonical(tok, "s = 'café 日本 😀 thresh", "old'\n"))
    n = len(off.text)
    for start in range(n + 1):
        for end in range(start, n + 2):
            assert char_span_to_token_span(off, start, end) == brute_span(off, start, end)


# -- program spans ---------------------------------------------------------------------------------


def stmt_position(program_source: str, text: str) -> tuple[int, int, int, int]:
    """The (line, char col, end line, end char col) of the statement whose source is ``text``."""
    tree = ast.parse(program_source)
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and ast.get_source_segment(program_source, node) == text:
            assert node.end_lineno is not None and node.end_col_offset is not None
            return node.lineno, node.col_offset, node.end_lineno, node.end_col_offset  # ASCII: chars
    raise AssertionError(text)


def assert_tokens_of(tok: Any, ids: list[int], span: TokenSpan | None, text: str) -> None:
    assert span is not None
    decoded = tok.decode(ids[span.start : span.end], skip_special_tokens=True)
    assert text in decoded and len(decoded.strip()) <= len(text) + 1, decoded
    assert text not in tok.decode(ids[span.start + 1 : span.end])  # minimal on both sides
    assert text not in tok.decode(ids[span.start : span.end - 1])


@pytest.mark.parametrize("canonical", [True, False])
def test_fenced_chat_completion_end_to_end(tok: Any, canonical: bool) -> None:
    cut = CHAT.index("total +") + 3
    ids = enc(tok, CHAT) if canonical else non_canonical(tok, CHAT[:cut], CHAT[cut:])
    ids.append(EOS)
    program = build_program(MBPP, tok.decode(ids, skip_special_tokens=True))
    assert program.source == FUNC
    stmt = "total += x * 2"
    span = code_span_to_tokens(program, tok, ids, *stmt_position(program.source, stmt))
    assert_tokens_of(tok, ids, span, stmt)
    off = char_offsets_of_ids(tok, ids)
    assert off.method == ("offsets" if canonical else "incremental")
    s = CHAT.index(stmt)
    assert span == brute_span(off, s, s + len(stmt))
    assert code_span_to_tokens(program, tok, ids, *stmt_position(program.source, stmt), offsets=off) == span


def test_program_from_another_text_gives_none(tok: Any) -> None:
    ids = enc(tok, CHAT)
    other = build_program(MBPP, "Sure!\n" + CHAT)  # offsets shifted: not this completion's program
    assert code_span_to_tokens(other, tok, ids, 2, 4, 2, 13) is None
    assert statement_token_spans(other, tok, ids) == ()


def test_humaneval_continuation(tok: Any) -> None:
    ids = [*enc(tok, HE_BODY), EOS]
    program = build_program(HUMANEVAL, tok.decode(ids, skip_special_tokens=True))
    assert program.source == HE_PROMPT + HE_BODY and program.code_offset == len(HE_PROMPT)
    for stmt in ("total += x * 2", "return total", "total = 0"):
        span = code_span_to_tokens(program, tok, ids, *stmt_position(program.source, stmt))
        assert_tokens_of(tok, ids, span, stmt)
    assert code_span_to_tokens(program, tok, ids, 1, 0, 1, 10) is None  # `def f(xs):` is the prompt
    assert code_span_to_tokens(program, tok, ids, 2, 4, 2, 10) is None  # the docstring too
    assert code_span_to_tokens(program, tok, ids, 99, 0, 99, 1) is None


def decoded_spans(tok: Any, ids: list[int], spans: tuple[TokenSpan, ...]) -> list[str]:
    return [tok.decode(ids[s.start : s.end], skip_special_tokens=True).strip() for s in spans]


def test_statement_token_spans_fenced(tok: Any) -> None:
    ids = [*enc(tok, CHAT), EOS]
    program = build_program(MBPP, tok.decode(ids, skip_special_tokens=True))
    spans = statement_token_spans(program, tok, ids)
    assert [s.start for s in spans] == sorted(s.start for s in spans) and len(set(spans)) == len(spans)
    decoded = decoded_spans(tok, ids, spans)
    headers = ["def f(xs)", "total = 0", "for x in xs", "if x > 0", "total += x * 2", "return total"]
    assert len(decoded) == len(headers)
    for got, want in zip(decoded, headers):
        assert want in got and len(got) <= len(want) + 2, (got, want)  # a `:` may share a token
    for got in decoded[:4]:
        assert "total +=" not in got and "return" not in got  # headers never include the body


def test_statement_token_spans_skip_the_prompt(tok: Any) -> None:
    ids = [*enc(tok, HE_BODY), EOS]
    program = build_program(HUMANEVAL, tok.decode(ids, skip_special_tokens=True))
    decoded = decoded_spans(tok, ids, statement_token_spans(program, tok, ids))
    assert len(decoded) == 5 and "total = 0" in decoded[0] and "return total" in decoded[-1]
    assert not any("def" in d or "Twice" in d for d in decoded)


def test_statement_token_spans_other_headers(tok: Any) -> None:
    code = (
        "class A(B, metaclass=M):\n"
        "    def g(self, d={'a': 1}) -> dict:  # c\n"
        "        with open(p) as fh, lock:\n"
        "            while fh.x < 3:\n"
        "                pass\n"
        "        try:\n"
        "            return 1\n"
        "        except E:\n"
        "            return 2\n"
    )
    ids = enc(tok, code)
    program = build_program(MBPP, tok.decode(ids))
    decoded = decoded_spans(tok, ids, statement_token_spans(program, tok, ids))
    headers = ["class A(B, metaclass=M)", "def g(self, d={'a': 1}) -> dict", "with open(p) as fh, lock"]
    headers += ["while fh.x < 3", "pass", "try", "return 1", "return 2"]
    assert len(decoded) == len(headers)
    for got, want in zip(decoded, headers):
        assert want in got and len(got) <= len(want) + 1, (got, want)  # `):` is one token here


def test_statement_token_spans_unparsable(tok: Any) -> None:
    ids = enc(tok, "def f(:\n    return\n")
    program = build_program(MBPP, tok.decode(ids))
    assert statement_token_spans(program, tok, ids) == ()
