"""Extract the code from a raw model completion, keeping exact character offsets into it.

The extracted code is always one contiguous slice ``raw[start:end]`` of the completion (never
re-joined or re-indented), so later stages can map program positions back to completion
characters, and from there to tokens. Offsets are Python ``str`` indices (characters, not bytes).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from egca.tasks.split import parse_quietly, parses
from egca.tasks.task import Task

Style = Literal["fence", "raw", "continuation"]

STOP_SEQUENCES: tuple[str, ...] = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")
"""HumanEval stop sequences, applied to continuation-style completions after their first line."""

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "pycon", "ipython"})

_NEWLINE = re.compile(r"\r\n|\r|\n")
_FENCE_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\r\n]*?)[ \t]*$")
_FENCE_CLOSE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*$")
_CODE_START = re.compile(
    r"^(?:(?:async[ \t]+)?def[ \t]|class[ \t]|import[ \t]|from[ \t]+[\w.]+[ \t]+import\b|@[\w(])"
)
_CODE_LIKE = re.compile(
    r"""^(?:
        (?:def|class|import|from|async|await|if|elif|else|for|while|try|except|finally|with|return
          |raise|assert|pass|break|continue|global|nonlocal|del|yield|lambda|print|match|case)\b
      | [@#)\]}'"]
      | [A-Za-z_][\w.]*(?:\[[^\]]*\])?[ \t]*(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)
      | [A-Za-z_][\w.]*[ \t]*\(
    )""",
    re.VERBOSE,
)
_IMPORT_LINE = re.compile(r"^(?:import[ \t]+\S|from[ \t]+\S+[ \t]+import[ \t])")


@dataclass(frozen=True)
class ExtractedCode:
    """Code found in a completion: ``raw[start:end] == code``.

    ``style``: ``"fence"`` (a Markdown code block, fence lines excluded), ``"raw"`` (unfenced code
    after prose) or ``"continuation"`` (the completion continues the prompt, e.g. a function body).
    """

    code: str
    start: int
    end: int
    style: Style


@dataclass(frozen=True)
class _Line:
    start: int  # offset of the first character
    stop: int  # offset just past the text (before the line end)
    end: int  # offset just past the line end

    def text(self, raw: str) -> str:
        return raw[self.start : self.stop]


def _lines(raw: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    for m in _NEWLINE.finditer(raw):
        lines.append(_Line(pos, m.start(), m.end()))
        pos = m.end()
    if pos < len(raw) or not lines:
        lines.append(_Line(pos, len(raw), len(raw)))
    return lines


def defines_top_level(code: str, name: str) -> bool:
    """True when ``code`` defines ``name`` at column 0 (``def``, ``async def``, ``class`` or ``name =``)."""
    n = re.escape(name)
    pattern = rf"^(?:(?:async[ \t]+)?def[ \t]+{n}[ \t]*\(|class[ \t]+{n}\b|{n}[ \t]*(?::[^=\r\n]*)?=(?!=))"
    return re.search(pattern, code, re.MULTILINE) is not None


def extract_code(raw: str, entry_point: str | None = None) -> ExtractedCode:
    """The code in ``raw``, as a slice of it.

    1. Markdown fences (``` or ~~~, an unterminated last block runs to the end): the first block
       that defines ``entry_point`` at top level, else the first python-tagged block, else the
       first untagged block, else the first block (blocks with only whitespace come last). An
       unterminated block (the answer hit the length limit) that does not parse is cut back to
       its longest prefix of whole top-level statements that parses and still defines
       ``entry_point`` (a complete function followed by a cut-off usage example runs).
    2. No fence, first non-empty line at column 0, and some line starts a top-level
       ``def``/``class``/``import``/``from``/``@``: ``"raw"``, from the first code line to the end
       of the last code line before trailing prose (see :func:`_raw_span`).
    3. Otherwise ``"continuation"``: the whole text, cut at the first of :data:`STOP_SEQUENCES`
       found after the first non-empty line.

    In styles 1 and 2 the answer's own test code is cut off as the stop sequences do in style 3:
    the code ends before the first top-level ``assert``, ``if __name__ == ...`` block or bare
    expression (``print(f(2))``) that follows the definition of ``entry_point`` (any function
    without one), so that the task's tests, not the model's examples, judge the function.
    """
    lines = _lines(raw)
    block = _pick_block(raw, lines, entry_point)
    if block is not None:
        start, end = block
        if end == len(raw) and not _closed(raw, lines, start):
            end = _complete_prefix(raw, lines, start, end, entry_point)
        end = _before_test_code(raw, start, end, entry_point)
        return ExtractedCode(raw[start:end], start, end, "fence")
    first = next((i for i, ln in enumerate(lines) if ln.text(raw).strip()), None)
    if first is not None and not raw[lines[first].start].isspace():
        span = _raw_span(raw, lines, first)
        if span is not None:
            start, end = span
            end = _before_test_code(raw, start, end, entry_point)
            return ExtractedCode(raw[start:end], start, end, "raw")
    end = len(raw)
    if first is not None:
        after = lines[first].stop
        hits = [i for i in (raw.find(s, after) for s in STOP_SEQUENCES) if i >= 0]
        if hits:
            end = min(hits)
            if end > 0 and raw[end - 1] == "\r":
                end -= 1
    return ExtractedCode(raw[:end], 0, end, "continuation")


def _pick_block(raw: str, lines: list[_Line], entry_point: str | None) -> tuple[int, int] | None:
    blocks: list[tuple[int, int, str]] = []  # content start, content end, info string
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i].text(raw))
        if m is None:
            i += 1
            continue
        fence = m["fence"]
        j = i + 1
        while j < len(lines):
            c = _FENCE_CLOSE.match(lines[j].text(raw))
            if c is not None and c["fence"][0] == fence[0] and len(c["fence"]) >= len(fence):
                break
            j += 1
        content_end = lines[j].start if j < len(lines) else len(raw)
        blocks.append((lines[i].end, max(lines[i].end, content_end), m["info"].strip()))
        i = j + 1
    if not blocks:
        return None
    filled = [b for b in blocks if raw[b[0] : b[1]].strip()]
    ordered = filled + [b for b in blocks if b not in filled]

    def tag(b: tuple[int, int, str]) -> str:
        return b[2].split()[0].lower().lstrip("{.") if b[2] else ""

    choices = []
    if entry_point:
        choices += [b for b in filled if defines_top_level(raw[b[0] : b[1]], entry_point)]
    choices += [b for b in filled if tag(b) in PYTHON_TAGS or tag(b).startswith("python")]
    choices += [b for b in filled if not tag(b)]
    choices += ordered
    start, end, _ = choices[0]
    return start, end


_MAX_TRIES = 16  # start lines / cut lines tried, to bound the parsing work on long answers


def _is_test_code(node: ast.stmt) -> bool:
    """A top-level statement that exercises the code rather than defining it."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Expr):  # print(f(2)), f(2); a string (docstring, note) is harmless
        return not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))
    if isinstance(node, ast.If):  # if __name__ == "__main__":
        return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))
    return False


def _before_test_code(raw: str, start: int, end: int, entry_point: str | None) -> int:
    """``end``, moved back to the start of the line of the first test statement (see
    :func:`_is_test_code`) after the definition of ``entry_point`` in ``raw[start:end]``."""
    tree = parse_quietly(raw[start:end])
    if tree is None:
        return end
    defined = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined = defined or entry_point is None or node.name == entry_point
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and entry_point is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined = defined or any(isinstance(t, ast.Name) and t.id == entry_point for t in targets)
        elif defined and _is_test_code(node):
            cut = start + _line_offset(raw[start:end], node.lineno)
            return cut if raw[start:cut].strip() else end
    return end


def _line_offset(code: str, lineno: int) -> int:
    """The offset of the start of 1-based line ``lineno`` of ``code``."""
    at = 0
    for _ in range(lineno - 1):
        m = _NEWLINE.search(code, at)
        if m is None:
            return len(code)
        at = m.end()
    return at


def _closed(raw: str, lines: list[_Line], start: int) -> bool:
    """True when a closing fence line follows the block content starting at ``start``."""
    return any(ln.start >= start and _FENCE_CLOSE.match(ln.text(raw)) for ln in lines)


def _complete_prefix(raw: str, lines: list[_Line], start: int, end: int, entry_point: str | None) -> int:
    """The end of the longest parsing prefix of ``raw[start:end]`` cut before a column-0 line
    (tried from the end, at most :data:`_MAX_TRIES`), keeping ``entry_point`` defined; ``end`` when
    the code parses or no such prefix exists."""
    if parse_quietly(raw[start:end]) is not None:
        return end
    inner = [ln for ln in lines if ln.start > start and ln.start < end]
    cuts = [ln.start for ln in inner if ln.text(raw)[:1].strip() and ln.text(raw)[:1] not in ")]}"]
    for cut in reversed(cuts[-_MAX_TRIES:]):
        code = raw[start:cut].rstrip()
        if not code or parse_quietly(code) is None:
            continue
        if entry_point and not defines_top_level(code, entry_point):
            continue
        return start + len(code) + (1 if raw[start + len(code) : start + len(code) + 1] == "\n" else 0)
    return end


def _raw_span(raw: str, lines: list[_Line], first: int) -> tuple[int, int] | None:
    """Unfenced code after prose, as (start, end) offsets; None when no line starts code.

    The anchor is the first column-0 line starting a ``def``/``class``/``import``/``from``/``@``.
    The start is the earliest column-0 code-like line (:data:`_CODE_LIKE`) before the anchor from
    which the code parses with no prose-like line (non-empty, column 0, not code-like) starting a
    statement (so ``MOD = 10**9 + 7`` or a module string above a ``def`` is kept), else the anchor.
    The end is the end of the last non-blank line before the first prose-like line after the
    anchor such that the code parses; when no cut parses (the code itself is broken), the first
    cut, else the end of the text.
    """
    anchor = next((k for k in range(first, len(lines)) if _CODE_START.match(lines[k].text(raw))), None)
    if anchor is None:
        return None
    prose = [j for j in range(first, anchor) if _is_prose(lines[j].text(raw))]
    earlier = [j for j in range(first, anchor) if _CODE_LIKE.match(lines[j].text(raw))][-_MAX_TRIES:]
    for j in earlier:
        span, tree = _code_span(raw, lines, j, anchor)
        if tree is None:
            continue
        starts = {n.lineno + j for n in ast.walk(tree) if isinstance(n, ast.stmt)}  # 1-based, relative
        if not any(p + 1 in starts for p in prose if p > j):
            return span
    return _code_span(raw, lines, anchor, anchor)[0]


def _is_prose(text: str) -> bool:
    return bool(text.strip()) and not text[0].isspace() and not _CODE_LIKE.match(text)


def _code_span(
    raw: str, lines: list[_Line], start: int, anchor: int
) -> tuple[tuple[int, int], ast.Module | None]:
    """The span from line ``start`` to the best cut after line ``anchor``, and its AST if it parses."""
    cuts = [j for j in range(anchor + 1, len(lines)) if _is_prose(lines[j].text(raw))]
    ends = [_last_code_line_end(raw, lines, anchor, j) for j in cuts[:_MAX_TRIES]]
    ends.append(_last_code_line_end(raw, lines, anchor, len(lines)))
    begin = lines[start].start
    for end in ends:
        tree = parse_quietly(raw[begin:end])
        if tree is not None:
            return (begin, end), tree
    return (begin, ends[0]), None


def _last_code_line_end(raw: str, lines: list[_Line], anchor: int, cut: int) -> int:
    j = cut - 1
    while j > anchor and not lines[j].text(raw).strip():
        j -= 1
    return lines[j].end


@dataclass(frozen=True)
class Program:
    """The program run for a completion: ``source[code_offset:code_offset + len(code)]`` is the code.

    Text outside that slice was added by egca (the prompt, or import lines of the prompt).
    Positions are character offsets / columns (Python ``str`` indices, not UTF-8 bytes).
    """

    source: str
    code_offset: int
    extracted: ExtractedCode

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0] + [m.end() for m in _NEWLINE.finditer(self.source)]

    def program_to_completion(self, char_index: int) -> int | None:
        """The completion offset of ``source[char_index]``; None when egca added that character."""
        rel = char_index - self.code_offset
        if 0 <= rel < len(self.extracted.code):
            return self.extracted.start + rel
        return None

    def offset(self, line: int, col: int) -> int | None:
        """The ``source`` offset of (1-based ``line``, 0-based character ``col``); None if outside."""
        starts = self._line_starts
        if not 1 <= line <= len(starts) or col < 0:
            return None
        begin = starts[line - 1]
        limit = starts[line] if line < len(starts) else len(self.source)
        return begin + col if begin + col <= limit else None

    def char_column(self, line: int, byte_col: int) -> int:
        """The character column of UTF-8 byte column ``byte_col`` of ``line`` (``ast`` gives bytes)."""
        begin = self.offset(line, 0)
        if begin is None:
            return byte_col
        text = self.source[begin:].split("\n", 1)[0]
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def line_span_to_completion(
        self, start_line: int, start_col: int, end_line: int, end_col: int
    ) -> tuple[int, int] | None:
        """The half-open completion span of a ``source`` span (lines 1-based, character columns).

        A span partly in text egca added is clipped to the code; None when nothing of it is code.
        """
        s, e = self.offset(start_line, start_col), self.offset(end_line, end_col)
        if s is None or e is None or e < s:
            return None
        lo, hi = self.code_offset, self.code_offset + len(self.extracted.code)
        base = self.extracted.start - lo
        if s == e:
            return (s + base, s + base) if lo <= s <= hi else None
        s, e = max(s, lo), min(e, hi)
        if s >= e:
            return None
        return s + base, e + base


def prompt_imports(prompt: str) -> list[str]:
    """The column-0 ``import``/``from ... import`` lines of ``prompt`` that parse on their own."""
    return [ln for ln in prompt.splitlines() if _IMPORT_LINE.match(ln) and parses(ln)]


def build_program(task: Task, raw_completion: str) -> Program:
    """The program to run for ``raw_completion``.

    If the extracted code defines the entry point at top level (or the prompt is not code that
    defines it, as in MBPP), the program is the code, preceded by the prompt's import lines the
    code lacks. Otherwise the completion continues the prompt: ``task.prompt + code``.
    """
    extracted = extract_code(raw_completion, task.entry_point)
    code = extracted.code
    if defines_top_level(code, task.entry_point) or not defines_top_level(task.prompt, task.entry_point):
        code_lines = {ln.strip() for ln in code.splitlines()}
        missing = [ln for ln in prompt_imports(task.prompt) if ln.strip() not in code_lines]
        if re.search(r"^from[ \t]+__future__[ \t]", code, re.MULTILINE):
            missing = []
        prefix = "".join(ln + "\n" for ln in missing)
        return Program(prefix + code, len(prefix), extracted)
    return Program(task.prompt + code, len(task.prompt), extracted)
