"""Static write-sets: which names each line of a program writes (the tracer snapshots only these).

A line event fires *before* its line runs, so the values written by line L are read at the next
event of the same frame; knowing L's write-set statically keeps tracing to a few names per event
(docs/method.md, "The localizer"). Mutating calls such as ``xs.append(v)`` or
``heapq.heappush(h, v)`` count as writes of ``xs`` / ``h``.
"""

from __future__ import annotations

import ast
from collections import defaultdict

MUTATING_METHODS = frozenset(
    [
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "sort",
        "reverse",
        "clear",
        "update",
        "add",
        "discard",
        "setdefault",
        "popitem",
        "appendleft",
        "extendleft",
        "popleft",
        "rotate",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    ]
)
# Functions whose first argument they mutate.
MUTATING_FUNCTIONS = frozenset({"heappush", "heappop", "heapify", "heapreplace", "heappushpop", "shuffle"})


def _root_name(node: ast.AST) -> str | None:
    """``a`` for ``a``, ``a.b``, ``a[i]``, ``a[i].b[j]``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    name = _root_name(node)
    return [name] if name else []


class _Writes(ast.NodeVisitor):
    def __init__(self) -> None:
        self.by_line: dict[int, set[str]] = defaultdict(set)

    def _add(self, line: int, names: list[str]) -> None:
        self.by_line[line].update(names)

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._add(node.lineno, _targets(t))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._add(node.lineno, _targets(node.target))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._add(node.lineno, _targets(node.target))
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._add(node.lineno, _targets(node.target))
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._add(node.lineno, _targets(item.optional_vars))
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._add(node.lineno, _targets(node.target))
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            if not isinstance(t, ast.Name):  # `del xs[i]` mutates xs; `del x` removes x
                self._add(node.lineno, _targets(t))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
            name = _root_name(func.value)
            if name:
                self._add(node.lineno, [name])
        fname = (
            func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        )
        if fname in MUTATING_FUNCTIONS and node.args:
            name = _root_name(node.args[0])
            if name:
                self._add(node.lineno, [name])
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        # Comprehension variables live in their own scope (3.11) or are hidden (3.12+): skip them.
        self.generic_visit(node)


def write_sets(source: str) -> dict[int, frozenset[str]]:
    """Line number -> names written on that line (statements spanning lines count at their start)."""
    visitor = _Writes()
    visitor.visit(ast.parse(source))
    return {line: frozenset(names) for line, names in visitor.by_line.items() if names}
