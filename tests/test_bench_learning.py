"""egca bench learning: statistics on hand-computed cases, aggregation of synthetic run records."""

from __future__ import annotations

import pytest

from egca.bench.learning_stats import auc, bootstrap_ci, steps_to_gain, summarize, table
from egca.cli import main


def test_bootstrap_ci_hand_computed():
    assert bootstrap_ci([0.25, 0.25, 0.25]) == (0.25, 0.25)  # no spread, no interval
    # two values {0, 1}: a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    # [0, 0, 0, 1]: the mean of a resample is k/4 with k ~ Binomial(4, 1/4);
    # P(k = 0) = 0.316 > 2.5%, P(k >= 3) = 0.051 > 2.5% > P(k = 4) = 0.004: interval [0, 0.75]
    assert bootstrap_ci([0.0, 0.0, 0.0, 1.0]) == (0.0, 0.75)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_curve_statistics():
    assert auc([0.2, 0.4, 0.6]) == pytest.approx(0.4)
    # start 0.3; trailing means over up to 5 steps: 0.3, 0.35, 0.3667, 0.4 -> +10 points at step 4
    assert steps_to_gain([0.3, 0.4, 0.4, 0.5]) == 4
    assert steps_to_gain([0.3, 0.3, 0.35]) is None
    assert steps_to_gain([0.5, 0.9], window=1) == 2
    assert steps_to_gain([]) is None


def _record(scheme: str, seed: int, after: float, curve: list[float], **kw) -> dict:
    return {"scheme": scheme, "seed": seed, "before": 0.4, "after": after, "curve": curve, **kw}


def test_summary_pairs_by_seed():
    records = [
        _record("uniform", 0, 0.40, [0.2, 0.2], after_logic_share=0.8),
        _record("uniform", 1, 0.50, [0.4, 0.4], after_logic_share=0.6),
        _record("egca", 1, 0.70, [0.4, 0.6], span_share=0.2, analysis_share=0.1),
        _record("egca", 0, 0.45, [0.2, 0.6], span_share=0.4, analysis_share=0.3),
        _record("egca", 2, 0.99, [0.9, 0.9]),  # no GRPO run with seed 2: not in the paired differences
    ]
    s = summarize(records)["schemes"]
    u, e = s["uniform"], s["egca"]
    assert u["seeds"] == [0, 1] and u["after"] == pytest.approx(0.45) and u["auc"] == pytest.approx(0.3)
    assert u["after_logic_share"] == pytest.approx(0.7) and u["span_share"] is None
    assert e["after"] == pytest.approx((0.45 + 0.70 + 0.99) / 3)
    assert e["span_share"] == pytest.approx(0.3) and e["analysis_share"] == pytest.approx(0.2)
    # paired differences: after 0.05 (seed 0), 0.20 (seed 1); AUC 0.2 and 0.1
    vs = e["vs_uniform"]
    assert vs["after"]["n"] == 2 and vs["after"]["mean"] == pytest.approx(0.125)
    assert vs["after"]["ci95"] == pytest.approx((0.05, 0.20))
    assert vs["auc"]["mean"] == pytest.approx(0.15)
    # steps to +10 points: seed 0 (0.2 -> 0.4 at step 2), seed 1 (0.4 -> 0.5 at step 2), seed 2 never
    assert e["steps_to_gain"] == pytest.approx(2.0) and e["reached_gain"] == pytest.approx(2 / 3)
    assert "vs_uniform" not in u
    rows = table(summarize(records))
    assert rows[0].startswith("| scheme |") and set(rows[1]) == {"|", "-"}
    assert rows[3].startswith("| egca | 3 | 40.0 | 71.3 | +12.5 [+5.0, +20.0] |")


def test_cli_rejects_an_unknown_scheme(capsys):
    assert main(["bench", "learning", "--schemes", "uniform,nope", "--set", "model=/nonexistent"]) == 2
    assert "nope" in capsys.readouterr().err
