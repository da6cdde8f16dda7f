"""The localization suites: format validation, fix labels, scoring statistics, baselines and the CLI."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from egca.bench.suite import SUITES_DIR, SuiteError, load_suite, parse_case
from egca.bench.suite_build import fix_lines, label_of
from egca.bench.suite_score import Outcome, bootstrap_median, percentile, score, score_by_kind, wilson
from egca.trace.spectrum import executed_lines, last_executed_line, ochiai, top_lines
from tests.conftest import asserts

HANDWRITTEN = SUITES_DIR / "handwritten.jsonl"
LISTED_KINDS = [
    "off_by_one",
    "wrong_comparison",
    "wrong_initial_value",
    "wrong_variable",
    "missing_edge_case",
    "misplaced_statement",
    "wrong_return",
    "wrong_string_method",
    "wrong_operator",
    "swapped_arguments",
    "missing_sort",
    "wrong_constant",
]


def _case(**kw):
    obj = {
        "id": "t/1",
        "dataset": "mbpp",
        "task_id": "Mbpp/1",
        "source": "handwritten",
        "candidate": "def f(x):\n    return x + 1\n",
        "fixed": "def f(x):\n    return x\n",
        "fix_diff": "",
        "fix_lines": [2],
        "label": "single",
        "bug_kind": "wrong_operator",
        "verified": {"candidate_fails": True, "fixed_base": True, "fixed_plus": None},
        "notes": "",
    }
    obj.update(kw)
    return obj


# -- format --------------------------------------------------------------------------------------------


def test_parse_case_accepts_the_format_and_keeps_extra_fields():
    case = parse_case(_case(reference_similarity=0.5))
    assert case.fix_lines == (2,) and case.extra == {"reference_similarity": 0.5}
    assert case.to_dict()["reference_similarity"] == 0.5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label": "several"}, "label"),
        ({"bug_kind": "typo"}, "bug_kind"),
        ({"fix_lines": [3]}, "fix_lines"),
        ({"fix_lines": []}, "fix_lines"),
        ({"fixed": None}, "fixed"),
        ({"dataset": "apps"}, "dataset"),
        ({"verified": {"candidate_fails": False}}, "verified"),
        ({"candidate": "def f(:\n    pass\n"}, "candidate"),
        ({"id": 3}, "id"),
    ],
)
def test_parse_case_names_the_bad_field(change, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        parse_case(_case(**change))


def test_load_suite_reports_file_and_line_and_duplicates(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(_case()) + "\n" + json.dumps(_case()) + "\n")
    with pytest.raises(SuiteError, match=r"s.jsonl:2: field 'id': duplicate"):
        load_suite(p)
    p.write_text(json.dumps(_case()) + "\n{not json\n")
    with pytest.raises(SuiteError, match=r"s.jsonl:2:"):
        load_suite(p)
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "none.jsonl")


def test_fix_lines_by_hand():
    cand = "def f(xs):\n    out = list(xs)\n    return out\n"
    fixed = "def f(xs):\n    out = sorted(xs)\n    return out\n"
    assert fix_lines(cand, fixed) == [2]
    # a deleted guard: the statement after the insertion point
    cand = "def f(xs):\n    return xs[0]\n"
    fixed = "def f(xs):\n    if not xs:\n        return None\n    return xs[0]\n"
    assert fix_lines(cand, fixed) == [2]
    # a deleted statement at the end of a block: the statement before
    cand = "def f(xs):\n    for x in xs:\n        g(x)\n    return 1\n"
    fixed = "def f(xs):\n    for x in xs:\n        g(x)\n        h(x)\n    return 1\n"
    assert fix_lines(cand, fixed) == [3]
    # a moved statement: only the misplaced line of the candidate
    cand = "def f(n):\n    a = 0\n    b = 1\n    a += n\n    b += a\n    return b\n"
    fixed = "def f(n):\n    a = 0\n    b = 1\n    b += a\n    a += n\n    return b\n"
    assert len(fix_lines(cand, fixed)) == 1 and label_of(cand, fix_lines(cand, fixed)) == "single"
    assert label_of(cand, [2, 5]) == "multi"


def test_plus_tests_count_only_for_the_same_signature():
    from egca.bench.suite_build import plus_compatible
    from egca.tasks.task import Task, TestCase

    base = Task("Mbpp/9", "", "f", "", asserts("assert f([1], 1) == 1"))
    plus = Task("Mbpp/9", "", "f", "", (TestCase(0, kind="call", args=([1],)),))
    assert not plus_compatible(base, plus, "def f(xs, n):\n    return n\n")  # MBPP+ dropped ``n``
    assert plus_compatible(base, plus, "def f(xs, n=None):\n    return 1\n")
    renamed = Task("Mbpp/9", "", "g", "", plus.tests)
    assert not plus_compatible(base, renamed, "def f(xs, n=None):\n    return 1\n")


def _apply(candidate: str, diff: str) -> str:
    """Apply a unified diff without context lines (independent of difflib)."""
    lines = candidate.splitlines(keepends=True)
    out, pos = [], 0
    for hunk in re.split(r"(?m)^(?=@@)", diff)[1:]:
        head, *body = hunk.splitlines(keepends=True)
        m = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", head)
        start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
        begin = start if count == 0 else start - 1  # a pure insertion goes after line ``start``
        out += lines[pos:begin]
        pos = begin + count
        out += [b[1:] for b in body if b.startswith("+")]
    return "".join(out + lines[pos:])


def test_packaged_handwritten_tier_is_consistent():
    cases = load_suite(HANDWRITTEN)
    assert len(cases) >= 100
    kinds = Counter(c.bug_kind for c in cases)
    assert all(kinds[k] >= 8 for k in LISTED_KINDS), kinds
    datasets = Counter(c.dataset for c in cases)
    assert min(datasets.values()) >= 0.35 * len(cases)
    assert sum(len(c.candidate.splitlines()) >= 10 for c in cases) >= 15  # not only three-liners
    for c in cases:
        assert c.source == "handwritten" and c.label == "single"
        assert _apply(c.candidate, c.fix_diff) == c.fixed, c.id
        removed = [int(x) for x in re.findall(r"(?m)^@@ -(\d+)(?:,[1-9]\d*)? ", c.fix_diff)]
        assert not removed or set(removed) <= set(c.fix_lines) | {x + 1 for x in c.fix_lines}, c.id


# -- scoring -----------------------------------------------------------------------------------------


def test_wilson_interval_matches_textbook_values():
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(81, 263)  # Newcombe (1998) example 1: 0.2553 to 0.3662
    assert lo == pytest.approx(0.2553, abs=1e-4) and hi == pytest.approx(0.3662, abs=1e-4)


def test_percentile_and_bootstrap():
    assert percentile(list(range(1, 21)), 0.95) == 19
    assert percentile([3.0], 0.95) == 3.0
    assert bootstrap_median([2.0] * 9) == (2.0, 2.0)
    lo, hi = bootstrap_median([1.0, 2.0, 3.0, 4.0, 100.0], seed=1)
    assert 1.0 <= lo <= 3.0 <= hi <= 100.0


def test_score_toy_suite_with_known_hits():
    outcomes = [
        Outcome("a", "off_by_one", "single", True, 1.0, 1, 0.1),
        Outcome("b", "off_by_one", "single", True, 0.0, 3, 0.2),
        Outcome("c", "wrong_return", "single", False, 0.0, None, 0.3),
        Outcome("d", "multi", "multi", False, 0.0),
    ]
    m = score(outcomes)
    assert m["cases"] == 3
    assert m["coverage"]["value"] == pytest.approx(2 / 3) and m["precision"]["value"] == 0.5
    assert m["accuracy"]["value"] == pytest.approx(1 / 3)
    assert m["accuracy"]["ci"] == pytest.approx(list(wilson(1, 3)))
    assert m["median_span_statements"] == 2.0 and m["median_time_s"] == pytest.approx(0.2)
    kinds = score_by_kind(outcomes)
    assert kinds["off_by_one"]["accuracy"]["value"] == 0.5 and kinds["wrong_return"]["coverage"]["value"] == 0


# -- spectrum and baselines --------------------------------------------------------------------------


def test_ochiai_by_hand():
    scores = ochiai([(False, {1, 2, 3}), (True, {1, 2}), (True, {1})])
    assert scores[3] == pytest.approx(1.0) and scores[2] == pytest.approx(2**-0.5)
    assert scores[1] == pytest.approx(3**-0.5)
    assert top_lines(scores) == [3]
    assert top_lines(ochiai([(True, {1})])) == []
    events = [
        ["call", 1, "f", 1, {}],
        ["line", 1, 2],
        ["line", 1, 3],
        ["line", 1, 2],
        ["return", 1, "f", 2, 0],
    ]
    assert executed_lines(events) == [2, 3] and last_executed_line(events) == 2


TOY = """def f(xs):
    total = 0
    for x in xs:
        if x < 0:
            total -= x
        else:
            total += x
    return total
