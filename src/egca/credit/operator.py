"""The token-level advantage operator (docs/method.md, "The operator") and its engine inputs
("Normalizers").

:func:`token_advantages` turns sequence advantages ``(B,)`` and right-padded completion masks ``(B, T)``
into the paper's per-token advantages ``a_{i,t}`` with a credit scheme of :mod:`egca.credit.schemes`,
plus what to hand to the trainer so that its loss aggregation applies exactly ``a_{i,t}``:

- ``conserve`` (default): the mask route. Sequence advantages unchanged, loss mask = the scheme's mask,
  TRL ``loss_type="grpo"`` / verl ``seq-mean-token-mean``: per sequence ``Σ m·ℓ / Σ m`` gives
  ``A_i/|mask_i|`` on the mask, i.e. ``a_{i,t}``. KL acts on the loss mask only.
- ``conserve_kl_all``: the per-token route. Advantages ``L·a_{i,t}`` ``(B, T)`` with ``L =
  max_completion_length``, mask unchanged, TRL ``loss_type="dr_grpo"`` (``Σ m·ℓ / (B·L)``). KL covers
  every completion token. For verl ``seq-mean-token-sum`` pass ``per_token`` itself (no ``L``).
- ``engine``: mask only. Sequence advantages unchanged, loss mask = the scheme's mask, the engine's own
  aggregator. This is the mask-only variant, **not** the paper's operator: under ``dapo``,
  ``bnpo`` or ``dr_grpo`` it removes gradient from the rest of the program without concentrating it.

``conserve`` can also take the per-token route (``route="per_token"``): advantages ``T_i·a_{i,t}``
``(B, T)``, mask unchanged, so that TRL's ``grpo`` aggregation (per sequence ``Σ m·ℓ / Σ m``) applies
``a_{i,t}`` while every other term that reads the mask (KL, entropy) stays on the whole completion.

The mask routes can only express weights that are constant on each row's mask, so the ``soft`` and
``prefix_credit`` schemes need a per-token route; on a mask route they raise.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from egca.credit.schemes import SchemeFn, TokenCredit, get_scheme
from egca.credit.types import RolloutCredit

__all__ = [
    "NORMALIZERS",
    "TokenAdvantages",
    "effective_token_weights",
    "normalizer_settings",
    "token_advantages",
]

_SETTINGS: dict[str, dict[str, str | bool | None]] = {
    "conserve": {
        "trl_loss_type": "grpo",
        "verl_loss_agg_mode": "seq-mean-token-mean",
        "route": "mask",
        "kl_scope": "loss_mask",
        "reproduces_operator": True,
    },
    "conserve_kl_all": {
        "trl_loss_type": "dr_grpo",
        "verl_loss_agg_mode": "seq-mean-token-sum",
        "route": "per_token",
        "kl_scope": "completion_mask",
        "reproduces_operator": True,
    },
    "engine": {
        "trl_loss_type": None,
        "verl_loss_agg_mode": None,
        "route": "mask",
        "kl_scope": "loss_mask",
        "reproduces_operator": False,
    },
}
NORMALIZERS: tuple[str, ...] = tuple(_SETTINGS)
_SCHEME_OWN_ARGS = frozenset({"T", "credit", "A", "rng"})


@dataclass(frozen=True)
class TokenAdvantages:
    """Result of :func:`token_advantages`.

    ``per_token`` ``(B, T)``: ``a_{i,t}`` (0 on padding and outside ``loss_mask``), dtype of the
    advantages. ``loss_mask`` ``(B, T)`` bool: tokens in the loss. ``statuses``/``conserves``: per
    rollout. ``engine_advantages`` ``(B,)`` or ``(B, T)`` and ``engine_mask`` ``(B, T)`` (dtype of the
    completion mask): what the trainer gets for ``normalizer`` (module docstring).
    ``max_completion_length``: the ``L`` used by ``conserve_kl_all``, else None.
    """

    per_token: torch.Tensor
    loss_mask: torch.Tensor
    statuses: list[str]
    conserves: list[bool]
    engine_advantages: torch.Tensor
    engine_mask: torch.Tensor
    scheme: str
    normalizer: str
    max_completion_length: int | None = None


def normalizer_settings(normalizer: str) -> dict[str, str | bool | None]:
    """Engine settings of ``normalizer``: TRL ``loss_type``, verl ``loss_agg_mode``, route, KL scope.

    ``engine`` keeps whatever the engine is configured with, so both engine keys are None.
    """
    return dict(_settings(normalizer))


def token_advantages(
    advantages: torch.Tensor,
    completion_mask: torch.Tensor,
    credits: Sequence[RolloutCredit],
    scheme: str = "egca",
    normalizer: str = "conserve",
    seed: int | Sequence[int] = 0,
    max_completion_length: int | None = None,
    route: str | None = None,
    **scheme_kwargs: float,
) -> TokenAdvantages:
    """Per-token advantages of a batch under ``scheme``, and the engine inputs for ``normalizer``.

    ``completion_mask`` must be right-padded 0/1; row ``i`` has ``T_i = completion_mask[i].sum()``
    valid tokens, and ``T_i == 0`` gives zeros with status ``fallback:empty``. ``seed`` (an int or a
    sequence of them, e.g. ``(seed, step, process)``) seeds rollout ``i``'s generator as
    ``default_rng([*seed, i])`` (``random_span``), so a row does not depend on the others.
    ``max_completion_length`` (``conserve_kl_all`` only) defaults to ``completion_mask.shape[1]``.
    ``route``: ``"mask"`` or ``"per_token"`` (module docstring); None: the normalizer's own.
    ``scheme_kwargs`` go to the scheme (``alpha`` for ``soft``, ``lam`` for ``prefix_credit``).
    """
    route = _route(normalizer, route)
    scheme_fn = get_scheme(scheme)
    _check_scheme_kwargs(scheme, scheme_fn, scheme_kwargs)
    seed_parts = _seed_parts(seed)
    lengths = _validate(advantages, completion_mask, credits)
    B, T = completion_mask.shape
    weights = torch.zeros(B, T, dtype=torch.float64)
    loss_mask = torch.zeros(B, T, dtype=torch.bool)
    statuses: list[str] = []
    conserves: list[bool] = []
    adv = advantages.detach().to("cpu", torch.float64)
    for i, (credit, T_i) in enumerate(zip(credits, lengths)):
        A_i = float(adv[i])
        if T_i == 0:
            statuses.append("fallback:empty")
            conserves.append(A_i == 0.0)
            continue
        tc = scheme_fn(T_i, credit, A_i, rng=np.random.default_rng([*seed_parts, i]), **scheme_kwargs)
        _check_token_credit(scheme, i, T_i, tc)
        weights[i, :T_i] = tc.weights
        loss_mask[i, :T_i] = tc.mask
        statuses.append(tc.status)
        conserves.append(tc.conserves)
    if route == "mask":
        _check_mask_route(scheme, normalizer, adv, weights, loss_mask)
    device, dtype = advantages.device, advantages.dtype
    if normalizer == "conserve_kl_all":
        L = _completion_length(max_completion_length, T, lengths)
        engine_advantages = (L * weights).to(device, dtype)
        engine_mask = completion_mask.clone()
    elif route == "per_token":  # conserve: TRL's grpo divides row i by T_i
        L = None
        counts = torch.tensor(lengths, dtype=torch.float64).clamp(min=1.0)
        engine_advantages = (counts[:, None] * weights).to(device, dtype)
        engine_mask = completion_mask.clone()
    else:
        L = None
        engine_advantages = advantages.detach().clone()
        engine_mask = loss_mask.to(device, completion_mask.dtype)
    return TokenAdvantages(
        per_token=weights.to(device, dtype),
        loss_mask=loss_mask.to(device),
        statuses=statuses,
        conserves=conserves,
        engine_advantages=engine_advantages,
        engine_mask=engine_mask,
        scheme=scheme,
        normalizer=normalizer,
        max_completion_length=L,
    )


def effective_token_weights(
    engine_advantages: torch.Tensor,
    engine_mask: torch.Tensor,
    normalizer: str,
    max_completion_length: int | None = None,
) -> torch.Tensor:
    """The per-token advantage the engine's aggregation applies to the engine inputs.

    ``normalizer``: ``conserve``/``grpo`` → ``A·m / max(Σ_t m, 1)`` per row (TRL clamps the count to
    1), with ``A`` of shape ``(B,)`` (the mask route) or ``(B, T)`` (the per-token route);
    ``conserve_kl_all``/``dr_grpo`` → ``a·m / L``. Both up to the ``1/B`` shared by the batch.
    ``engine`` has no fixed aggregator and raises.
    """
    loss_type = _SETTINGS[normalizer]["trl_loss_type"] if normalizer in _SETTINGS else normalizer
    mask = engine_mask.to(torch.float64)
    adv = engine_advantages.to(torch.float64)
    if loss_type == "grpo":
        if mask.ndim != 2 or adv.shape not in (mask.shape[:1], mask.shape):
            raise ValueError(
                f"grpo: need advantages (B,) or (B, T) and mask (B, T), got {tuple(adv.shape)}, {tuple(mask.shape)}"
            )
        adv = adv[:, None] if adv.ndim == 1 else adv
        return adv * mask / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    if loss_type == "dr_grpo":
        if adv.shape != mask.shape or adv.ndim != 2:
            raise ValueError(
                f"dr_grpo: need advantages and mask (B, T), got {tuple(adv.shape)}, {tuple(mask.shape)}"
            )
        if max_completion_length is None or max_completion_length < 1:
            raise ValueError("dr_grpo: max_completion_length (a positive int) is required")
        return adv * mask / max_completion_length
    raise ValueError(
        f"no fixed aggregation for normalizer {normalizer!r}; use conserve/grpo or conserve_kl_all/dr_grpo"
    )


# --- validation ------------------------------------------------------------------------------------


def _settings(normalizer: str) -> dict[str, str | bool | None]:
    if normalizer not in _SETTINGS:
        raise ValueError(f"unknown normalizer {normalizer!r}; known: {', '.join(NORMALIZERS)}")
    return _SETTINGS[normalizer]


def _route(normalizer: str, route: str | None) -> str:
    own = str(_settings(normalizer)["route"])
    if route is None or route == own:
        return own
    if normalizer == "conserve" and route == "per_token":
        return route
    raise ValueError(f"normalizer {normalizer!r} has no route {route!r} (it uses {own!r})")


def _seed_parts(seed: int | Sequence[int]) -> list[int]:
    parts = [seed] if isinstance(seed, int) else list(seed)
    if not parts or any(not isinstance(p, int) or isinstance(p, bool) or p < 0 for p in parts):
        raise ValueError(f"seed must be a non-negative int or a sequence of them, got {seed!r}")
    return [int(p) for p in parts]


def _check_scheme_kwargs(scheme: str, fn: SchemeFn, kwargs: dict[str, float]) -> None:
    allowed = set(inspect.signature(fn).parameters) - _SCHEME_OWN_ARGS
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(
            f"scheme {scheme!r} takes no argument(s) {sorted(unknown)}; it accepts {sorted(allowed) or 'none'}"
        )


def _validate(
    advantages: torch.Tensor, completion_mask: torch.Tensor, credits: Sequence[RolloutCredit]
) -> list[int]:
    """Check the inputs; return each row's number of valid tokens."""
    if not isinstance(advantages, torch.Tensor) or advantages.ndim != 1:
        raise ValueError(f"advantages must be a 1-D tensor (B,), got {_describe(advantages)}")
    if not advantages.is_floating_point():
        raise ValueError(f"advantages must be a floating tensor, got dtype {advantages.dtype}")
    if not bool(torch.isfinite(advantages).all()):
        raise ValueError("advantages contain NaN or inf")
    if not isinstance(completion_mask, torch.Tensor) or completion_mask.ndim != 2:
        raise ValueError(f"completion_mask must be a 2-D tensor (B, T), got {_describe(completion_mask)}")
    B, T = completion_mask.shape
    if advantages.shape[0] != B:
        raise ValueError(f"advantages have B={advantages.shape[0]} rows, completion_mask has {B}")
    if completion_mask.device != advantages.device:
        raise ValueError(f"advantages on {advantages.device}, completion_mask on {completion_mask.device}")
    if len(credits) != B:
        raise ValueError(f"got {len(credits)} credits for {B} rollouts")
    bad = [i for i, c in enumerate(credits) if not isinstance(c, RolloutCredit)]
    if bad:
        raise TypeError(f"credits[{bad[0]}] is {type(credits[bad[0]]).__name__}, not RolloutCredit")
    mask = completion_mask.detach().cpu()
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("completion_mask must contain only 0 and 1")
    lengths = mask.to(torch.int64).sum(dim=1)
    expected = torch.arange(T)[None, :] < lengths[:, None]
    rows = (mask.to(torch.bool) != expected).any(dim=1).nonzero().flatten().tolist()
    if rows:
        raise ValueError(f"completion_mask must be right-padded (ones, then zeros); rows {rows[:5]} are not")
    return [int(n) for n in lengths.tolist()]


