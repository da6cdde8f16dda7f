"""The token-level advantage operator and its credit schemes (docs/method.md: the operator, normalizers, schemes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egca.credit.operator import (
    NORMALIZERS,
    effective_token_weights,
    normalizer_settings,
    token_advantages,
)
from egca.credit.schemes import SCHEMES, TokenCredit, get_scheme
from egca.credit.schemes import egca as egca_scheme
from egca.credit.schemes import prefix_credit as prefix_scheme
from egca.credit.schemes import random_span as random_scheme
from egca.credit.schemes import soft as soft_scheme
from egca.credit.schemes import stepcoder_mask as stepcoder_scheme
from egca.credit.types import Mode, RolloutCredit, TokenSpan

CONSERVING = [s for s in SCHEMES if s != "prefix_credit"]
MASK_CONSTANT = [s for s in CONSERVING if s != "soft"]  # expressible by the mask routes
FALLBACKS = ["fallback:no_divergence", "fallback:truncated", "fallback:timeout", "fallback:crash", "uniform"]
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ------------------------------------------------------------------------------------


@st.composite
def spans(draw: st.DrawFn, limit: int) -> TokenSpan:
    """A span that may stick out of, or lie entirely beyond, ``[0, limit)``."""
    start = draw(st.integers(0, limit + 2))
    return TokenSpan(start, start + draw(st.integers(1, 6)))


@st.composite
def rollouts(draw: st.DrawFn, T: int) -> RolloutCredit:
    mode = draw(st.sampled_from(list(Mode)))
    limit = max(T, 1)
    span = draw(st.none() | spans(limit)) if mode in (Mode.SYNTAX, Mode.LOGIC) else None
    status = "localized" if span is not None else draw(st.sampled_from(FALLBACKS))
    if mode in (Mode.CORRECT, Mode.CONSTRAINT):
        status = "uniform"
    return RolloutCredit(
        mode=mode,
        span=span,
        status=status,
        late_span=draw(st.none() | spans(limit)),
        error_span=draw(st.none() | spans(limit)),
        statement_spans=tuple(draw(st.lists(spans(limit), max_size=4))),
        executed_spans=draw(st.none() | st.lists(spans(limit), max_size=3).map(tuple)),
    )


advantage_values = st.one_of(
    st.just(0.0), st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
)


@st.composite
def batches(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, list[RolloutCredit]]:
    """(advantages (B,) float64, right-padded completion_mask (B, T), credits)."""
    B = draw(st.integers(1, 6))
    width = draw(st.integers(1, 20))
    lengths = draw(st.lists(st.integers(0, width), min_size=B, max_size=B))
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).to(torch.int64)
    advantages = torch.tensor(draw(st.lists(advantage_values, min_size=B, max_size=B)), dtype=torch.float64)
    credits = [draw(rollouts(n)) for n in lengths]
    return advantages, mask, credits


def _kwargs(scheme: str) -> dict[str, Any]:
    return {"soft": {"alpha": 0.3}, "prefix_credit": {"lam": 0.5}}.get(scheme, {})


def _lengths(mask: torch.Tensor) -> list[int]:
    return [int(n) for n in mask.sum(dim=1).tolist()]


def _clipped(span: TokenSpan | None, T: int) -> TokenSpan | None:
    return None if span is None or span.start >= T else TokenSpan(span.start, min(span.end, T))


def _egca_status(credit: RolloutCredit, T: int, A: float) -> str:
    """Independent statement of egca's routing and fallback rules."""
    if credit.mode in (Mode.CORRECT, Mode.CONSTRAINT):
        return "uniform"
    if credit.span is None:
        return credit.status if credit.status.startswith("fallback:") else "fallback:no_span"
    if _clipped(credit.span, T) is None:
        return "fallback:span_mapping"
    return "fallback:positive_advantage" if A > 0 else "localized"


# --- properties ------------------------------------------------------------------------------------