"""


class _Tasks:
    def __init__(self, task):
        self.task = task

    def base(self, dataset, task_id):
        return self.task

    def plus(self, dataset, task_id):
        return None


class _FixedSpan:
    """A localizer that always names lines 3-5."""

    def localize(self, task, program, result=None, siblings=()):
        from egca.credit.divergence import Span
        from egca.credit.localize import Localization
        from egca.credit.types import Mode

        return Localization(Mode.LOGIC, span=Span(3, 5, 4, 20))


def test_baselines_on_a_program_with_a_known_answer(sandbox):
    from egca.bench.suite_bench import run_case
    from egca.tasks.task import Task

    task = Task(
        "Toy/1",
        "sum of xs",
        "f",
        "def f(xs):\n    return sum(xs)\n",
        asserts("assert f([1, 2]) == 3", "assert f([]) == 0", "assert f([-1, 2]) == 1"),
    )
    case = parse_case(_case(candidate=TOY, fixed=TOY.replace("total -= x", "total += x"), fix_lines=[5]))
    run = run_case(case, sandbox, _FixedSpan(), _Tasks(task), "fixed")
    o = run.outcomes
    assert o["fixed"].hit == 1.0 and o["fixed"].span_statements == 3  # for, if, total -= x
    assert o["last line"].predicted and o["last line"].hit == 0.0  # `return total`
    # f([-1, 2]) executes lines 2, 3, 4, 5, 7, 8: one of six is the fix line
    assert o["random line"].hit == pytest.approx(1 / 6)
    # line 5 is covered by the failing test only
    assert o["ochiai top-1"].hit == 1.0


# -- the harness and the CLI ---------------------------------------------------------------------------


def test_cli_bench_localize_on_a_two_case_suite(tmp_path, capsys):
    from egca.cli import main

    rows = [json.loads(x) for x in HANDWRITTEN.read_text().splitlines()]
    picked = [r for r in rows if r["id"] in ("handwritten/HumanEval/0/a", "handwritten/HumanEval/3/a")]
    p = tmp_path / "two.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in picked))
    args = ["bench", "localize", "--suite", "handwritten", "--suite-file", str(p), "--workers", "2"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    tier = report["tiers"]["handwritten"]
    assert tier["scored"] == 2 and set(tier["methods"]) == {
        "trace",
        "last line",
        "random line",
        "ochiai top-1",
    }
    # both bugs sit before the `return` the failing call ends on
    assert tier["methods"]["last line"]["accuracy"]["value"] == 0.0
    assert all(m["cases"] == 2 for m in tier["methods"].values())
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| method | cases | coverage |" in out and "| ochiai top-1 | 2 |" in out


def test_cli_names_a_missing_tier_and_an_unknown_localizer(tmp_path, monkeypatch, capsys):
    import egca.bench.suite as suite
    from egca.cli import main

    monkeypatch.setattr(suite, "SUITES_DIR", tmp_path)
    assert main(["bench", "localize", "--suite", "rollouts"]) == 2
    assert "'rollouts' tier is not in this installation" in capsys.readouterr().err
    assert main(["bench", "localize", "--suite", "handwritten", "--localizer", "oracle"]) == 2
    assert "unknown --localizer 'oracle'" in capsys.readouterr().err
    assert main(["bench", "localize", "--suite-file", str(tmp_path / "x.jsonl")]) == 2
    assert "--suite-file needs --suite" in capsys.readouterr().err


@pytest.mark.slow
def test_packaged_cases_verify_in_the_sandbox(sandbox):
    """A sample of the packaged tier, rechecked: the fix passes the base tests, the candidate fails."""
    import random

    from egca.execution import ExecJob
    from egca.tasks import load_tasks

    cases = random.Random(7).sample(load_suite(HANDWRITTEN), 12)
    tasks = {
        t.task_id: t
        for name in ("humaneval", "mbpp")
        for t in load_tasks(name, **({"split": "all"} if name == "mbpp" else {}))
    }
    jobs = [ExecJob.for_task(tasks[c.task_id], prog) for c in cases for prog in (c.fixed, c.candidate)]
    results = sandbox.run_many(jobs)
    for i, c in enumerate(cases):
        assert results[2 * i].passed, c.id
        if c.verified.get("candidate_fails_base", True):
            assert not results[2 * i + 1].passed, c.id
