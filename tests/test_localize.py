"""The deterministic localizer on hand-written candidates, and the routing of every verdict."""

from __future__ import annotations

import pytest

from egca.credit.localize import Localizer
from egca.credit.types import Mode
from egca.tasks.task import Task, TestCase


def task(reference: str, entry: str, *asserts: str) -> Task:
    return Task("T/0", "", entry, reference, tuple(TestCase(i, source=a) for i, a in enumerate(asserts)))


@pytest.fixture(scope="module")
def localizer(sandbox):
    return Localizer(sandbox)


def line_of(program: str, text: str) -> int:
    return next(i for i, line in enumerate(program.splitlines(), 1) if text in line)


SUM_POS = task(
    "def f(xs):\n    total = 0\n    for x in xs:\n        if x > 0:\n            total += x\n    return total\n",
    "f",
    "assert f([1, 2]) == 3",
    "assert f([0, -1, 4]) == 4",
)


def test_value_divergence_with_renamed_variables(localizer):
    cand = "def f(xs):\n    acc = 0\n    for v in xs:\n        if v > 0:\n            acc += v * 2\n    return acc\n"
    loc = localizer.localize(SUM_POS, cand)
    assert loc.mode is Mode.LOGIC and not loc.fallback
    assert loc.kind == "value" and loc.span.start_line == line_of(cand, "acc += v * 2")
    assert loc.evidence["reference_variable"] == "total"
    assert loc.probe is not None and loc.to_dict()["probe"]["args"] == "([1, 2],)"


def test_control_flow_divergence_points_at_the_condition(localizer):
    cand = SUM_POS.reference.replace("if x > 0", "if x >= -1")
    loc = localizer.localize(SUM_POS, cand)
    assert loc.kind == "control-flow" and loc.span.start_line == line_of(cand, "if x >= -1")
    s = loc.span
    assert cand.splitlines()[s.start_line - 1][s.start_col : s.end_col] == "x >= -1"  # the test, not the body


def test_while_instead_of_for(localizer):
    cand = (
        "def f(xs):\n    total = 0\n    i = 0\n    while i < len(xs):\n        if xs[i] > 0:\n"
        "            total += xs[i]\n        i += 2\n    return total\n"
    )
    loc = localizer.localize(SUM_POS, cand)
    # The while loop is compared with the reference's for loop: it stops one trip early.
    assert loc.kind == "control-flow" and loc.span.start_line == line_of(cand, "while i < len(xs)")


def test_recursive_candidate_against_iterative_reference(localizer):
    t = task(
        "def fact(n):\n    r = 1\n    for k in range(2, n + 1):\n        r *= k\n    return r\n",
        "fact",
        "assert fact(5) == 120",
    )
    cand = "def fact(n):\n    if n <= 1:\n        return 0\n    return n * fact(n - 1)\n"
    loc = localizer.localize(t, cand)
    # The call-level oracle: fact(1) is the wrong call whose children are right.
    assert loc.evidence["frame_args"] == {"t": "tuple", "v": [1]}
    assert loc.span.start_line == line_of(cand, "return 0")


def test_bug_in_a_helper_function(localizer):
    ref = "def sq(x):\n    return x * x\n\ndef f(xs):\n    out = []\n    for x in xs:\n        out.append(sq(x))\n    return out\n"
    t = task(ref, "f", "assert f([1, 2, 3]) == [1, 4, 9]")
    cand = ref.replace("return x * x", "return x + x")
    loc = localizer.localize(t, cand)
    assert loc.evidence["frame_function"] == "sq"
    assert loc.span.start_line == line_of(cand, "return x + x")


def test_mutation_through_an_alias_is_snapshotted(localizer):
    ref = "def f(n):\n    xs = []\n    ys = xs\n    for i in range(n):\n        ys.append(i)\n    return xs\n"
    t = task(ref, "f", "assert f(3) == [0, 1, 2]")
    cand = ref.replace("ys.append(i)", "ys.append(i * i)")
    loc = localizer.localize(t, cand)
    assert loc.span.start_line == line_of(cand, "ys.append(i * i)")


def test_float_noise_is_not_a_divergence(localizer):
    ref = "def f(xs):\n    s = 0.0\n    for x in xs:\n        s = s + x * 0.1\n    return s + 1\n"
    t = task(ref, "f", "assert abs(f([3, 3, 3]) - 1.9) < 1e-9")
    cand = "def f(xs):\n    s = 0.0\n    for x in xs:\n        s = s + x / 10\n    return s + 2\n"  # 3 / 10 != 3 * 0.1
    loc = localizer.localize(t, cand)
    assert loc.kind == "return" and loc.span.start_line == line_of(cand, "return")


