"""Regenerate and re-verify the rollout localization suite: ``python -m egca.bench.suite_tools``.

Subcommands (see ``src/egca/bench/suites/README.md`` for the whole procedure):

- ``sample``: sample rollouts of a registry model (chat prompts, T=0.8, top-p 0.95).
- ``candidates``: run them; write the failing-but-running programs (deduplicated per task).
- ``show``: print candidates with line numbers, the task and the first failing test (for labelling).
- ``build``: apply the labels file's fixes, verify them in the sandbox, write the suite.
- ``validate``: check a suite file against the format (no execution).
- ``verify``: re-run a suite's cases (all, or a seeded sample) in the sandbox.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from egca.bench.rollout_sampling import read_rollouts, sample_rollouts
from egca.bench.rollout_suite import TaskIndex, Verdict, build_case, find_candidates, run_programs, verify
from egca.bench.suite_format import SuiteCase, load_suite, write_suite
from egca.execution.sandbox import Sandbox

SUITES_DIR = Path(__file__).resolve().parent / "suites"
ROLLOUT_SUITE = SUITES_DIR / "rollouts.jsonl"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def cmd_sample(a: argparse.Namespace) -> int:
    n = sample_rollouts(
        a.model,
        Path(a.out),
        n_tasks=a.tasks,
        n=a.n,
        tasks_per_chunk=a.tasks_per_chunk,
        temperature=a.temperature,
        top_p=a.top_p,
        max_new_tokens=a.max_new_tokens,
        seed=a.seed,
        pool_seed=a.pool_seed,
        deadline_s=a.minutes * 60 if a.minutes else None,
    )
    print(f"{n} rollouts appended to {a.out}")
    return 0


def cmd_candidates(a: argparse.Namespace) -> int:
    rollouts = read_rollouts([Path(p) for p in a.rollouts])
    with Sandbox(workers=a.workers) as sb:
        rows = find_candidates(TaskIndex(sb), rollouts)
    kept = [r for r in rows if r["status"] == "failed" and not r["duplicate"]]
    _write_jsonl(Path(a.out), kept)
    stats: Counter[str] = Counter()
    for r in rows:
        stats[f"{r['source']} {r['status']}"] += 1
        if r["status"] == "failed":
            stats[f"{r['source']} failed on {r['fails_on']}{' (duplicate)' if r['duplicate'] else ''}"] += 1
    for k in sorted(stats):
        print(f"{k}: {stats[k]}")
    print(f"{len(rows)} rollouts, {len(kept)} distinct failing candidates -> {a.out}")
    return 0


def cmd_show(a: argparse.Namespace) -> int:
    rows = _read_jsonl(Path(a.candidates))
    wanted = set(a.ids)
    labelled = {r["id"] for r in _read_jsonl(Path(a.skip_labelled))} if a.skip_labelled else set()
    with Sandbox(workers=1) as sb:
        index = TaskIndex(sb)
        for r in rows:
            if (wanted and r["id"] not in wanted) or r["id"] in labelled:
                continue
            task = index.base(r["dataset"], r["task_id"])
            print(f"=== {r['id']}  [{r['fails_on']}] {r['failure']}")
            if a.prompt:
                print(task.prompt.strip())
                print("---")
            for i, ln in enumerate(r["candidate"].splitlines(), start=1):
                print(f"{i:3d}| {ln}")
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    rollouts = {r["id"]: r for r in _read_jsonl(Path(a.candidates))}
    labels = _read_jsonl(Path(a.labels))
    from egca.bench.rollout_suite import apply_edits

    with Sandbox(workers=a.workers) as sb:
        index = TaskIndex(sb)
        todo = [(lab, rollouts[lab["id"]]) for lab in labels]
        items = [(r["dataset"], r["task_id"], r["candidate"]) for _, r in todo]
        fixed = [
            (r["dataset"], r["task_id"], apply_edits(r["candidate"], lab["edits"]))
            for lab, r in todo
            if lab.get("edits") is not None
        ]
        verdicts = run_programs(index, items + fixed)
    cand_v, fixed_v = verdicts[: len(items)], iter(verdicts[len(items) :])
    cases: list[SuiteCase] = []
    failed = 0
    for (lab, r), cv in zip(todo, cand_v):
        fv: Verdict | None = next(fixed_v) if lab.get("edits") is not None else None
        try:
            cases.append(build_case(r, lab, (cv, fv)))
        except ValueError as e:
            failed += 1
            print(f"REJECTED {e}", file=sys.stderr)
    cases.sort(key=lambda c: c.id)
    write_suite(Path(a.out), cases)
    print(f"{len(cases)} cases written to {a.out} ({failed} rejected)")
    print(", ".join(f"{k}: {v}" for k, v in sorted(Counter(c.label for c in cases).items())))
    return 1 if failed and a.strict else 0


def cmd_validate(a: argparse.Namespace) -> int:
    cases = load_suite(a.suite)
    print(f"{len(cases)} cases valid in {a.suite}")
    for key in ("label", "bug_kind", "source", "dataset"):
        counts = Counter(getattr(c, key) for c in cases)
        print(f"{key}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    return 0


def cmd_verify(a: argparse.Namespace) -> int:
    cases = load_suite(a.suite)
    if a.sample and a.sample < len(cases):
        cases = random.Random(a.seed).sample(cases, a.sample)
    with Sandbox(workers=a.workers) as sb:
        problems = verify(TaskIndex(sb), cases)
    for p in problems:
        print(p)
    print(f"{len(cases) - len({p.split(':')[0] for p in problems})} of {len(cases)} cases verified")
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m egca.bench.suite_tools", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample", help="sample rollouts of a model")
    s.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    s.add_argument("--out", required=True)
    s.add_argument("--tasks", type=int, default=240, help="number of pool tasks to sample")
    s.add_argument("--n", type=int, default=4, help="samples per task")
    s.add_argument("--tasks-per-chunk", type=int, default=4)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-p", type=float, default=0.95)
    s.add_argument("--max-new-tokens", type=int, default=512)
    s.add_argument("--seed", type=int, default=1000)
    s.add_argument("--pool-seed", type=int, default=0)
    s.add_argument("--minutes", type=float, default=None, help="stop after the chunk that crosses this")
    s.set_defaults(func=cmd_sample)
    s = sub.add_parser("candidates", help="failing-but-running programs of sampled rollouts")
    s.add_argument("rollouts", nargs="+")
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int, default=2)
    s.set_defaults(func=cmd_candidates)
    s = sub.add_parser("show", help="print candidates for labelling")
    s.add_argument("candidates")
    s.add_argument("ids", nargs="*")
    s.add_argument("--prompt", action="store_true", help="also print the task prompt")
    s.add_argument("--skip-labelled", default=None, help="labels file whose ids are skipped")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("build", help="verify labels and write the suite")
    s.add_argument("candidates")
    s.add_argument("labels")
    s.add_argument("--out", default=str(ROLLOUT_SUITE))
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--strict", action="store_true", help="exit 1 when a label is rejected")
    s.set_defaults(func=cmd_build)
    s = sub.add_parser("validate", help="check a suite file's format")
    s.add_argument("suite", nargs="?", default=str(ROLLOUT_SUITE))
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("verify", help="re-run a suite's cases in the sandbox")
    s.add_argument("suite", nargs="?", default=str(ROLLOUT_SUITE))
    s.add_argument("--sample", type=int, default=0, help="verify this many random cases (0: all)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.set_defaults(func=cmd_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    code: int = a.func(a)
    return code


if __name__ == "__main__":
    sys.exit(main())
