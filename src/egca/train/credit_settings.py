"""The credit settings of a training run: checked once, when the run is configured.

:func:`check_credit_settings` refuses an unknown scheme, normalizer or reference source, a scheme
parameter the scheme does not take, and a scheme or loss term the chosen normalizer cannot carry,
so that a bad combination fails when ``EGCAConfig``, ``TrainSettings`` or the trainer is built
and not after the first generation.

:func:`credit_route` picks how the token advantages reach TRL's loss:

- ``"mask"``: the span narrows TRL's loss mask, sequence advantages stay ``(B,)``. TRL reads that
  mask for more than the policy term (the KL term, the entropy bonus, ``top_entropy_quantile``,
  the off-policy sequence mask), so this route is used only when none of those is active.
- ``"per_token"``: per-token advantages ``(B, T)`` and TRL's mask unchanged: every other term
  stays on the whole completion. Under ``loss_type="grpo"`` (``conserve``) row ``i`` gets
  ``|m_i|·a_{i,t}`` (TRL divides by ``|m_i|``); under ``dr_grpo`` (``conserve_kl_all``)
  ``L·a_{i,t}``.
"""

from __future__ import annotations

import inspect
from typing import Any

from egca.credit.abstain import ABSTAIN_POLICIES
from egca.credit.assign import REFERENCE_SOURCES
from egca.credit.backends import BACKENDS, DEFAULT_BACKEND
from egca.credit.operator import NORMALIZERS, normalizer_settings
from egca.credit.schemes import SCHEMES

__all__ = [
    "MASK_SCHEMES",
    "SCHEME_PARAMS",
    "check_credit_settings",
    "credit_route",
    "mask_readers",
    "scheme_kwargs",
]

# schemes whose weights are constant on their mask (A_i/|mask_i|): a loss mask can express them
MASK_SCHEMES: frozenset[str] = frozenset(SCHEMES) - {"soft", "prefix_credit"}
# config field -> the scheme keyword it sets (only the scheme that takes it accepts it)
SCHEME_PARAMS: dict[str, str] = {"credit_alpha": "alpha", "credit_lam": "lam"}


def mask_readers(config: Any) -> list[str]:
    """The active loss terms of a ``GRPOConfig`` that read TRL's loss mask besides the policy term."""
    terms = []
    if getattr(config, "beta", 0.0):
        terms.append(f"beta={config.beta} (the KL term)")
    if getattr(config, "entropy_coef", 0.0) or getattr(config, "use_adaptive_entropy", False):
        terms.append("the entropy bonus (entropy_coef / use_adaptive_entropy)")
    if getattr(config, "top_entropy_quantile", 1.0) < 1.0:
        terms.append(f"top_entropy_quantile={config.top_entropy_quantile}")
    if getattr(config, "off_policy_mask_threshold", None) is not None:
        terms.append(f"off_policy_mask_threshold={config.off_policy_mask_threshold}")
    return terms


