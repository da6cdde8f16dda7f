"""egca tasks → verl parquet → tasks (no verl needed; verl's own reader: tests/verl/)."""

from __future__ import annotations

import json

import pytest

from egca.cli import main
from egca.eval.prompts import user_message
from egca.integrations.verl.data import read_parquet, task_of, write_parquet
from egca.tasks.registry import load_tasks
from egca.tasks.task import MISSING, Task, TestCase
from tests.verl.common import NO_REF, TASK

pytest.importorskip("pyarrow", reason="pyarrow (a dependency of datasets and of verl) writes parquet")

CALLS = Task(
    "C/1",
    "def g(a, b):\n    '''add'''\n",
    "g",
    "def g(a, b):\n    return a + b\n",
    (
        TestCase(0, kind="call", args=(1, [2, 3]), expected=MISSING, label="t0"),
        TestCase(1, kind="call", args=(0.5, 0.25), expected=0.75, atol=1e-6, label="t1"),
    ),
    test_prelude="import math\n",
    setup="X = 1\n",
    metadata={"dataset": "jsonl", "split": True, "reference_parses": True, "note": "ü"},
)


def test_round_trip(tmp_path) -> None:
    tasks = [TASK, NO_REF, CALLS]
    path = write_parquet(tasks, tmp_path / "d" / "train.parquet", source="mine")
    rows = read_parquet(path)
    assert [r["data_source"] for r in rows] == ["egca/mine"] * 3
    assert [r["reward_model"] for r in rows] == [{"style": "rule", "ground_truth": t.task_id} for t in tasks]
    assert [r["prompt"] for r in rows] == [
        [{"role": "user", "content": user_message(t.prompt)}] for t in tasks
    ]
    assert [r["extra_info"]["index"] for r in rows] == [0, 1, 2]
    back = [task_of(r["extra_info"]) for r in rows]
    assert back == tasks  # every field, tuples in call arguments included
    assert back[2].tests[0].expected is MISSING and back[2].tests[0].args == (1, [2, 3])
    with pytest.raises(ValueError, match="egca verl prepare-data"):
        task_of({"index": 0})
    with pytest.raises(ValueError, match="egca verl prepare-data"):
        task_of(None)
    with pytest.raises(ValueError, match="is not an egca task"):
        task_of({"task": '{"task_id": "x"}'})


def test_cli_prepares_benchmark_tasks(tmp_path, capsys) -> None:
    try:
        load_tasks("humaneval", limit=1)
    except FileNotFoundError as e:
        pytest.skip(f"benchmark data not available: {e}")
    out = tmp_path / "verl"
    rc = main(
        [
            "verl",
            "prepare-data",
            "--dataset",
            "mbpp",
            "--split",
            "train",
            "--limit",
            "12",
            "--val-dataset",
            "humaneval",
            "--val-limit",
            "5",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "train.parquet"), str(out / "val.parquet")]
    expected = {"train": load_tasks("mbpp", split="train", limit=12), "val": load_tasks("humaneval", limit=5)}
    for name, tasks in expected.items():
        rows = read_parquet(out / f"{name}.parquet")
        assert len(rows) == len(tasks)
        assert [task_of(r["extra_info"]) for r in rows] == tasks
        assert json.loads(rows[0]["extra_info"]["task"])["task_id"] == tasks[0].task_id


def test_cli_refuses_bad_input(tmp_path, capsys) -> None:
    assert (
        main(
            [
                "verl",
                "prepare-data",
                "--dataset",
                "jsonl",
                "--data-path",
                str(tmp_path / "no.jsonl"),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "no.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "train.parquet").exists()
