"""The error raised for a malformed benchmark or task file."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

_REQUIRED: Any = object()


class DatasetError(ValueError):
    """A row of a task file is malformed: names the file, the 1-based line and the field.

    ``str()`` reads like ``mbpp.jsonl:17: field 'test_list': expected a list of strings``
    (the file's base name; ``path`` keeps the full path).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = Path(self.path).name or self.path
        if self.line is not None:
            where += f":{self.line}"
        what = f"field {self.field!r}: " if self.field is not None else ""
        return f"{where}: {what}{self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.path, self.message, self.line, self.field))


def _rebuild(path: str, message: str, line: int | None, field: str | None) -> DatasetError:
    return DatasetError(path, message, line=line, field=field)


_KINDS: dict[str, tuple[type, ...]] = {
    "a string": (str,),
    "an integer": (int,),
    "a number": (int, float),
    "a list": (list,),
    "an object": (dict,),
}


class Row:
    """One parsed row of a task file, with typed field access that raises :class:`DatasetError`.

    ``item`` is the row's index in a JSON array file (whose lines do not identify rows).
    """

    def __init__(self, path: str | PathLike[str], data: object, line: int | None, item: int | None = None):
        self.path = str(path)
        self.line = line
        self.item = item
        if not isinstance(data, dict):
            raise self.error(f"expected a JSON object, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    def error(self, message: str, field: str | None = None) -> DatasetError:
        if self.item is not None:
            task_id = self.data.get("task_id") if hasattr(self, "data") else None
            message += f" (item {self.item}" + (f", task_id {task_id!r})" if task_id is not None else ")")
        return DatasetError(self.path, message, line=self.line, field=field)

    def get(self, name: str, kind: str, default: Any = _REQUIRED) -> Any:
        """Field ``name``, which must be ``kind`` (a key of ``_KINDS``); ``default`` when absent."""
        if name not in self.data:
            if default is _REQUIRED:
                raise self.error("missing required field", name)
            return default
        value = self.data[name]
        types = _KINDS[kind]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise self.error(f"expected {kind}, got {type(value).__name__}", name)
        return value

    def str_list(self, name: str, default: Any = _REQUIRED) -> list[str]:
        """Field ``name``: a list of strings."""
        value = self.get(name, "a list", default)
        if not all(isinstance(v, str) for v in value):
            raise self.error("expected a list of strings", name)
        return list(value)
