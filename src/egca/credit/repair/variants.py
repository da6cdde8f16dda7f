"""All single-site variants of a program, checked to compile, deduplicated and ordered for the search."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Collection, Sequence

from egca.credit.repair.edits import Edit, expression_edits, functions, scope_of, splice
from egca.credit.repair.statements import statement_edits


def _compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<variant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def generate(
    program: str,
    guard_values: Sequence[str] = (),
    lines: Collection[int] | None = None,
    weight: Callable[[int], float] | None = None,
) -> list[Edit]:
    """Every distinct compiling variant of ``program`` by one edit, most promising first.

    ``lines``: only edits credited to these lines (e.g. the lines the failing tests executed);
    ``weight(line)`` multiplies each edit's prior (a suspiciousness score), ties keep text order.
    """
    tree = ast.parse(program)
    text_lines = program.splitlines()
    byte_lines = [ln.encode("utf-8") for ln in text_lines]
    seen = {program if program.endswith("\n") else program + "\n"}
    out: list[Edit] = []
    for fn in functions(tree):
        scope = scope_of(fn)
        edits = [*expression_edits(fn, scope), *statement_edits(fn, text_lines, guard_values)]
        for e in edits:
            if lines is not None and e.line not in lines:
                continue
            source = e.source or splice(byte_lines, e.region, e.replacement)
            if source in seen or not _compiles(source):
                continue
            seen.add(source)
            out.append(Edit(e.kind, e.region, e.line, e.replacement, e.prior, source))
    w = weight or (lambda line: 1.0)
    order = sorted(range(len(out)), key=lambda i: (-out[i].prior * w(out[i].line), i))
    return [out[i] for i in order]
