"""Edit generation of the repair search: hand-checked variants of small programs."""

from __future__ import annotations

from egca.credit.repair.edits import splice
from egca.credit.repair.variants import generate

PROGRAM = """def f(a, b):
    total = 0
    for x in a:
        if x < b:
            total += x
    return total - b
"""


def _variants(program: str, **kw: object) -> dict[str, tuple[str, int]]:
    return {e.source: (e.kind, e.line) for e in generate(program, **kw)}  # type: ignore[arg-type]


def _with(line: int, text: str, program: str = PROGRAM) -> str:
    lines = program.splitlines()
    lines[line - 1] = text
    return "\n".join(lines) + "\n"


def test_expression_edits_are_spliced_at_the_node():
    v = _variants(PROGRAM)
    assert v[_with(4, "        if x <= b:")] == ("compare_op", 4)
    assert v[_with(4, "        if x > b:")] == ("compare_op", 4)
    assert v[_with(6, "    return b - total")] == ("swap_operands", 6)
    assert v[_with(6, "    return total + b")] == ("arith_op", 6)
    assert v[_with(2, "    total = 1")] == ("constant", 2)
    assert v[_with(2, "    total = -1")] == ("constant", 2)
    assert v[_with(2, "    total = None")] == ("constant", 2)
    assert v[_with(3, "    for x in sorted(a):")] == ("missing_sort", 3)
    assert v[_with(5, "            total += b")] == ("wrong_variable", 5)
    assert v[_with(6, "    return total")] == ("drop_operand", 6)


def test_statement_edits():
    v = _variants(PROGRAM)
    assert v[_with(5, "            total -= x")] == ("aug_op", 5)
    assert v[_with(5, "            pass")] == ("delete", 5)
    assert v[_with(4, "        if True:")] == ("drop_condition", 4)
    out_of_loop = (
        "def f(a, b):\n    total = 0\n    for x in a:\n        total += x\n        b += 1\n    return total\n"
    )
    moved = "def f(a, b):\n    total = 0\n    for x in a:\n        total += x\n    b += 1\n    return total\n"
    assert _variants(out_of_loop)[moved] == ("move_out_of_loop", 5)
    swapped = (
        "def f(a, b):\n    total = 0\n    for x in a:\n        b += 1\n        total += x\n    return total\n"
    )
    assert _variants(out_of_loop)[swapped] == ("swap_statements", 4)


def test_guard_clause_uses_given_values_and_is_credited_to_the_next_statement():
    v = _variants(PROGRAM, guard_values=("[]",))
    guarded = PROGRAM.replace("    total = 0\n", "    if not a: return []\n    total = 0\n")
    assert v[guarded] == ("guard", 2)
    assert not any("return []" in s for s in _variants(PROGRAM))  # no values: no guards


def test_method_families_swapped_and_index_to_sequence():
    prog = "def g(s, c):\n    i = s.find(c)\n    return s.lower()[i]\n"
    v = _variants(prog)
    assert v[prog.replace("s.find(c)", "s.rfind(c)")] == ("method", 2)
    assert v[prog.replace("s.find(c)", "s.index(c)")] == ("method", 2)
    assert v[prog.replace("s.lower()", "s.upper()")] == ("method", 3)
    prog2 = "def h(xs, i):\n    y = xs[i]\n    return i\n"
    assert _variants(prog2)[prog2.replace("return i", "return xs[i]")] == ("index_to_seq", 3)
    prog3 = "def k(a, b):\n    return max(a, b) - min(b, a)\n"
    v3 = _variants(prog3)
    assert v3[prog3.replace("max(a, b) -", "min(a, b) -")] == ("builtin", 2)
    assert v3[prog3.replace("min(b, a)", "min(a, b)")] == ("swap_args", 2)


def test_every_variant_compiles_differs_and_is_restricted_to_lines():
    edits = generate(PROGRAM, lines={4})
    assert edits and all(e.line == 4 for e in edits)
    sources = [e.source for e in generate(PROGRAM)]
    assert PROGRAM not in sources and len(sources) == len(set(sources))
    for s in sources:
        compile(s, "<t>", "exec")


def test_splice_counts_utf8_bytes():
    lines = ["x = 'é' + y".encode()]
    # ``y`` starts at byte 11 (the é takes two bytes)
    assert splice(lines, (1, 1, 11, 12), "z") == "x = 'é' + z\n"
