"""Cut test code into ordered ``assert`` tests that run at module level in one shared namespace.

A HumanEval ``check(candidate)`` function becomes its module-level prelude plus one test per
assert-bearing statement of its body; MBPP-style test code (top-level asserts) is cut the same way.
When that is not possible the whole test code becomes one test (``split=False``).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

from egca.tasks.task import TestCase

_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line ends Python's tokenizer knows (not \f, \v, ...)
_CHECK_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+check[ \t]*\(", re.MULTILINE)
_CHECK_CALL = re.compile(r"^check[ \t]*\(", re.MULTILINE)


@dataclass(frozen=True)
class SplitTests:
    """The result of :func:`split_tests`.

    ``prelude`` runs once before the tests (module-level code of the test file); ``entry_point`` is
    the one given, else the argument of a top-level ``check(NAME)`` call, else None; ``split`` is
    False when the whole test code had to become a single test.
    """

    prelude: str
    tests: tuple[TestCase, ...]
    entry_point: str | None
    split: bool


def split_tests(test_source: str, entry_point: str | None = None) -> SplitTests:
    """Split ``test_source`` into a prelude and ordered ``assert`` tests (see the module docstring).

    Each test's ``source`` is a slice of the original lines (comments kept, dedented to column 0)
    and its ``label`` the text of the assert that ends it. Empty source gives zero tests.
    """
    if not test_source.strip():
        return SplitTests("", (), entry_point, True)
    tree = parse_quietly(test_source)
    if tree is None:
        return _whole(test_source, entry_point)
    if entry_point is None:
        entry_point = _called_check_arg(tree)
    src = _Source(test_source)
    checks = [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    if checks:
        check = checks[-1]
        param = _single_param(check)
        if param is None:
            return _whole(test_source, entry_point)
        others = [s for s in tree.body if not _is_check_stmt(s)]
        prelude = "".join(_render_one(src, tree.body, s) for s in others)
        tests = _chunks(src, check.body, check.lineno)
        if not tests:
            return _whole(test_source, entry_point)
        if param != "candidate":  # bind the parameter name in every test (the prelude runs before
            # `candidate` is bound, and a test may run alone)
            tests = tuple(replace(t, source=f"{param} = candidate\n{t.source}") for t in tests)
        return SplitTests(prelude, tests, entry_point, True)
    body = [s for s in tree.body if not _dropped(s)]
    first = next((i for i, s in enumerate(body) if _has_assert(s)), None)
    if first is None:
        return _whole(test_source, entry_point)
    prelude = "".join(_render_one(src, tree.body, s) for s in body[:first])
    tests = _chunks(src, body[first:], 0, siblings=tree.body)
    if not tests:
        return _whole(test_source, entry_point)
    return SplitTests(prelude, tests, entry_point, True)


def assert_label(source: str) -> str:
    """The text of the last ``assert`` in ``source`` on one line (else its last non-empty line)."""
    tree = parse_quietly(source)
    asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)] if tree is not None else []
    if not asserts:
        lines = [line.strip() for line in source.splitlines() if line.strip()]
        return lines[-1] if lines else ""
    last = max(asserts, key=lambda n: (n.lineno, n.col_offset))
    return _one_line(ast.get_source_segment(source, last) or ast.unparse(last))


def parse_quietly(code: str) -> ast.Module | None:
    """``ast.parse(code)`` without warnings (invalid escapes are common in benchmark code); None on error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(code)
        except (SyntaxError, ValueError):
            return None


def parses(code: str) -> bool:
    """True when ``code`` is syntactically valid Python for this interpreter."""
    return parse_quietly(code) is not None


# -- helpers ---------------------------------------------------------------------------------------


class _Source:
    """Source text with its lines (1-based, line ends kept) as Python's tokenizer counts them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[str] = []
        pos = 0
        for m in _NEWLINE.finditer(text):
            self.lines.append(text[pos : m.end()])
            pos = m.end()
        if pos < len(text):
            self.lines.append(text[pos:])

    def line(self, n: int) -> str:
        return self.lines[n - 1] if 0 < n <= len(self.lines) else ""


def _whole(test_source: str, entry_point: str | None) -> SplitTests:
    source = test_source if test_source.endswith(("\n", "\r")) else test_source + "\n"
    label = ""
    if _CHECK_DEF.search(test_source) and not _CHECK_CALL.search(test_source):
        source += "check(candidate)\n"
        label = "check(candidate)"
    test = TestCase(index=0, kind="assert", source=source, label=label or assert_label(test_source))
    return SplitTests("", (test,), entry_point, False)


def _called_check_arg(tree: ast.Module) -> str | None:
    for stmt in tree.body:
        if _is_check_call(stmt):
            call = stmt.value  # type: ignore[attr-defined]
            if len(call.args) == 1 and isinstance(call.args[0], ast.Name):
                return str(call.args[0].id)
    return None


def _is_check_call(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == "check"
    )


def _is_check_stmt(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.FunctionDef) and stmt.name == "check") or _is_check_call(stmt)


def _single_param(fn: ast.FunctionDef) -> str | None:
    a = fn.args
    params = [*a.posonlyargs, *a.args]
    if len(params) != 1 or a.vararg or a.kwarg or a.kwonlyargs or fn.decorator_list:
        return None
    return params[0].arg


def _dropped(stmt: ast.stmt) -> bool:
    """A docstring-like string expression or a ``pass``: not worth a test of its own."""
    if isinstance(stmt, ast.Pass):
        return True
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _has_assert(node: ast.AST) -> bool:
    """True when ``node`` runs an ``assert`` (nested function and class bodies do not count)."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return False
    return any(_has_assert(child) for child in ast.iter_child_nodes(node))