@PROPS
@given(batch=batches(), scheme=st.sampled_from(CONSERVING), seed=st.integers(0, 2**16))
def test_conservation_for_every_scheme_and_status(batch, scheme, seed):
    advantages, mask, credits = batch
    out = token_advantages(
        advantages, mask, credits, scheme=scheme, normalizer="conserve_kl_all", seed=seed, **_kwargs(scheme)
    )
    sums = out.per_token.sum(dim=1)
    for i, T in enumerate(_lengths(mask)):
        if T == 0:
            assert out.statuses[i] == "fallback:empty"
            assert torch.all(out.per_token[i] == 0)
            continue
        assert out.conserves[i]
        assert math.isclose(float(sums[i]), float(advantages[i]), rel_tol=1e-9, abs_tol=1e-12), out.statuses[
            i
        ]


@PROPS
@given(batch=batches(), scheme=st.sampled_from(CONSERVING))
def test_conservation_float32(batch, scheme):
    advantages, mask, credits = batch
    out = token_advantages(
        advantages.float(), mask, credits, scheme=scheme, normalizer="conserve_kl_all", **_kwargs(scheme)
    )
    assert out.per_token.dtype == torch.float32
    nonempty = mask.sum(dim=1) > 0
    assert torch.allclose(
        out.per_token.sum(dim=1)[nonempty], advantages.float()[nonempty], atol=1e-5, rtol=1e-5
    )


@PROPS
@given(batch=batches(), scheme=st.sampled_from(list(SCHEMES)))
def test_zero_outside_loss_mask_and_padding(batch, scheme):
    advantages, mask, credits = batch
    out = token_advantages(
        advantages, mask, credits, scheme=scheme, normalizer="conserve_kl_all", **_kwargs(scheme)
    )
    assert out.per_token.shape == out.loss_mask.shape == mask.shape
    assert out.loss_mask.dtype == torch.bool
    assert torch.all(out.per_token[~out.loss_mask] == 0)
    assert torch.all(out.per_token[mask == 0] == 0)
    assert not torch.any(out.loss_mask & (mask == 0))
    assert len(out.statuses) == len(out.conserves) == len(credits)


@PROPS
@given(batch=batches(), scheme=st.sampled_from(list(SCHEMES)), seed=st.integers(0, 100))
def test_per_token_route_reproduces_operator(batch, scheme, seed):
    advantages, mask, credits = batch
    L = mask.shape[1] + seed % 7
    out = token_advantages(
        advantages,
        mask,
        credits,
        scheme=scheme,
        normalizer="conserve_kl_all",
        seed=seed,
        max_completion_length=L,
        **_kwargs(scheme),
    )
    assert out.max_completion_length == L
    assert torch.equal(out.engine_mask, mask)
    effective = effective_token_weights(out.engine_advantages, out.engine_mask, "dr_grpo", L)
    assert torch.allclose(effective, out.per_token, rtol=1e-12, atol=1e-12)


@PROPS
@given(
    batch=batches(), scheme=st.sampled_from(MASK_CONSTANT), normalizer=st.sampled_from(["conserve", "engine"])
)
def test_mask_route_reproduces_operator(batch, scheme, normalizer):
    advantages, mask, credits = batch
    out = token_advantages(advantages, mask, credits, scheme=scheme, normalizer=normalizer)
    assert torch.equal(out.engine_advantages, advantages)
    assert torch.equal(out.engine_mask, out.loss_mask.to(mask.dtype))
    effective = effective_token_weights(out.engine_advantages, out.engine_mask, "conserve")
    assert torch.allclose(effective, out.per_token, rtol=1e-12, atol=1e-12)


@PROPS
@given(batch=batches())
def test_egca_puts_a_over_s_on_exactly_the_span(batch):
    advantages, mask, credits = batch
    out = token_advantages(advantages, mask, credits, scheme="egca")
    for i, (credit, T) in enumerate(zip(credits, _lengths(mask))):
        A = float(advantages[i])
        if T == 0:
            continue
        status = _egca_status(credit, T, A)
        assert out.statuses[i] == status
        expected = torch.zeros(mask.shape[1], dtype=torch.float64)
        span = _clipped(credit.span, T)
        if status == "localized":
            assert span is not None
            expected[span.start : span.end] = A / len(span)
            assert out.loss_mask[i].nonzero().flatten().tolist() == list(range(span.start, span.end))
        else:
            expected[:T] = A / T
            assert out.loss_mask[i].sum() == T
        assert torch.allclose(out.per_token[i], expected, rtol=1e-12, atol=0)


