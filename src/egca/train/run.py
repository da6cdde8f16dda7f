"""``egca train``: one training run with everything a run directory should hold.

    egca train [--config FILE.yaml] [--set key=value ...] [--resume]

The run directory gets the resolved config (``config.json``), metrics (``metrics.jsonl``, one line
per logging step), checkpoints (``checkpoint-N``), the rollouts of every step with their modes,
spans and token advantages (``rollouts.jsonl``, rendered by ``egca report``), the credit report
(``report.html``) and ``summary.json``. Defaults run offline on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainSettings:
    """What ``egca train`` runs; every field can be set from YAML or ``--set key=value``."""

    model: str = "smollm2-135m-instruct"
    dataset: str = "mbpp"
    split: str = "train"
    limit: int | None = 16  # tasks used for training (None: all)
    output_dir: str = "egca-out/train"
    max_steps: int = 4
    num_generations: int = 4
    per_device_train_batch_size: int = 4
    max_completion_length: int = 192
    learning_rate: float = 1e-6
    temperature: float = 0.7
    seed: int = 0
    credit_scheme: str = "egca"
    credit_normalizer: str = "conserve"
    credit_constraints: bool = True
    reward: str = "binary"
    save_steps: int = 2
    timeout_s: float = 3.0
    workers: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # passed to EGCAConfig as is


def load_settings(config: str | None, sets: list[str]) -> TrainSettings:
    """Defaults, then the YAML file, then ``key=value`` overrides (values parsed as YAML)."""
    import yaml

    values: dict[str, Any] = {}
    if config:
        loaded = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config}: expected a mapping of settings")
        values.update(loaded)
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        values[key.strip()] = yaml.safe_load(raw)
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    types = {f.name: f.type for f in dataclasses.fields(TrainSettings)}
    for key, value in values.items():  # YAML reads 2e-6 as a string: coerce numbers to the field's type
        kind = str(types[key])
        if isinstance(value, str) and kind.startswith(("float", "int")):
            try:
                values[key] = float(value) if kind.startswith("float") else int(value)
            except ValueError as e:
                raise ValueError(f"setting {key}: expected a number, got {value!r}") from e
    return TrainSettings(**values)


def train(settings: TrainSettings, resume: bool = False) -> dict[str, Any]:
    """Run training; return the summary (also written to ``summary.json``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from egca.execution import Limits, Sandbox
    from egca.models.registry import resolve_model
    from egca.report.html import render
    from egca.tasks import load_tasks
    from egca.train.data import tasks_dataset
    from egca.train.reward import CodeReward
    from egca.train.trainer import EGCAConfig, EGCAGRPOTrainer

    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(settings), indent=2), encoding="utf-8")
    model_path = str(resolve_model(settings.model))
    tasks = [t for t in load_tasks(settings.dataset, split=_split(settings), limit=settings.limit) if t.tests]
    if not tasks:
        raise ValueError(f"no tasks in {settings.dataset} ({settings.split})")
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
    args = EGCAConfig(
        output_dir=str(out),
        max_steps=settings.max_steps,
        num_generations=settings.num_generations,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        max_completion_length=settings.max_completion_length,
        learning_rate=settings.learning_rate,
        temperature=settings.temperature,
        seed=settings.seed,
        credit_scheme=settings.credit_scheme,
        credit_normalizer=settings.credit_normalizer,
        credit_constraints=settings.credit_constraints,
        logging_steps=1,
        save_steps=settings.save_steps,
        save_strategy="steps",
        report_to="none",
        use_cpu=not _cuda(),
        **settings.extra,
    )
    rollouts = out / "rollouts.jsonl"
    metrics = out / "metrics.jsonl"
    if not resume:
        for p in (rollouts, metrics):
            p.unlink(missing_ok=True)
    limits = Limits(timeout_s=settings.timeout_s, total_timeout_s=max(30.0, 10 * settings.timeout_s))
    t0 = time.perf_counter()
    with Sandbox(workers=settings.workers, limits=limits) as sandbox:
        reward = CodeReward(tasks, kind=settings.reward, sandbox=sandbox)  # type: ignore[arg-type]

        class Record(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
                if logs:
                    with metrics.open("a", encoding="utf-8") as f:
                        f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

        trainer = EGCAGRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=tasks_dataset(tasks),
            processing_class=tokenizer,
            callbacks=[Record()],
        )
        trainer.rollout_log = rollouts
        trainer.train(resume_from_checkpoint=resume or None)
    records = (
        [json.loads(line) for line in rollouts.read_text(encoding="utf-8").splitlines() if line.strip()]
        if rollouts.exists()
        else []
    )
    (out / "report.html").write_text(
        render(records[-64:], title=f"egca train: {settings.model}"), encoding="utf-8"
    )
    history = (
        [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
        if metrics.exists()
        else []
    )
    rewards = [h["reward"] for h in history if "reward" in h]
    summary = {
        "steps": trainer.state.global_step,
        "seconds": round(time.perf_counter() - t0, 1),
        "reward_first": rewards[0] if rewards else None,
        "reward_last": rewards[-1] if rewards else None,
        "rollouts": len(records),
        "modes": _mode_shares(records),
        "run_dir": str(out),
        "report": str(out / "report.html"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _split(settings: TrainSettings) -> str | None:
    return settings.split if settings.dataset in ("mbpp", "mbpp-sanitized") else None


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _mode_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    n = len(records) or 1
    shares: dict[str, float] = {}
    for r in records:
        shares[r.get("mode", "?")] = shares.get(r.get("mode", "?"), 0) + 1 / n
    return {k: round(v, 3) for k, v in sorted(shares.items())}
