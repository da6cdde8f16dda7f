"""The sandbox-backed TRL reward function, alone and inside a plain trl.GRPOTrainer step."""

from __future__ import annotations

import pytest

from egca.execution import Status
from egca.tasks import load_tasks
from egca.train.data import task_rows, tasks_dataset
from egca.train.reward import CodeReward, completion_text

TASKS = load_tasks("humaneval", limit=2)


@pytest.fixture()
def reward(sandbox):
    return CodeReward(TASKS, sandbox=sandbox)


def test_rewards_for_text_and_conversational_completions(reward):
    t0, t1 = TASKS
    good = "```python\n" + t0.reference + "```"
    completions = [good, "    return None\n", [{"role": "assistant", "content": good}], "def x(:"]
    ids = [t0.task_id, t0.task_id, t0.task_id, t1.task_id]
    rewards = reward(prompts=["p"] * 4, completions=completions, task_id=ids)
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    assert reward.__name__ == "egca_binary"
    assert reward.last[3].result.status is Status.SYNTAX_ERROR
    assert any(t.calls for t in reward.last[1].result.tests)  # calls recorded for the credit stage


def test_fraction_reward_and_errors(sandbox):
    frac = CodeReward(TASKS, kind="fraction", sandbox=sandbox)
    r = frac(prompts=["p"], completions=["    return False\n"], task_id=[TASKS[0].task_id])
    assert 0.0 < r[0] < 1.0  # some of has_close_elements' asserts expect False
    with pytest.raises(ValueError, match="task_id"):
        frac(prompts=["p"], completions=["x"])
    with pytest.raises(ValueError, match="unknown task"):
        frac(prompts=["p"], completions=["x"], task_id=["Nope/1"])
    with pytest.raises(ValueError):
        CodeReward(TASKS, kind="nope")  # type: ignore[arg-type]


def test_dataset_rows():
    rows = task_rows(TASKS)
    assert rows[0]["task_id"] == TASKS[0].task_id and rows[0]["prompt"][0]["role"] == "user"
    assert TASKS[0].prompt.strip()[:20] in rows[0]["prompt"][0]["content"]
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]) == "a"


@pytest.mark.slow
def test_plain_grpo_trainer_step_with_the_egca_reward(sandbox, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    reward = CodeReward(TASKS, sandbox=sandbox)
    args = GRPOConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=tasks_dataset(TASKS))
    trainer.train()
    assert len(reward.last) == 4 and all(s.reward == 0.0 for s in reward.last)  # a random model
    logs = [h for h in trainer.state.log_history if "rewards/egca_binary/mean" in h]
    assert logs and logs[0]["rewards/egca_binary/mean"] == 0.0
