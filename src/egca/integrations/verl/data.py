"""egca tasks → verl's parquet format (one row per task); needs no verl.

    egca verl prepare-data --dataset mbpp --split train --out data/mbpp   # or:
    python -m egca.integrations.verl.data --dataset mbpp --split train --out data/mbpp

writes ``train.parquet`` (and ``val.parquet`` with ``--val-dataset``). Each row has verl's columns:
``data_source`` (``egca/<dataset>``), ``prompt`` (the chat message egca's TRL path uses, which
verl's ``RLHFDataset`` passes through the chat template), ``ability`` (``code``), ``reward_model``
(``{"style": "rule", "ground_truth": task_id}``) and ``extra_info`` with ``task_id``, ``index`` and
``task``: the whole task (tests, reference, prelude, metadata) as JSON (:func:`task_to_json`:
lossless, values through :func:`egca.values.to_wire`), which the ``egca`` reward manager and the
trainer's group analysis read back with :func:`task_of`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from egca.eval.prompts import user_message
from egca.tasks.registry import DATASETS, load_tasks
from egca.tasks.task import MISSING, Task, TestCase
from egca.values import from_wire, to_wire

__all__ = [
    "DATA_SOURCE_PREFIX",
    "read_parquet",
    "task_from_json",
    "task_of",
    "task_rows",
    "task_to_json",
    "write_parquet",
]

DATA_SOURCE_PREFIX = "egca/"


def task_to_json(task: Task) -> str:
    """``task`` as one JSON string, every field kept (tuples stay tuples, unknown outputs stay MISSING)."""
    tests = [
        {
            "index": t.index,
            "kind": t.kind,
            "source": t.source,
            "args": to_wire(t.args),
            "expected": None if t.expected is MISSING else to_wire(t.expected),
            "missing": t.expected is MISSING,
            "atol": t.atol,
            "label": t.label,
        }
        for t in task.tests
    ]
    record = {
        "task_id": task.task_id,
        "prompt": task.prompt,
        "entry_point": task.entry_point,
        "reference": task.reference,
        "tests": tests,
        "test_prelude": task.test_prelude,
        "setup": task.setup,
        "metadata": to_wire(dict(task.metadata)),
    }
    return json.dumps(record, ensure_ascii=False)


def task_from_json(text: str) -> Task:
    """The task of :func:`task_to_json`'s string."""
    r = json.loads(text)
    tests = tuple(
        TestCase(
            index=int(t["index"]),
            kind=t["kind"],
            source=t["source"],
            args=tuple(from_wire(t["args"])),
            expected=MISSING if t["missing"] else from_wire(t["expected"]),
            atol=float(t["atol"]),
            label=t["label"],
        )
        for t in r["tests"]
    )
    return Task(
        task_id=r["task_id"],
        prompt=r["prompt"],
        entry_point=r["entry_point"],
        reference=r["reference"],
        tests=tests,
        test_prelude=r["test_prelude"],
        setup=r["setup"],
        metadata=from_wire(r["metadata"]),
    )


def task_rows(tasks: Sequence[Task], source: str = "tasks") -> list[dict[str, Any]]:
    """One verl row per task (module docstring)."""
    rows = []
    for i, t in enumerate(tasks):
        rows.append(
            {
                "data_source": DATA_SOURCE_PREFIX + source,
                "prompt": [{"role": "user", "content": user_message(t.prompt)}],
                "ability": "code",
                "reward_model": {"style": "rule", "ground_truth": t.task_id},
                "extra_info": {
                    "task_id": t.task_id,
                    "index": i,
                    "task": task_to_json(t),
                },
            }
        )
    return rows


def task_of(extra_info: Mapping[str, Any] | None, where: str = "verl row") -> Task:
    """The task a row's ``extra_info`` carries (raises a clear error for a row of another format)."""
    if not isinstance(extra_info, Mapping) or not isinstance(extra_info.get("task"), str):
        raise ValueError(
            f"{where}: extra_info has no egca task; build the data with `egca verl prepare-data`"
        )
    try:
        return task_from_json(extra_info["task"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{where}: extra_info['task'] is not an egca task ({e})") from e


def write_parquet(tasks: Sequence[Task], path: str | Path, source: str = "tasks") -> Path:
    """Write :func:`task_rows` to the parquet file ``path``; returns it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(task_rows(tasks, source)), out)
    return out


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a parquet file (plain Python values)."""
    import pyarrow.parquet as pq

    return list(pq.read_table(Path(path)).to_pylist())


def _load(dataset: str, split: str | None, path: str | None, limit: int | None) -> list[Task]:
    split_arg = split if dataset in ("mbpp", "mbpp-sanitized") else None
    tasks = [t for t in load_tasks(dataset, split=split_arg, path=path, limit=limit) if t.tests]
    if not tasks:
        raise ValueError(f"no tasks with tests in {dataset}" + (f" ({split})" if split else ""))
    return tasks


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``egca verl prepare-data``."""
    p.add_argument("--dataset", required=True, choices=DATASETS, help="training tasks")
    p.add_argument("--split", default="train", help="mbpp splits: train (default), validation, test, ...")
    p.add_argument("--data-path", default=None, help="dataset file (jsonl: required)")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    p.add_argument("--val-dataset", default=None, choices=DATASETS, help="validation tasks (val.parquet)")
    p.add_argument("--val-split", default="validation", help="mbpp splits of the validation tasks")
    p.add_argument("--val-limit", type=int, default=None)
    p.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    """``egca verl prepare-data``: write the parquet files and print their paths."""
    out = Path(args.out)
    train = write_parquet(
        _load(args.dataset, args.split, args.data_path, args.limit), out / "train.parquet", args.dataset
    )
    print(train)
    if args.val_dataset:
        val_tasks = _load(args.val_dataset, args.val_split, None, args.val_limit)
        print(write_parquet(val_tasks, out / "val.parquet", args.val_dataset))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m egca.integrations.verl.data", description=__doc__.split("\n")[0]
    )
    add_arguments(p)
    try:
        return run(p.parse_args(argv))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
