"""Run each task's reference once (cached): expected outputs of ``call`` tests and time limits.

EvalPlus ships inputs only; the expected output of each input is what the canonical solution
returns. egca computes them in the sandbox (so a reference never runs unisolated), stores them as
wire values in a cache keyed by the reference, the tests and the Python version, and drops (and
lists) any input on which the reference itself fails. The same run times the reference: a candidate
gets at least ``TIME_FACTOR`` times the reference's slowest test (``metadata["timeout_floor_s"]``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from egca.execution.job import ExecJob, Limits
from egca.execution.result import Status
from egca.execution.sandbox import Sandbox
from egca.paths import cache_dir
from egca.tasks.task import MISSING, Task
from egca.values import from_wire, to_wire

CAPTURE_LIMITS = Limits(timeout_s=20.0, total_timeout_s=900.0, memory_mb=4096)
TIME_FACTOR = 4.0  # a candidate may take this many times the reference's slowest test (EvalPlus: 4x)


def _key(task: Task) -> str:
    h = hashlib.sha256()
    h.update(f"{sys.version_info[:2]}\0{task.task_id}\0{task.reference}\0{task.setup}\0".encode())
    h.update(f"{task.test_prelude}\0{task.metadata.get('oracle', 'eq')}\0".encode())
    for t in task.tests:
        h.update(t.source.encode() if t.kind == "assert" else json.dumps(to_wire(t.args)).encode())
    return h.hexdigest()[:24]


def _needs(task: Task) -> bool:
    return any(t.kind == "call" and t.expected is MISSING for t in task.tests)


def prepare_tasks(
    tasks: Sequence[Task],
    sandbox: Sandbox,
    cache: Path | None = None,
    progress: bool = False,
) -> list[Task]:
    """Fill in every ``MISSING`` expected output and the time floor by running each reference.

    Inputs on which the reference does not return normally are removed from the task and listed
    in ``metadata["dropped_inputs"]``. Tasks without a reference keep ``MISSING`` (reference-free
    tasks cannot have call tests scored) and get ``metadata["expected_unavailable"] = True``.
    """
    cache = (cache or cache_dir()) / "expected"
    out = list(tasks)
    todo: list[int] = []
    for i, task in enumerate(out):
        if not task.reference:
            if _needs(task):
                out[i] = replace(task, metadata={**task.metadata, "expected_unavailable": True})
            continue
        cached = _load(cache / f"{_key(task)}.json.gz")
        if cached is not None:
            out[i] = _apply(task, cached)
        else:
            todo.append(i)
    if todo:
        jobs = [ExecJob.for_task(out[i], out[i].reference, capture=True, limits=CAPTURE_LIMITS) for i in todo]
        results = sandbox.run_many(jobs, progress=progress, desc="running references")
        for i, result in zip(todo, results):
            outputs: list[Any] = []
            for t, r in zip(out[i].tests, result.tests):
                if r.status is Status.PASSED and t.kind == "assert":
                    outputs.append({"ok": True, "s": round(r.duration_s, 6)})
                elif r.status is Status.PASSED:
                    outputs.append({"ok": True, "v": to_wire(r.output), "s": round(r.duration_s, 6)})
                else:
                    outputs.append({"ok": False, "why": f"{r.status.value}: {r.message}"[:300]})
            _store(cache / f"{_key(out[i])}.json.gz", outputs)
            out[i] = _apply(out[i], outputs)
    return out


def _apply(task: Task, outputs: list[dict[str, Any]]) -> Task:
    tests, dropped = [], []
    for t, o in zip(task.tests, outputs):
        if t.kind != "call" or t.expected is not MISSING:
            tests.append(t)
        elif o.get("ok"):
            tests.append(replace(t, expected=from_wire(o["v"])))
        else:
            dropped.append({"label": t.label or str(t.index), "reason": o.get("why", "")})
    tests = [replace(t, index=j) for j, t in enumerate(tests)]
    meta = dict(task.metadata)
    if dropped:
        meta["dropped_inputs"] = dropped
    slowest = max((float(o.get("s", 0.0)) for o in outputs if o.get("ok")), default=0.0)
    meta["reference_failures"] = sum(
        1 for t, o in zip(task.tests, outputs) if t.kind == "assert" and not o.get("ok")
    )
    meta["timeout_floor_s"] = round(TIME_FACTOR * slowest, 3)
    return replace(task, tests=tuple(tests), metadata=meta)


def _load(path: Path) -> list[dict[str, Any]] | None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, list) else None


def _store(path: Path, outputs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(outputs, f)
    os.replace(tmp, path)
