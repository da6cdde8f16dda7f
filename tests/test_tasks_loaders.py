"""Benchmark loaders, the registry and the egca JSONL task format (no task code is executed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from egca.tasks import DATASETS, MISSING, DatasetError, Task, TestCase, default_data_dir, load_tasks
from egca.tasks.evalplus import (
    MBPP_PLUS_ORACLES,
    ORACLES,
    load_humaneval_plus,
    load_mbpp_plus,
    mbpp_deserialize_inputs,
)
from egca.tasks.humaneval import load_humaneval
from egca.tasks.jsonl import dump_jsonl_tasks, load_jsonl_tasks
from egca.tasks.mbpp import (
    KNOWN_FAILING_REFERENCES,
    KNOWN_FAILING_SANITIZED_REFERENCES,
    load_mbpp,
    load_mbpp_sanitized,
    mbpp_entry_point,
)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return default_data_dir()


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- HumanEval ---------------------------------------------------------------------------------


def test_humaneval_loads_164_split_tasks() -> None:
    tasks = load_humaneval()
    assert len(tasks) == 164
    assert [t.task_id for t in tasks[:2]] == ["HumanEval/0", "HumanEval/1"]
    t0 = tasks[0]
    assert t0.entry_point == "has_close_elements"
    assert t0.reference == t0.prompt + t0.metadata["canonical_solution"]
    assert t0.metadata["dataset"] == "humaneval" and t0.metadata["split"] is True
    assert t0.test_prelude.startswith("METADATA")
    assert len(t0.tests) == 7
    assert all(t.metadata["split"] and t.metadata["reference_parses"] for t in tasks)
    assert sum(len(t.tests) for t in tasks) == 1181


def test_humaneval_malformed_rows(tmp_path: Path) -> None:
    good = {"task_id": "T/0", "prompt": "def f():\n", "entry_point": "f", "canonical_solution": "  pass\n"}
    path = _write_jsonl(tmp_path / "he.jsonl", [{**good, "test": "assert f() is None"}, good])
    with pytest.raises(DatasetError) as err:
        load_humaneval(path)
    assert (err.value.line, err.value.field) == (2, "test")
    assert str(err.value) == "he.jsonl:2: field 'test': missing required field"

    path = _write_jsonl(tmp_path / "he2.jsonl", [{**good, "test": 3}])
    with pytest.raises(DatasetError, match=r"he2.jsonl:1: field 'test': expected a string, got int"):
        load_humaneval(path)

    path = tmp_path / "he3.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps({**good, "test": "assert f() is None"}) + "\n\n{not json\n")
    with pytest.raises(DatasetError, match=r"he3.jsonl.gz:3: invalid JSON"):
        load_humaneval(path)


def test_reference_that_does_not_parse_is_kept(tmp_path: Path) -> None:
    row = {
        "task_id": "T/0",
        "prompt": "def f(:\n",
        "entry_point": "f",
        "canonical_solution": "",
        "test": "assert 1",
    }
    (task,) = load_humaneval(_write_jsonl(tmp_path / "he.jsonl", [row]))
    assert task.metadata["reference_parses"] is False


# -- MBPP ----------------------------------------------------------------------------------------


def test_mbpp_split_counts(data_dir: Path) -> None:
    full = {s: len(load_mbpp(s)) for s in ("prompt", "test", "validation", "train", "all")}
    assert full == {"prompt": 10, "test": 500, "validation": 90, "train": 374, "all": 974}
    sanitized = {s: len(load_mbpp_sanitized(s)) for s in ("prompt", "test", "validation", "train", "all")}
    assert sanitized == {"prompt": 7, "test": 257, "validation": 43, "train": 120, "all": 427}
    with pytest.raises(ValueError, match="unknown MBPP split"):
        load_mbpp("dev")


def test_mbpp_task_fields(data_dir: Path) -> None:
    tasks = {t.task_id: t for t in load_mbpp("all")}
    t = tasks["Mbpp/11"]
    assert t.entry_point == "remove_Occ"
    assert t.prompt.startswith(
        t.metadata["text"].strip() + "\nYour code should pass this test:\nassert remove_Occ("
    )
    assert [c.kind for c in t.tests] == ["assert"] * 3
    assert t.tests[0].label == t.prompt.splitlines()[-1]
    assert t.metadata["mbpp_split"] == "test"
    assert t.metadata["challenge_tests"][0] == 'assert remove_Occ("hellolloll","l") == "helollol"'
    assert all(x.metadata["reference_parses"] for x in tasks.values())
    assert sum(bool(x.metadata["challenge_tests"]) for x in tasks.values()) == 11
    # test_setup_code builds inputs with the reference's classes: it runs after the program
    assert "root = Node(1)" in tasks["Mbpp/367"].test_prelude and tasks["Mbpp/367"].setup == ""
    assert sorted(n for n, x in tasks.items() if x.test_prelude) == ["Mbpp/367", "Mbpp/927"]
    failing = {n for n, x in tasks.items() if "known_failing_reference" in x.metadata}
    assert failing == {f"Mbpp/{n}" for n in KNOWN_FAILING_REFERENCES} == {"Mbpp/341", "Mbpp/596", "Mbpp/642"}


def test_mbpp_sanitized_fields(data_dir: Path) -> None:
    tasks = {t.task_id: t for t in load_mbpp_sanitized("all")}
    assert KNOWN_FAILING_SANITIZED_REFERENCES == {}
    assert tasks["Mbpp/2"].entry_point == "similar_elements"
    with_imports = sorted(int(n.split("/")[1]) for n, t in tasks.items() if t.test_prelude)
    assert with_imports == [82, 85, 98, 124, 137, 139, 163, 233, 246, 248, 276, 300, 312]
    assert tasks["Mbpp/82"].test_prelude == "import math\n"
    assert tasks["Mbpp/2"].metadata["dataset"] == "mbpp-sanitized"


def test_mbpp_entry_point_prefers_defined_function() -> None:
    code = "def helper(x):\n    return x\ndef solve(a):\n    return helper(a)\n"
    assert mbpp_entry_point(code, "assert set(solve([1])) == {1}") == "solve"
    assert mbpp_entry_point("def (:", "assert sorted(solve(1)) == [1]") == "solve"
    assert mbpp_entry_point("", "assert len([1]) == 1") == "len"


def test_mbpp_malformed_rows(tmp_path: Path) -> None:
    row = {
        "text": "t",
        "code": "def f(): pass",
        "task_id": 11,
        "test_setup_code": "",
        "test_list": ["assert f() is None"],
    }
    path = _write_jsonl(tmp_path / "mbpp.jsonl", [row, {**row, "task_id": 12, "test_list": "assert f()"}])
    with pytest.raises(DatasetError) as err:
        load_mbpp(path=path)
    assert str(err.value) == "mbpp.jsonl:2: field 'test_list': expected a list, got str"
    path = _write_jsonl(tmp_path / "mbpp2.jsonl", [{**row, "test_list": ["assert f()", 3]}])
    with pytest.raises(DatasetError, match=r"^mbpp2.jsonl:1: field 'test_list': expected a list of strings$"):
        load_mbpp(path=path)
    path = _write_jsonl(tmp_path / "mbpp3.jsonl", [{**row, "task_id": "11"}])
    with pytest.raises(DatasetError, match=r"field 'task_id': expected an integer, got str"):
        load_mbpp(path=path)
    path = _write_jsonl(tmp_path / "mbpp4.jsonl", [[1, 2]])
    with pytest.raises(DatasetError, match=r"mbpp4.jsonl:1: expected a JSON object, got list"):
        load_mbpp(path=path)

    sanitized = {
        "source_file": "x",
        "task_id": 11,
        "prompt": "p",
        "code": "def f(): pass",
        "test_imports": [],
    }
    path = tmp_path / "sanitized.json"
    path.write_text(
        json.dumps([{**sanitized, "test_list": ["assert f() is None"]}, sanitized]), encoding="utf-8"
    )
    with pytest.raises(DatasetError) as err:
        load_mbpp_sanitized(path=path)
    assert (err.value.line, err.value.field) == (None, "test_list")
    assert str(err.value) == "sanitized.json: field 'test_list': missing required field (item 1, task_id 11)"


# -- EvalPlus ------------------------------------------------------------------------------------


def test_mbpp_plus_versions(data_dir: Path) -> None:
    v2 = load_mbpp_plus()
    v1 = load_mbpp_plus(version="v0.1.0")
    assert (len(v2), len(v1)) == (378, 399)
    assert len({t.task_id for t in v1} - {t.task_id for t in v2}) == 21
    by_id = {t.task_id: t for t in v2}
    t793 = by_id["Mbpp/793"]
    assert t793.metadata["n_plus"] == 0 and len(t793.tests) == t793.metadata["n_base"]
    t2 = by_id["Mbpp/2"]
    assert t2.tests[0].args == ((3, 4, 5, 6), (5, 7, 4, 10))  # restored tuples
    assert t2.tests[0].label == "base[0]" and t2.tests[0].expected is MISSING
    n_base = t2.metadata["n_base"]
    assert t2.tests[n_base].label == "plus[0]"
    assert t2.reference == t2.prompt + t2.metadata["canonical_solution"]
    assert all(isinstance(a, complex) for t in by_id["Mbpp/252"].tests for a in t.args)
    assert by_id["Mbpp/82"].tests[0].atol == 1e-4
    with pytest.raises(ValueError, match="unknown MBPP\\+ version"):
        load_mbpp_plus(version="v9")


def test_mbpp_plus_oracles(data_dir: Path) -> None:
    oracles = {t.task_id: t.metadata["oracle"] for t in load_mbpp_plus(version="v0.1.0")}
    special = {k: v for k, v in oracles.items() if v != "eq"}
    assert special == {
        "Mbpp/2": "set_eq",
        "Mbpp/7": "set_eq",
        "Mbpp/111": "set_eq",
        "Mbpp/140": "set_eq",
        "Mbpp/164": "no_error",
        "Mbpp/232": "set_eq",
        "Mbpp/249": "set_eq",
        "Mbpp/295": "eq_or_zero",
        "Mbpp/558": "digit_distance",
        "Mbpp/579": "set_eq",
        "Mbpp/581": "surface_area",
        "Mbpp/737": "not_none",
        "Mbpp/769": "set_eq",
        "Mbpp/787": "not_none",
        "Mbpp/794": "not_none",
    }
    assert set(MBPP_PLUS_ORACLES.values()) | {"eq", "find_zero"} == set(ORACLES)


def test_mbpp_deserialize_inputs_rules() -> None:
    assert mbpp_deserialize_inputs("Mbpp/124", [[1, "1+2j"]]) == [(1.0, 1 + 2j)]
    assert mbpp_deserialize_inputs("Mbpp/115", [[[[1, 2], []]]]) == [[[{1, 2}, {}]]]
    assert mbpp_deserialize_inputs("Mbpp/580", [[[1, [2, 3]]]]) == [((1, (2, 3)),)]
    assert mbpp_deserialize_inputs("Mbpp/722", [[{"a": [1, 2]}, 3]]) == [[{"a": (1, 2)}, 3]]
    assert mbpp_deserialize_inputs("Mbpp/3", [[[1, 2]]]) == [[[1, 2]]]


def test_humaneval_plus_mini(data_dir: Path) -> None:
    tasks = load_humaneval_plus(mini=True)
    assert len(tasks) == 164
    assert sum(t.metadata["n_plus"] for t in tasks) == 1107
    assert sum(t.metadata["n_base"] for t in tasks) == 1570
    by_id = {t.task_id: t for t in tasks}
    assert by_id["HumanEval/32"].metadata["oracle"] == "find_zero"
    assert {t.task_id for t in tasks if t.metadata["oracle"] != "eq"} == {"HumanEval/32"}
    assert by_id["HumanEval/32"].tests[0].atol == 1e-4
    assert by_id["HumanEval/2"].tests[0].atol == 1e-6
    assert by_id["HumanEval/0"].tests[0].args == ([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)


@pytest.mark.slow
def test_humaneval_plus_full_counts(data_dir: Path) -> None:
    tasks = load_humaneval_plus()
    assert len(tasks) == 164
    assert sum(t.metadata["n_base"] for t in tasks) == 1570
    assert sum(t.metadata["n_plus"] for t in tasks) == 122_683
    assert sum(len(t.tests) for t in tasks) == 1570 + 122_683
    assert all(t.tests[-1].label.startswith("plus[") for t in tasks if t.metadata["n_plus"])


def test_evalplus_malformed_rows(tmp_path: Path) -> None:
    row = {
        "task_id": "Mbpp/1",
        "prompt": "",
        "entry_point": "f",
        "canonical_solution": "def f(x): return x",
        "base_input": [[1]],
        "plus_input": [[2]],
        "atol": 0,
        "contract": "",
    }
    path = _write_jsonl(tmp_path / "plus.jsonl", [row, {**row, "base_input": [1, 2]}])
    with pytest.raises(
        DatasetError, match=r"^plus.jsonl:2: field 'base_input': expected a list of argument lists$"
    ):
        load_mbpp_plus(path)
    path = _write_jsonl(tmp_path / "plus2.jsonl", [{**row, "atol": "0"}])
    with pytest.raises(DatasetError, match=r"field 'atol': expected a number, got str"):
        load_mbpp_plus(path)
    (task,) = load_mbpp_plus(_write_jsonl(tmp_path / "ok.jsonl", [{**row, "plus_input": {}}]))
    assert [t.args for t in task.tests] == [(1,)]


# -- registry ------------------------------------------------------------------------------------


def test_registry_dispatch_and_errors(data_dir: Path, tmp_path: Path) -> None:
    assert DATASETS == ("humaneval", "humaneval-plus", "mbpp", "mbpp-sanitized", "mbpp-plus", "jsonl")
    assert len(load_tasks("mbpp")) == 500
    assert len(load_tasks("mbpp-sanitized", split="validation")) == 43
    assert len(load_tasks("humaneval", limit=3)) == 3
    assert len(load_tasks("mbpp-plus", limit=0)) == 0
    with pytest.raises(ValueError, match="has no splits"):
        load_tasks("humaneval", split="test")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_tasks("apps")
    with pytest.raises(ValueError, match="needs a path"):
        load_tasks("jsonl")
    with pytest.raises(ValueError, match="limit"):
        load_tasks("humaneval", limit=-1)


def test_default_data_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EGCA_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.setenv("EGCA_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="EGCA_DATA_DIR"):
        default_data_dir()
    with pytest.raises(FileNotFoundError, match="EGCA_DATA_DIR"):
        load_mbpp()


# -- egca JSONL format ---------------------------------------------------------------------------


def test_jsonl_format_kinds_of_tests(tmp_path: Path) -> None:
    rows = [
        {
            "task_id": "demo/add",
            "prompt": "def add(a, b):\n    '''Add two numbers.'''\n",
            "entry_point": "add",
            "reference": "def add(a, b):\n    return a + b\n",
            "tests": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n",
        },
        {
            "task_id": "demo/mul",
            "prompt": "Write mul(a, b).",
            "entry_point": "mul",
            "tests": ["assert mul(2, 3) == 6", "x = 4\nassert mul(x, x) == 16"],
            "setup": "import math",
            "metadata": {"oracle": "eq", "source": "hand-written"},
        },
        {
            "task_id": "demo/div",
            "prompt": "def div(a, b):\n",
            "entry_point": "div",
            "reference": "def div(a, b):\n    return a / b\n",
            "tests": [{"args": [1, 3]}, {"args": [1, 4], "expected": 0.25, "label": "quarter"}],
            "atol": 1e-9,
        },
    ]
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        json.dumps(rows[0]) + "\n\n   \n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]), encoding="utf-8"
    )
    add, mul, div = load_jsonl_tasks(path)
    assert [t.label for t in add.tests] == ["assert candidate(1, 2) == 3", "assert candidate(0, 0) == 0"]
    assert add.metadata["split"] is True and add.metadata["dataset"] == "jsonl"
    assert mul.reference == "" and "reference_parses" not in mul.metadata
    assert [t.source for t in mul.tests] == ["assert mul(2, 3) == 6\n", "x = 4\nassert mul(x, x) == 16\n"]
    assert mul.tests[1].label == "assert mul(x, x) == 16"
    assert mul.setup == "import math" and mul.metadata["source"] == "hand-written"
    assert div.tests[0] == TestCase(
        index=0, kind="call", args=(1, 3), expected=MISSING, atol=1e-9, label="tests[0]"
    )
    assert div.tests[1].expected == 0.25 and div.tests[1].label == "quarter"
    assert load_tasks("jsonl", path=path, limit=1) == [add]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    tasks = [
        Task(
            task_id="rt/1",
            prompt="def f(x):\n",
            entry_point="f",
            reference="def f(x):\n    return [x]\n",
            tests=(
                TestCase(index=0, kind="call", args=(1,), expected=[1], atol=0.5, label="one"),
                TestCase(index=1, kind="call", args=("é",), atol=0.5, label="two"),
            ),
            test_prelude="import math\n",
            setup="import os\n",
            metadata={"dataset": "custom", "split": True, "reference_parses": True, "note": [1, 2]},
        ),
        Task(
            task_id="rt/2",
            prompt="Write g.",
            entry_point="g",
            reference="",
            tests=(TestCase(index=0, kind="assert", source="assert g() == 1\n", label="assert g() == 1"),),
            metadata={"dataset": "jsonl", "split": True},
        ),
    ]
    path = tmp_path / "rt.jsonl"
    dump_jsonl_tasks(tasks, path)
    assert load_jsonl_tasks(path) == tasks


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"prompt": "p", "entry_point": "f", "tests": ["assert f()"]}, "task_id", "missing required field"),
        (
            {"task_id": 1, "prompt": "p", "entry_point": "f", "tests": ["assert f()"]},
            "task_id",
            "expected a string",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f-g", "tests": ["assert 1"]},
            "entry_point",
            "identifier",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": 3},
            "tests",
            "expected a string of test code",
        ),
        ({"task_id": "a", "prompt": "p", "entry_point": "f", "tests": []}, "tests", "no tests"),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": [1]},
            "tests[0]",
            "expected a string or an object",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": [{"args": 1}]},
            "tests[0]",
            "'args' must be a list",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": [{"args": []}]},
            "tests[0]",
            "needs the task's 'reference'",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": ["assert f()"], "test": ""},
            "test",
            "unknown field",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": ["assert f()"], "atol": True},
            "atol",
            "expected a number",
        ),
        (
            {"task_id": "a", "prompt": "p", "entry_point": "f", "tests": ["assert f()"], "metadata": []},
            "metadata",
            "expected an object",
        ),
    ],
)
def test_jsonl_malformed_rows(tmp_path: Path, row: dict[str, object], field: str, message: str) -> None:
    ok = {"task_id": "ok", "prompt": "p", "entry_point": "f", "tests": ["assert f()"]}
    path = _write_jsonl(tmp_path / "user.jsonl", [ok, row])
    with pytest.raises(DatasetError) as err:
        load_jsonl_tasks(path)
    assert (err.value.line, err.value.field) == (2, field)
    assert message in str(err.value)
    assert str(err.value).startswith(f"user.jsonl:2: field {field!r}: ")


def test_jsonl_duplicate_ids_and_bad_json(tmp_path: Path) -> None:
    ok = {"task_id": "ok", "prompt": "p", "entry_point": "f", "tests": ["assert f()"]}
    with pytest.raises(DatasetError, match=r"dup.jsonl:2: field 'task_id': duplicate task_id 'ok'"):
        load_jsonl_tasks(_write_jsonl(tmp_path / "dup.jsonl", [ok, ok]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ok) + '\n{"task_id": \n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: invalid JSON"):
        load_jsonl_tasks(bad)


def test_dataset_error_pickles() -> None:
    import pickle

    err = DatasetError("/x/y.jsonl", "boom", line=3, field="f")
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.field, again.message, str(again)) == (
        "/x/y.jsonl",
        3,
        "f",
        "boom",
        "y.jsonl:3: field 'f': boom",
    )
    assert isinstance(err, ValueError)
