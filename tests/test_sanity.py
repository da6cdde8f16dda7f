"""Sanity gates: every benchmark reference passes its own tests in the sandbox (or is listed)."""

from __future__ import annotations

import warnings

import pytest

from egca.execution import ExecJob, Sandbox, Status
from egca.execution.references import prepare_tasks
from egca.tasks import load_tasks
from egca.tasks.mbpp import KNOWN_FAILING_REFERENCES


@pytest.fixture(scope="module")
def default_sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Sandbox() as sb:
            yield sb


def failing(sandbox, tasks, min_boundary_share=0.99):
    """Tasks whose reference does not pass; also checks that the tests were decided outside the
    candidate's process (the issue's goal: at least 99% of them on every dataset)."""
    results = sandbox.run_many([ExecJob.for_task(t, t.reference) for t in tasks])
    paths = [x.path for r in results for x in r.tests if x.status is not Status.SKIPPED]
    assert paths.count("boundary") >= min_boundary_share * len(paths), (paths.count("boundary"), len(paths))
    return {t.task_id: r for t, r in zip(tasks, results) if not r.passed}


def test_all_humaneval_canonical_solutions_pass(default_sandbox):
    tasks = load_tasks("humaneval")
    assert len(tasks) == 164 and sum(len(t.tests) for t in tasks) > 1000
    assert failing(default_sandbox, tasks) == {}


def test_mbpp_references_pass_except_the_three_known(default_sandbox):
    tasks = prepare_tasks(load_tasks("mbpp", split="all"), default_sandbox)
    bad = failing(default_sandbox, tasks)
    assert sorted(bad) == sorted(f"Mbpp/{n}" for n in KNOWN_FAILING_REFERENCES)
    assert all(r.status is Status.FAILED for r in bad.values())  # wrong answers, not crashes


def test_sanitized_mbpp_references_all_pass(default_sandbox):
    tasks = prepare_tasks(load_tasks("mbpp-sanitized", split="all"), default_sandbox)
    assert failing(default_sandbox, tasks) == {}


@pytest.mark.slow
def test_humaneval_plus_mini_canonical_solutions_pass_base_and_plus(default_sandbox):
    tasks = prepare_tasks(_hep_mini(), default_sandbox)
    assert failing(default_sandbox, tasks) == {}
    dropped = {t.task_id: t.metadata.get("dropped_inputs") for t in tasks if t.metadata.get("dropped_inputs")}
    assert sum(len(v) for v in dropped.values()) <= 5, dropped


@pytest.mark.slow
def test_mbpp_plus_canonical_solutions_pass_base_and_plus(default_sandbox):
    tasks = prepare_tasks(load_tasks("mbpp-plus"), default_sandbox)
    assert len(tasks) == 378
    assert failing(default_sandbox, tasks) == {}
    n_inputs = sum(len(t.tests) for t in tasks)
    n_dropped = sum(len(t.metadata.get("dropped_inputs", ())) for t in tasks)
    assert n_dropped < 0.01 * n_inputs


def _hep_mini():
    from egca.tasks.evalplus import load_humaneval_plus

    return load_humaneval_plus(mini=True)
