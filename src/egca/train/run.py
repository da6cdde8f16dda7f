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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainSettings:
    """What ``egca train`` runs; every field can be set from YAML or ``--set key=value``."""

    model: str = (
        "smollm2-135m-instruct"  # a name from `egca models list` (or testbed), a local folder or a hub id
    )
    dataset: str = (
        "mbpp"  # training tasks: a dataset of `egca eval --dataset`, or testbed (split train / heldout)
    )
    split: str = "train"  # split of mbpp / mbpp-sanitized / testbed
    data_path: str | None = None  # the task file of dataset jsonl (or another file for a benchmark)
    limit: int | None = 16  # tasks used for training (None: all)
    eval_dataset: str | None = "mbpp"  # periodic evaluation (None: off)
    eval_split: str = "validation"  # split of the evaluation dataset
    eval_data_path: str | None = None  # the task file of eval_dataset jsonl
    eval_limit: int | None = 8  # evaluation tasks (None: all)
    eval_generations: int = 2  # samples per eval task; eval/egca/pass_rate estimates pass@1
    eval_steps: int | None = None  # None: evaluate at the start and after the last step
    output_dir: str = "egca-out/train"  # the run directory
    max_steps: int = 4  # optimizer steps
    num_generations: int = 4  # completions per prompt (the GRPO group)
    per_device_train_batch_size: int = 4  # completions per device per step (a multiple of num_generations)
    max_completion_length: int = 192  # tokens per completion
    learning_rate: float = 1e-6  # AdamW learning rate
    temperature: float = 0.7  # sampling temperature of the rollouts
    seed: int = 0  # seed of sampling, data order and seeded credit schemes
    credit_scheme: str = "egca"  # how a rollout's advantage spreads over its tokens (docs/method.md)
    credit_normalizer: str = "conserve"  # conserve (loss_type grpo), conserve_kl_all (dr_grpo) or engine
    credit_constraints: bool = True  # static constraint checks and the comparability gate
    credit_references: str = "curated+siblings"  # or curated, or siblings (reference-free)
    credit_max_siblings: int = 2  # passing rollouts of the group used as extra references
    credit_alpha: float | None = None  # soft: weight of the tokens outside the span (None: 0.5)
    credit_lam: float | None = None  # prefix_credit: λ, the prefix gets λ·|A| (None: 0.5)
    reward: str = "binary"  # binary (every test passes) or fraction (share of tests passed)
    credit_localizer: str = "auto"  # auto, counterfactual, trace (earliest divergence) or llm
    credit_abstain: str = "uniform"  # a rollout the localizer abstains on: uniform (GRPO) or zero
    credit_max_variants: int = 400  # repair search budget per failing rollout
    credit_max_seconds: float = 2.0  # repair search time budget per failing rollout (seconds)
    credit_llm_model: str | None = None  # llm localizer: a model folder or registry name
    credit_llm_url: str | None = None  # llm localizer: an OpenAI-compatible server base URL
    prompt_style: str = (
        "auto"  # chat (the model's chat template) / completion (raw prompt); auto: chat if it has one
    )
    lora_r: int = 0  # 0: full fine-tuning; > 0: LoRA adapters of this rank (peft)
    lora_alpha: int = 32  # LoRA scaling
    lora_dropout: float = 0.05  # LoRA dropout
    lora_target_modules: str | list[str] = "all-linear"  # modules that get LoRA adapters
    save_steps: int = 1  # a kill loses at most the step in progress
    save_total_limit: int = 1  # checkpoints kept (the last one is what --resume needs)
    save_final_model: bool = True  # RUN_DIR/final: weights (LoRA merged) + tokenizer, for `egca eval`
    tensorboard: bool = True  # TensorBoard events in RUN_DIR/tensorboard
    timeout_s: float = 3.0  # seconds per test in the sandbox
    workers: int | None = None  # sandbox workers per process (None: CPUs / local processes)
    extra: dict[str, Any] = field(default_factory=dict)  # passed to EGCAConfig as is

    def __post_init__(self) -> None:
        """Refuse a credit setting that cannot work before anything is loaded."""
        from types import SimpleNamespace

        from egca.train.credit_settings import check_credit_settings, check_localizer_settings

        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be a mapping of EGCAConfig fields, got {self.extra!r}")
        check_credit_settings(
            self.credit_scheme,
            self.credit_normalizer,
            self.credit_references,
            self.credit_alpha,
            self.credit_lam,
            loss_type=self.extra.get("loss_type"),
            config=SimpleNamespace(**self.extra),
        )
        check_localizer_settings(self)


