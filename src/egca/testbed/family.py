"""The task family: every (template, domain, predicate family) combination, the train / held-out
split by combination, and the tasks themselves (HumanEval-style prompts, references, base and
extra tests), deterministic from a seed.

Held-out tasks are *new combinations* of building blocks that training uses: for each template,
one predicate family per domain is held out, rotating so that every held-out template and every
held-out predicate family still appear in training with other partners.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from egca.tasks.jsonl import dump_jsonl_tasks
from egca.tasks.task import Task, TestCase
from egca.testbed.blocks import Domain, Map, Pred, make_map, make_pred, maps_of, preds_of, random_input
from egca.testbed.templates import TEMPLATES, Template, get_template, render

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class TestbedConfig:
    """What defines the tasks (and, through the corpus, the pretrained policy)."""

    __test__ = False  # not a pytest class

    seed: int = 0
    train_per_combo: int = 10  # task instances per training combination
    heldout_per_combo: int = 3  # task instances per held-out combination
    n_base: int = 3  # base tests (the first two are the prompt's examples)
    n_plus: int = 12  # extra (EvalPlus-style) inputs

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Combo:
    """One combination of building blocks: a template, a domain and a predicate family."""

    template: str
    domain: Domain
    pred: str

    @property
    def name(self) -> str:
        return f"{self.template}/{self.domain}/{self.pred}"


def all_combos() -> list[Combo]:
    return [Combo(t.name, d, p) for t in TEMPLATES for d in t.domains for p in preds_of(d)]


def heldout_combos(seed: int) -> list[Combo]:
    """One predicate family per (template, domain), rotating through the families from an offset
    drawn from ``seed``."""
    offset = random.Random(f"testbed-split:{seed}").randrange(1000)
    chosen: list[Combo] = []
    per_domain: dict[str, int] = {}
    for t in TEMPLATES:
        for d in t.domains:
            j = per_domain.get(d, 0)
            per_domain[d] = j + 1
            preds = preds_of(d)
            chosen.append(Combo(t.name, d, preds[(offset + j) % len(preds)]))
    return chosen


def split_combos(seed: int) -> dict[str, list[Combo]]:
    held = set(heldout_combos(seed))
    return {
        "train": [c for c in all_combos() if c not in held],
        "heldout": [c for c in all_combos() if c in held],
    }


@dataclass(frozen=True)
class Instance:
    """A concrete task before it becomes a :class:`Task`: its blocks with drawn parameters."""

    combo: Combo
    index: int
    pred: Pred
    fmap: Map | None
    inputs: tuple[Any, ...]

    @property
    def template(self) -> Template:
        return get_template(self.combo.template)

    @property
    def entry_point(self) -> str:
        suffix = f"_{self.fmap.family}" if self.fmap else ""
        return f"{self.combo.template}_{self.pred.slug}{suffix}"

    def body(self, style: int = 0, variant: str | None = None) -> str:
        return render(self.template.styles[style], self.combo.domain, self.pred, self.fmap, variant)

    def signature(self) -> str:
        param = "nums: list" if self.combo.domain == "int" else "text: str"
        return f"def {self.entry_point}({param}) -> {self.template.returns}:\n"

    def spec(self) -> str:
        words = {"int": ("nums", "number", "numbers"), "str": ("text", "character", "characters")}
        items, element, elements = words[self.combo.domain]
        return self.template.spec.format(
            P=self.pred.phrase,
            F=self.fmap.phrase if self.fmap else "",
            items=items,
            element=element,
            elements=elements,
        )


def make_instance(combo: Combo, index: int, config: TestbedConfig, split: str) -> Instance:
    rng = random.Random(f"testbed:{config.seed}:{split}:{combo.name}:{index}")
    pred = make_pred(combo.pred, rng)
    template = get_template(combo.template)
    fmap = make_map(rng.choice(maps_of(combo.domain)), rng) if template.uses_map else None
    inputs = _inputs(combo.domain, pred, rng, config.n_base + config.n_plus)
    return Instance(combo, index, pred, fmap, inputs)


def _inputs(domain: Domain, pred: Pred, rng: random.Random, n: int) -> tuple[Any, ...]:
    """``n`` distinct inputs: the first ones hold elements that satisfy and fail the predicate (they
    become the prompt's examples), then random ones and the empty input."""
    empty: Any = [] if domain == "int" else ""
    out: list[Any] = []
    for _ in range(200):
        x = random_input(domain, rng)
        hits = sum(pred.check(v) for v in x)
        informative = 0 < hits < len(x) if len(out) < 2 else True
        if informative and x not in out and x != empty:
            out.append(x)
        if len(out) == n - 1:
            break
    out.append(empty)
    return tuple(out)


def run_reference(source: str, entry_point: str, args: tuple[Any, ...]) -> Any:
    """Call the generated reference in this process (our own code, not a model's) on ``args``."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "<testbed reference>", "exec"), namespace)  # generated by us
    return namespace[entry_point](*args)


def to_task(inst: Instance, config: TestbedConfig, split: str) -> Task:
    """The :class:`Task`: prompt (signature, spec, two examples), reference, base + extra call tests."""
    body = inst.body(0)
    provisional = inst.signature() + body
    outputs = [run_reference(provisional, inst.entry_point, (x,)) for x in inst.inputs]
    examples = "".join(
        f"    >>> {inst.entry_point}({x!r})\n    {y!r}\n" for x, y in zip(inst.inputs[:2], outputs[:2])
    )
    prompt = f'{inst.signature()}    """{inst.spec()}\n\n{examples}    """\n'
    n_base = config.n_base
    tests = tuple(
        TestCase(
            index=i,
            kind="call",
            args=(x,),
            expected=y,
            label=f"base[{i}]" if i < n_base else f"plus[{i - n_base}]",
        )
        for i, (x, y) in enumerate(zip(inst.inputs, outputs))
    )
    c = inst.combo
    return Task(
        task_id=f"testbed/{split}/{c.template}-{c.domain}-{c.pred}-{inst.index}",
        prompt=prompt,
        entry_point=inst.entry_point,
        reference=prompt + body,
        tests=tests,
        metadata={
            "dataset": "testbed",
            "testbed_split": split,
            "combination": c.name,
            "template": c.template,
            "domain": c.domain,
            "pred": c.pred,
            "map": inst.fmap.family if inst.fmap else None,
            "n_base": n_base,
            "n_plus": len(tests) - n_base,
            "seed": config.seed,
        },
    )


def build_instances(config: TestbedConfig, split: str) -> list[Instance]:
    if split not in SPLITS:
        raise ValueError(f"unknown testbed split {split!r} (expected one of {', '.join(SPLITS)})")
    per = config.train_per_combo if split == "train" else config.heldout_per_combo
    return [make_instance(c, i, config, split) for c in split_combos(config.seed)[split] for i in range(per)]


def build_tasks(config: TestbedConfig, split: str) -> list[Task]:
    """The tasks of ``split`` (``train`` or ``heldout``), in a fixed order."""
    return [to_task(inst, config, split) for inst in build_instances(config, split)]


def write_tasks(config: TestbedConfig, folder: str | PathLike[str]) -> dict[str, Path]:
    """``train.jsonl`` and ``heldout.jsonl`` in egca's JSONL task format; returns their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in SPLITS:
        paths[split] = out / f"{split}.jsonl"
        dump_jsonl_tasks(build_tasks(config, split), paths[split])
    return paths
