"""Static constraints and the comparability gate."""

from __future__ import annotations

from egca.credit.constraints import ConstraintConfig, check, profile

LOOP = "def f(xs):\n    total = 0\n    for x in xs:\n        if x > 0:\n            total += x\n    return total\n"


def test_identical_and_renamed_programs_are_comparable():
    renamed = LOOP.replace("total", "acc").replace("x", "v").replace("vs", "xs")
    v = check(renamed, LOOP)
    assert v.ok and v.similarity > 0.95


def test_data_structures_of_the_reference_must_appear():
    ref = "def f(xs):\n    seen = {}\n    for x in xs:\n        seen[x] = 1\n    return sorted(seen)\n"
    cand = "def f(xs):\n    out = []\n    for x in xs:\n        if x not in out:\n            out.append(x)\n    return out\n"
    v = check(cand, ref)
    assert not v.ok and any("dict" in r and "sorting" in r for r in v.reasons)
    assert check(cand, ref, ConstraintConfig(data_structures=False, comparability=False)).ok


def test_recursion_is_recorded_unless_strict():
    rec = "def f(n):\n    return 1 if n <= 1 else n * f(n - 1)\n"
    it = "def f(n):\n    r = 1\n    for k in range(2, n + 1):\n        r *= k\n    return r\n"
    assert profile(rec).recursive and not profile(it).recursive
    lenient = check(rec, it, ConstraintConfig(comparability=False, loop_depth=False))
    assert lenient.ok and "recursion" in lenient.notes[0]
    assert not check(rec, it, ConstraintConfig(comparability=False, recursion_rule="strict")).ok


def test_loop_nesting_deeper_than_the_reference_fails():
    nested = "def f(xs):\n    t = 0\n    for x in xs:\n        for y in xs:\n            t += x * y\n    return t\n"
    v = check(nested, LOOP, ConstraintConfig(comparability=False))
    assert not v.ok and "loop nesting 2" in v.reasons[0]
    assert check(nested, LOOP, ConstraintConfig(comparability=False, slack=1)).ok


def test_unparseable_candidates_are_not_judged_here():
    assert check("def f(:\n", LOOP).ok
