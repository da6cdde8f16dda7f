"""EvalPlus benchmarks: HumanEval+ (v0.1.10, full and Mini) and MBPP+ (v0.2.0 and v0.1.0).

Tests are ``call`` tests, base inputs first then plus inputs; expected outputs are not stored and
are computed by running the reference. How an output is compared is the task's
``metadata["oracle"]``, one of :data:`ORACLES` (EvalPlus' special cases, see docs/task-format.md).
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

from egca.paths import data_file
from egca.tasks.errors import Row
from egca.tasks.jsonl import iter_jsonl_rows, read_rows
from egca.tasks.split import parses
from egca.tasks.task import MISSING, Task, TestCase

ORACLES: dict[str, str] = {
    "eq": "out == expected, else (tolerance atol, or 1e-6 when atol is 0 and expected is float-like) "
    "same type, same length, np.allclose(out, expected, rtol=1e-07, atol=tolerance)",
    "set_eq": "set(out) == set(expected), else the 'eq' float rule",
    "find_zero": "abs(poly(args[0], out)) <= atol (HumanEval/32, atol 1e-4); expected is ignored",
    "not_none": "expected is recorded as (reference output is not None); a bool out must equal it, "
    "any other out passes when (out is not None) == expected",
    "no_error": "passes whenever the call returns (Mbpp/164 are_equivalent, MBPP+ v0.1.0 only)",
    "eq_or_zero": "out == expected or out == 0, else the 'eq' float rule (Mbpp/295 sum_div, v0.1.0 only)",
    "surface_area": "out == expected or abs(out - round(b**2 + 4 * (b * sqrt((b / 2) ** 2 + h**2)) / 2)) "
    "<= atol for args (b, h), else the 'eq' float rule (Mbpp/581 surface_Area)",
    "digit_distance": "out == expected or out == the digit distance of the zero-padded numbers, else "
    "the 'eq' float rule (Mbpp/558 digit_distance_nums)",
}
"""Output comparisons (``metadata["oracle"]``), one line each; exact definitions in docs/task-format.md."""

# EvalPlus selects special oracles by dataset and entry point (evalplus/eval/__init__.py,
# evalplus/eval/_special_oracle.py); the task ids are given for reference.
HUMANEVAL_PLUS_ORACLES: dict[str, str] = {"find_zero": "find_zero"}  # HumanEval/32
MBPP_PLUS_ORACLES: dict[str, str] = {
    "are_equivalent": "no_error",  # Mbpp/164 (v0.1.0 only)
    "sum_div": "eq_or_zero",  # Mbpp/295 (v0.1.0 only)
    "surface_Area": "surface_area",  # Mbpp/581
    "digit_distance_nums": "digit_distance",  # Mbpp/558
    # MBPP_OUTPUT_SET_EQ_TASKS
    "similar_elements": "set_eq",  # Mbpp/2
    "find_char_long": "set_eq",  # Mbpp/7
    "common_in_nested_lists": "set_eq",  # Mbpp/111
    "extract_singly": "set_eq",  # Mbpp/140
    "larg_nnum": "set_eq",  # Mbpp/232
    "intersection_array": "set_eq",  # Mbpp/249 (v0.1.0 only)
    "find_dissimilar": "set_eq",  # Mbpp/579
    "Diff": "set_eq",  # Mbpp/769
    # MBPP_OUTPUT_NOT_NONE_TASKS
    "check_str": "not_none",  # Mbpp/737
    "text_match_three": "not_none",  # Mbpp/787
    "text_starta_endb": "not_none",  # Mbpp/794
}

HUMANEVAL_PLUS_VERSION = "v0.1.10"
MBPP_PLUS_FILES = {"v0.2.0": "MbppPlus-v0.2.0.jsonl", "v0.1.0": "MbppPlus-v0.1.0.json"}


def humaneval_plus_path(mini: bool = False) -> Path:
    name = "HumanEvalPlus-Mini.jsonl.gz" if mini else "HumanEvalPlus.jsonl.gz"
    return data_file(f"humanevalplus/{name}")


def mbpp_plus_path(version: str = "v0.2.0") -> Path:
    if version not in MBPP_PLUS_FILES:
        raise ValueError(f"unknown MBPP+ version {version!r} (expected one of {', '.join(MBPP_PLUS_FILES)})")
    return data_file(f"mbppplus/{MBPP_PLUS_FILES[version]}")


def load_humaneval_plus(path: str | PathLike[str] | None = None, mini: bool = False) -> list[Task]:
    """HumanEval+ v0.1.10 (``mini``: HumanEval+-Mini's reduced plus inputs), in file order."""
    file = Path(path) if path is not None else humaneval_plus_path(mini)
    dataset = "humaneval-plus-mini" if mini else "humaneval-plus"
    version = HUMANEVAL_PLUS_VERSION
    return [_task(row, dataset, version, HUMANEVAL_PLUS_ORACLES, None) for row in iter_jsonl_rows(file)]


def load_mbpp_plus(path: str | PathLike[str] | None = None, version: str = "v0.2.0") -> list[Task]:
    """MBPP+ (``v0.2.0``: 378 tasks, ``v0.1.0``: 399), in file order; ``path`` may be JSONL or a JSON array.

    Inputs are restored with :func:`mbpp_deserialize_inputs` (tuples, sets, complex numbers).
    """
    file = Path(path) if path is not None else mbpp_plus_path(version)
    deserialize = mbpp_deserialize_inputs
    return [_task(row, "mbpp-plus", version, MBPP_PLUS_ORACLES, deserialize) for row in read_rows(file)]


def _inputs(row: Row, name: str) -> list[Any]:
    value = row.data.get(name, MISSING)
    if value is MISSING:
        raise row.error("missing required field", name)
    if value == {}:  # Mbpp/793's plus_input: no inputs
        return []
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        raise row.error("expected a list of argument lists", name)
    return value


def _task(
    row: Row,
    dataset: str,
    version: str,
    oracles: dict[str, str],
    deserialize: Callable[[str, list[Any]], list[Any]] | None,
) -> Task:
    task_id = row.get("task_id", "a string")
    prompt = row.get("prompt", "a string")
    entry_point = row.get("entry_point", "a string")
    solution = row.get("canonical_solution", "a string")
    atol = float(row.get("atol", "a number", 0.0))
    contract = row.get("contract", "a string", "")
    base, plus = _inputs(row, "base_input"), _inputs(row, "plus_input")
    if deserialize is not None:
        for name, inputs in (("base_input", base), ("plus_input", plus)):
            try:
                restored = deserialize(task_id, inputs)
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as e:
                raise row.error(f"cannot restore the inputs: {e}", name) from None
            if name == "base_input":
                base = restored
            else:
                plus = restored
    tests = tuple(
        TestCase(index=i, kind="call", args=tuple(args), expected=MISSING, atol=atol, label=label)
        for i, (label, args) in enumerate(
            [(f"base[{j}]", a) for j, a in enumerate(base)] + [(f"plus[{j}]", a) for j, a in enumerate(plus)]
        )
    )
    if not tests:
        raise row.error("no inputs", "base_input")
    reference = prompt + solution
    metadata: dict[str, Any] = {
        "dataset": dataset,
        "version": version,
        "n_base": len(base),
        "n_plus": len(plus),
        "oracle": oracles.get(entry_point, "eq"),
        "contract": contract,
        "atol": atol,
        "canonical_solution": solution,
        "reference_parses": parses(reference),
    }
    if "assertion" in row.data:
        metadata["assertion"] = row.get("assertion", "a string")
    return Task(
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        reference=reference,
        tests=tests,
        metadata=metadata,
    )


# Copied from EvalPlus, evalplus/data/mbpp.py (``mbpp_deserialize_inputs``, Apache-2.0), unchanged in
# behaviour (including task 115's ``{}`` for an empty set): MBPP+ stores inputs as JSON, so tuples,
# sets and complex numbers of these tasks are restored here.
_TUPLE_ARGS = [
    2,
    116,
    132,
    143,
    222,
    261,
    273,
    394,
    399,
    421,
    424,
    429,
    470,
    560,
    579,
    596,
    616,
    630,
    726,
    740,
    744,
    809,
]
_TUPLES_IN_LIST_ARGS = [63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780]
_TUPLES_IN_FIRST_ARG = [75, 413, 444, 753]
_TUPLE_FIRST_ARG = [250, 405, 446, 617, 720, 763, 808]
_TUPLE_OF_TUPLES_ARGS = [259, 401, 445]
_ALL_TUPLES = [580, 615, 791]


def mbpp_deserialize_inputs(task_id: str, inputs: list[Any]) -> list[Any]:
    """Restore the Python types of MBPP+ inputs stored as JSON (EvalPlus' rules, by task number)."""
    num = int(task_id.split("/")[-1])
    if num in _TUPLE_ARGS:
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if num in _TUPLES_IN_LIST_ARGS:
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if num in _TUPLES_IN_FIRST_ARG:
        return [[[tuple(lst) for lst in inp[0]], inp[1]] for inp in inputs]
    if num in (106, 750):
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if num == 115:
        return [
            [[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs
        ]
    if num == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if num in _TUPLE_FIRST_ARG:
        return [[tuple(inp[0]), inp[1]] for inp in inputs]
    if num in _TUPLE_OF_TUPLES_ARGS:
        modified = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in modified]
    if num == 278:
        modified = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in modified]
    if num == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if num == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}, *inp[1:]] for inp in inputs]
    if num == 252:
        return [[complex(inp[0])] for inp in inputs]
    if num in _ALL_TUPLES:
        return [_all_tuples(inp) for inp in inputs]
    return inputs


def _all_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_all_tuples(item) for item in value)
    return value