def load_settings(
    config: str | None, sets: list[str], defaults: dict[str, Any] | None = None
) -> TrainSettings:
    """The field defaults, then ``defaults`` (a caller's own, e.g. a benchmark's), then the YAML
    file, then ``key=value`` overrides (values parsed as YAML): the user's choices always win."""
    import yaml

    values: dict[str, Any] = dict(defaults or {})
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
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback

    from egca.eval.prompts import resolve_style
    from egca.execution import Limits, Sandbox
    from egca.execution.references import prepare_tasks
    from egca.models.resolve import resolve_model
    from egca.train.callbacks import LiveProgress, MetricsFile, tensorboard_callback
    from egca.train.data import tasks_dataset
    from egca.train.reward import CodeReward
    from egca.train.trainer import EGCAGRPOTrainer

    # TRL 1.16 calls transformers' renamed gradient-checkpointing methods on every step
    warnings.filterwarnings("ignore", r".*gradient_checkpointing.*deprecated", FutureWarning)
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if _is_main_process():
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(settings), indent=2), encoding="utf-8")
    model_path = str(resolve_model(settings.model))
    tasks = run_tasks(settings.dataset, settings.split, settings.limit, settings.data_path)
    eval_tasks = run_tasks(
        settings.eval_dataset, settings.eval_split, settings.eval_limit, settings.eval_data_path
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
    chat = resolve_style(tokenizer, settings.prompt_style) == "chat"
    rollouts, metrics = out / "rollouts.jsonl", out / "metrics.jsonl"
    if _is_main_process():
        logs = (rollouts, metrics, *out.glob("rollouts.rank*.jsonl"))
        if resume:
            rewind_logs(logs, last_checkpoint_step(out))
        else:
            for p in logs:
                p.unlink(missing_ok=True)
    callbacks: list[Any] = [MetricsFile(metrics), LiveProgress()]
    if settings.tensorboard:
        callbacks.append(tensorboard_callback(out / "tensorboard"))
    limits = Limits(timeout_s=settings.timeout_s, total_timeout_s=max(30.0, 10 * settings.timeout_s))
    t0 = time.perf_counter()
    with Sandbox(workers=settings.workers or _workers_per_rank(), limits=limits) as sandbox:
        # expected outputs of EvalPlus inputs and per-task time floors (cached after the first run)
        scored_tasks = prepare_tasks([*tasks, *eval_tasks], sandbox)
        reward = CodeReward(scored_tasks, kind=settings.reward, sandbox=sandbox)  # type: ignore[arg-type]
        trainer = EGCAGRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=training_config(settings, evaluate=bool(eval_tasks)),
            train_dataset=tasks_dataset(tasks, chat),
            eval_dataset=tasks_dataset(eval_tasks, chat) if eval_tasks else None,
            processing_class=tokenizer,
            callbacks=callbacks,
            peft_config=lora_config(settings),
        )
        trainer.remove_callback(PrinterCallback)  # logs go to the bar, metrics.jsonl and TensorBoard
        trainer.rollout_log = rollouts
        trainer.train(resume_from_checkpoint=resume or None)
        if settings.save_final_model:
            save_final(trainer, model_path, out)
    seconds = time.perf_counter() - t0
    if not trainer.accelerator.is_main_process:
        return {"steps": trainer.state.global_step, "seconds": round(seconds, 1), "run_dir": str(out)}
    return summarize(settings, out, steps=trainer.state.global_step, seconds=seconds)


def training_config(settings: TrainSettings, evaluate: bool) -> Any:
    """The :class:`EGCAConfig` for ``settings`` (``extra`` overrides anything set here)."""
    from egca.credit.operator import normalizer_settings
    from egca.train.trainer import EGCAConfig

    values: dict[str, Any] = dict(
        output_dir=settings.output_dir,
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
        credit_references=settings.credit_references,
        credit_max_siblings=settings.credit_max_siblings,
        credit_alpha=settings.credit_alpha,
        credit_lam=settings.credit_lam,
        # the loss type the normalizer needs (conserve: grpo, conserve_kl_all: dr_grpo)
        loss_type=normalizer_settings(settings.credit_normalizer)["trl_loss_type"] or "grpo",
        credit_localizer=settings.credit_localizer,
        credit_abstain=settings.credit_abstain,
        credit_max_variants=settings.credit_max_variants,
        credit_max_seconds=settings.credit_max_seconds,
        credit_llm_model=settings.credit_llm_model,
        credit_llm_url=settings.credit_llm_url,
        logging_steps=1,
        save_steps=settings.save_steps,
        save_strategy="steps",
        save_total_limit=settings.save_total_limit,
        report_to="none",  # TensorBoard is a callback writing to RUN_DIR/tensorboard
        disable_tqdm=True,  # LiveProgress draws the bar
        use_cpu=not _cuda(),
    )
    if evaluate:
        n = settings.eval_generations
        values.update(
            eval_strategy="steps",
            eval_steps=settings.eval_steps or settings.max_steps,
            eval_on_start=True,  # the untrained policy's pass rate, for comparison
            num_generations_eval=n,
            per_device_eval_batch_size=4 * n,  # four tasks per generation batch
        )
    values.update(settings.extra)
    return EGCAConfig(**values)