def _first_assert(node: ast.AST) -> ast.Assert | None:
    found = [n for n in ast.walk(node) if isinstance(n, ast.Assert)]
    return min(found, key=lambda n: (n.lineno, n.col_offset)) if found else None


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _chunks(
    src: _Source, body: Sequence[ast.stmt], header_line: int, siblings: Sequence[ast.stmt] | None = None
) -> tuple[TestCase, ...]:
    """Group ``body`` into chunks, each ending with an assert-bearing statement, and render them."""
    groups: list[tuple[list[ast.stmt], ast.stmt]] = []
    pending: list[ast.stmt] = []
    for stmt in body:
        if _dropped(stmt) and not pending:
            continue
        pending.append(stmt)
        if _has_assert(stmt):
            groups.append((pending, stmt))
            pending = []
    if pending and groups:
        groups[-1][0].extend(pending)
    all_stmts = list(siblings) if siblings is not None else list(body)
    tests: list[TestCase] = []
    for i, (stmts, anchor) in enumerate(groups):
        code = _render(src, all_stmts, stmts, header_line)
        if code is None:
            return ()
        first = _first_assert(anchor)
        label = _one_line(ast.get_source_segment(src.text, first) or "") if first is not None else ""
        tests.append(TestCase(index=i, kind="assert", source=code, label=label))
    return tuple(tests)


def _render_one(src: _Source, siblings: Sequence[ast.stmt], stmt: ast.stmt) -> str:
    code = _render(src, list(siblings), [stmt], 0)
    return code if code is not None else ast.unparse(stmt) + "\n"


def _start_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _render(src: _Source, siblings: list[ast.stmt], stmts: list[ast.stmt], header_line: int) -> str | None:
    """The source of consecutive ``stmts`` at column 0, or None when it does not compile there.

    Whole lines are sliced (with comment lines just above the first statement) when no other
    statement shares them; otherwise the statements are unparsed (formatting and comments lost).
    """
    first, last = stmts[0], stmts[-1]
    idx = next(i for i, s in enumerate(siblings) if s is first)
    jdx = next(i for i, s in enumerate(siblings) if s is last)
    lo = siblings[idx - 1].end_lineno or 0 if idx > 0 else header_line
    hi = siblings[jdx + 1].lineno if jdx + 1 < len(siblings) else None
    start, end = _start_line(first), last.end_lineno or last.lineno
    head = src.line(start)
    clean = start > lo and (hi is None or hi > end) and _starts_line(head, first)
    code: str | None = None
    if clean:
        while start - 1 > lo and (
            src.line(start - 1).strip() == "" or src.line(start - 1).lstrip().startswith("#")
        ):
            start -= 1
        while src.line(start).strip() == "" and start < end:
            start += 1
        code = _dedent(src, stmts, start, end)
    if code is None or not _compiles(code):
        code = "".join(ast.unparse(s) + "\n" for s in stmts)
        if not _compiles(code):
            return None
    return code


def _starts_line(line: str, stmt: ast.stmt) -> bool:
    stripped = line.lstrip()
    if stripped.startswith("@"):
        return True
    prefix = line.encode("utf-8")[: stmt.col_offset]
    return prefix.strip() == b""


def _dedent(src: _Source, stmts: list[ast.stmt], start: int, end: int) -> str:
    """Lines ``start..end`` with the first statement's indentation removed.

    Continuation lines of multi-line string literals keep their text, so values never change.
    """
    protected: set[int] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if not isinstance(node, (ast.JoinedStr, ast.Constant)):
                continue
            if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)):
                continue
            if node.end_lineno is not None and node.end_lineno > node.lineno:
                protected.update(range(node.lineno + 1, node.end_lineno + 1))
    head = src.line(_start_line(stmts[0]))
    indent = head[: len(head) - len(head.lstrip(" \t"))]
    out: list[str] = []
    for n in range(start, end + 1):
        line = src.line(n)
        if n in protected or not indent:
            out.append(line)
        elif line.startswith(indent):
            out.append(line[len(indent) :])
        else:
            out.append(line.lstrip(" \t"))
    code = "".join(out)
    return code if code.endswith(("\n", "\r")) else code + "\n"


def _compiles(code: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(code, "<test>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True
