"""The learning testbed: generated tasks, the split by combination, the verified corpus."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from egca.execution import ExecJob
from egca.tasks import load_tasks
from egca.tasks.extract import build_program
from egca.testbed.blocks import make_map, make_pred
from egca.testbed.corpus import CorpusConfig, build_corpus
from egca.testbed.family import (
    Combo,
    Instance,
    TestbedConfig,
    all_combos,
    build_instances,
    build_tasks,
    heldout_combos,
    run_reference,
    split_combos,
    write_tasks,
)
from egca.testbed.templates import TEMPLATES, get_template, render, variants

SMALL = TestbedConfig(train_per_combo=1, heldout_per_combo=1)


def _rows(tasks):
    return [(t.task_id, t.prompt, t.reference, t.tests, dict(t.metadata)) for t in tasks]


def test_generation_is_deterministic_and_seeded():
    a, b = build_tasks(SMALL, "train"), build_tasks(SMALL, "train")
    assert _rows(a) == _rows(b)
    other = build_tasks(replace(SMALL, seed=1), "train")
    assert _rows(other) != _rows(a)


def test_combinations_and_split_counts():
    # 3 templates over both domains x (6 int + 5 str predicates), count_each and replace over str
    # (5 each), 5 int-only templates (6 each): 33 + 10 + 30
    assert len(all_combos()) == 73
    held = heldout_combos(0)
    # one held-out predicate per (template, domain): 3 x 2 + 7 x 1
    assert len(held) == 13 and len(set(held)) == 13
    split = split_combos(0)
    assert len(split["train"]) == 60 and set(split["train"]).isdisjoint(held)


def test_heldout_tasks_are_new_combinations_of_seen_blocks():
    for seed in (0, 1, 7):
        config = replace(SMALL, seed=seed)
        train, held = build_tasks(config, "train"), build_tasks(config, "heldout")
        train_combos = {t.metadata["combination"] for t in train}
        held_combos = {t.metadata["combination"] for t in held}
        assert held_combos and train_combos.isdisjoint(held_combos)
        train_entry_points = {t.entry_point for t in train}
        for t in held:
            assert t.entry_point not in train_entry_points
            # each held-out template and predicate family is trained on, with other partners
            assert any(u.metadata["template"] == t.metadata["template"] for u in train)
            assert any(u.metadata["pred"] == t.metadata["pred"] for u in train)


def test_a_task_by_hand():
    rng = random.Random(0)
    inst = Instance(Combo("count", "int", "even"), 0, make_pred("even", rng), None, ([1, 2, 4],))
    assert inst.entry_point == "count_even"
    assert inst.spec() == "Return how many numbers in nums are even."
    assert inst.body(0) == (
        "    count = 0\n    for x in nums:\n        if x % 2 == 0:\n            count += 1\n    return count\n"
    )
    source = inst.signature() + inst.body(0)
    assert run_reference(source, "count_even", ([1, 2, 4, -6, 7],)) == 3
    # the bug variants: a statement moved into the loop, a wrong initial value
    moved = inst.signature() + inst.body(0, "misplaced_statement")
    assert run_reference(moved, "count_even", ([2, 1, 4],)) == 1
    assert run_reference(inst.signature() + inst.body(0, "wrong_init"), "count_even", ([],)) == 1


def test_template_markers():
    t = get_template("largest")
    assert variants(t.styles[0]) == ["wrong_comparison.best", "wrong_comparison", "missing_edge_case"]
    pred = make_pred("odd", random.Random(0))
    body = render(t.styles[0], "int", pred, None, "missing_edge_case")
    assert "is None:\n        return -1" not in body and body.endswith("    return best\n")
    times3 = replace(make_map("times", random.Random(0)), template="{v} * 3")
    sel = render(get_template("select").styles[1], "int", pred, times3, "wrong_variable.map")
    assert sel == "    return [x for x in nums if x % 2 == 1]\n"
    sel = render(get_template("select").styles[1], "int", pred, times3)
    assert sel == "    return [x * 3 for x in nums if x % 2 == 1]\n"


def test_every_style_of_a_sample_passes_in_the_sandbox(sandbox):
    tasks = build_tasks(SMALL, "train") + build_tasks(SMALL, "heldout")
    instances = build_instances(SMALL, "train") + build_instances(SMALL, "heldout")
    picked = random.Random(3).sample(range(len(tasks)), 24)
    jobs = []
    for i in picked:
        for style in range(len(instances[i].template.styles)):
            jobs.append(ExecJob.for_task(tasks[i], build_program(tasks[i], instances[i].body(style)).source))
    results = sandbox.run_many(jobs)
    assert all(r.passed for r in results), [r.status for r in results if not r.passed]
    for i in picked:  # base tests first (the prompt's examples among them), then the extra inputs
        t = tasks[i]
        assert t.metadata["n_base"] == SMALL.n_base and t.metadata["n_plus"] == SMALL.n_plus
        assert [c.label for c in t.tests[:2]] == ["base[0]", "base[1]"] and t.tests[-1].label.startswith(
            "plus["
        )
        assert f">>> {t.entry_point}({t.tests[0].args[0]!r})" in t.prompt


def test_task_files_load_as_jsonl_tasks(tmp_path):
    paths = write_tasks(SMALL, tmp_path)
    for split, path in paths.items():
        loaded = load_tasks("jsonl", path=path)
        built = build_tasks(SMALL, split)
        assert [(t.task_id, t.prompt, t.reference, t.entry_point) for t in loaded] == [
            (t.task_id, t.prompt, t.reference, t.entry_point) for t in built
        ]
        assert [[(c.args, c.expected) for c in t.tests] for t in loaded] == [
            [(c.args, c.expected) for c in t.tests] for t in built
        ]


def test_corpus_solutions_are_verified_independently(sandbox):
    corpus = build_corpus(SMALL, CorpusConfig(n_correct=2, n_wrong=2), sandbox, limit=14)
    tasks = {t.task_id: t for t in build_tasks(SMALL, "train")}
    per_task: dict[str, list] = {}
    for s in corpus.solutions:
        per_task.setdefault(s.task_id, []).append(s)
    assert len(per_task) == 14
    kinds = set()
    for task_id, sols in per_task.items():
        assert sum(s.correct for s in sols) == 2 and sum(not s.correct for s in sols) <= 2
        task = tasks[task_id]
        for s in sols:
            # a second check, outside the sandbox: run the program here on every test input
            outs = []
            for c in task.tests:
                try:
                    outs.append(
                        run_reference(s.prompt + s.completion, task.entry_point, c.args) == c.expected
                    )
                except Exception as e:  # a wrong solution must not crash
                    raise AssertionError(f"{task_id} {s.bug}: {e!r}") from e
            assert all(outs) if s.correct else not all(outs), (task_id, s.bug)
            if not s.correct:
                kinds.add(s.bug_kind)
    assert len(kinds) >= 4, kinds
    assert sum(corpus.dropped.values()) >= 0


def test_templates_cover_the_bug_kinds():
    found = {v.split(".")[0] for t in TEMPLATES for s in t.styles for v in variants(s)}
    assert found == {
        "off_by_one",
        "wrong_comparison",
        "wrong_init",
        "wrong_variable",
        "missing_edge_case",
        "misplaced_statement",
        "wrong_return",
    }


def test_dataset_testbed_in_train_settings(tmp_path, monkeypatch):
    from egca.train.run import run_tasks

    monkeypatch.setenv("EGCA_CACHE_DIR", str(tmp_path))
    held = run_tasks("testbed", "heldout", None)
    expected = build_tasks(TestbedConfig(), "heldout")
    assert [t.task_id for t in held] == [t.task_id for t in expected] and len(held) == 13 * 3
    assert len(run_tasks("testbed", "train", 5)) == 5
    with pytest.raises(ValueError, match="train and heldout"):
        run_tasks("testbed", "validation", None)


def test_model_name_testbed_resolves_to_the_prepared_policy(tmp_path, monkeypatch):
    import egca.testbed.prepare as prepare
    from egca.models.resolve import resolve_model

    calls = []

    def fake(progress: bool = True) -> prepare.Testbed:
        calls.append(progress)
        return prepare.Testbed(
            tmp_path / "t.jsonl", tmp_path / "h.jsonl", tmp_path / "c.jsonl", tmp_path / "policy"
        )

    monkeypatch.setattr(prepare, "prepare_testbed", fake)
    assert resolve_model("testbed", progress=False) == tmp_path / "policy" and calls == [False]
