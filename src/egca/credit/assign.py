"""From a scored GRPO group to per-rollout credit: mode, localization, token spans.

The glue between execution (programs and their test runs), the localizer (code spans) and the
operator (token spans): each rollout's divergent statement is mapped to its raw completion through
the extraction offset and then to the generated token ids through the tokenizer's offsets.
References (``references``): ``"curated+siblings"`` (default) the task's curated reference with
up to ``max_siblings`` passing rollouts of the group as extra references; ``"curated"`` the curated
reference alone; ``"siblings"`` the group's first passing rollout as the reference (a passing
sibling is correct on every test, so on the probe too), the curated one ignored. A task without a
curated reference always uses its siblings (reference-free mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from egca.credit.backends import LocalizerBackend
from egca.credit.divergence import ProgramIndex
from egca.credit.localize import Localization, lacks_calls
from egca.credit.spans import char_offsets_of_ids, code_span_to_tokens, statement_token_spans
from egca.credit.types import RolloutCredit, TokenSpan
from egca.execution import ExecJob, ExecResult
from egca.tasks.extract import Program, build_program
from egca.tasks.task import Task


@dataclass(frozen=True)
class RolloutAnalysis:
    """Everything the credit stage decided about one rollout."""

    program: Program
    result: ExecResult
    localization: Localization
    credit: RolloutCredit


def _to_tokens(
    program: Program, tokenizer: Any, ids: Sequence[int], loc: Localization, offsets: Any
) -> TokenSpan | None:
    if loc.span is None:
        return None
    s = loc.span
    return code_span_to_tokens(
        program, tokenizer, ids, s.start_line, s.start_col, s.end_line, s.end_col, offsets=offsets
    )


def _executed(
    program: Program, tokenizer: Any, ids: Sequence[int], result: ExecResult, offsets: Any
) -> tuple[TokenSpan, ...] | None:
    """Token spans of the statements the tests executed (the ``stepcoder_mask`` input)."""
    if result.covered is None or offsets is None:
        return None
    try:
        index = ProgramIndex(program.source)
    except SyntaxError:
        return None
    spans: list[TokenSpan] = []
    for line in result.covered:
        stmt = index.statement(line)
        if stmt is None:
            continue
        s = index.header(stmt)
        ts = code_span_to_tokens(
            program, tokenizer, ids, s.start_line, s.start_col, s.end_line, s.end_col, offsets=offsets
        )
        if ts is not None and ts not in spans:
            spans.append(ts)
    return tuple(spans)


REFERENCE_SOURCES: tuple[str, ...] = ("curated+siblings", "curated", "siblings")


def analyze_group(
    localizer: LocalizerBackend,
    task: Task,
    completions: Sequence[str],
    completion_ids: Sequence[Sequence[int]],
    tokenizer: Any,
    results: Sequence[ExecResult] | None = None,
    threads: int | None = None,
    references: str = "curated+siblings",
    skip: Sequence[str | None] | None = None,
) -> list[RolloutAnalysis]:
    """Route and localize every rollout of one group (one task); never raises on a bad program.

    The rollouts are localized concurrently on ``threads`` threads (default: the sandbox's workers),
    each waiting on its own sandbox worker; mapping spans to tokens stays on the calling thread
    (fast tokenizers are not safe to share between threads). A rollout with a reason in
    ``skip[i]`` (e.g. ``"zero_advantage"``: no span could change its update) is only routed
    (:meth:`Localizer.route`: no sandbox run, status ``fallback:<reason>``). A completion text
    that is not the decoded ids (a trainer that
    parsed the response, e.g. dropped a reasoning part) is mapped where its code occurs in them.
    """
    skipped = list(skip) if skip is not None else [None] * len(completions)
    programs = [build_program(task, c) for c in completions]
    if results is None or any(lacks_calls(r) for r, s in zip(results, skipped) if not s):
        jobs = [ExecJob.for_task(task, p.source, record_calls=True, coverage=True) for p in programs]
        results = localizer.sandbox.run_many(jobs)
    if references not in REFERENCE_SOURCES:
        raise ValueError(
            f"unknown references {references!r} (expected one of {', '.join(REFERENCE_SOURCES)})"
        )
    ref_task = task
    reference = "curated"
    passing = [p.source for p, r in zip(programs, results) if r.passed]
    if not task.reference or references == "siblings":
        ref_task = replace(task, reference=passing[0] if passing else "")
        reference = "sibling"
    siblings = [] if references == "curated" else [p for p in passing if p != ref_task.reference]
    locs = _localize_all(
        localizer, ref_task, [p.source for p in programs], results, siblings, threads, skipped
    )
    out = []
    for program, ids, result, loc in zip(programs, completion_ids, results, locs):
        if loc.reference:
            loc = replace(loc, reference=reference)
        try:
            offsets = char_offsets_of_ids(tokenizer, list(ids))
        except ValueError:
            offsets = None
        if offsets is not None:
            program = _aligned(program, offsets.text)
        span = _to_tokens(program, tokenizer, ids, loc, offsets) if offsets is not None else None
        status = loc.status
        if loc.span is not None and span is None:
            status = "fallback:span_mapping"
        statements = (
            statement_token_spans(program, tokenizer, ids, offsets=offsets) if offsets is not None else ()
        )
        late = None
        if loc.late_span is not None and offsets is not None:
            late = _to_tokens(program, tokenizer, ids, replace(loc, span=loc.late_span), offsets)
        credit = RolloutCredit(
            mode=loc.mode,
            span=span,
            status=status,
            late_span=late,
            error_span=span if loc.mode.value == "syntax" else None,
            statement_spans=statements,
            executed_spans=_executed(program, tokenizer, ids, result, offsets),
        )
        out.append(RolloutAnalysis(program, result, loc, credit))
    return out


def _aligned(program: Program, text: str) -> Program:
    """``program`` with its extraction offsets moved into ``text`` (the decoded ids) when the
    completion it was built from is not that text; unchanged when the code is not found there
    (the span then falls back to ``fallback:span_mapping``)."""
    ex = program.extracted
    if text[ex.start : ex.end] == ex.code:
        return program
    at = text.rfind(ex.code)  # the answer follows any reasoning, which may hold a draft of it
    if at < 0 or not ex.code:
        return program
    return replace(program, extracted=replace(ex, start=at, end=at + len(ex.code)))


def _localize_all(
    localizer: LocalizerBackend,
    task: Task,
    sources: Sequence[str],
    results: Sequence[ExecResult],
    siblings: list[str],
    threads: int | None,
    skipped: Sequence[str | None],
) -> list[Localization]:
    """``localizer.localize`` for every rollout, in order, on up to ``threads`` threads
    (``localizer.route`` for the skipped ones)."""

    def one(i: int) -> Localization:
        reason = skipped[i]
        if reason:
            return localizer.route(task, sources[i], results[i], reason=reason)
        return localizer.localize(task, sources[i], results[i], siblings=siblings)

    n = min(len(sources), threads or localizer.sandbox.n_workers)
    if n <= 1:
        return [one(i) for i in range(len(sources))]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(len(sources))))