def scheme_kwargs(scheme: str, alpha: float | None = None, lam: float | None = None) -> dict[str, float]:
    """The keyword arguments of ``scheme`` from the config's ``credit_alpha`` / ``credit_lam``.

    A value set for a scheme that does not take it raises (it would be silently unused).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown credit_scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    accepted = set(inspect.signature(SCHEMES[scheme]).parameters)
    out: dict[str, float] = {}
    for field_name, value in (("credit_alpha", alpha), ("credit_lam", lam)):
        if value is None:
            continue
        keyword = SCHEME_PARAMS[field_name]
        if keyword not in accepted:
            takers = [n for n, fn in SCHEMES.items() if keyword in inspect.signature(fn).parameters]
            raise ValueError(
                f"{field_name}={value} is a parameter of the {', '.join(takers)} scheme, not of {scheme!r}"
            )
        out[keyword] = float(value)
    if "alpha" in out and not 0.0 <= out["alpha"] <= 1.0:
        raise ValueError(f"credit_alpha must be in [0, 1], got {out['alpha']}")
    if "lam" in out and out["lam"] < 0:
        raise ValueError(f"credit_lam must be >= 0, got {out['lam']}")
    return out


def check_credit_settings(
    scheme: str,
    normalizer: str,
    references: str = "curated+siblings",
    alpha: float | None = None,
    lam: float | None = None,
    loss_type: str | None = None,
    config: Any = None,
) -> str:
    """Raise ``ValueError`` for a combination that cannot work; return the :func:`credit_route`.

    ``loss_type`` (TRL's) and ``config`` (a ``GRPOConfig``, for the loss terms) are checked when given.
    """
    scheme_kwargs(scheme, alpha, lam)
    if normalizer not in NORMALIZERS:
        raise ValueError(f"unknown credit_normalizer {normalizer!r}; known: {', '.join(NORMALIZERS)}")
    if references not in REFERENCE_SOURCES:
        raise ValueError(f"credit_references={references!r}: expected one of {', '.join(REFERENCE_SOURCES)}")
    expected = normalizer_settings(normalizer)["trl_loss_type"]
    if loss_type is not None and expected is not None and loss_type != expected:
        raise ValueError(
            f"credit_normalizer={normalizer!r} reproduces the EGCA operator only with "
            f"loss_type={expected!r} (got {loss_type!r}); use credit_normalizer='engine' for the mask-only variant"
        )
    if scheme != "uniform" and getattr(config, "importance_sampling_level", "token") == "sequence":
        raise ValueError(
            f"importance_sampling_level='sequence' (GSPO) weights every token of a completion by one "
            f"ratio, so the gradient of a completion is A_i times the gradient of that ratio whatever "
            f"the token credit: credit_scheme={scheme!r} would have no effect (through per-token "
            "advantages) or would turn GSPO's ratio into one over the span (through the mask). "
            "Use importance_sampling_level='token', or credit_scheme='uniform'"
        )
    return credit_route(scheme, normalizer, config)


def credit_route(scheme: str, normalizer: str, config: Any = None) -> str:
    """``"mask"`` or ``"per_token"`` (module docstring); raises where ``engine`` cannot work."""
    if normalizer == "conserve_kl_all":
        return "per_token"
    readers = mask_readers(config)
    if normalizer == "engine":
        if scheme not in MASK_SCHEMES:
            raise ValueError(
                f"credit_scheme={scheme!r} gives weights that are not constant on its mask; "
                "credit_normalizer='engine' passes only a mask: use 'conserve' or 'conserve_kl_all'"
            )
        if readers and scheme != "uniform":
            raise ValueError(
                "credit_normalizer='engine' narrows TRL's loss mask to the span, and TRL applies that "
                f"mask to {'; '.join(readers)} too, which would then act on the span only: use "
                "credit_normalizer='conserve' or 'conserve_kl_all' (per-token advantages, every other "
                "term on the whole completion), or turn those terms off"
            )
        return "mask"
    if readers or scheme not in MASK_SCHEMES:
        return "per_token"
    return "mask"


def check_localizer_settings(config: Any) -> None:
    """Refuse an unknown localizer backend or abstention policy, or a budget that cannot work."""
    backend = getattr(config, "credit_localizer", DEFAULT_BACKEND)
    if backend not in BACKENDS:
        raise ValueError(f"credit_localizer={backend!r}: unknown localizer; known: {', '.join(BACKENDS)}")
    policy = getattr(config, "credit_abstain", "uniform")
    if policy not in ABSTAIN_POLICIES:
        raise ValueError(f"credit_abstain={policy!r}: expected one of {', '.join(ABSTAIN_POLICIES)}")
    if getattr(config, "credit_max_variants", 400) < 1 or getattr(config, "credit_max_seconds", 2.0) <= 0:
        raise ValueError("credit_max_variants must be >= 1 and credit_max_seconds > 0")
