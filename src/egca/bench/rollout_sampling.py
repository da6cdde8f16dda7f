"""Sample rollouts of a local model on benchmark tasks, as ``egca train`` prompts them.

The realistic localization suite (``egca/bench/suites/rollouts.jsonl``) is drawn from these
samples: each task gets ``n`` completions of the chat prompt :func:`egca.eval.prompts.build_prompt`
builds (the same user message ``egca train`` gives TRL), sampled by
:func:`egca.eval.generate.generate_completions`. Tasks are processed in chunks, each with its own
seed (``seed + chunk index``), and every chunk is appended to the output file at once, so a run
that is stopped early leaves every finished chunk usable and a restarted run skips them.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egca.eval.generate import generate_completions
from egca.eval.prompts import build_prompt
from egca.models.resolve import resolve_model
from egca.tasks.registry import load_tasks
from egca.tasks.task import Task

MBPP_SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class PoolTask:
    """A task to sample: its egca dataset name, its MBPP split (None for HumanEval) and the task."""

    dataset: str
    split: str | None
    task: Task


def task_pool(plus_only: bool = True, seed: int = 0) -> list[PoolTask]:
    """HumanEval and MBPP (train, validation, test) tasks in a seeded random order.

    ``plus_only`` keeps the MBPP tasks that EvalPlus also has (MBPP+), so that a fix can be checked
    on the plus tests too (every HumanEval task is in HumanEval+).
    """
    pool = [PoolTask("humaneval", None, t) for t in load_tasks("humaneval") if t.tests]
    plus_ids = {t.task_id for t in load_tasks("mbpp-plus")} if plus_only else None
    for split in MBPP_SPLITS:
        for t in load_tasks("mbpp", split=split):
            if t.tests and (plus_ids is None or t.task_id in plus_ids):
                pool.append(PoolTask("mbpp", split, t))
    random.Random(seed).shuffle(pool)
    return pool


def done_chunks(out: Path) -> set[int]:
    """Chunk indices already written to ``out`` (a missing file has none)."""
    if not out.is_file():
        return set()
    chunks = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        if line.strip():
            chunks.add(int(json.loads(line)["chunk"]))
    return chunks


def sample_rollouts(
    model: str,
    out: Path,
    *,
    n_tasks: int,
    n: int = 4,
    tasks_per_chunk: int = 4,
    temperature: float = 0.8,
    top_p: float = 0.95,
    max_new_tokens: int = 512,
    seed: int = 0,
    pool_seed: int = 0,
    deadline_s: float | None = None,
    stop_after_code: bool = True,
    log: Any = sys.stderr,
) -> int:
    """Sample ``n`` completions for each of the first ``n_tasks`` pool tasks; append rows to ``out``.

    One ``generate`` batch holds a chunk's ``tasks_per_chunk * n`` sequences. ``stop_after_code``:
    a sequence ends once it has closed a code block holding a ``def`` (the prose after the code is
    not sampled; see :func:`egca.eval.generate.generate_completions`). Stops after the chunk that
    crosses ``deadline_s`` seconds. Returns the number of rows written by this call.
    """
    from transformers import AutoTokenizer

    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    pool = task_pool(seed=pool_seed)[:n_tasks]
    done = done_chunks(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    written = 0
    for chunk, lo in enumerate(range(0, len(pool), tasks_per_chunk)):
        if chunk in done:
            continue
        part = pool[lo : lo + tasks_per_chunk]
        prompts = [build_prompt(p.task, tokenizer, "chat") for p in part]
        t0 = time.perf_counter()
        outs = generate_completions(
            str(path),
            prompts,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            batch_size=len(part) * n,
            seed=seed + chunk,
            backend="transformers",
            progress=False,
            stop_after_code=stop_after_code,
        )
        gen_s = time.perf_counter() - t0
        rows = [
            _row(
                model,
                p,
                chunk,
                j,
                c,
                temperature,
                top_p,
                max_new_tokens,
                seed + chunk,
                len(part) * n,
                stop_after_code,
            )
            for p, cs in zip(part, outs, strict=True)
            for j, c in enumerate(cs)
        ]
        with out.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        written += len(rows)
        elapsed = time.perf_counter() - t_start
        print(
            f"chunk {chunk}: {len(rows)} samples in {gen_s:.0f} s ({written} written, {elapsed / 60:.1f} min)",
            file=log,
            flush=True,
        )
        if deadline_s is not None and elapsed > deadline_s:
            break
    return written


def _row(
    model: str,
    p: PoolTask,
    chunk: int,
    index: int,
    completion: str,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
    stop_after_code: bool,
) -> dict[str, Any]:
    return {
        "source": model,
        "dataset": p.dataset,
        "split": p.split,
        "task_id": p.task.task_id,
        "chunk": chunk,
        "index": index,
        "sampling": {
            "temperature": temperature,
            "top_p": top_p,
            "max_new_tokens": max_new_tokens,
            "seed": seed,
            "batch_size": batch_size,
            "prompt_style": "chat",
            "stop_after_code": stop_after_code,
        },
        "completion": completion,
    }


def read_rollouts(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The rows of one or more files written by :func:`sample_rollouts`."""
    rows = []
    for p in paths:
        for line in Path(p).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows
