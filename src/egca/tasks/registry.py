"""Benchmark names, the default data directory, and :func:`load_tasks`."""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from egca.tasks.task import Task

DATASETS: tuple[str, ...] = ("humaneval", "humaneval-plus", "mbpp", "mbpp-sanitized", "mbpp-plus", "jsonl")
"""The names :func:`load_tasks` accepts."""

DATA_DIR_ENV = "EGCA_DATA_DIR"
"""Environment variable naming the benchmark data directory (holding ``mbpp/``, ``mbppplus/``, ...)."""

_SPLIT_DATASETS = ("mbpp", "mbpp-sanitized")


def default_data_dir() -> Path:
    """The benchmark data directory.

    ``$EGCA_DATA_DIR`` when set; else the first ``shared/data`` directory found walking up from
    this package's location, then from the current directory.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{DATA_DIR_ENV}={env!r} is not a directory")
        return path
    for base in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (base, *base.parents):
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate
    raise FileNotFoundError(
        f"benchmark data directory not found: set {DATA_DIR_ENV} to the folder holding mbpp/, "
        "humanevalplus/ and mbppplus/ (no shared/data folder above the egca package or the "
        "current directory)"
    )


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
        from egca.tasks.humaneval import load_humaneval

        tasks = load_humaneval(path)
    elif name == "humaneval-plus":
        from egca.tasks.evalplus import load_humaneval_plus

        tasks = load_humaneval_plus(path)
    elif name == "mbpp-plus":
        from egca.tasks.evalplus import load_mbpp_plus

        tasks = load_mbpp_plus(path)
    elif name == "mbpp":
        from egca.tasks.mbpp import load_mbpp

        tasks = load_mbpp(split or "test", path)
    elif name == "mbpp-sanitized":
        from egca.tasks.mbpp import load_mbpp_sanitized

        tasks = load_mbpp_sanitized(split or "test", path)
    else:
        if path is None:
            raise ValueError("dataset 'jsonl' needs a path to a task file")
        from egca.tasks.jsonl import load_jsonl_tasks

        tasks = load_jsonl_tasks(path)
    return tasks if limit is None else tasks[:limit]