def lora_config(settings: TrainSettings) -> Any:
    """A peft ``LoraConfig`` when ``lora_r > 0``, else None (full fine-tuning)."""
    if settings.lora_r <= 0:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=settings.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def save_final(trainer: Any, model_path: str, out: Path) -> None:
    """``RUN_DIR/final``: the trained weights as a plain Hugging Face folder plus the tokenizer.

    Every rank calls this (``Trainer.save_model`` gathers DeepSpeed / FSDP shards). With LoRA the
    adapters go to ``RUN_DIR/final-adapter`` and the main process merges them into ``final``.
    """
    lora = hasattr(trainer.accelerator.unwrap_model(trainer.model), "peft_config")
    trainer.save_model(str(out / ("final-adapter" if lora else "final")))
    if lora and trainer.accelerator.is_main_process:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
        merged = PeftModel.from_pretrained(base, str(out / "final-adapter")).merge_and_unload()
        merged.save_pretrained(out / "final")
        trainer.processing_class.save_pretrained(out / "final")
    trainer.accelerator.wait_for_everyone()


def summarize(settings: TrainSettings, out: Path, steps: int, seconds: float) -> dict[str, Any]:
    """``summary.json`` and ``report.html`` from what the run directory holds."""
    from egca.report.html import render

    records = run_rollouts(out)
    history = read_jsonl(out / "metrics.jsonl")
    train_rows = [h for h in history if "reward" in h]
    eval_rows = [h for h in history if "eval_reward" in h]
    train_records = [r for r in records if r.get("phase", "train") == "train"]
    summary = {
        "steps": steps,
        "seconds": round(seconds, 1),
        "reward_first": train_rows[0]["reward"] if train_rows else None,
        "reward_last": train_rows[-1]["reward"] if train_rows else None,
        "eval_pass_rate": [
            {"step": h["step"], "pass_rate": h.get("eval_egca/pass_rate", h["eval_reward"])}
            for h in eval_rows
        ],
        "rollouts": len(train_records),
        "modes": _mode_shares(train_records),
        "credit": _credit_rates(train_rows),
        "run_dir": str(out),
        "report": str(out / "report.html"),
    }
    if (out / "final").is_dir():
        summary["final_model"] = str(out / "final")
    (out / "report.html").write_text(
        render(train_records[-64:], title=f"egca train: {settings.model}", metrics=history),
        encoding="utf-8",
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def run_tasks(dataset: str | None, split: str, limit: int | None, path: str | None = None) -> list[Any]:
    """The tasks of a dataset setting (none when ``dataset`` is empty); those without tests are left out."""
    from egca.tasks import load_tasks

    if not dataset:
        return []
    if dataset == "testbed":  # the default testbed's task files (generated and cached on first use)
        from egca.testbed.prepare import prepare_task_files

        files = prepare_task_files()
        if split not in files:
            raise ValueError(f"dataset testbed has the splits {' and '.join(files)}, not {split!r}")
        dataset, path = "jsonl", str(files[split])
    split_arg = split if dataset in ("mbpp", "mbpp-sanitized") else None
    tasks = [t for t in load_tasks(dataset, split=split_arg, path=path, limit=limit) if t.tests]
    if not tasks:
        raise ValueError(f"no tasks with tests in {dataset} ({split})")
    return tasks


def run_rollouts(run_dir: Path) -> list[dict[str, Any]]:
    """Every rollout of a run directory: the main process's file, then the other ranks' files."""
    files = [run_dir / "rollouts.jsonl", *sorted(run_dir.glob("rollouts.rank*.jsonl"))]
    return [record for f in files for record in read_jsonl(f)]


def _workers_per_rank() -> int:
    """Sandbox workers for this process: the CPUs shared by the ranks on this machine."""
    import os

    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, ranks))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file; a last line without its newline (a killed writer) is left out."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # the piece after the last newline
    records = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e.msg}") from e
    return records


def last_checkpoint_step(out: Path) -> int:
    """The step of the newest ``checkpoint-N`` in ``out`` (0 when there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    return int(last.rsplit("-", 1)[1]) if last else 0


def rewind_logs(logs: Sequence[Path], step: int) -> None:
    """Before resuming from ``checkpoint-step``: drop what the lost steps logged (and a line a kill
    cut short), so that the resumed run logs every step once.

    Metrics and eval rollouts of step N were written before checkpoint N; the training rollouts
    of step N+1 carry ``step`` N (the step count when they were generated).
    """
    for path in logs:
        if not path.exists():
            continue
        metrics = path.name == "metrics.jsonl"
        kept = [
            r
            for r in read_jsonl(path)
            if r.get("step", 0) < step or (r.get("step", 0) == step and (metrics or r.get("phase") == "eval"))
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _credit_rates(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean share of training rollouts localized, given a fallback, whose span could not be mapped
    to tokens (``unmapped``, also counted in ``fallback``), and not analysed (A = 0)."""
    rates = {}
    for name in ("localized", "fallback", "unmapped", "not_analysed"):
        values = [h[f"egca/{name}"] for h in rows if f"egca/{name}" in h]
        if values:
            rates[name] = round(sum(values) / len(values), 3)
    return rates


def _mode_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    n = len(records) or 1
    shares: dict[str, float] = {}
    for r in records:
        mode = r.get("mode") or "unanalysed"
        shares[mode] = shares.get(mode, 0) + 1 / n
    return {k: round(v, 3) for k, v in sorted(shares.items())}
