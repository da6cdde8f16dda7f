"""``egca bench localize``: is the localizer right, and is it cheap? Measured on single-bug mutants.

For each task, mutants of the reference (some of them of a restyled reference, so that candidate and
reference differ in names and form) are run against the tests. Those that run and fail a test are
logic-mode rollouts with a known buggy line; the report gives routing shares, the share of
predicted spans that contain the mutated line (overall, per kind, control flow separately) next to
three baselines (RLTF's error line, the last statement, a random statement), the mean span length
as a share of program tokens, the fallback rate and the analysis time per rollout.
"""

from __future__ import annotations

import ast
import io
import random
import statistics
import time
import tokenize
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from egca.bench.mutants import Mutant, mutants, restyle
from egca.credit.backends import make_localizer
from egca.credit.constraints import ConstraintConfig
from egca.credit.localize import Localization
from egca.credit.types import Mode
from egca.execution import ExecJob, Limits, Sandbox
from egca.tasks import Task, load_tasks


@dataclass(frozen=True)
class Case:
    task: Task
    mutant: Mutant
    restyled: bool


def select_cases(tasks: list[Task], per_kind: int, restyle_every: int, seed: int) -> list[Case]:
    """Up to ``per_kind`` mutants per kind and task; every ``restyle_every``-th task restyled first."""
    rng = random.Random(seed)
    cases = []
    for i, task in enumerate(tasks):
        restyled = restyle_every > 0 and i % restyle_every == restyle_every - 1
        source = task.reference
        if restyled:
            try:
                source = restyle(task.reference, task.entry_point)
            except (SyntaxError, ValueError):
                restyled = False
        by_kind: dict[str, list[Mutant]] = defaultdict(list)
        for m in mutants(source, task.entry_point):
            by_kind[m.kind].append(m)
        for kind in sorted(by_kind):
            ms = by_kind[kind]
            rng.shuffle(ms)
            cases += [Case(task, m, restyled) for m in ms[:per_kind]]
    return cases


def _statements(source: str, entry: str) -> list[ast.stmt]:
    tree = ast.parse(source)
    fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry), None)
    return [n for n in ast.walk(fn)] if fn is not None else []  # type: ignore[misc]


def _token_share(source: str, loc: Localization) -> float | None:
    if loc.span is None:
        return None
    try:
        toks = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type
            not in (
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.COMMENT,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            )
        ]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    s = loc.span
    inside = [
        t
        for t in toks
        if (s.start_line, s.start_col) <= t.start < (s.end_line, max(s.end_col, s.start_col + 1))
    ]
    return len(inside) / max(1, len(toks))


def bench_localize(
    datasets: tuple[str, ...] = ("humaneval", "mbpp"),
    limit: int | None = None,
    per_kind: int = 2,
    restyle_every: int = 3,
    seed: int = 0,
    workers: int | None = None,
    timeout_s: float = 1.0,
    constraints: bool = True,
    localizer: str = "trace",
) -> dict[str, Any]:
    """Run the benchmark and return the report (``report["lines"]`` is the printable summary);
    ``localizer``: a backend of :data:`egca.credit.backends.BACKENDS`."""
    tasks: list[Task] = []
    for name in datasets:
        tasks += [t for t in load_tasks(name, limit=limit) if t.reference]
    cases = select_cases(tasks, per_kind, restyle_every, seed)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    # Mutants that loop forever are common (a negated ``while``): a short limit keeps the run fast.
    with Sandbox(
        workers=workers, limits=Limits(timeout_s=timeout_s, total_timeout_s=4 * timeout_s)
    ) as sandbox:
        runs = sandbox.run_many([ExecJob.for_task(c.task, c.mutant.source, record_calls=True) for c in cases])
        backend = make_localizer(localizer, sandbox, ConstraintConfig() if constraints else None)
        with ThreadPoolExecutor(sandbox.n_workers) as pool:
            locs = list(
                pool.map(
                    lambda cr: backend.localize(cr[0].task, cr[0].mutant.source, cr[1]), zip(cases, runs)
                )
            )
    elapsed = time.perf_counter() - t0
    modes = Counter(loc.mode.value for loc in locs)
    rows = []
    for case, loc in zip(cases, locs):
        if loc.mode is not Mode.LOGIC:
            continue
        line = case.mutant.line
        hit = loc.span is not None and loc.span.start_line <= line <= loc.span.end_line
        stmts = [s for s in _statements(case.mutant.source, case.task.entry_point) if isinstance(s, ast.stmt)]
        body_stmts = [s for s in stmts if not isinstance(s, ast.FunctionDef)]
        last = max(body_stmts, key=lambda s: (s.lineno, s.col_offset), default=None)
        rand = rng.choice(body_stmts) if body_stmts else None
        rows.append(
            {
                "kind": case.mutant.kind,
                "control_flow": case.mutant.control_flow,
                "restyled": case.restyled,
                "hit": hit,
                "fallback": loc.fallback,
                "reason": loc.reason,
                "share": _token_share(case.mutant.source, loc),
                "time": loc.analysis_s,
                "last_hit": last is not None and last.lineno <= line <= (last.end_lineno or last.lineno),
                "random_hit": rand is not None and rand.lineno <= line <= (rand.end_lineno or rand.lineno),
            }
        )
    report = _report(len(cases), modes, rows, elapsed, datasets)
    report["constraints"] = constraints
    report["localizer"] = localizer
    report["lines"].insert(0, f"constraint checks and comparability gate: {'on' if constraints else 'off'}")
    return report