@PROPS
@given(
    T=st.integers(1, 30),
    span=spans(30),
    A=st.floats(1e-6, 5.0),
    scheme=st.sampled_from(["egca", "soft", "random_span", "late_span", "prefix_credit"]),
    mode=st.sampled_from([Mode.SYNTAX, Mode.LOGIC]),
)
def test_positive_advantage_guard(T, span, A, scheme, mode):
    credit = RolloutCredit(mode, span, "localized", late_span=span, statement_spans=(TokenSpan(0, 1),))
    tc = get_scheme(scheme)(T, credit, A, **_kwargs(scheme))
    expected = "fallback:span_mapping" if span.start >= T else "fallback:positive_advantage"
    assert tc.status == expected
    assert torch.allclose(tc.weights, torch.full((T,), A / T, dtype=torch.float64))
    assert bool(tc.mask.all()) and tc.conserves


@PROPS
@given(batch=batches())
def test_soft_limits(batch):
    advantages, mask, credits = batch
    run: dict[str, Any] = {"normalizer": "conserve_kl_all"}
    hard = token_advantages(advantages, mask, credits, scheme="egca", **run)
    flat = token_advantages(advantages, mask, credits, scheme="uniform", **run)
    near = token_advantages(advantages, mask, credits, scheme="soft", alpha=1e-12, **run)
    zero = token_advantages(advantages, mask, credits, scheme="soft", alpha=0.0, **run)
    one = token_advantages(advantages, mask, credits, scheme="soft", alpha=1.0, **run)
    assert torch.allclose(near.per_token, hard.per_token, atol=1e-9)
    assert torch.equal(zero.per_token, hard.per_token) and torch.equal(zero.loss_mask, hard.loss_mask)
    assert torch.allclose(one.per_token, flat.per_token, rtol=1e-12, atol=1e-15)


