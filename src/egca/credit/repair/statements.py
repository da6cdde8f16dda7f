"""Single-site statement edits: delete, move, re-indent, change an augmented operator, add a guard.

Edits work on whole lines, so they only touch statements that own their lines (no ``a; b``). An
insertion is credited to the statement right after the insertion point (the suite's convention).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Sequence

from egca.credit.repair.edits import _BIN, Edit, walk_own

_SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Break, ast.Continue)


def _owns_lines(stmt: ast.stmt, lines: list[str]) -> bool:
    first = lines[stmt.lineno - 1]
    last = lines[(stmt.end_lineno or stmt.lineno) - 1]
    indent = len(first) - len(first.lstrip())
    end = len(last.encode("utf-8").rstrip())
    return stmt.col_offset == len(first[:indent].encode("utf-8")) and (stmt.end_col_offset or 0) >= end


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _join(lines: Sequence[str]) -> str:
    return "\n".join(lines) + "\n"


def _block(stmt: ast.stmt) -> tuple[int, int]:
    """0-based [start, end) line range of ``stmt``."""
    return stmt.lineno - 1, stmt.end_lineno or stmt.lineno


def _region(stmt: ast.stmt) -> tuple[int, int, int, int]:
    return (stmt.lineno, stmt.end_lineno or stmt.lineno, stmt.col_offset, stmt.end_col_offset or 0)


def _bodies(fn: ast.AST) -> Iterator[list[ast.stmt]]:
    for node in walk_own(fn):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block


def _dedent(lines: list[str], by: int) -> list[str]:
    return [ln[by:] if ln[:by].strip() == "" else ln.lstrip() for ln in lines]


def statement_edits(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], guard_values: Sequence[str]
) -> Iterator[Edit]:
    """Statement edits of ``fn`` (whose text is ``lines``, the program's lines)."""
    for body in _bodies(fn):
        own = [s for s in body if _owns_lines(s, lines)]
        for stmt in own:
            a, b = _block(stmt)
            if len(body) > 1 or not isinstance(stmt, ast.Pass):
                prior = 0.3 if isinstance(stmt, ast.Return) else 0.5
                new = [*lines[:a], _indent(lines[a]) + "pass", *lines[b:]]
                yield Edit("delete", _region(stmt), stmt.lineno, "pass", prior, _join(new))
            if isinstance(stmt, ast.AugAssign):
                for op in _BIN.get(type(stmt.op), ()):
                    text = ast.unparse(ast.AugAssign(stmt.target, op(), stmt.value))
                    new = [*lines[:a], _indent(lines[a]) + text, *lines[b:]]
                    yield Edit("aug_op", _region(stmt), stmt.lineno, text, 0.8, _join(new))
                target = ast.unparse(stmt.target)
                text = f"{target} = {ast.unparse(stmt.value)}"
                new = [*lines[:a], _indent(lines[a]) + text, *lines[b:]]
                yield Edit("aug_to_assign", _region(stmt), stmt.lineno, text, 0.4, _join(new))
            if isinstance(stmt, (ast.If, ast.While)) and isinstance(stmt.test, ast.expr):
                hdr = stmt.test
                for value in ("True", "False"):
                    region = (
                        hdr.lineno,
                        hdr.end_lineno or hdr.lineno,
                        hdr.col_offset,
                        hdr.end_col_offset or 0,
                    )
                    if isinstance(stmt, ast.While) and value == "True":
                        continue
                    yield Edit("drop_condition", region, hdr.lineno, value, 0.3)
        for first, second in itertools.pairwise(body):
            if first in own and second in own and isinstance(first, _SIMPLE) and isinstance(second, _SIMPLE):
                a1, b1 = _block(first)
                a2, b2 = _block(second)
                if b1 == a2 and _indent(lines[a1]) == _indent(lines[a2]):
                    new = [*lines[:a1], *lines[a2:b2], *lines[a1:b1], *lines[b2:]]
                    yield Edit("swap_statements", _region(first), first.lineno, "", 0.5, _join(new))
    yield from _loop_moves(fn, lines)
    yield from _guards(fn, lines, guard_values)


def _loop_moves(fn: ast.AST, lines: list[str]) -> Iterator[Edit]:
    """The last statement of a loop body moved after the loop, and back (misplaced statements)."""
    for body in _bodies(fn):
        for i, loop in enumerate(body):
            if not isinstance(loop, (ast.For, ast.While)) or loop.orelse or not _owns_lines(loop, lines):
                continue
            last = loop.body[-1]
            la, lb = _block(last)
            a, b = _block(loop)
            step = len(_indent(lines[la])) - len(_indent(lines[a]))
            if isinstance(last, _SIMPLE) and _owns_lines(last, lines) and len(loop.body) > 1 and step > 0:
                moved = _dedent(lines[la:lb], step)
                new = [*lines[:la], *lines[lb:b], *moved, *lines[b:]]
                yield Edit("move_out_of_loop", _region(last), last.lineno, "", 0.6, _join(new))
            if i + 1 < len(body):
                nxt = body[i + 1]
                na, nb = _block(nxt)
                if isinstance(nxt, _SIMPLE) and _owns_lines(nxt, lines) and na == b and step > 0:
                    moved = [" " * step + ln if ln.strip() else ln for ln in lines[na:nb]]
                    new = [*lines[:b], *moved, *lines[nb:]]
                    yield Edit("move_into_loop", _region(nxt), nxt.lineno, "", 0.5, _join(new))


def _guards(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], values: Sequence[str]
) -> Iterator[Edit]:
    """``if <edge case>: return <value>`` before the first statement of the function."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # after the docstring
    if not body or not values:
        return
    first = body[0]
    if not _owns_lines(first, lines):
        return
    a = first.lineno - 1
    indent = _indent(lines[a])
    params = [x.arg for x in fn.args.args if x.arg not in ("self", "cls")][:3]
    conds: list[str] = []
    for p in params:
        conds += [f"not {p}", f"{p} == 0", f"{p} < 0", f"len({p}) <= 1", f"{p} <= 1"]
    if len(params) >= 2:
        conds += [f"{params[0]} == {params[1]}", f"{params[0]} > {params[1]}", f"{params[0]} < {params[1]}"]
    for cond in conds:
        for value in values:
            text = f"if {cond}: return {value}"
            new = [*lines[:a], indent + text, *lines[a:]]
            yield Edit("guard", _region(first), first.lineno, text, 0.35, _join(new))