def _pct(xs: list[bool]) -> float:
    return 100.0 * sum(xs) / len(xs) if xs else 0.0


def _report(
    n: int, modes: Counter[str], rows: list[dict[str, Any]], elapsed: float, datasets: tuple[str, ...]
) -> dict[str, Any]:
    times = sorted(r["time"] for r in rows) or [0.0]
    shares = [r["share"] for r in rows if r["share"] is not None]
    per_kind = {}
    for kind in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == kind]
        per_kind[kind] = {"n": len(rs), "accuracy": _pct([r["hit"] for r in rs])}
    cf = [r for r in rows if r["control_flow"]]
    restyled = [r for r in rows if r["restyled"]]
    report = {
        "datasets": list(datasets),
        "mutants": n,
        "modes": dict(modes),
        "logic": len(rows),
        "accuracy": _pct([r["hit"] for r in rows]),
        "accuracy_control_flow": _pct([r["hit"] for r in cf]),
        "accuracy_restyled": _pct([r["hit"] for r in restyled]),
        "accuracy_without_deletions": _pct([r["hit"] for r in rows if r["kind"] != "deleted_statement"]),
        "per_kind": per_kind,
        "baselines": {
            "rltf_error_line": 0.0,  # RLTF gives wrong answers no location ("ignore")
            "last_statement": _pct([r["last_hit"] for r in rows]),
            "random_statement": _pct([r["random_hit"] for r in rows]),
        },
        "mean_span_token_share": statistics.fmean(shares) if shares else 0.0,
        "fallback_rate": _pct([r["fallback"] for r in rows]),
        "fallback_reasons": dict(Counter(r["reason"] for r in rows if r["fallback"])),
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[min(len(times) - 1, int(0.95 * len(times)))],
        "wall_s": elapsed,
    }
    lines = [
        f"mutants: {n} from {', '.join(datasets)}; routed: "
        + ", ".join(f"{k} {v} ({100 * v / max(1, n):.1f}%)" for k, v in sorted(modes.items())),
        f"logic-mode mutants: {len(rows)}; span contains the mutated line: {report['accuracy']:.1f}% "
        f"(control flow {report['accuracy_control_flow']:.1f}% of {len(cf)}, restyled {report['accuracy_restyled']:.1f}% "
        f"of {len(restyled)}; without deleted statements {report['accuracy_without_deletions']:.1f}%: a deleted "
        "statement leaves no token to blame)",
        "baselines: rltf error line 0.0% (no line for wrong answers), "
        f"last statement {report['baselines']['last_statement']:.1f}%, random statement {report['baselines']['random_statement']:.1f}%",
        "per kind: " + ", ".join(f"{k} {v['accuracy']:.0f}% (n={v['n']})" for k, v in per_kind.items()),
        f"mean span length: {100 * report['mean_span_token_share']:.1f}% of program tokens; "
        f"fallback {report['fallback_rate']:.1f}% {report['fallback_reasons']}",
        f"analysis time per rollout: median {report['median_ms']:.1f} ms, p95 {report['p95_ms']:.1f} ms; "
        f"wall {elapsed:.1f} s",
    ]
    report["lines"] = lines
    return report
