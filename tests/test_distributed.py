"""Two CPU ranks (torchrun + accelerate, gloo): the credit mask's token count is global on every rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.parametrize(
    ("normalizer", "loss_type"), [("conserve", "grpo"), ("engine", "dapo")], ids=["conserve", "engine-dapo"]
)
def test_two_ranks_share_one_token_count(tmp_path, normalizer, loss_type):
    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    # torchrun sets RANK / WORLD_SIZE; accelerate then runs multi-CPU data parallel over gloo
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    script = Path(__file__).with_name("distributed_check.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, str(script), str(model), str(tmp_path), normalizer, loss_type],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["steps"] == 1 for r in ranks)
    assert all(len(r["seen"]) == 1 for r in ranks)  # one generation batch per rank
    total = sum(r["seen"][0]["local"] for r in ranks)
    assert [r["seen"][0]["num_items"] for r in ranks] == [total, total]
    assert ranks[0]["before"] == ranks[1]["before"] != ranks[0]["after"]  # the step moved the weights
    assert ranks[0]["after"] == pytest.approx(ranks[1]["after"], rel=1e-12)  # and DDP kept replicas equal


@pytest.mark.slow
def test_egca_train_under_two_ranks(tmp_path):
    """`egca train` launched by torchrun: one report from the main process, rollouts from both."""
    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    run = tmp_path / "run"
    sets = [f"model={model}", "dataset=humaneval", "limit=2", "eval_limit=2", "max_completion_length=8"]
    sets += ["max_steps=1", "save_steps=1", f"output_dir={run}"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, "-m", "egca.cli", "train", *(a for s in sets for a in ("--set", s)), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert len(printed) == 1 and printed[0]["steps"] == 1  # only the main process reports
    summary = json.loads((run / "summary.json").read_text())
    assert summary["rollouts"] == 8  # 4 rollouts per rank, both ranks' files read
    assert (run / "rollouts.rank1.jsonl").exists() and (run / "final" / "config.json").exists()
    history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history if "reward" in h] == [1]  # one writer
