"""Single-bug mutants keep every other line in place and record the mutated line."""

from __future__ import annotations

import ast

from egca.bench.mutants import KINDS, mutants, restyle

SOURCE = '''def f(xs, k):
    """Doc."""
    total = 0
    for i in range(1, len(xs)):
        if xs[i] > k and i != 3:
            total += xs[i] * 2
    return total
'''


def test_mutants_change_exactly_one_line_and_parse():
    ms = list(mutants(SOURCE, "f"))
    kinds = {m.kind for m in ms}
    assert set(KINDS) - {"comparison"} <= kinds  # no comparison outside a condition here
    original = SOURCE.splitlines()
    for m in ms:
        ast.parse(m.source)
        changed = [i + 1 for i, (a, b) in enumerate(zip(original, m.source.splitlines())) if a != b]
        assert changed == [m.line], (m.kind, m.description, changed)
    assert len({m.source for m in ms}) == len(ms)  # no duplicates
    assert any(m.control_flow for m in ms) and not all(m.control_flow for m in ms)


def test_restyle_renames_locals_and_expands_augmented_assignments():
    out = restyle(SOURCE, "f")
    assert "total_v = total_v + xs[i_v] * 2" in out and "def f(xs, k):" in out
    restyled: dict = {}
    original: dict = {}
    exec(compile(out, "<restyled>", "exec"), restyled)
    exec(compile(SOURCE, "<original>", "exec"), original)
    for xs, k in (([5, 1, 9, 4, 7, 8], 3), ([], 0), ([1, 2, 3], 10)):
        assert restyled["f"](xs, k) == original["f"](xs, k)