@PROPS
@given(
    T=st.integers(1, 40),
    span=spans(40),
    A=st.floats(-5.0, 0.0),
    statements=st.lists(spans(40), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_span_is_seeded_and_keeps_length(T, span, A, statements, seed):
    credit = RolloutCredit(Mode.LOGIC, span, "localized", statement_spans=tuple(statements))
    first = random_scheme(T, credit, A, rng=seed)
    again = random_scheme(T, credit, A, rng=np.random.default_rng(seed))
    assert torch.equal(first.weights, again.weights) and first.status == again.status
    clipped = _clipped(span, T)
    starts = {s.start for s in statements if s.start < T}
    if clipped is None:
        assert first.status == "fallback:span_mapping"
    elif not starts:
        assert first.status == "fallback:no_statements"
    else:
        assert first.status == "localized"
        positions = first.mask.nonzero().flatten().tolist()
        assert len(positions) == len(clipped)
        assert positions == list(range(positions[0], positions[0] + len(clipped)))
        assert positions[0] in starts or positions[0] == T - len(clipped)


@PROPS
@given(batch=batches(), seed=st.integers(0, 1000))
def test_random_span_batch_determinism(batch, seed):
    advantages, mask, credits = batch
    run: dict[str, Any] = {"scheme": "random_span", "seed": seed}
    first, second = (
        token_advantages(advantages, mask, credits, **run),
        token_advantages(advantages, mask, credits, **run),
    )
    assert torch.equal(first.per_token, second.per_token) and first.statuses == second.statuses


@PROPS
@given(T=st.integers(2, 30), span=spans(30), A=st.floats(-5.0, 0.0), lam=st.floats(0.0, 2.0))
def test_prefix_credit_total(T, span, A, lam):
    credit = RolloutCredit(Mode.LOGIC, span, "localized")
    tc = prefix_scheme(T, credit, A, lam=lam)
    clipped = _clipped(span, T)
    total = float(tc.weights.sum())
    if clipped is None:
        assert tc.status == "fallback:span_mapping" and math.isclose(total, A, abs_tol=1e-12)
        return
    assert tc.status == "localized"
    assert torch.allclose(
        tc.weights[clipped.start : clipped.end], torch.tensor(A / len(clipped), dtype=torch.float64)
    )
    assert torch.all(tc.weights[clipped.end :] == 0)
    if clipped.start > 0 and lam > 0:
        assert not tc.conserves
        assert math.isclose(total, A + lam * abs(A), rel_tol=1e-9, abs_tol=1e-12)
        assert torch.all(tc.weights[: clipped.start] >= 0)
        assert bool(tc.mask[: clipped.end].all())
    else:
        assert tc.conserves and math.isclose(total, A, rel_tol=1e-9, abs_tol=1e-12)


@PROPS
@given(batch=batches())
def test_stepcoder_masks_unexecuted_tokens(batch):
    advantages, mask, credits = batch
    out = token_advantages(advantages, mask, credits, scheme="stepcoder_mask")
    for i, (credit, T) in enumerate(zip(credits, _lengths(mask))):
        if T == 0 or credit.executed_spans is None or out.statuses[i].startswith("fallback:"):
            continue
        executed = torch.zeros(mask.shape[1], dtype=torch.bool)
        for s in credit.executed_spans:
            executed[s.start : min(s.end, T)] = True
        assert torch.equal(out.loss_mask[i], executed)
        assert torch.allclose(out.per_token[i][executed], advantages[i] / executed.sum())


@PROPS
@given(batch=batches())
def test_rltf_error_line_ignores_logic_mode(batch):
    advantages, mask, credits = batch
    out = token_advantages(advantages, mask, credits, scheme="rltf_error_line")
    for i, (credit, T) in enumerate(zip(credits, _lengths(mask))):
        if T == 0:
            continue
        if credit.mode is not Mode.SYNTAX:
            assert out.statuses[i] == "uniform"
            assert torch.allclose(out.per_token[i, :T], advantages[i] / T)
        elif credit.status == "fallback:timeout":
            assert out.statuses[i] == "fallback:timeout"


# --- hand-written cases ----------------------------------------------------------------------------

LOGIC = RolloutCredit(
    Mode.LOGIC,
    TokenSpan(2, 4),
    "localized",
    late_span=TokenSpan(6, 7),
    error_span=TokenSpan(0, 1),
    statement_spans=(TokenSpan(0, 2), TokenSpan(5, 8)),
    executed_spans=(TokenSpan(0, 3), TokenSpan(6, 8)),
)


def _w(tc: TokenCredit) -> list[float]:
    return [round(x, 12) for x in tc.weights.tolist()]


def test_hand_egca_and_uniform():
    assert _w(egca_scheme(8, LOGIC, -1.0)) == [0, 0, -0.5, -0.5, 0, 0, 0, 0]
    assert _w(SCHEMES["uniform"](8, LOGIC, -1.0)) == [-0.125] * 8
    assert SCHEMES["uniform"](8, LOGIC, -1.0).status == "uniform"
    clipped = RolloutCredit(Mode.SYNTAX, TokenSpan(2, 9), "localized")
    assert _w(egca_scheme(4, clipped, -1.0)) == [0, 0, -0.5, -0.5]
    beyond = RolloutCredit(Mode.LOGIC, TokenSpan(4, 6), "localized")
    assert egca_scheme(4, beyond, -1.0).status == "fallback:span_mapping"
    timeout = RolloutCredit(Mode.SYNTAX, None, "fallback:timeout")
    assert egca_scheme(4, timeout, -1.0).status == "fallback:timeout"
    assert egca_scheme(4, RolloutCredit(Mode.LOGIC), -1.0).status == "fallback:no_span"
    constraint = RolloutCredit(Mode.CONSTRAINT, TokenSpan(0, 1))  # a span is ignored outside syntax/logic
    assert _w(egca_scheme(4, constraint, 2.0)) == [0.5] * 4


def test_hand_soft_late_prefix_stepcoder_rltf():
    # soft, alpha = 0.5: raw weights [.5, .5, 1, 1, .5, .5, .5, .5] sum 5 -> A * raw / 5
    assert _w(soft_scheme(8, LOGIC, -1.0, alpha=0.5)) == [-0.1, -0.1, -0.2, -0.2, -0.1, -0.1, -0.1, -0.1]
    assert _w(SCHEMES["late_span"](8, LOGIC, -1.0)) == [0, 0, 0, 0, 0, 0, -1.0, 0]
    no_late = RolloutCredit(Mode.LOGIC, TokenSpan(2, 4), "localized")
    assert SCHEMES["late_span"](8, no_late, -1.0).status == "fallback:no_late_span"
    syntax = RolloutCredit(Mode.SYNTAX, TokenSpan(2, 4), "localized")
    assert _w(SCHEMES["late_span"](4, syntax, -1.0)) == [0, 0, -0.5, -0.5]
    # prefix_credit: span keeps -1/2 each, the 2 prefix tokens share 0.5 * |-1| = 0.5
    tc = prefix_scheme(8, LOGIC, -1.0)
    assert _w(tc) == [0.25, 0.25, -0.5, -0.5, 0, 0, 0, 0] and not tc.conserves
    assert tc.mask.tolist() == [True] * 4 + [False] * 4
    tc = stepcoder_scheme(8, LOGIC, -1.0)
    assert _w(tc) == [-0.2, -0.2, -0.2, 0, 0, 0, -0.2, -0.2] and tc.status == "localized"
    assert (
        stepcoder_scheme(4, RolloutCredit(Mode.LOGIC, executed_spans=()), 1.0).status
        == "fallback:no_executed"
    )
    assert _w(stepcoder_scheme(3, LOGIC, 3.0)) == [1.0, 1.0, 1.0]  # executes every valid token
    assert _w(SCHEMES["rltf_error_line"](8, LOGIC, -1.0)) == [-0.125] * 8
    runtime = RolloutCredit(Mode.SYNTAX, TokenSpan(1, 3), "localized", error_span=TokenSpan(4, 6))
    assert _w(SCHEMES["rltf_error_line"](8, runtime, -1.0)) == [0, 0, 0, 0, -0.5, -0.5, 0, 0]
    timeout = RolloutCredit(Mode.SYNTAX, None, "fallback:timeout", error_span=TokenSpan(0, 1))
    assert SCHEMES["rltf_error_line"](4, timeout, -1.0).status == "fallback:timeout"


def test_hand_random_span():
    tc = random_scheme(8, LOGIC, -1.0, rng=0)
    positions = tc.mask.nonzero().flatten().tolist()
    assert positions in ([0, 1], [5, 6])
    assert _w(tc) == [-0.5 if i in positions else 0 for i in range(8)]
    tail = RolloutCredit(Mode.LOGIC, TokenSpan(0, 3), "localized", statement_spans=(TokenSpan(6, 7),))
    assert _w(random_scheme(8, tail, -3.0)) == [0, 0, 0, 0, 0, -1.0, -1.0, -1.0]  # shifted to stay in [0, T)
    none = RolloutCredit(Mode.LOGIC, TokenSpan(0, 3), "localized", statement_spans=(TokenSpan(9, 10),))
    assert random_scheme(8, none, -1.0).status == "fallback:no_statements"


def test_hand_batch_routes():
    advantages = torch.tensor([-1.0, 1.5, 0.5])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    credits = [LOGIC, RolloutCredit(Mode.CORRECT), RolloutCredit(Mode.SYNTAX, status="fallback:timeout")]
    out = token_advantages(advantages, mask, credits)
    assert out.per_token.tolist() == [[0, 0, -0.5, -0.5, 0, 0], [0.5, 0.5, 0.5, 0, 0, 0], [0] * 6]
    assert out.statuses == ["localized", "uniform", "fallback:empty"]
    assert out.conserves == [True, True, False]
    assert out.engine_mask.tolist() == [[0, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0], [0] * 6]
    assert out.engine_mask.dtype == mask.dtype and torch.equal(out.engine_advantages, advantages)
    kl_all = token_advantages(
        advantages, mask, credits, normalizer="conserve_kl_all", max_completion_length=10
    )
    assert kl_all.engine_advantages.tolist() == [[0, 0, -5, -5, 0, 0], [5, 5, 5, 0, 0, 0], [0] * 6]
    assert torch.equal(kl_all.engine_mask, mask)
    default_L = token_advantages(advantages, mask, credits, normalizer="conserve_kl_all")
    assert default_L.max_completion_length == 6


def test_mask_routes_reject_non_constant_weights():
    advantages, mask = torch.tensor([-1.0]), torch.ones(1, 8, dtype=torch.int64)
    for normalizer in ("conserve", "engine"):
        with pytest.raises(ValueError, match="conserve_kl_all"):
            token_advantages(advantages, mask, [LOGIC], scheme="soft", normalizer=normalizer, alpha=0.5)
        with pytest.raises(ValueError, match="conserve_kl_all"):
            token_advantages(advantages, mask, [LOGIC], scheme="prefix_credit", normalizer=normalizer)
    # fine when nothing is localized: every row is then uniform
    ok = token_advantages(advantages, mask, [RolloutCredit(Mode.CORRECT)], scheme="soft", alpha=0.5)
    assert ok.statuses == ["uniform"]


def test_normalizer_settings():
    assert set(NORMALIZERS) == {"conserve", "conserve_kl_all", "engine"}
    assert normalizer_settings("conserve")["trl_loss_type"] == "grpo"
    assert normalizer_settings("conserve")["verl_loss_agg_mode"] == "seq-mean-token-mean"
    assert normalizer_settings("conserve_kl_all")["trl_loss_type"] == "dr_grpo"
    assert normalizer_settings("conserve_kl_all")["verl_loss_agg_mode"] == "seq-mean-token-sum"
    assert normalizer_settings("engine")["trl_loss_type"] is None
    assert normalizer_settings("engine")["reproduces_operator"] is False
    normalizer_settings("conserve")["trl_loss_type"] = "dapo"  # a copy: the table is unchanged
    assert normalizer_settings("conserve")["trl_loss_type"] == "grpo"
    with pytest.raises(ValueError, match="conserve_kl_all"):
        normalizer_settings("dapo")
    with pytest.raises(ValueError, match="no fixed aggregation"):
        effective_token_weights(torch.zeros(1), torch.ones(1, 2), "engine")


def test_validation_errors():
    mask, credits = torch.ones(2, 3, dtype=torch.int64), [RolloutCredit(Mode.CORRECT)] * 2
    adv = torch.zeros(2)
    with pytest.raises(ValueError, match=r"unknown credit scheme 'nope'.*egca"):
        token_advantages(adv, mask, credits, scheme="nope")
    with pytest.raises(ValueError, match="unknown normalizer"):
        token_advantages(adv, mask, credits, normalizer="dapo")
    with pytest.raises(TypeError, match="alpha"):
        token_advantages(adv, mask, credits, scheme="egca", alpha=0.5)
    with pytest.raises(ValueError, match="1-D"):
        token_advantages(torch.zeros(2, 1), mask, credits)
    with pytest.raises(ValueError, match="floating"):
        token_advantages(torch.zeros(2, dtype=torch.int64), mask, credits)
    with pytest.raises(ValueError, match="NaN"):
        token_advantages(torch.tensor([0.0, math.nan]), mask, credits)
    with pytest.raises(ValueError, match="2-D"):
        token_advantages(adv, torch.ones(2), credits)
    with pytest.raises(ValueError, match="rows"):
        token_advantages(torch.zeros(3), mask, credits)
    with pytest.raises(ValueError, match="credits"):
        token_advantages(adv, mask, credits[:1])
    with pytest.raises(ValueError, match="0 and 1"):
        token_advantages(adv, 2 * mask, credits)
    with pytest.raises(ValueError, match="right-padded"):
        token_advantages(adv, torch.tensor([[1, 0, 1], [1, 1, 1]]), credits)
    with pytest.raises(ValueError, match="max_completion_length"):
        token_advantages(adv, mask, credits, normalizer="conserve_kl_all", max_completion_length=2)
    with pytest.raises(ValueError, match="alpha"):
        soft_scheme(3, LOGIC, -1.0, alpha=1.5)
    with pytest.raises(ValueError, match="T=0"):
        egca_scheme(0, LOGIC, -1.0)


def test_empty_batch_and_bool_mask():
    out = token_advantages(torch.zeros(0), torch.zeros(0, 4, dtype=torch.int64), [])
    assert out.per_token.shape == (0, 4) and out.statuses == []
    bool_mask = torch.tensor([[True, True, False]])
    out = token_advantages(torch.tensor([-2.0]), bool_mask, [RolloutCredit(Mode.CORRECT)])
    assert out.per_token.tolist() == [[-1.0, -1.0, 0.0]] and out.engine_mask.dtype == torch.bool


def test_conserve_per_token_route():
    """``route="per_token"``: advantages T_i·a_{i,t} (B, T) on an unchanged mask, which TRL's grpo
    aggregation (per row Σ m·ℓ / Σ m) turns back into a_{i,t}; soft weights are allowed there."""
    advantages = torch.tensor([-1.0, 1.5])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
    credits = [LOGIC, RolloutCredit(Mode.CORRECT)]
    out = token_advantages(advantages, mask, credits, route="per_token")
    # row 0: A/|S| = -0.5 on tokens 2-3, times T_0 = 5; row 1: 0.5 per token, times T_1 = 3
    assert out.engine_advantages.tolist() == [[0, 0, -2.5, -2.5, 0, 0], [1.5, 1.5, 1.5, 0, 0, 0]]
    assert torch.equal(out.engine_mask, mask)
    back = effective_token_weights(out.engine_advantages, out.engine_mask, "conserve")
    assert torch.allclose(back, out.per_token.double())
    soft = token_advantages(advantages, mask, credits, scheme="soft", route="per_token", alpha=0.5)
    # span tokens weight 1, the other three 0.5: sum 3.5, A = -1
    assert soft.per_token[0].tolist() == pytest.approx([-1 / 7, -1 / 7, -2 / 7, -2 / 7, -1 / 7, 0], abs=1e-6)
    with pytest.raises(ValueError, match="no route 'per_token'"):
        token_advantages(advantages, mask, credits, normalizer="engine", route="per_token")
    with pytest.raises(ValueError, match="no route 'mask'"):
        token_advantages(advantages, mask, credits, normalizer="conserve_kl_all", route="mask")


def test_random_span_seed_parts_select_the_draw():
    """A sequence seed ((seed, step, ...) in training) gives each combination its own draws."""
    statements = tuple(TokenSpan(s, s + 2) for s in range(0, 40, 2))
    credit = RolloutCredit(Mode.LOGIC, TokenSpan(10, 12), "localized", statement_spans=statements)
    advantages, mask = torch.full((4,), -1.0), torch.ones(4, 40)

    def starts(seed):
        out = token_advantages(advantages, mask, [credit] * 4, scheme="random_span", seed=seed)
        return [int(row.nonzero()[0]) for row in out.per_token]

    assert starts((0, 3)) == starts((0, 3))
    assert starts(0) == starts((0,))  # an int seed is the one-part sequence
    assert len({tuple(starts((0, step))) for step in range(5)}) > 1
    for bad in (-1, (0, -2), (), (0, 1.5), True):
        with pytest.raises(ValueError, match="seed"):
            token_advantages(advantages, mask, [credit] * 4, scheme="random_span", seed=bad)
