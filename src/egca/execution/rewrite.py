"""Rewrite ``assert`` statements of test code into calls of trusted check functions.

``assert A == B`` becomes ``__egca_check__.compare(("Eq",), <src>, lambda: msg, A, B)``; the checker
compares plain forms (see :mod:`egca.values`), so neither an object's ``__eq__`` nor a
patched ``AssertionError`` can make a failing test pass, and ``python -O`` cannot drop the checks.
"""

from __future__ import annotations

import ast
import types

CHECKER_NAME = "__egca_check__"


class _AssertRewriter(ast.NodeTransformer):
    def __init__(self, source: str) -> None:
        self.source = source

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        msg: ast.expr = (
            ast.Lambda(
                args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
                body=node.msg,
            )
            if node.msg is not None
            else ast.Constant(None)
        )
        test = node.test
        checker = ast.Name(CHECKER_NAME, ast.Load())
        if isinstance(test, ast.Compare) and not any(isinstance(op, (ast.Is, ast.IsNot)) for op in test.ops):
            ops = ast.Tuple([ast.Constant(type(op).__name__) for op in test.ops], ast.Load())
            call = ast.Call(
                ast.Attribute(checker, "compare", ast.Load()),
                [ops, ast.Constant(text[:500]), msg, test.left, *test.comparators],
                [],
            )
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            call = ast.Call(
                ast.Attribute(checker, "falsy", ast.Load()),
                [ast.Constant(text[:500]), msg, test.operand],
                [],
            )
        else:
            call = ast.Call(
                ast.Attribute(checker, "truthy", ast.Load()), [ast.Constant(text[:500]), msg, test], []
            )
        return ast.copy_location(ast.Expr(call), node)


def rewrite_asserts(source: str) -> ast.Module:
    """Parse ``source`` and return its AST with every ``assert`` replaced by a checker call."""
    tree = ast.parse(source)
    tree = _AssertRewriter(source).visit(tree)
    return ast.fix_missing_locations(tree)


def compile_tests(source: str, filename: str = "<tests>") -> types.CodeType:
    """Compile test code with rewritten asserts (a code object for ``exec``)."""
    return compile(rewrite_asserts(source), filename, "exec", dont_inherit=True)
