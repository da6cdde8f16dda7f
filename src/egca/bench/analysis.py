"""``egca bench analysis``: the cost of analysing whole GRPO groups, as the trainer does.

Groups of up to ``group_size`` single-bug mutants per task (the reference among them when the group
has room: a correct rollout) are run against the tests once with recorded calls, as the reward
function does; then :func:`~egca.credit.assign.analyze_group` analyses every group from those runs,
first on one thread, then on the sandbox's workers, side by side. Reported: rollouts per mode, the
analysis time per rollout of each, the ratio, and whether both gave the same modes and spans.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from egca.bench.mutants import mutants
from egca.credit.assign import analyze_group
from egca.credit.constraints import ConstraintConfig
from egca.credit.localize import Localizer
from egca.execution import ExecJob, Limits, Sandbox
from egca.tasks import load_tasks


def bench_analysis(
    tokenizer: Any,
    dataset: str = "humaneval",
    limit: int | None = 40,
    group_size: int = 8,
    workers: int | None = None,
    timeout_s: float = 3.0,
) -> dict[str, Any]:
    tasks = [t for t in load_tasks(dataset, limit=limit) if t.reference and t.entry_point]
    limits = Limits(timeout_s=timeout_s, total_timeout_s=max(30.0, 10 * timeout_s))
    with Sandbox(workers=workers, limits=limits) as sandbox:
        groups = []
        for task in tasks:
            programs = [m.source for m in mutants(task.reference, task.entry_point)][: group_size - 1]
            if len(programs) < 2:
                continue
            programs.append(task.reference)
            jobs = [ExecJob.for_task(task, p, record_calls=True) for p in programs]
            ids = [tokenizer.encode(p, add_special_tokens=False) for p in programs]
            groups.append((task, programs, ids, sandbox.run_many(jobs)))
        runs: dict[str, dict[str, Any]] = {}
        for name, threads in (("sequential", 1), ("concurrent", sandbox.n_workers)):
            localizer = Localizer(sandbox, ConstraintConfig())  # fresh caches for each
            t0 = time.perf_counter()
            analyses = [
                analyze_group(localizer, task, programs, ids, tokenizer, results, threads=threads)
                for task, programs, ids, results in groups
            ]
            seconds = time.perf_counter() - t0
            flat = [a for group in analyses for a in group]
            runs[name] = {
                "seconds": seconds,
                "ms_per_rollout": 1000 * seconds / max(1, len(flat)),
                "outcome": [(a.credit.mode.value, a.credit.span) for a in flat],
                "modes": dict(Counter(a.credit.mode.value for a in flat)),
            }
    seq, par = runs["sequential"], runs["concurrent"]
    same = seq["outcome"] == par["outcome"]
    ratio = seq["seconds"] / par["seconds"] if par["seconds"] else float("inf")
    n = len(seq["outcome"])
    lines = [
        f"{dataset}: {len(groups)} groups, {n} rollouts (mutants + the reference); modes {seq['modes']}",
        f"sequential  {seq['seconds']:.2f} s  ({seq['ms_per_rollout']:.1f} ms per rollout)",
        f"concurrent  {par['seconds']:.2f} s  ({par['ms_per_rollout']:.1f} ms per rollout, "
        f"{sandbox.n_workers} workers)",
        f"ratio sequential / concurrent: {ratio:.2f}x; same modes and spans: {same}",
    ]
    for r in runs.values():
        del r["outcome"]
    return {"runs": runs, "ratio": ratio, "same": same, "rollouts": n, "lines": lines}
