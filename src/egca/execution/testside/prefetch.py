"""Assert tests whose one call into the program can be sent ahead, in a batch.

Most benchmark asserts are a single statement with a single call of the program on literal
arguments (``assert candidate([1, 2], 3) == 5``). Executed in order, each such test makes exactly
that call, unconditionally, once; so a run of consecutive such tests can send all their calls in
one message and the candidate answers them in the same order (one round trip instead of one per
test). The test code still runs unchanged on the test side; its call takes the prefetched reply.
"""

from __future__ import annotations

import ast
import itertools
import types
from typing import Any

# Nodes through which a call is always evaluated when the assert is (no short-circuit, no scope).
_ALWAYS = (
    ast.Assert,
    ast.Call,
    ast.BinOp,
    ast.UnaryOp,
    ast.Subscript,
    ast.Attribute,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.Starred,
    ast.keyword,
    ast.Slice,
)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _always_evaluated(path: list[ast.AST]) -> bool:
    """Whether the last node of ``path`` (root first) is evaluated whenever the root is."""
    for parent, child in itertools.pairwise(path):
        if isinstance(parent, ast.Compare):
            if child is not parent.left and (not parent.comparators or child is not parent.comparators[0]):
                return False
        elif isinstance(parent, ast.Assert):
            if child is not parent.test:
                return False
        elif not isinstance(parent, _ALWAYS):
            return False
    return True


def _paths(node: ast.AST, path: list[ast.AST]) -> list[list[ast.AST]]:
    out = []
    for child in ast.iter_child_nodes(node):
        p = [*path, child]
        if isinstance(child, ast.Call):
            out.append(p)
        out += _paths(child, p)
    return out


def single_call(
    source: str, ns: dict[str, Any], remote: type
) -> tuple[str, list[ast.expr], list[ast.keyword]] | None:
    """(name, args, keywords) of the one program call of a one-assert test, else None.

    Eligible: the test is one ``assert``; exactly one call is of a name bound to ``remote`` (a
    function of the program), on literal arguments, always evaluated; every other call is of a
    builtin or of a module's attribute (they cannot call the program).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    stmt = tree.body[0]
    found = None
    builtins_ = ns.get("__builtins__", {})
    for path in _paths(stmt, [stmt]):
        call = path[-1]
        assert isinstance(call, ast.Call)
        func = call.func
        if isinstance(func, ast.Name) and isinstance(ns.get(func.id), remote):
            if found is not None or not _always_evaluated(path):
                return None
            if not all(_literal(a) and not isinstance(a, ast.Starred) for a in call.args):
                return None
            if not all(k.arg is not None and _literal(k.value) for k in call.keywords):
                return None
            found = (func.id, call.args, call.keywords)
        elif isinstance(func, ast.Name):
            if func.id in ns or func.id not in builtins_:
                return None
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if not isinstance(ns.get(func.value.id), types.ModuleType):
                return None
        else:
            return None
    return found


def evaluate(nodes: list[ast.expr], ns: dict[str, Any]) -> list[Any]:
    """The values of literal argument expressions, built as the test code builds them."""
    return [eval(compile(ast.Expression(n), "<tests>", "eval", dont_inherit=True), ns) for n in nodes]
