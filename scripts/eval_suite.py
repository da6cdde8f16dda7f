"""Quick precision / coverage / time of a localizer backend on a suite file (issue 8 format).

    python scripts/eval_suite.py SUITE.jsonl [--localizer auto] [--limit N] [--workers 2]

Each case's task is loaded from its dataset (MBPP: all splits); a candidate that passes the base
tests is localized against the EvalPlus tests of the task. Prints one summary line per label.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter

from egca.credit.backends import make_localizer
from egca.credit.llm import LLMConfig
from egca.execution import ExecJob, Sandbox
from egca.execution.references import prepare_tasks
from egca.tasks import load_tasks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite")
    ap.add_argument("--localizer", default="auto")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="one line per case as it is done")
    ap.add_argument("--llm-model", default=None, help="llm backend: model folder or registry name")
    ap.add_argument("--label", default=None, help="only cases with this label (single, multi, algorithm)")
    args = ap.parse_args()
    with open(args.suite, encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    cases = [c for c in cases if args.label is None or c["label"] == args.label][: args.limit]
    tasks = {}
    for ds in ("humaneval", "mbpp"):
        for t in load_tasks(ds, split="all") if ds == "mbpp" else load_tasks(ds):
            tasks[(ds, t.task_id)] = t
    plus: dict = {}
    rows = []
    with Sandbox(workers=args.workers) as sb:
        llm = LLMConfig(model=args.llm_model) if args.llm_model else None
        loc = make_localizer(args.localizer, sb, llm=llm)
        for c in cases:
            task = tasks.get((c["dataset"], c["task_id"]))
            if task is None:
                continue
            run = sb.run(ExecJob.for_task(task, c["candidate"], record_calls=True))
            if run.passed:  # fails only the plus tests
                name = c["dataset"] + "-plus"
                if name not in plus:
                    plus[name] = {t.task_id: t for t in prepare_tasks(load_tasks(name), sb)}
                task = plus[name].get(c["task_id"], task)
                run = sb.run(ExecJob.for_task(task, c["candidate"], record_calls=True))
            t0 = time.perf_counter()
            out = loc.localize(task, c["candidate"], run)
            dt = time.perf_counter() - t0
            span = out.span
            hit = span is not None and any(span.start_line <= ln <= span.end_line for ln in c["fix_lines"])
            rows.append((c, out, hit, dt))
            if args.verbose:
                got = None if span is None else span.start_line
                print(
                    c["id"], "fix", c["fix_lines"], "got", got, "hit" if hit else "", f"{dt:.1f}s", flush=True
                )
            if args.misses and span is not None and not hit and c["label"] == "single":
                print(
                    "MISS",
                    c["id"],
                    c["bug_kind"],
                    "fix",
                    c["fix_lines"],
                    "got",
                    span.start_line,
                    {k: out.evidence.get(k) for k in ("edit", "replacement", "repaired_lines", "tie_break")},
                )
            if args.misses and span is None and c["label"] == "single":
                print("ABST", c["id"], c["bug_kind"], "fix", c["fix_lines"], out.mode.value, out.reason[:60])
    for label in ("single", "multi", "algorithm"):
        rs = [r for r in rows if r[0]["label"] == label]
        if not rs:
            continue
        preds = [r for r in rs if r[1].span is not None]
        hits = sum(r[2] for r in preds)
        times = sorted(r[3] for r in rs)
        lengths = [r[1].span.end_line - r[1].span.start_line + 1 for r in preds]
        print(
            f"{args.localizer} {label}: n={len(rs)} coverage={len(preds) / len(rs):.1%} "
            f"precision={hits / max(1, len(preds)):.1%} accuracy={hits / len(rs):.1%} "
            f"median_span_lines={statistics.median(lengths) if lengths else 0} "
            f"time median={statistics.median(times) * 1000:.0f}ms p95={times[int(0.95 * (len(times) - 1))] * 1000:.0f}ms "
            f"modes={dict(Counter(r[1].mode.value for r in rs))}"
        )
        amb = [r for r in preds if len(r[1].evidence.get("repaired_lines") or ()) > 1]
        if amb:
            print(
                f"  {label}: {len(amb)} predictions chose among several repaired lines "
                f"(precision {sum(r[2] for r in amb) / len(amb):.1%}; tie-breaks "
                f"{dict(Counter(r[1].evidence.get('tie_break') for r in amb))}); "
                f"the others {sum(r[2] for r in preds if r not in amb)}/{len(preds) - len(amb)}"
            )


if __name__ == "__main__":
    main()
