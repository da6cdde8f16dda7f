"""The counterfactual localizer on handwritten buggy programs with known fix lines, its variant
batches, abstention, budget and cache."""

from __future__ import annotations

import pytest

from egca.credit.backends import make_localizer
from egca.credit.counterfactual import CounterfactualLocalizer, RepairBudget
from egca.credit.repair.batch import run_variants
from egca.credit.types import Mode
from egca.execution import ExecJob
from egca.tasks import load_tasks
from tests.repair_cases import CASES

_TASKS: dict[tuple[str, str], object] = {}


def _task(dataset: str, task_id: str):
    if not _TASKS:
        for ds in ("humaneval", "mbpp"):
            for t in load_tasks(ds):
                _TASKS[(ds, t.task_id)] = t
    return _TASKS[(dataset, task_id)]


def _hit(loc, fix_lines):
    return loc.span is not None and any(loc.span.start_line <= ln <= loc.span.end_line for ln in fix_lines)


def test_batch_runs_variants_stops_at_first_failure_and_survives_hangs(sandbox):
    task = _task("humaneval", "HumanEval/3")
    good = "def below_zero(operations):\n    b = 0\n    for o in operations:\n        b += o\n        if b < 0:\n            return True\n    return False\n"
    wrong = good.replace("return False", "return True")
    hang = good.replace("    b = 0\n", "    b = 0\n    while True:\n        pass\n")
    out = run_variants(sandbox, task, wrong, [good, wrong, hang, "def (", good], task.tests, budget_s=0.1)
    assert [o.all_passed for o in out] == [True, False, False, False, True]
    first_fail = next(i for i, t in enumerate(task.tests) if "[]" in t.source)  # below_zero([]) is False
    assert out[1].failed_at == first_fail and out[1].passed == frozenset(range(first_fail))
    assert out[2].status == "error" and out[3].status == "error"


@pytest.mark.parametrize("case", CASES[:8], ids=lambda c: f"{c.task_id}-{c.kind}")
def test_repair_search_finds_the_line_the_bug_was_written_on(sandbox, case):
    task = _task(case.dataset, case.task_id)
    loc = make_localizer("auto", sandbox).localize(task, case.candidate)
    if case.kind == "algorithm":
        assert loc.span is None and loc.fallback and loc.reason.startswith("abstain:")
        return
    assert loc.mode is Mode.LOGIC
    assert _hit(loc, case.fix_lines), (loc.span, loc.evidence)
    assert loc.span.end_line - loc.span.start_line <= 1  # one statement (the edited sub-expression)


@pytest.mark.slow
def test_dev_set_precision_and_coverage(sandbox):
    """The whole dev set: at least 90% of the localized single-bug programs hit the line the bug
    was written on, at most 2 abstain; the wrong-algorithm program abstains."""
    localizer = make_localizer("auto", sandbox)
    hits = predictions = abstained = 0
    for case in CASES:
        loc = localizer.localize(_task(case.dataset, case.task_id), case.candidate)
        if case.kind == "algorithm":
            assert loc.span is None and loc.reason == "abstain:no_repair"
            continue
        if loc.span is None:
            abstained += 1
            continue
        predictions += 1
        hits += _hit(loc, case.fix_lines)
    assert abstained <= 2 and hits >= 0.9 * predictions


def test_wrong_algorithm_abstains_and_budget_and_cache_hold(sandbox):
    algo = next(c for c in CASES if c.kind == "algorithm")
    task = _task(algo.dataset, algo.task_id)
    localizer = CounterfactualLocalizer(sandbox, budget=RepairBudget(max_variants=7, first_round=3))
    loc = localizer.localize(task, algo.candidate)
    assert loc.mode is Mode.LOGIC and loc.span is None and loc.reason == "abstain:no_repair"
    assert loc.status == "fallback:abstain:no_repair"
    assert loc.evidence["variants"] == 7 and loc.evidence["executed"] <= 7
    again = localizer.localize(task, algo.candidate)
    assert again.evidence.get("cached") is True and again.reason == loc.reason


def test_correct_and_crashing_programs_are_routed_like_the_trace_localizer(sandbox):
    task = _task("humaneval", "HumanEval/3")
    localizer = CounterfactualLocalizer(sandbox)
    assert localizer.localize(task, task.reference).mode is Mode.CORRECT
    crash = "def below_zero(operations):\n    return operations[10]\n"
    loc = localizer.localize(task, crash, sandbox.run(ExecJob.for_task(task, crash)))
    assert loc.mode is Mode.SYNTAX and loc.span is not None and loc.span.start_line == 2


def test_registry_names():
    with pytest.raises(ValueError, match="unknown localizer"):
        make_localizer("nope", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="LLM config"):
        make_localizer("llm", None)  # type: ignore[arg-type]
