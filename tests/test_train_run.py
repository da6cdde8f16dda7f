"""egca train: a run directory with config, metrics, checkpoints, rollouts, report; resume."""

from __future__ import annotations

import json
import shutil

import pytest

from egca.cli import main
from egca.train.run import load_settings


def test_settings_from_yaml_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("max_steps: 7\ncredit_scheme: uniform\n")
    s = load_settings(str(cfg), ["max_steps=3", "limit=null", "learning_rate=2e-6"])
    assert (s.max_steps, s.credit_scheme, s.limit, s.learning_rate) == (3, "uniform", None, 2e-6)
    soft = load_settings(None, ["credit_scheme=soft", "credit_alpha=0.3"])
    assert (soft.credit_scheme, soft.credit_alpha, soft.credit_lam) == ("soft", 0.3, None)
    with pytest.raises(ValueError, match=r"credit_lam=0\.3 is a parameter of the prefix_credit"):
        load_settings(None, ["credit_lam=0.3"])
    with pytest.raises(ValueError, match="unknown credit_scheme 'last_statement'"):
        load_settings(str(cfg), ["credit_scheme=last_statement"])
    with pytest.raises(ValueError, match="GSPO"):
        load_settings(None, ["extra={importance_sampling_level: sequence}"])
    with pytest.raises(ValueError, match="unknown settings"):
        load_settings(None, ["nope=1"])
    with pytest.raises(ValueError, match="key=value"):
        load_settings(None, ["max_steps"])


def test_progress_bar_shows_unmapped_spans_only_when_there_are_some():
    from egca.train.callbacks import postfix

    shown = postfix({"egca/localized": 0.25, "egca/unmapped": 0.5})
    assert shown["localized"] == "25%" and shown["UNMAPPED"] == "50%"
    assert "UNMAPPED" not in postfix({"egca/localized": 0.25, "egca/unmapped": 0.0})


def tensorboard_scalars(log_dir):
    """{tag: [(step, value)]} from the TFRecord event files under ``log_dir``."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list] = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = Event.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    scalars.setdefault(v.tag, []).append((event.step, v.simple_value))
    return scalars


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
        "--set",
        "eval_limit=2",
        "--set",
        "save_total_limit=2",
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
        "final/config.json",
        "final/tokenizer.json",
    ):
        assert (run / name).exists(), name
    records = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    rollout = next(r for r in records if r["phase"] == "train")
    assert {"mode", "status", "tokens", "advantages", "program", "task_id"} <= rollout.keys()
    assert len(rollout["tokens"]) == len(rollout["advantages"])
    # periodic evaluation on other tasks: before training and after the last step
    assert [e["step"] for e in summary["eval_pass_rate"]] == [0, 2]
    evals = {r["task_id"] for r in records if r["phase"] == "eval"}
    assert evals == {"Mbpp/511", "Mbpp/512"} and len([r for r in records if r["phase"] == "eval"]) == 8
    # TensorBoard events hold the same scalars as metrics.jsonl
    scalars = tensorboard_scalars(run / "tensorboard")
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert scalars["train/reward"] == [
        (h["step"], pytest.approx(h["reward"])) for h in history if "reward" in h
    ]
    assert {"train/egca/mode_logic", "train/egca/pass_rate", "eval/egca/pass_rate"} <= scalars.keys()
    page = (run / "report.html").read_text()
    assert "learning curves" in page and "<svg" in page and "eval pass rate" in page
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(run / "final").num_parameters() > 0
    # the trained model is what `egca eval --model` takes
    out = tmp_path / "eval"
    args = ["eval", "--dataset", "humaneval", "--model", str(run / "final"), "--limit", "1"]
    assert main([*args, "--max-new-tokens", "8", "--out", str(out), "--json"]) == 0
    assert json.loads((out / "summary.json").read_text())["n_samples"] == 1
    capsys.readouterr()
    # killed during step 2 after logging it, before checkpoint-2 was complete, in mid-write:
    shutil.rmtree(run / "checkpoint-2")
    with (run / "rollouts.jsonl").open("a") as f:
        f.write('{"step": 1, "phase": "train", "prog')
    # resume continues from checkpoint-1 to step 3; every step is logged once
    assert main(["train", "--resume", "--set", "max_steps=3", *common]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 3
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history if "reward" in h] == [1, 2, 3]
    records = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["phase"] == "train"]
    assert train_steps == [0] * 4 + [1] * 4 + [2] * 4
    assert main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0


@pytest.mark.slow
def test_train_with_lora_saves_adapters_and_a_merged_model(tmp_path, capsys):
    from safetensors import safe_open

    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    run = tmp_path / "lora"
    sets = [
        f"model={model}",
        "dataset=humaneval",
        "limit=1",
        "eval_dataset=null",
        f"output_dir={run}",
        "max_completion_length=8",
        "max_steps=1",
        "save_steps=1",
        "lora_r=4",
        "lora_alpha=8",
    ]
    assert main(["train", *(a for s in sets for a in ("--set", s)), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 1 and summary["eval_pass_rate"] == []
    for adapters in (run / "checkpoint-1", run / "final-adapter"):  # adapters only
        with safe_open(str(adapters / "adapter_model.safetensors"), "pt") as f:
            keys = list(f.keys())
        assert keys and all("lora_" in k for k in keys)
    with safe_open(str(run / "final" / "model.safetensors"), "pt") as f:
        merged = list(f.keys())
    assert merged and not any("lora_" in k for k in merged)  # merged into plain weights


@pytest.mark.slow
def test_completion_prompt_style_continues_the_task_prompt(tmp_path, capsys):
    from egca.tasks import load_tasks
    from tests.tiny import make_tiny_model

    run = tmp_path / "run"
    sets = [f"model={make_tiny_model(tmp_path)}", "dataset=humaneval", "limit=1", "eval_dataset=null"]
    sets += [f"output_dir={run}", "max_completion_length=8", "max_steps=1", "prompt_style=completion"]
    assert main(["train", *(a for s in sets for a in ("--set", s)), "--json"]) == 0
    prompt = load_tasks("humaneval", limit=1)[0].prompt
    programs = [json.loads(line)["program"] for line in (run / "rollouts.jsonl").read_text().splitlines()]
    assert len(programs) == 4 and all(p.startswith(prompt) for p in programs)
