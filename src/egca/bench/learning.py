"""``egca bench learning``: does a credit scheme make the policy learn more from the same samples?

Every scheme trains from the same starting policy with the same settings, steps and generation
budget, once per seed, through ``egca train`` (``EGCAGRPOTrainer``, ``CodeReward``, the sandbox,
the localizer, the token mapping: nothing else). Before and after, the policy is evaluated greedily
on the held-out tasks. Each (scheme, seed) run is a run directory ``OUT/runs/SCHEME-seedN`` whose
``record.json`` is written last: a finished run is skipped when the bench is started again, an
interrupted one is run again from the start. Statistics: :mod:`egca.bench.learning_stats`.

Defaults are the testbed's fixed design (``docs/testbed.md``); ``--config`` / ``--set`` take any
``egca train`` settings instead (the held-out set is then the settings' eval dataset).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from egca.bench.learning_stats import plot_curves, summarize, table
from egca.train.run import TrainSettings, load_settings, read_jsonl, run_tasks, train

SCHEMES = ("uniform", "egca", "random_span", "late_span", "soft", "stepcoder_mask", "rltf_error_line")

TESTBED_SETTINGS = (
    "model=testbed",
    "dataset=testbed",
    "split=train",
    "limit=null",
    "eval_dataset=testbed",
    "eval_split=heldout",
    "eval_limit=null",
    "max_steps=50",
    "num_generations=8",
    "per_device_train_batch_size=16",
    "max_completion_length=128",
    "learning_rate=2e-4",
    "temperature=1.0",
    "tensorboard=false",
)
"""The testbed's fixed RL design (``docs/testbed.md``): 2 prompts x 8 completions per step."""

FULL_SEEDS, QUICK_SEEDS, QUICK_STEPS = 5, 2, 10

PER_TOKEN_SCHEMES = ("soft", "prefix_credit")
"""Schemes whose token weights are not constant on the loss mask: the mask route (``conserve``)
cannot express them, so they run on the per-token route (``conserve_kl_all``, TRL ``dr_grpo``),
which realizes the same operator (``egca.credit.operator``)."""


def bench_settings(config: str | None, sets: Sequence[str], steps: int | None, out: str) -> TrainSettings:
    """The shared settings of every run: the testbed's (without ``--config``), then ``--set``."""
    base = [] if config else list(TESTBED_SETTINGS)
    extra = [f"max_steps={steps}"] if steps else []
    return load_settings(config, [*base, *sets, *extra, f"output_dir={out}"])


def greedy_eval(
    model_path: str, tasks: Sequence[Any], settings: TrainSettings, out: Path, sandbox: Any
) -> dict[str, Any]:
    """Greedy pass@1 of ``model_path`` on ``tasks`` (results in ``out``) and the share of failures
    that ran and returned a wrong answer (status ``failed``: logic mode)."""
    from transformers import AutoTokenizer

    from egca.eval.evaluate import evaluate_samples, write_results
    from egca.eval.generate import generate_completions
    from egca.eval.prompts import build_prompt
    from egca.eval.samples import Sample

    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    prompts = [build_prompt(t, tokenizer, settings.prompt_style) for t in tasks]
    completions = generate_completions(
        model_path,
        prompts,
        n=1,
        temperature=0.0,
        top_p=1.0,
        max_new_tokens=settings.max_completion_length,
        batch_size=16,
        seed=0,
        backend="transformers",
        progress=False,
    )
    samples = [Sample(t.task_id, c[0], 0) for t, c in zip(tasks, completions)]
    rows, summary = evaluate_samples(tasks, samples, sandbox, ks=(1,))
    write_results(out, rows, summary)
    failures = [r for r in rows if not r.passed]
    return {
        "pass@1": summary.pass_at_k["pass@1"],
        "statuses": summary.status_counts,
        "logic_share": sum(r.status == "failed" for r in failures) / len(failures) if failures else None,
    }


