"""Tasks as a TRL training dataset: a conversational ``prompt`` and the ``task_id``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from egca.eval.prompts import user_message
from egca.tasks.task import Task


def task_rows(tasks: Sequence[Task], conversational: bool = True) -> list[dict[str, Any]]:
    """One row per task: TRL applies the chat template to conversational prompts itself."""
    rows = []
    for t in tasks:
        prompt: Any = [{"role": "user", "content": user_message(t.prompt)}] if conversational else t.prompt
        rows.append({"prompt": prompt, "task_id": t.task_id})
    return rows


def tasks_dataset(tasks: Sequence[Task], conversational: bool = True) -> Any:
    """A ``datasets.Dataset`` of :func:`task_rows`."""
    from datasets import Dataset

    return Dataset.from_list(task_rows(tasks, conversational))
