"""Run under ``accelerate launch --cpu --num_processes 2`` by tests/test_distributed.py.

Two ranks (gloo) train one step with ``EGCAGRPOTrainer``; each rank writes what ``inject`` saw (its
local loss-mask tokens, the ``num_items_in_batch`` it computed) and its parameters' checksum after
the step, so the test can check that the count is global and identical on every rank, and that
DDP kept the replicas in sync.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from egca.execution import Sandbox
from egca.tasks import load_tasks
from egca.train import trainer as egca_trainer
from egca.train.data import tasks_dataset
from egca.train.reward import CodeReward
from egca.train.trainer import EGCAConfig, EGCAGRPOTrainer


def varied_reward(completions: list, **kwargs: object) -> list[float]:
    return [float(len(str(c)) % 7) for c in completions]


def checksum(model: torch.nn.Module) -> float:
    return sum(float(p.detach().double().sum()) for p in model.parameters())


def main(model: str, out: Path, normalizer: str, loss_type: str) -> None:
    seen: list[dict[str, float]] = []
    inject = egca_trainer.inject

    def recording_inject(batch, ta, norm, gather):  # type: ignore[no-untyped-def]
        result = inject(batch, ta, norm, gather)
        local = (result["completion_mask"] * result.get("tool_mask", 1)).sum()
        seen.append({"local": float(local), "num_items": float(result["num_items_in_batch"])})
        return result

    egca_trainer.inject = recording_inject
    tasks = load_tasks("humaneval", limit=2)
    with Sandbox(workers=1) as sandbox:
        args = EGCAConfig(
            output_dir=str(out / "run"),
            per_device_train_batch_size=4,
            num_generations=4,
            max_completion_length=8,
            max_steps=1,
            use_cpu=True,
            report_to="none",
            save_strategy="no",
            seed=0,
            credit_normalizer=normalizer,
            loss_type=loss_type,
        )
        trainer = EGCAGRPOTrainer(
            model=model,
            # a second, varying reward: a random tiny model passes no test, and with all-zero
            # advantages nothing would move
            reward_funcs=[CodeReward(tasks, sandbox=sandbox), varied_reward],
            args=args,
            train_dataset=tasks_dataset(tasks),
        )
        before = checksum(trainer.model)
        trainer.train()
        rank = trainer.accelerator.process_index
        (out / f"rank{rank}.json").write_text(
            json.dumps(
                {
                    "world": trainer.accelerator.num_processes,
                    "seen": seen,
                    "before": before,
                    "after": checksum(trainer.model),
                    "steps": trainer.state.global_step,
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4])
