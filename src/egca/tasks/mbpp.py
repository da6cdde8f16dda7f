"""MBPP: the full set (974 tasks, ``mbpp.jsonl``) and the sanitized set (427, ``sanitized-mbpp.json``).

Splits follow the MBPP task-id convention (:data:`SPLITS`). The model sees a plain instruction,
:func:`mbpp_prompt`; each assert of ``test_list`` is one test.
"""

from __future__ import annotations

import ast
import builtins
from os import PathLike
from pathlib import Path

from egca.paths import data_file
from egca.tasks.errors import Row
from egca.tasks.jsonl import iter_jsonl_rows, read_json_array_rows
from egca.tasks.split import parse_quietly, parses
from egca.tasks.task import Task, TestCase

SPLITS: dict[str, tuple[int, int]] = {
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
    "all": (1, 1_000_000),
}
"""Inclusive task-id ranges of the MBPP splits (``prompt`` = few-shot examples)."""

KNOWN_FAILING_REFERENCES: dict[int, str] = {
    341: (
        "set_to_tuple returns tuple(s), in the set's iteration order; the asserts expect ascending "
        "order, but CPython 3.11 iterates {12, 13, 14, 15, 16} as 16, 12, 13, 14, 15"
    ),
    596: (
        "the asserts compare sys.getsizeof() of tuples with the literal sizes 104, 104 and 88 of an "
        "older CPython build; 64-bit CPython 3.11 gives 88, 88 and 72"
    ),
    642: (
        "remove_similar_row builds tuple(set(row)), whose order depends on tuple hashes; the expected "
        "sets hold the tuples in an order CPython 3.8+ (new tuple hash) does not produce"
    ),
}
"""Full-set tasks whose reference ``code`` fails its own ``test_list`` (checked on CPython 3.11)."""

KNOWN_FAILING_SANITIZED_REFERENCES: dict[int, str] = {}
"""Sanitized-set tasks whose reference fails its own tests: none on CPython 3.11 (all 427 pass;
its task 596 compares with ``sys.getsizeof`` instead of literal sizes)."""

PROMPT_TEMPLATE = "{text}\nYour code should pass this test:\n{test}"
"""The instruction the model sees: the task text and the first test assert."""


def mbpp_prompt(text: str, first_test: str) -> str:
    """``PROMPT_TEMPLATE`` filled with the task text and the first assert (both stripped)."""
    return PROMPT_TEMPLATE.format(text=text.strip(), test=first_test.strip())


def mbpp_entry_point(code: str, first_test: str) -> str:
    """The function the first assert calls that ``code`` defines at top level.

    Falls back to the first called name that is not a builtin, then to the first called name.
    """
    called = _called_names(first_test)
    defined = _defined_names(code)
    for name in called:
        if name in defined:
            return name
    non_builtin = [n for n in called if not hasattr(builtins, n)]
    if non_builtin:
        return non_builtin[0]
    return called[0] if called else ""


def load_mbpp(split: str = "test", path: str | PathLike[str] | None = None) -> list[Task]:
    """The full MBPP set (``mbpp.jsonl``), the tasks of ``split`` in file order.

    ``test_setup_code`` (tasks 367 and 927) goes into ``test_prelude``: it builds test inputs
    with classes the reference defines, so it must run after the program.
    """
    lo, hi = _split_range(split)
    file = Path(path) if path is not None else data_file("mbpp/mbpp.jsonl")
    tasks = [_full_task(row) for row in iter_jsonl_rows(file)]
    return [t for t in tasks if lo <= t.metadata["task_num"] <= hi]


def load_mbpp_sanitized(split: str = "test", path: str | PathLike[str] | None = None) -> list[Task]:
    """The sanitized MBPP set (``sanitized-mbpp.json``), the tasks of ``split`` in file order.

    ``test_imports`` become the ``test_prelude``.
    """
    lo, hi = _split_range(split)
    file = Path(path) if path is not None else data_file("mbpp/sanitized-mbpp.json")
    tasks = [_sanitized_task(row) for row in read_json_array_rows(file)]
    return [t for t in tasks if lo <= t.metadata["task_num"] <= hi]


def _split_range(split: str) -> tuple[int, int]:
    if split not in SPLITS:
        raise ValueError(f"unknown MBPP split {split!r} (expected one of {', '.join(SPLITS)})")
    return SPLITS[split]


def _split_of(num: int) -> str:
    return next((name for name, (lo, hi) in SPLITS.items() if lo <= num <= hi), "all")


def _common(row: Row) -> tuple[int, str, list[str], str, tuple[TestCase, ...]]:
    num = row.get("task_id", "an integer")
    code = row.get("code", "a string")
    test_list = row.str_list("test_list")
    if not test_list:
        raise row.error("expected at least one assert", "test_list")
    entry_point = mbpp_entry_point(code, test_list[0])
    if not entry_point:
        raise row.error("no function call in the first assert", "test_list")
    tests = tuple(
        TestCase(index=i, kind="assert", source=t if t.endswith("\n") else t + "\n", label=t.strip())
        for i, t in enumerate(test_list)
    )
    return num, code, test_list, entry_point, tests


def _full_task(row: Row) -> Task:
    text = row.get("text", "a string")
    num, code, test_list, entry_point, tests = _common(row)
    setup_code = row.get("test_setup_code", "a string", "")
    challenge = row.str_list("challenge_test_list", [])
    metadata: dict[str, object] = {
        "dataset": "mbpp",
        "task_num": num,
        "mbpp_split": _split_of(num),
        "text": text,
        "split": True,
        "challenge_tests": challenge,
        "reference_parses": parses(code),
    }
    if setup_code.strip():
        metadata["test_setup_code"] = setup_code
    if num in KNOWN_FAILING_REFERENCES:
        metadata["known_failing_reference"] = KNOWN_FAILING_REFERENCES[num]
    prelude = setup_code if setup_code.strip() else ""
    if prelude and not prelude.endswith(("\n", "\r")):
        prelude += "\n"
    return Task(
        task_id=f"Mbpp/{num}",
        prompt=mbpp_prompt(text, test_list[0]),
        entry_point=entry_point,
        reference=code,
        tests=tests,
        test_prelude=prelude,
        metadata=metadata,
    )


def _sanitized_task(row: Row) -> Task:
    text = row.get("prompt", "a string")
    num, code, test_list, entry_point, tests = _common(row)
    imports = row.str_list("test_imports", [])
    metadata: dict[str, object] = {
        "dataset": "mbpp-sanitized",
        "task_num": num,
        "mbpp_split": _split_of(num),
        "text": text,
        "split": True,
        "source_file": row.get("source_file", "a string", ""),
        "test_imports": imports,
        "reference_parses": parses(code),
    }
    if num in KNOWN_FAILING_SANITIZED_REFERENCES:
        metadata["known_failing_reference"] = KNOWN_FAILING_SANITIZED_REFERENCES[num]
    return Task(
        task_id=f"Mbpp/{num}",
        prompt=mbpp_prompt(text, test_list[0]),
        entry_point=entry_point,
        reference=code,
        tests=tests,
        test_prelude="".join(line.rstrip("\r\n") + "\n" for line in imports),
        metadata=metadata,
    )


def _called_names(source: str) -> list[str]:
    """Names called in ``source``, outermost first, in source order."""
    tree = parse_quietly(source.strip())
    if tree is None:
        return []
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in names:
            names.append(node.func.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _defined_names(code: str) -> set[str]:
    tree = parse_quietly(code)
    if tree is None:
        return set()
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return names
