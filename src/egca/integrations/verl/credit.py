"""The verl side of the credit stage; needs no verl.

- :class:`VerlCreditSettings`: the ``egca`` section of a verl config (``+egca.scheme=...``), checked
  against verl's ``loss_agg_mode``.
- :func:`encode_credit` / :func:`decode_credit`: one rollout's :class:`RolloutCredit` as the JSON
  string the reward manager puts in ``reward_extra_info`` (verl stacks extra info into a numpy
  array per key, so a value must be a scalar: lists of unequal length break there).
- :func:`verl_advantages`: verl's GRPO advantages ``(B, T)`` and ``response_mask`` → what verl's
  loss needs so that it applies the EGCA operator's ``a_{i,t}`` (the same
  :func:`egca.credit.operator.token_advantages` as the TRL path):

  ``conserve_kl_all`` (default) with ``loss_agg_mode=seq-mean-token-sum``: advantages ``a_{i,t}``
  ``(B, T)``, mask unchanged; verl sums each row and divides by the mini-batch's sequence count, so
  row ``i`` contributes ``Σ_t a_{i,t}·ℓ_{i,t}`` (KL and entropy on every response token).
  ``conserve`` with ``seq-mean-token-mean``: the mask route, advantages unchanged and
  ``response_mask`` narrowed to the scheme's mask, so that ``Σ_{t∈m} A_i·ℓ / |m|`` gives
  ``a_{i,t} = A_i/|m_i|`` (verl reads ``response_mask`` for KL and entropy too: they narrow with it,
  as on TRL's mask route). ``engine``: the same mask with any ``loss_agg_mode`` (the mask-only
  variant, not the paper's operator). Other combinations are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from egca.credit.assign import REFERENCE_SOURCES
from egca.credit.operator import NORMALIZERS, TokenAdvantages, normalizer_settings, token_advantages
from egca.credit.schemes import SCHEMES
from egca.credit.types import Mode, RolloutCredit, TokenSpan
from egca.execution.reward import REWARDS

__all__ = [
    "CREDIT_KEY",
    "VerlAdvantages",
    "VerlCreditSettings",
    "decode_credit",
    "encode_credit",
    "sequence_advantages",
    "step_seed",
    "verl_advantages",
]

CREDIT_KEY = "egca_credit"
"""The ``reward_extra_info`` key of the credit record (a JSON string)."""


@dataclass(frozen=True)
class VerlCreditSettings:
    """The ``egca`` section of a verl config; every field is optional.

    ``scheme``/``normalizer``/``references``/``max_siblings``/``constraints``: as ``egca train``.
    ``reward``: ``binary`` or ``fraction``. ``seed``: seeds the random schemes (with the step).
    ``workers``: sandbox workers per reward-loop worker (default: the CPU count).
    ``scheme_kwargs``: the scheme's parameters (``alpha`` for ``soft``, ``lam`` for ``prefix_credit``).
    """

    scheme: str = "egca"
    normalizer: str = "conserve_kl_all"
    references: str = "curated+siblings"
    max_siblings: int = 2
    constraints: bool = True
    reward: str = "binary"
    seed: int = 0
    workers: int | None = None
    scheme_kwargs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"egca.scheme={self.scheme!r}: expected one of {', '.join(SCHEMES)}")
        if self.normalizer not in NORMALIZERS:
            raise ValueError(f"egca.normalizer={self.normalizer!r}: expected one of {', '.join(NORMALIZERS)}")
        if self.references not in REFERENCE_SOURCES:
            raise ValueError(
                f"egca.references={self.references!r}: expected one of {', '.join(REFERENCE_SOURCES)}"
            )
        if self.reward not in REWARDS:
            raise ValueError(f"egca.reward={self.reward!r}: expected one of {', '.join(REWARDS)}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"egca.seed must be a non-negative int, got {self.seed!r}")
        if self.max_siblings < 0:
            raise ValueError(f"egca.max_siblings must be >= 0, got {self.max_siblings}")

    @classmethod
    def from_config(cls, config: Any) -> VerlCreditSettings:
        """The settings of a verl config's ``egca`` section (absent: the defaults)."""
        section = config.get("egca", None) if hasattr(config, "get") else None
        values = {str(k): v for k, v in (section or {}).items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown egca setting(s) {unknown}; known: {sorted(known)}")
        if "scheme_kwargs" in values:
            values["scheme_kwargs"] = {str(k): float(v) for k, v in (values["scheme_kwargs"] or {}).items()}
        return cls(**values)

    def check_loss_agg_mode(self, loss_agg_mode: str) -> None:
        """Raise unless verl's ``loss_agg_mode`` applies this normalizer's operator."""
        expected = normalizer_settings(self.normalizer)["verl_loss_agg_mode"]
        if expected is not None and loss_agg_mode != expected:
            raise ValueError(
                f"egca.normalizer={self.normalizer!r} reproduces the EGCA operator only with "
                f"actor_rollout_ref.actor.loss_agg_mode={expected} (got {loss_agg_mode!r}); "
                "use egca.normalizer=engine for the mask-only variant"
            )


def step_seed(seed: int, step: int) -> int:
    """A seed for the random schemes at training step ``step`` (a different draw every step)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1, dtype=np.uint32)[0])


# --- credit records --------------------------------------------------------------------------------


def _span(s: TokenSpan | None) -> list[int] | None:
    return None if s is None else [s.start, s.end]


def _unspan(v: Any) -> TokenSpan | None:
    return None if v is None else TokenSpan(int(v[0]), int(v[1]))


def _spans(values: Any) -> tuple[TokenSpan, ...]:
    return tuple(TokenSpan(int(v[0]), int(v[1])) for v in values)


def encode_credit(credit: RolloutCredit, **extra: Any) -> str:
    """``credit`` (and JSON-able ``extra`` fields such as the task id) as one JSON string."""
    record = {
        "mode": credit.mode.value,
        "span": _span(credit.span),
        "status": credit.status,
        "late_span": _span(credit.late_span),
        "error_span": _span(credit.error_span),
        "statement_spans": [_span(s) for s in credit.statement_spans],
        "executed_spans": None
        if credit.executed_spans is None
        else [_span(s) for s in credit.executed_spans],
        "notes": dict(credit.notes),
        **extra,
    }
    return json.dumps(record, sort_keys=True)


def decode_credit(text: str) -> tuple[RolloutCredit, dict[str, Any]]:
    """The :class:`RolloutCredit` of :func:`encode_credit`'s string, and its extra fields."""
    try:
        record = json.loads(text)
        executed = record.pop("executed_spans")
        credit = RolloutCredit(
            mode=Mode(record.pop("mode")),
            span=_unspan(record.pop("span")),
            status=str(record.pop("status")),
            late_span=_unspan(record.pop("late_span")),
            error_span=_unspan(record.pop("error_span")),
            statement_spans=_spans(record.pop("statement_spans")),
            executed_spans=None if executed is None else _spans(executed),
            notes={str(k): str(v) for k, v in record.pop("notes").items()},
        )
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise ValueError(f"not an egca credit record: {text[:200]!r} ({e})") from e
    return credit, record


# --- advantages ------------------------------------------------------------------------------------


def sequence_advantages(advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A_i`` ``(B,)`` from an outcome estimator's ``(B, T)`` advantages (``A_i`` on every valid token).

    Raises for an estimator whose advantages vary within a response (GAE and other token-level
    estimators have no sequence advantage to spread).
    """
    if advantages.shape != mask.shape or advantages.ndim != 2:
        raise ValueError(f"advantages {tuple(advantages.shape)} and mask {tuple(mask.shape)} must be (B, T)")
    valid = mask.to(torch.bool)
    first = torch.where(valid.any(dim=1), valid.to(torch.int64).argmax(dim=1), 0)
    seq = advantages.gather(1, first[:, None]).squeeze(1)
    seq = torch.where(valid.any(dim=1), seq, torch.zeros_like(seq))
    varies = ((advantages != seq[:, None]) & valid).any(dim=1).nonzero().flatten().tolist()
    if varies:
        raise ValueError(
            f"the advantage estimator gave advantages that vary within responses {varies[:5]}: EGCA spreads "
            "a sequence advantage and needs an outcome estimator (algorithm.adv_estimator=grpo)"
        )
    return seq


@dataclass(frozen=True)
class VerlAdvantages:
    """What verl's loss gets: ``advantages`` and ``response_mask`` ``(B, T)``; ``token``: the operator's result."""

    advantages: torch.Tensor
    response_mask: torch.Tensor
    token: TokenAdvantages


def verl_advantages(
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    credits: Sequence[RolloutCredit],
    settings: VerlCreditSettings,
    loss_agg_mode: str,
    step: int = 0,
    lengths: Sequence[int] | None = None,
) -> VerlAdvantages:
    """EGCA's token advantages in verl's tensors (module docstring), from the estimator's ``(B, T)`` output.

    ``lengths``: each response's token count (default: ``response_mask``'s row sums, the mask then
    being right-padded). The operator (:func:`egca.credit.operator.token_advantages`, seeded by
    :func:`step_seed`) sees every response token; tokens that ``response_mask`` leaves out (rollout
    correction's rejections) stay out of the loss.
    """
    settings.check_loss_agg_mode(loss_agg_mode)
    seq = sequence_advantages(advantages, response_mask)
    if lengths is None:
        completion_mask = response_mask
    else:
        if len(lengths) != response_mask.shape[0] or max(lengths, default=0) > response_mask.shape[1]:
            raise ValueError(
                f"lengths {list(lengths)[:5]}... do not fit a mask of {tuple(response_mask.shape)}"
            )
        positions = torch.arange(response_mask.shape[1])[None, :]
        completion_mask = (positions < torch.tensor(list(lengths))[:, None]).to(response_mask.dtype)
    scheme_kwargs: dict[str, Any] = dict(settings.scheme_kwargs)
    ta = token_advantages(
        seq,
        completion_mask,
        credits,
        scheme=settings.scheme,
        normalizer=settings.normalizer,
        seed=step_seed(settings.seed, step),
        **scheme_kwargs,
    )
    if normalizer_settings(settings.normalizer)["route"] == "per_token":
        return VerlAdvantages(ta.per_token.to(advantages.dtype), response_mask.clone(), ta)
    mask = ta.engine_mask.to(response_mask.dtype) * response_mask
    return VerlAdvantages(advantages.clone(), mask, ta)
