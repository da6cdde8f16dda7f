"""The pretraining corpus: for each training task, correct solutions in several styles and
realistically wrong ones, every one verified in egca's sandbox.

A correct solution must pass all its task's tests; a wrong one must run and fail (status
``failed``: a wrong answer, the logic mode EGCA is about). Variants that pass anyway (equivalent on
every test) or crash are left out, and counted.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path

from egca.execution import ExecJob, Sandbox, Status
from egca.tasks.extract import build_program
from egca.testbed.family import Instance, TestbedConfig, build_instances, to_task
from egca.testbed.templates import variants


@dataclass(frozen=True)
class CorpusConfig:
    """How many solutions of each kind a training task contributes."""

    n_correct: int = 3  # correct solutions (styles cycled, the reference's style first)
    n_wrong: int = 2  # wrong solutions, drawn from the verified bug variants
    seed: int = 0


@dataclass(frozen=True)
class Solution:
    """One corpus entry: ``prompt + completion`` is a complete program."""

    task_id: str
    prompt: str
    completion: str
    correct: bool
    style: int
    bug: str | None  # the variant name (``wrong_variable.map``), None when correct
    status: str  # the sandbox verdict that admitted it

    @property
    def bug_kind(self) -> str | None:
        return self.bug.split(".")[0] if self.bug else None


@dataclass
class Corpus:
    solutions: list[Solution]
    dropped: Counter[str] = field(default_factory=Counter)  # why candidates were left out

    def counts(self) -> dict[str, int]:
        return dict(Counter("correct" if s.correct else str(s.bug_kind) for s in self.solutions))


def candidates(inst: Instance) -> list[tuple[int, str | None, str]]:
    """Every (style, variant, body) of an instance: the correct styles, then each style's bug variants."""
    styles = range(len(inst.template.styles))
    out: list[tuple[int, str | None, str]] = [(s, None, inst.body(s)) for s in styles]
    for s in styles:
        out.extend((s, v, inst.body(s, v)) for v in variants(inst.template.styles[s]))
    return out


def build_corpus(
    testbed: TestbedConfig, config: CorpusConfig, sandbox: Sandbox, limit: int | None = None
) -> Corpus:
    """Verify every candidate of every training task (the first ``limit``) in ``sandbox`` and draw the mix."""
    instances = build_instances(testbed, "train")[:limit]
    tasks = [to_task(inst, testbed, "train") for inst in instances]
    pending = [(task, s, v, body) for inst, task in zip(instances, tasks) for s, v, body in candidates(inst)]
    jobs = [ExecJob.for_task(task, build_program(task, body).source) for task, _, _, body in pending]
    results = sandbox.run_many(jobs)
    correct: dict[str, list[Solution]] = {}
    wrong: dict[str, list[Solution]] = {}
    dropped: Counter[str] = Counter()
    for (task, s, v, body), result in zip(pending, results):
        status = result.status
        if v is None and status is not Status.PASSED:
            raise RuntimeError(f"testbed bug: style {s} of {task.task_id} does not pass ({status.value})")
        if v is not None and status is not Status.FAILED:
            dropped["passes" if status is Status.PASSED else status.value] += 1
            continue
        sol = Solution(task.task_id, task.prompt, body, v is None, s, v, status.value)
        (correct if v is None else wrong).setdefault(task.task_id, []).append(sol)
    rng = random.Random(f"testbed-corpus:{config.seed}")
    chosen: list[Solution] = []
    for task in tasks:
        right = correct[task.task_id]
        chosen.extend(right[i % len(right)] for i in range(config.n_correct))
        chosen.extend(_draw_wrong(wrong.get(task.task_id, []), config.n_wrong, rng))
    rng.shuffle(chosen)
    return Corpus(chosen, dropped)


def _draw_wrong(bad: list[Solution], n: int, rng: random.Random) -> list[Solution]:
    """``n`` wrong solutions: bug kinds drawn evenly (without repeats while kinds remain), then a
    variant of the kind, so that kinds with many variants (one per style) do not dominate."""
    by_kind: dict[str, list[Solution]] = {}
    for s in bad:
        by_kind.setdefault(str(s.bug_kind), []).append(s)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    picked: list[Solution] = []
    for i in range(min(n, len(bad))):
        pool = [s for s in by_kind[kinds[i % len(kinds)]] if s not in picked]
        if not pool:
            pool = [s for s in bad if s not in picked]
        picked.append(rng.choice(pool))
    return picked


def write_corpus(corpus: Corpus, path: str | PathLike[str]) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        for s in corpus.solutions:
            f.write(json.dumps(asdict(s)) + "\n")


def read_corpus(path: str | PathLike[str]) -> Corpus:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return Corpus([Solution(**json.loads(line)) for line in lines if line.strip()])
