"""Benchmark names and :func:`load_tasks` (data locations: :mod:`egca.paths`)."""

from __future__ import annotations

from os import PathLike

from egca.paths import DATA_DIR_ENV, default_data_dir
from egca.tasks.evalplus import load_humaneval_plus, load_mbpp_plus
from egca.tasks.humaneval import load_humaneval
from egca.tasks.jsonl import load_jsonl_tasks
from egca.tasks.mbpp import load_mbpp, load_mbpp_sanitized
from egca.tasks.task import Task

__all__ = ["DATASETS", "DATA_DIR_ENV", "default_data_dir", "load_tasks"]

DATASETS: tuple[str, ...] = ("humaneval", "humaneval-plus", "mbpp", "mbpp-sanitized", "mbpp-plus", "jsonl")
"""The names :func:`load_tasks` accepts."""

_SPLIT_DATASETS = ("mbpp", "mbpp-sanitized")


def load_tasks(
    name: str,
    split: str | None = None,
    path: str | PathLike[str] | None = None,
    limit: int | None = None,
) -> list[Task]:
    """Load the tasks of benchmark ``name`` (one of :data:`DATASETS`), in dataset order.

    ``split`` applies to ``mbpp`` and ``mbpp-sanitized`` only (default ``"test"``); ``path``
    overrides the default file (required for ``jsonl``); ``limit`` keeps the first tasks.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} (expected one of {', '.join(DATASETS)})")
    if split is not None and name not in _SPLIT_DATASETS:
        raise ValueError(
            f"dataset {name!r} has no splits (split={split!r}); splits exist for mbpp and mbpp-sanitized"
        )
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    tasks: list[Task]
    if name == "humaneval":
        tasks = load_humaneval(path)
    elif name == "humaneval-plus":
        tasks = load_humaneval_plus(path)
    elif name == "mbpp-plus":
        tasks = load_mbpp_plus(path)
    elif name == "mbpp":
        tasks = load_mbpp(split or "test", path)
    elif name == "mbpp-sanitized":
        tasks = load_mbpp_sanitized(split or "test", path)
    else:
        if path is None:
            raise ValueError("dataset 'jsonl' needs a path to a task file")
        tasks = load_jsonl_tasks(path)
    return tasks if limit is None else tasks[:limit]
