"""egca train: a run directory with config, metrics, checkpoints, rollouts, report; resume."""

from __future__ import annotations

import json

import pytest

from egca.cli import main
from egca.train.run import load_settings


def test_settings_from_yaml_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("max_steps: 7\ncredit_scheme: uniform\n")
    s = load_settings(str(cfg), ["max_steps=3", "limit=null", "learning_rate=2e-6"])
    assert (s.max_steps, s.credit_scheme, s.limit, s.learning_rate) == (3, "uniform", None, 2e-6)
    with pytest.raises(ValueError, match="unknown settings"):
        load_settings(None, ["nope=1"])
    with pytest.raises(ValueError, match="key=value"):
        load_settings(None, ["max_steps"])


@pytest.mark.slow
def test_train_writes_a_run_directory_and_resumes(tmp_path, capsys):
    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    run = tmp_path / "run"
    common = [
        "--set",
        f"model={model}",
        "--set",
        "dataset=humaneval",
        "--set",
        "limit=2",
        "--set",
        f"output_dir={run}",
        "--set",
        "max_completion_length=8",
        "--set",
        "save_steps=1",
        "--json",
    ]
    assert main(["train", "--set", "max_steps=2", *common]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and summary["rollouts"] == 8
    for name in (
        "config.json",
        "metrics.jsonl",
        "rollouts.jsonl",
        "report.html",
        "summary.json",
        "checkpoint-2",
    ):
        assert (run / name).exists(), name
    rollout = json.loads((run / "rollouts.jsonl").read_text().splitlines()[0])
    assert {"mode", "status", "tokens", "advantages", "program", "task_id"} <= rollout.keys()
    assert len(rollout["tokens"]) == len(rollout["advantages"])
    # killed after step 2: resume continues from checkpoint-2 to step 3
    assert main(["train", "--resume", "--set", "max_steps=3", *common]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 3
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps.count(3) >= 1 and max(steps) == 3
    assert main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0
