"""Samples files in, results and summaries out."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from egca.eval.samples import Sample, SamplesError, group_by_task, read_samples, write_json, write_jsonl


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_reads_samples_with_extra_fields_and_per_task_index(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "s.jsonl",
        [
            json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n", "model": "m"}),
            "",
            json.dumps({"task_id": "HumanEval/1", "completion": "é"}),
            "   ",
            json.dumps({"task_id": "HumanEval/0", "completion": ""}),
        ],
    )
    samples = read_samples(p)
    assert samples == [
        Sample("HumanEval/0", "    return 1\n", 0, {"model": "m"}),
        Sample("HumanEval/1", "é", 0, {}),
        Sample("HumanEval/0", "", 1, {}),
    ]
    groups = group_by_task(samples)
    assert list(groups) == ["HumanEval/0", "HumanEval/1"]
    assert [s.index for s in groups["HumanEval/0"]] == [0, 1]


def test_reads_gzip(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"task_id": "a", "completion": "x"}) + "\n")
    assert read_samples(p) == [Sample("a", "x", 0, {})]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"completion": "x"}', "missing field 'task_id'"),
        ('{"task_id": "a"}', "missing field 'completion'"),
        ('{"task_id": 3, "completion": "x"}', "field 'task_id' must be a string, got int"),
        ('{"task_id": "a", "completion": null}', "field 'completion' must be a string, got NoneType"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    p = _write(tmp_path / "bad.jsonl", ['{"task_id": "a", "completion": "x"}', "", line])
    with pytest.raises(SamplesError) as e:
        read_samples(p)
    assert str(e.value).startswith(f"{p}:3: {reason}")


def test_bad_encoding_and_bad_gzip(tmp_path: Path) -> None:
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"task_id": "a", "completion": "caf\xe9"}\n')
    with pytest.raises(SamplesError, match=r"latin.jsonl:1: not valid UTF-8"):
        read_samples(p)
    g = tmp_path / "plain.jsonl.gz"
    g.write_text('{"task_id": "a", "completion": "x"}\n')
    with pytest.raises(SamplesError, match="cannot read"):
        read_samples(g)
    with pytest.raises(FileNotFoundError):
        read_samples(tmp_path / "missing.jsonl")


def test_write_jsonl_and_json_round_trip(tmp_path: Path) -> None:
    rows = [{"task_id": "a", "index": 0, "passed": True}, {"task_id": "a", "index": 1, "passed": False}]
    for name in ("out/results.jsonl", "out/results.jsonl.gz"):
        p = write_jsonl(tmp_path / name, rows)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(p, "rt", encoding="utf-8") as f:
            assert [json.loads(line) for line in f] == rows
    summary = {"pass@1": 0.5, "dataset": "humaneval"}
    s = write_json(tmp_path / "out" / "summary.json", summary)
    assert json.loads(s.read_text()) == summary and s.read_text().endswith("\n")
    assert sorted(os.listdir(tmp_path / "out")) == ["results.jsonl", "results.jsonl.gz", "summary.json"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_json(tmp_path / "summary.json", {"ok": 1})
    with pytest.raises(TypeError):
        write_json(p, {"bad": object()})

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_json(p, {"ok": 2})
    monkeypatch.undo()
    assert json.loads(p.read_text()) == {"ok": 1}
    assert os.listdir(tmp_path) == ["summary.json"]  # no temporary file left behind