def test_no_divergence_falls_back(localizer):
    t = task("def f(x):\n    return x\n", "f", "assert f(1) == 1", "assert f(2) == 3")  # the test is wrong
    loc = localizer.localize(t, "def f(x):\n    return x\n")
    assert loc.mode is Mode.LOGIC and loc.fallback and loc.reason == "no_divergence"
    assert loc.status == "fallback:no_divergence"


@pytest.mark.parametrize(
    ("program", "mode", "status", "line"),
    [
        ("def f(xs):\n    return sum(x for x in xs if x > 0)\n", Mode.CORRECT, "uniform", None),
        ("def f(xs)\n    return 0\n", Mode.SYNTAX, "localized", 1),
        ("def f(xs):\n    y = 0\n    return xs[10]\n", Mode.SYNTAX, "localized", 3),
        ("def f(xs):\n    while True:\n        pass\n", Mode.SYNTAX, "fallback:timeout", None),
        ("def f(xs):\n    return f(xs)\n", Mode.SYNTAX, "fallback:recursion", None),
        ("def f(xs):\n    return len(' ' * 10**10)\n", Mode.SYNTAX, "fallback:crash", None),
        ("import os\ndef f(xs):\n    os.abort()\n", Mode.SYNTAX, "fallback:crash", None),
        ("def f(xs):\n    return 0\n", Mode.LOGIC, "localized", 2),
    ],
)
def test_routing_of_every_verdict(sandbox, program, mode, status, line):
    loc = Localizer(sandbox, constraints=None).localize(SUM_POS, program)
    assert (loc.mode, loc.status) == (mode, status)
    if line is not None:
        assert loc.span.start_line == line


def test_constraint_mode_for_incomparable_or_constraint_breaking_candidates(localizer, sandbox):
    loc = localizer.localize(SUM_POS, "def f(xs):\n    return 0\n")
    assert loc.mode is Mode.CONSTRAINT and loc.status == "uniform" and "comparable" in loc.reason
    # passing but breaking a constraint is still constraint mode (priority: syntax, constraint, ...)
    ref = "def f(xs):\n    seen = set()\n    for x in xs:\n        seen.add(x)\n    return len(seen)\n"
    t = task(ref, "f", "assert f([1, 1, 2]) == 2")
    cand = "def f(xs):\n    seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n    return len(seen)\n"
    loc = localizer.localize(t, cand)
    assert loc.mode is Mode.CONSTRAINT and "set" in loc.reason
    assert Localizer(sandbox, constraints=None).localize(t, cand).mode is Mode.CORRECT


def test_late_span_is_the_last_divergence(localizer):
    ref = "def f(xs):\n    a = 0\n    b = 0\n    for x in xs:\n        a += x\n        b += 2 * x\n    return a + b\n"
    t = task(ref, "f", "assert f([1, 2]) == 9")
    cand = ref.replace("a += x", "a += x + 1").replace("b += 2 * x", "b += 3 * x")
    loc = localizer.localize(t, cand)
    assert loc.span.start_line == line_of(cand, "a += x + 1")
    assert loc.late_span.start_line == line_of(cand, "b += 3 * x")
    assert loc.to_dict()["late_span"]["start_line"] == loc.late_span.start_line


def test_a_value_a_correct_sibling_produces_is_not_a_divergence(sandbox):
    localizer = Localizer(sandbox, constraints=None)  # the candidate does not sort: not a gate test
    # The reference sorts first; the candidate and a passing sibling accumulate in input order.
    ref = "def f(xs):\n    ys = sorted(xs)\n    s = 0\n    for y in ys:\n        s += y\n    return s * 2\n"
    t = task(ref, "f", "assert f([3, 1, 2]) == 12")
    sibling = "def f(xs):\n    s = 0\n    for y in xs:\n        s += y\n    return s * 2\n"
    cand = "def f(xs):\n    s = 0\n    for y in xs:\n        s += y\n    return s * 3\n"
    alone = localizer.localize(t, cand)
    assert alone.span.start_line == line_of(cand, "for y in xs")  # the sorted reference sees 1 first
    with_sibling = localizer.localize(t, cand, siblings=[sibling])
    assert with_sibling.span.start_line == line_of(cand, "return s * 3")
    assert with_sibling.evidence.get("reference") == "sibling"


def test_wrong_value_from_an_unjudgeable_inner_function_is_a_call_divergence(localizer):
    ref = "def f(xs):\n    def sq(v):\n        return v * v\n    out = [sq(x) for x in xs]\n    return out\n"
    t = task(ref, "f", "assert f([1, 2]) == [1, 4]")
    cand = "def f(xs):\n    def sq(v, k=2):\n        return v * k\n    out = [sq(x) for x in xs]\n    return out\n"
    loc = localizer.localize(t, cand)
    # sq's signature differs from the reference's, so no oracle judges it: the wrong value shows
    # where the call's result is stored.
    assert loc.kind == "call" and loc.span.start_line == line_of(cand, "out = [sq(x)")
