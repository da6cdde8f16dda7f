"""Localizer backends by name, and the default combination.

Every backend has ``.sandbox`` and ``.localize(task, program, result=None, siblings=()) ->
Localization``; an abstention is ``loc.span is None`` with ``fallback=True`` and a ``reason`` that
starts with ``"abstain:"`` (the trainer's fallback applies, see :func:`egca.credit.abstain.apply`).

- ``trace``: the paper-faithful earliest divergence against the reference's trace
  (:class:`~egca.credit.localize.Localizer`).
- ``counterfactual``: the line a single small edit repairs (:mod:`egca.credit.counterfactual`).
- ``llm``: a debugger LLM names the line (:mod:`egca.credit.llm`; needs a model or a server).
- ``auto`` (default): ``counterfactual``; when edits on several lines repair the program, the line
  the trace localizer (and the LLM, when configured) points at among them wins; no repair: abstain.
  The choice is recorded in ``evidence["method"]`` and ``evidence["tie_break"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from egca.credit.constraints import ConstraintConfig
from egca.credit.counterfactual import CounterfactualLocalizer, RepairBudget
from egca.credit.divergence import Span
from egca.credit.llm import LLMConfig, LLMLocalizer
from egca.credit.localize import Localization, Localizer
from egca.execution import ExecResult, Sandbox
from egca.tasks.task import Task

BACKENDS: tuple[str, ...] = ("auto", "counterfactual", "trace", "llm")
DEFAULT_BACKEND = "auto"


class LocalizerBackend(Protocol):
    sandbox: Sandbox

    def localize(
        self, task: Task, program: str, result: ExecResult | None = None, siblings: Sequence[str] = ()
    ) -> Localization: ...

    def route(self, task: Task, program: str, result: ExecResult, reason: str) -> Localization: ...


def is_abstention(loc: Localization) -> bool:
    """A logic-mode rollout the localizer declined to localize."""
    return loc.span is None and loc.reason.startswith("abstain:")


class AutoLocalizer:
    """Counterfactual repair search; the trace (and LLM) localizers break ties between repaired lines."""

    name = "auto"

    def __init__(
        self,
        sandbox: Sandbox,
        constraints: ConstraintConfig | None = ConstraintConfig(),
        budget: RepairBudget = RepairBudget(),
        max_siblings: int = 2,
        llm: LLMLocalizer | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.counterfactual = CounterfactualLocalizer(sandbox, constraints, budget)
        # the trace localizer is right when the structures match: only behind the comparability gate
        self.trace = Localizer(sandbox, constraints or ConstraintConfig(), max_siblings=max_siblings)
        self.llm = llm
        self._router = Localizer(sandbox, constraints)

    def route(self, task: Task, program: str, result: ExecResult, reason: str) -> Localization:
        """The rollout's mode without localizing it (see :meth:`Localizer.route`)."""
        return self._router.route(task, program, result, reason)

    def localize(
        self, task: Task, program: str, result: ExecResult | None = None, siblings: Sequence[str] = ()
    ) -> Localization:
        loc = self.counterfactual.localize(task, program, result, siblings)
        candidates: list[dict[str, Any]] = loc.evidence.get("candidates") or []
        if loc.span is None or len(candidates) < 2:
            return loc
        t = loc.analysis_s
        votes: list[tuple[str, Localization]] = [
            ("trace", self.trace.localize(task, program, result, siblings))
        ]
        if self.llm is not None:
            votes.append(("llm", self.llm.localize(task, program, result, siblings)))
        for name, other in votes:
            t += other.analysis_s
            if other.span is None:
                continue
            lines = range(other.span.start_line, other.span.end_line + 1)
            pick = next((c for c in candidates if c["line"] in lines), None)
            if pick is not None:
                span = Span(**pick["span"])
                return replace(
                    loc,
                    span=span,
                    analysis_s=t,
                    evidence={**loc.evidence, "tie_break": name, "line": pick["line"]},
                )
        return replace(loc, analysis_s=t, evidence={**loc.evidence, "tie_break": "prior"})


def make_localizer(
    name: str,
    sandbox: Sandbox,
    constraints: ConstraintConfig | None = ConstraintConfig(),
    max_siblings: int = 2,
    budget: RepairBudget | None = None,
    llm: LLMConfig | None = None,
) -> LocalizerBackend:
    """The backend ``name`` (one of :data:`BACKENDS`). ``llm``: the debugger model, required by
    ``"llm"`` and used by ``"auto"`` as a second tie-breaker when given."""
    budget = budget or RepairBudget()
    if name == "trace":
        return Localizer(sandbox, constraints, max_siblings=max_siblings)
    if name == "counterfactual":
        return CounterfactualLocalizer(sandbox, constraints, budget)
    if name == "llm":
        if llm is None:
            raise ValueError("the llm localizer needs an LLM config (a model path/name or a server URL)")
        return LLMLocalizer(sandbox, llm)
    if name == "auto":
        return AutoLocalizer(
            sandbox,
            constraints,
            budget,
            max_siblings,
            LLMLocalizer(sandbox, llm) if llm is not None else None,
        )
    raise ValueError(f"unknown localizer {name!r} (expected one of {', '.join(BACKENDS)})")
