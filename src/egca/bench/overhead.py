"""``egca bench overhead``: the wall-clock cost of EGCA over GRPO, measured side by side.

Two ``egca train`` runs with the same model, tasks, seed and steps, one with ``credit_scheme=uniform``
(GRPO: identical execution, no analysis) and one with ``egca``. Reported: the mean step time of each,
the added share, and the share of the EGCA step spent in the analysis (from the per-step
``time/egca_analysis`` metric). Generation is sampled, so the two runs' completions differ after the
first step; the analysis share is the direct measure, the added share the end-to-end one.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from egca.train.run import TrainSettings, train


def _step_times(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [h for h in map(json.loads, lines) if "step_time" in h]


def bench_overhead(settings: TrainSettings) -> dict[str, Any]:
    """Train twice (uniform, egca) and compare the per-step times."""
    base = Path(settings.output_dir)
    runs: dict[str, dict[str, Any]] = {}
    for scheme in ("uniform", "egca"):
        s = dataclasses.replace(
            settings,
            credit_scheme=scheme,
            output_dir=str(base / scheme),
            extra={"save_strategy": "no", **settings.extra},  # checkpoint writes are not a phase compared
        )
        summary = train(s)
        steps = _step_times(base / scheme)
        runs[scheme] = {
            "summary": summary,
            "steps": steps,
            "step_s": statistics.fmean(h["step_time"] for h in steps),
            "analysis_s": statistics.fmean(h.get("time/egca_analysis", 0.0) for h in steps),
            "execution_s": statistics.fmean(h.get("time/execution", 0.0) for h in steps),
            "generation_s": statistics.fmean(h.get("time/generation_and_logps", 0.0) for h in steps),
            "completion_tokens": statistics.fmean(h.get("completions/mean_length", 0.0) for h in steps),
            "forward_backward_s": statistics.fmean(h.get("time/forward_backward", 0.0) for h in steps),
            "optimizer_s": statistics.fmean(h.get("time/optimizer", 0.0) for h in steps),
        }
    u, e = runs["uniform"], runs["egca"]
    added = (e["step_s"] - u["step_s"]) / u["step_s"]
    analysis_share = e["analysis_s"] / e["step_s"]
    lines = [
        f"model {settings.model}, {settings.max_steps} steps, {settings.num_generations} completions per prompt, "
        f"{settings.max_completion_length} tokens",
        *(
            f"{k:8s} step {r['step_s']:.2f} s  (generation+logps {r['generation_s']:.2f} s, execution "
            f"{r['execution_s']:.2f} s, EGCA analysis {r['analysis_s']:.3f} s, forward/backward "
            f"{r['forward_backward_s']:.2f} s, optimizer {r['optimizer_s']:.2f} s; "
            f"mean completion {r['completion_tokens']:.0f} tokens)"
            for k, r in runs.items()
        ),
        f"EGCA analysis: {100 * analysis_share:.2f}% of an EGCA step; end-to-end added wall clock "
        f"{100 * added:+.1f}% (sampled completions, and so their lengths, differ between the runs)",
    ]
    noise = _timing_noise(u["steps"], e["steps"])
    if noise is not None:
        lines.append(
            f"timing noise: on the {noise[0]} step(s) where both runs generated the same completions "
            f"(same seed, no update yet or the same one), generation+logps differed by {100 * noise[1]:.1f}%"
        )
    return {
        "runs": runs,
        "added_share": added,
        "analysis_share": analysis_share,
        "noise": noise[1] if noise else None,
        "lines": lines,
    }


def _timing_noise(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[int, float] | None:
    """Over the steps whose completions had the same mean length in both runs (the same
    completions, in practice), the mean relative difference of their generation times."""
    key = "completions/mean_length"
    same = [(x, y) for x, y in zip(a, b) if key in x and x.get(key) == y.get(key)]
    gen = "time/generation_and_logps"
    diffs = [abs(y[gen] - x[gen]) / x[gen] for x, y in same if x.get(gen) and y.get(gen)]
    return (len(diffs), statistics.fmean(diffs)) if diffs else None
