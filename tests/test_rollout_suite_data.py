"""The shipped rollout suite: every row follows the format, and its labels verify in the sandbox."""

from __future__ import annotations

import json
import random

import pytest

from egca.bench.suite_format import load_suite
from egca.bench.suite_tools import ROLLOUT_SUITE
from egca.tasks.extract import build_program
from egca.tasks.registry import load_tasks

MODELS = ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")


def test_every_row_of_the_rollout_suite_is_valid() -> None:
    cases = load_suite(ROLLOUT_SUITE)  # validates types, lines, diffs and labels of every row
    assert cases and any(c.label == "single" for c in cases)
    for c in cases:
        assert c.source in MODELS
        assert c.sampling is not None and c.sampling["temperature"] == 0.8 and c.sampling["top_p"] == 0.95
        assert c.completion is not None
        assert c.id.startswith(f"rollouts/{c.source}/{c.task_id}/")


def test_labels_file_names_every_case_once() -> None:
    labels = [json.loads(ln) for ln in (ROLLOUT_SUITE.parents[4] / "scripts" / "rollout_labels.jsonl").open()]
    ids = [lab["id"] for lab in labels]
    assert len(ids) == len(set(ids))
    assert set(ids) == {c.id for c in load_suite(ROLLOUT_SUITE)}


def test_candidate_is_the_program_egca_runs_for_the_completion() -> None:
    tasks = {(d, t.task_id): t for d in ("humaneval", "mbpp") for t in load_tasks(d, split=None)}
    tasks.update(
        {("mbpp", t.task_id): t for s in ("train", "validation", "prompt") for t in load_tasks("mbpp", s)}
    )
    for c in load_suite(ROLLOUT_SUITE):
        assert c.completion is not None
        assert build_program(tasks[c.dataset, c.task_id], c.completion).source == c.candidate


@pytest.mark.slow
def test_a_sample_of_the_rollout_suite_verifies_in_the_sandbox() -> None:
    # every case was verified when the suite was built; a seeded sample keeps CI short
    # (all of them: python -m egca.bench.suite_tools verify)
    from egca.bench.rollout_suite import TaskIndex, verify
    from egca.execution import Sandbox

    cases = load_suite(ROLLOUT_SUITE)
    sample = random.Random(8).sample(cases, min(10, len(cases)))
    assert any(c.fixed is not None for c in sample)
    with Sandbox(workers=2) as sb:
        assert verify(TaskIndex(sb), sample) == []