def run_record(
    run_dir: Path, scheme: str, seed: int, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    """The record of a finished run, from its ``metrics.jsonl`` and the two evaluations."""
    steps = [h for h in read_jsonl(run_dir / "metrics.jsonl") if "egca/pass_rate" in h]
    analysed = [h for h in steps if "egca/mode_logic" in h]
    spans = [h["egca/span_share"] for h in steps if "egca/span_share" in h]
    step_s = sum(h.get("step_time", 0.0) for h in steps)
    return {
        "scheme": scheme,
        "seed": seed,
        "before": before["pass@1"],
        "after": after["pass@1"],
        "after_statuses": after["statuses"],
        "after_logic_share": after["logic_share"],
        "curve": [h["egca/pass_rate"] for h in steps],
        "reward": [h.get("reward") for h in steps],
        "logic_share_train": statistics.fmean(h["egca/mode_logic"] for h in analysed) if analysed else None,
        "span_share": statistics.fmean(spans) if spans else None,
        "analysis_share": (
            sum(h.get("time/egca_analysis", 0.0) for h in steps) / step_s if analysed and step_s else None
        ),
        "step_s": step_s / len(steps) if steps else None,
    }


def bench_learning(
    settings: TrainSettings, schemes: Sequence[str] = SCHEMES, seeds: int = FULL_SEEDS, label: str = ""
) -> dict[str, Any]:
    """Run (or reuse) every (scheme, seed) and report; ``settings.output_dir`` is the bench folder."""
    from egca.credit.schemes import SCHEMES as KNOWN
    from egca.execution import Sandbox
    from egca.execution.references import prepare_tasks
    from egca.models.resolve import resolve_model

    unknown = [s for s in schemes if s not in KNOWN]
    if unknown:
        raise ValueError(f"unknown credit scheme(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_settings(out / "settings.json", settings)
    t0 = time.perf_counter()
    start_model = str(resolve_model(settings.model))
    held = run_tasks(settings.eval_dataset, settings.eval_split, settings.eval_limit, settings.eval_data_path)
    if not held:
        raise ValueError("bench learning needs held-out tasks: set eval_dataset (and eval_split)")
    records = []
    with Sandbox(workers=settings.workers) as sandbox:
        held = prepare_tasks(held, sandbox)
        before_file = out / "before" / "eval.json"
        if before_file.is_file():
            before = json.loads(before_file.read_text(encoding="utf-8"))
        else:
            before = greedy_eval(start_model, held, settings, out / "before", sandbox)
            _write_json(before_file, before)
    for seed in range(seeds):
        for scheme in schemes:
            records.append(_run(settings, scheme, seed, out, before, held))
    report = summarize(records)
    image = out / "curves.png"
    plotted = plot_curves(records, str(image))
    steps, batch = settings.max_steps, settings.per_device_train_batch_size
    lines = [
        *([label] if label else []),
        f"model {settings.model}, {steps} steps x {batch} completions (budget {steps * batch} completions of "
        f"<= {settings.max_completion_length} tokens per run), lr {settings.learning_rate}, temperature "
        f"{settings.temperature}, {seeds} seed(s); held-out: {len(held)} tasks, greedy pass@1",
        "",
        *table(report),
        "",
        f"curves: {image}" if plotted else "curves: matplotlib not installed",
        f"runs: {out / 'runs'}  ({time.perf_counter() - t0:.0f} s)",
    ]
    result = {
        "summary": report,
        "records": records,
        "settings": dataclasses.asdict(settings),
        "versions": _versions(),
        "lines": lines,
    }
    _write_json(out / "bench.json", result)
    (out / "table.md").write_text("\n".join(table(report)) + "\n", encoding="utf-8")
    return result


def _check_same_settings(path: Path, settings: TrainSettings) -> None:
    """Finished runs are reused only under the settings that made them: a bench folder keeps its
    settings, and starting it again with other settings is an error (more seeds or schemes are fine)."""
    current = json.loads(json.dumps(dataclasses.asdict(settings)))
    if not path.is_file():
        _write_json(path, current)
        return
    stored = json.loads(path.read_text(encoding="utf-8"))
    changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    if changed:
        raise ValueError(
            f"{path.parent} holds runs made with other settings ({', '.join(changed)} differ): "
            "use another --out, or delete the folder"
        )


def _run(
    settings: TrainSettings, scheme: str, seed: int, out: Path, before: dict[str, Any], held: list[Any]
) -> dict[str, Any]:
    run_dir = out / "runs" / f"{scheme}-seed{seed}"
    record_file = run_dir / "record.json"
    if record_file.is_file():
        record: dict[str, Any] = json.loads(record_file.read_text(encoding="utf-8"))
        return record
    from egca.execution import Sandbox

    extra = {"save_strategy": "no", **settings.extra}  # a run restarts from scratch if interrupted
    normalizer = settings.credit_normalizer
    if scheme in PER_TOKEN_SCHEMES and normalizer == "conserve":
        normalizer = "conserve_kl_all"
        extra["loss_type"] = "dr_grpo"
    s = dataclasses.replace(
        settings,
        credit_scheme=scheme,
        credit_normalizer=normalizer,
        seed=seed,
        output_dir=str(run_dir),
        eval_dataset=None,  # the bench evaluates greedily itself, before and after
        save_final_model=True,
        extra=extra,
    )
    train(s)
    with Sandbox(workers=settings.workers) as sandbox:
        after = greedy_eval(str(run_dir / "final"), held, settings, run_dir / "heldout", sandbox)
    record = run_record(run_dir, scheme, seed, before, after)
    _write_json(record_file, record)
    return record


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    import torch
    import transformers
    import trl

    import egca

    return {
        "egca": getattr(egca, "__version__", "?"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "threads": str(torch.get_num_threads()),
    }
