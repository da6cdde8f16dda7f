"""Single-bug mutants of reference solutions, with the line each mutation touched.

Mutations are spliced into the source text at the mutated node's position, so every other line
(and the line numbers) stay as they were. Kinds: ``comparison`` (``<`` <-> ``<=`` ...; called
``comparison_condition`` inside an ``if``/``while`` test), ``arithmetic`` (``+`` <-> ``-``,
``*`` -> ``-``), ``constant`` (±1), ``range_bound`` (a ``range`` argument + 1),
``negated_condition``, ``weakened_condition`` (``and`` -> ``or``), ``wrong_variable``,
``deleted_statement`` and ``wrong_return``. :func:`restyle` rewrites a program (renamed locals,
``x += y`` as ``x = x + y``) so that a mutant can differ from its reference as real rollouts do.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

KINDS = (
    "comparison",
    "comparison_condition",
    "arithmetic",
    "constant",
    "range_bound",
    "negated_condition",
    "weakened_condition",
    "wrong_variable",
    "deleted_statement",
    "wrong_return",
)
CONTROL_FLOW_KINDS = frozenset({"negated_condition", "weakened_condition", "comparison_condition"})
_SWAP: dict[type, str] = {
    ast.Lt: "<=",
    ast.LtE: "<",
    ast.Gt: ">=",
    ast.GtE: ">",
    ast.Eq: "!=",
    ast.NotEq: "==",
}


@dataclass(frozen=True)
class Mutant:
    """A program with exactly one bug, and the line of that bug."""

    source: str
    kind: str
    line: int
    description: str

    @property
    def control_flow(self) -> bool:
        return self.kind in CONTROL_FLOW_KINDS


def _offset(lines: list[str], line: int, byte_col: int) -> int:
    """Character offset in the source of (1-based line, UTF-8 byte column)."""
    before = sum(len(x) for x in lines[: line - 1])
    return before + len(lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "ignore"))


def splice(source: str, node: ast.stmt | ast.expr, text: str) -> str:
    """``source`` with ``node``'s exact text replaced by ``text``."""
    lines = source.splitlines(keepends=True)
    start = _offset(lines, node.lineno, node.col_offset)
    end = _offset(lines, node.end_lineno or node.lineno, node.end_col_offset or 0)
    return source[:start] + text + source[end:]


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _local_names(fn: ast.FunctionDef) -> list[str]:
    names = {a.arg for a in fn.args.args}
    names |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return sorted(names)


def _in_condition(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    cur = node
    while cur in parents:
        parent = parents[cur]
        if isinstance(parent, (ast.If, ast.While)) and parent.test is cur:
            return True
        if isinstance(parent, ast.stmt):
            return False
        cur = parent
    return False


def _edits(fn: ast.FunctionDef, source: str) -> Iterator[tuple[str, str, ast.stmt | ast.expr, str]]:
    """(kind, description, node to replace, replacement text) for every mutation site."""
    parents = {c: p for p in ast.walk(fn) for c in ast.iter_child_nodes(p)}
    names = _local_names(fn)
    seg = lambda n: ast.get_source_segment(source, n) or ast.unparse(n)  # noqa: E731
    for node in ast.walk(fn):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAP:
            kind = "comparison_condition" if _in_condition(node, parents) else "comparison"
            new = f"{seg(node.left)} {_SWAP[type(node.ops[0])]} {seg(node.comparators[0])}"
            yield kind, f"{type(node.ops[0]).__name__} -> {_SWAP[type(node.ops[0])]}", node, new
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            op = "-" if isinstance(node.op, (ast.Add, ast.Mult)) else "+"
            yield (
                "arithmetic",
                f"{type(node.op).__name__} -> {op}",
                node,
                f"({seg(node.left)} {op} {seg(node.right)})",
            )
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
            op = "-=" if isinstance(node.op, ast.Add) else "+="
            yield "arithmetic", f"augmented -> {op}", node, f"{seg(node.target)} {op} {seg(node.value)}"
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            parent = parents.get(node)
            in_range = (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Name)
                and parent.func.id == "range"
            )
            if not in_range and not isinstance(parent, ast.Subscript):
                for d in (1, -1):
                    yield "constant", f"{node.value} -> {node.value + d}", node, repr(node.value + d)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
            for i, arg in enumerate(node.args[:2]):
                yield "range_bound", f"range argument {i} + 1", arg, f"({seg(arg)} + 1)"
        if isinstance(node, (ast.If, ast.While)):
            yield "negated_condition", "condition negated", node.test, f"not ({seg(node.test)})"
            if isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And):
                new = " or ".join(f"({seg(v)})" for v in node.test.values)
                yield "weakened_condition", "and -> or", node.test, new
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
            others = [n for n in names if n != node.id]
            if others and not (isinstance(parents.get(node), ast.Call) and parents[node].func is node):  # type: ignore[attr-defined]
                other = others[(names.index(node.id)) % len(others)]
                yield "wrong_variable", f"{node.id} -> {other}", node, other
        if isinstance(node, (ast.Assign, ast.AugAssign)) and node.lineno == node.end_lineno:
            yield "deleted_statement", "statement deleted", node, "pass"
        if isinstance(node, ast.Return) and node.value is not None:
            value = seg(node.value)
            new = f"return ({value}) + 1" if _maybe_numeric(node.value) else "return None"
            yield "wrong_return", "return value changed", node, new


def _maybe_numeric(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant):
        return type(expr.value) in (int, float)
    return isinstance(expr, (ast.BinOp, ast.Call, ast.Name, ast.Subscript))


def mutants(source: str, entry_point: str) -> Iterator[Mutant]:
    """Every single-site mutant of ``entry_point`` in ``source`` that still parses (fixed order)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    fn = _function(tree, entry_point)
    if fn is None:
        return
    seen: set[str] = set()
    for kind, desc, node, text in _edits(fn, source):
        new = splice(source, node, text)
        if new == source or new in seen:
            continue
        try:
            ast.parse(new)
        except SyntaxError:
            continue
        seen.add(new)
        yield Mutant(new, kind, node.lineno, desc)


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.mapping:
            node.id = self.mapping[node.id]
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        if node.arg in self.mapping:
            node.arg = self.mapping[node.arg]
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            load = ast.Name(node.target.id, ast.Load())
            return ast.copy_location(ast.Assign([node.target], ast.BinOp(load, node.op, node.value)), node)
        return node


def restyle(source: str, entry_point: str) -> str:
    """The program with the entry point's locals renamed and ``x += y`` written as ``x = x + y``."""
    tree = ast.parse(source)
    fn = _function(tree, entry_point)
    if fn is None:
        return source
    params = {a.arg for a in fn.args.args}
    mapping = {n: f"{n}_v" for n in _local_names(fn) if n not in params}
    fn_new = _Renamer(mapping).visit(fn)
    ast.fix_missing_locations(fn_new)
    return ast.unparse(tree) + "\n"