def _describe(x: object) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__


def _check_token_credit(scheme: str, i: int, T_i: int, tc: TokenCredit) -> None:
    if tc.weights.shape != (T_i,) or tc.mask.shape != (T_i,) or tc.mask.dtype != torch.bool:
        raise RuntimeError(f"scheme {scheme!r} returned bad shapes for rollout {i} (T={T_i})")
    if bool((tc.weights[~tc.mask] != 0).any()):
        raise RuntimeError(f"scheme {scheme!r} put weight outside its mask on rollout {i}")


def _check_mask_route(
    scheme: str, normalizer: str, adv: torch.Tensor, weights: torch.Tensor, loss_mask: torch.Tensor
) -> None:
    """Raise unless every row is ``A_i/|mask_i|`` on its mask, which the mask route can express."""
    expressible = effective_token_weights(adv, loss_mask, "grpo")
    tol = 1e-9 * adv.abs().clamp(min=1.0)[:, None]
    rows = ((expressible - weights).abs() > tol).any(dim=1).nonzero().flatten().tolist()
    if rows:
        raise ValueError(
            f"scheme {scheme!r} gives weights that are not constant on the loss mask (rows {rows[:5]}); "
            f"normalizer {normalizer!r} passes only a mask and sequence advantages and cannot express "
            "them: use normalizer='conserve_kl_all'"
        )


def _completion_length(max_completion_length: int | None, T: int, lengths: list[int]) -> int:
    length = T if max_completion_length is None else max_completion_length
    longest = max(lengths, default=0)
    if not isinstance(length, int) or length < 1 or length < longest:
        raise ValueError(
            f"max_completion_length must be an int >= the longest completion ({longest}) and >= 1, got {length!r}"
        )
    return length
