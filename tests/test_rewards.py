"""Rewards and reference runs: per-test detail, reused results, expected outputs, time floors."""

from __future__ import annotations

from egca.execution import Status
from egca.execution.references import prepare_tasks
from egca.execution.reward import binary_reward, fraction_reward, score_completions
from egca.tasks.task import MISSING, Task, TestCase


def _task(tests, reference="def f(x):\n    return x * 2\n", **meta):
    return Task("T/0", "double x", "f", reference, tuple(tests), metadata=meta)


ASSERTS = [TestCase(i, source=f"assert f({i}) == {2 * i}") for i in range(4)]


def test_binary_and_fraction_rewards_keep_the_execution(sandbox):
    task = _task(ASSERTS)
    completions = [
        "```python\ndef f(x):\n    return x * 2\n```",
        "def f(x):\n    return 0 if x < 2 else x * 2\n",  # passes tests 0, 2, 3
        "def f(x) return",
    ]
    scored = score_completions(sandbox, [task] * 3, completions, kind="fraction")
    assert [s.reward for s in scored] == [1.0, 0.75, 0.0]
    assert [binary_reward(s.result) for s in scored] == [1.0, 0.0, 0.0]
    assert scored[1].result.first_failing_test.index == 1
    assert scored[2].result.status is Status.SYNTAX_ERROR
    # the program keeps the offsets of the code inside the completion
    program = scored[0].program
    code = program.extracted.code
    assert completions[0][program.extracted.start : program.extracted.end] == code
    assert fraction_reward(scored[0].result) == 1.0


def test_score_completions_checks_its_arguments(sandbox):
    import pytest

    with pytest.raises(ValueError):
        score_completions(sandbox, [_task(ASSERTS)], [])
    with pytest.raises(ValueError):
        score_completions(sandbox, [_task(ASSERTS)], ["x"], kind="nope")  # type: ignore[arg-type]


def test_prepare_tasks_fills_expected_outputs_and_drops_failing_inputs(sandbox, tmp_path):
    reference = "def f(x):\n    if x < 0:\n        raise ValueError(x)\n    return [x] * 2\n"
    tests = [TestCase(i, kind="call", args=(a,)) for i, a in enumerate([1, -1, 3])]
    (task,) = prepare_tasks([_task(tests, reference)], sandbox, cache=tmp_path)
    assert [t.args for t in task.tests] == [(1,), (3,)]
    assert [t.expected for t in task.tests] == [[1, 1], [3, 3]]
    assert [t.index for t in task.tests] == [0, 1]
    (dropped,) = task.metadata["dropped_inputs"]
    assert dropped["label"] == "1" and "ValueError" in dropped["reason"]
    assert task.metadata["timeout_floor_s"] >= 0
    # second call: served from the cache, same result
    (again,) = prepare_tasks([_task(tests, reference)], sandbox, cache=tmp_path)
    assert again.tests == task.tests
    assert list((tmp_path / "expected").iterdir())


def test_prepare_tasks_without_reference_marks_expected_unavailable(sandbox, tmp_path):
    tests = [TestCase(0, kind="call", args=(1,))]
    (task,) = prepare_tasks([_task(tests, reference="")], sandbox, cache=tmp_path)
    assert task.metadata["expected_unavailable"] and task.tests[0].expected is MISSING


def test_slow_reference_raises_the_time_limit(sandbox, tmp_path):
    reference = "import time\ndef f(x):\n    time.sleep(0.3)\n    return x\n"
    tests = [TestCase(0, source="assert f(1) == 1")]
    (task,) = prepare_tasks([_task(tests, reference)], sandbox, cache=tmp_path)
    assert task.metadata["timeout_floor_s"] >= 1.2  # 4x the reference's slowest test
