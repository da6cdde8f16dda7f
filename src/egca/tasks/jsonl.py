"""Reading JSON Lines / JSON-array task files, and egca's own JSONL task format.

The format (documented in ``docs/task-format.md``): one JSON object per line with ``task_id``,
``prompt``, ``entry_point`` and ``tests``, and optionally ``reference``, ``setup``,
``test_prelude``, ``atol`` and ``metadata``. Blank lines are ignored.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import IO, Any

from egca.tasks.errors import DatasetError, Row
from egca.tasks.split import assert_label, parses, split_tests
from egca.tasks.task import MISSING, Task, TestCase

REQUIRED_FIELDS = ("task_id", "prompt", "entry_point", "tests")
OPTIONAL_FIELDS = ("reference", "setup", "test_prelude", "atol", "metadata")


def open_text(path: str | PathLike[str]) -> IO[str]:
    """Open a text file as UTF-8, decompressing it when its name ends with ``.gz``."""
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_jsonl_rows(path: str | PathLike[str]) -> Iterator[Row]:
    """The rows of a JSON Lines file (``.gz`` allowed), with 1-based line numbers; blank lines skipped."""
    with open_text(path) as f:
        for n, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise DatasetError(path, f"invalid JSON: {e.msg} (column {e.colno})", line=n) from None
            yield Row(path, data, line=n)


def read_json_array_rows(path: str | PathLike[str]) -> list[Row]:
    """The rows of a file holding one JSON array of objects (rows are identified by index)."""
    with open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise DatasetError(path, f"invalid JSON: {e.msg} (column {e.colno})", line=e.lineno) from None
    if not isinstance(data, list):
        raise DatasetError(path, f"expected a JSON array of tasks, got {type(data).__name__}")
    return [Row(path, item, line=None, item=i) for i, item in enumerate(data)]


def read_rows(path: str | PathLike[str]) -> list[Row]:
    """JSON array rows for ``*.json`` / ``*.json.gz``, else JSON Lines rows."""
    name = str(path)
    if name.endswith((".json", ".json.gz")):
        return read_json_array_rows(path)
    return list(iter_jsonl_rows(path))


def load_jsonl_tasks(path: str | PathLike[str]) -> list[Task]:
    """Load tasks in egca's JSONL format (see ``docs/task-format.md``), in file order."""
    tasks: list[Task] = []
    seen: set[str] = set()
    for row in iter_jsonl_rows(path):
        task = task_from_row(row)
        if task.task_id in seen:
            raise row.error(f"duplicate task_id {task.task_id!r}", "task_id")
        seen.add(task.task_id)
        tasks.append(task)
    return tasks


def task_from_row(row: Row) -> Task:
    """One task of the egca JSONL format."""
    unknown = sorted(set(row.data) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        allowed = ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
        raise row.error(f"unknown field (allowed: {allowed})", unknown[0])
    task_id = row.get("task_id", "a string")
    prompt = row.get("prompt", "a string")
    entry_point = row.get("entry_point", "a string")
    if not entry_point.isidentifier():
        raise row.error(f"expected a Python identifier, got {entry_point!r}", "entry_point")
    reference = row.get("reference", "a string", "")
    setup = row.get("setup", "a string", "")
    prelude = row.get("test_prelude", "a string", "")
    atol = float(row.get("atol", "a number", 0.0))
    metadata = dict(row.get("metadata", "an object", {}))
    raw_tests = row.data.get("tests")
    split = True
    if isinstance(raw_tests, str):
        result = split_tests(raw_tests, entry_point)
        tests = result.tests
        if prelude and result.prelude and not prelude.endswith("\n"):
            prelude += "\n"
        prelude += result.prelude
        split = result.split
    elif isinstance(raw_tests, list):
        tests = tuple(
            _test_from_item(row, i, item, atol, bool(reference)) for i, item in enumerate(raw_tests)
        )
    else:
        raise row.error(
            "expected a string of test code or a list of assert strings / {args, expected} objects", "tests"
        )
    if not tests:
        raise row.error("no tests", "tests")
    metadata.setdefault("dataset", "jsonl")
    metadata.setdefault("split", split)
    if reference:
        metadata.setdefault("reference_parses", parses(reference))
    return Task(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        reference=reference,
        tests=tests,
        test_prelude=prelude,
        setup=setup,
        metadata=metadata,
    )


def _test_from_item(row: Row, i: int, item: object, atol: float, has_reference: bool) -> TestCase:
    field = f"tests[{i}]"
    if isinstance(item, str):
        source = item if item.endswith("\n") else item + "\n"
        return TestCase(index=i, kind="assert", source=source, label=assert_label(item))
    if not isinstance(item, dict):
        raise row.error(f"expected a string or an object, got {type(item).__name__}", field)
    extra = sorted(set(item) - {"args", "expected", "label"})
    if extra:
        raise row.error(f"unknown key {extra[0]!r} (allowed: args, expected, label)", field)
    args = item.get("args")
    if not isinstance(args, list):
        raise row.error("'args' must be a list of arguments", field)
    if "expected" not in item and not has_reference:
        raise row.error("a call test without 'expected' needs the task's 'reference'", field)
    label = item.get("label", f"tests[{i}]")
    if not isinstance(label, str):
        raise row.error("'label' must be a string", field)
    expected = item.get("expected", MISSING)
    return TestCase(index=i, kind="call", args=tuple(args), expected=expected, atol=atol, label=label)


def task_to_row(task: Task) -> dict[str, Any]:
    """``task`` as a row of the egca JSONL format (tests as a list; tuples become JSON lists)."""
    tests: list[Any] = []
    atol = 0.0
    for t in task.tests:
        if t.kind == "assert":
            tests.append(t.source)
            continue
        obj: dict[str, Any] = {"args": list(t.args), "label": t.label}
        if t.expected is not MISSING:
            obj["expected"] = t.expected
        atol = max(atol, t.atol)
        tests.append(obj)
    row: dict[str, Any] = {
        "task_id": task.task_id,
        "prompt": task.prompt,
        "entry_point": task.entry_point,
        "tests": tests,
        "reference": task.reference,
    }
    if task.setup:
        row["setup"] = task.setup
    if task.test_prelude:
        row["test_prelude"] = task.test_prelude
    if atol:
        row["atol"] = atol
    if task.metadata:
        row["metadata"] = dict(task.metadata)
    return row


def dump_jsonl_tasks(tasks: Iterable[Task], path: str | PathLike[str]) -> None:
    """Write ``tasks`` in the egca JSONL format (one ``json.dumps`` line per task, UTF-8)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for task in tasks:
            f.write(json.dumps(task_to_row(task), ensure_ascii=False) + "\n")
