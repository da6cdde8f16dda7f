"""End to end: a GRPO group -> modes, localized code spans -> token spans -> token advantages."""

from __future__ import annotations

import torch

from egca.credit.assign import analyze_group
from egca.credit.localize import Localizer
from egca.credit.operator import token_advantages
from egca.credit.types import Mode
from egca.execution import ExecJob
from egca.tasks.extract import build_program
from egca.tasks.task import Task
from tests.scripted import REF, TASK, fenced
from tests.tiny import train_tokenizer


def test_group_to_token_advantages(sandbox, tmp_path):
    tok = train_tokenizer(tmp_path)
    completions = [
        fenced(REF),
        fenced(REF.replace("total += x", "total += x * x")),
        fenced(REF.replace("if x > 0", "if x >= -1")),
        fenced("def f(xs)\n    return 0\n"),
    ]
    ids = [tok.encode(c, add_special_tokens=False) for c in completions]
    assert all(tok.decode(i, skip_special_tokens=True) == c for i, c in zip(ids, completions))
    out = analyze_group(Localizer(sandbox), TASK, completions, ids, tok)
    assert [a.credit.mode for a in out] == [Mode.CORRECT, Mode.LOGIC, Mode.LOGIC, Mode.SYNTAX]
    assert [a.credit.status for a in out] == ["uniform", "localized", "localized", "localized"]
    span_text = [tok.decode(i[a.credit.span.start : a.credit.span.end]) for i, a in zip(ids[1:], out[1:])]
    assert "total += x * x" in span_text[0] and "if" not in span_text[0]
    assert "x >= -1" in span_text[1] and "total" not in span_text[1]
    assert "def f(xs)" in span_text[2]

    T = max(len(i) for i in ids)
    mask = torch.zeros(len(ids), T)
    for r, i in enumerate(ids):
        mask[r, : len(i)] = 1
    adv = torch.tensor([1.5, -0.5, -0.5, -0.5])
    ta = token_advantages(adv, mask, [a.credit for a in out], scheme="egca", normalizer="conserve")
    assert torch.allclose(ta.per_token.sum(dim=1), adv.double().to(ta.per_token.dtype))
    for r in (1, 2):
        sp = out[r].credit.span
        nonzero = ta.per_token[r].nonzero().flatten().tolist()
        assert nonzero == list(range(sp.start, sp.end))  # only the span carries the advantage
    assert (ta.per_token[0, : len(ids[0])] > 0).all()  # the correct rollout: uniform credit

    # The ablation inputs are there too: executed statements (StepCoder) and the late divergence.
    executed = out[1].credit.executed_spans
    assert executed and all(tok.decode(ids[1][e.start : e.end]).strip() for e in executed)
    sc = token_advantages(
        adv, mask, [a.credit for a in out], scheme="stepcoder_mask", normalizer="conserve_kl_all"
    )
    assert torch.allclose(sc.per_token.sum(dim=1), adv.double().to(sc.per_token.dtype))
    prose = ids[1].index(tok.encode("It", add_special_tokens=False)[0])
    assert sc.per_token[1, prose] == 0  # text outside the code was not executed
    assert out[1].credit.late_span is not None


def test_reference_free_group_uses_a_passing_sibling(sandbox, tmp_path):
    tok = train_tokenizer(tmp_path)
    task = Task(TASK.task_id, TASK.prompt, TASK.entry_point, "", TASK.tests)
    completions = [fenced(REF.replace("total += x", "total -= x")), fenced(REF)]
    ids = [tok.encode(c, add_special_tokens=False) for c in completions]
    out = analyze_group(Localizer(sandbox), task, completions, ids, tok)
    assert out[0].credit.status == "localized" and out[0].localization.reference == "sibling"
    assert "total -= x" in tok.decode(ids[0][out[0].credit.span.start : out[0].credit.span.end])


def test_the_rewards_runs_are_reused_and_a_hang_is_not_run_again(sandbox, tmp_path):
    from egca.execution import ExecJob, Limits
    from egca.execution.sandbox import Sandbox

    tok = train_tokenizer(tmp_path)
    completions = [
        fenced(REF),
        fenced(REF.replace("total += x", "total += x * x")),
        fenced("def f(xs):\n    while True:\n        pass\n"),
        fenced("def f(xs):\n    return xs[10]\n"),
    ]
    ids = [tok.encode(c, add_special_tokens=False) for c in completions]
    with Sandbox(workers=2, limits=Limits(timeout_s=1.0, total_timeout_s=5.0)) as box:
        from egca.tasks.extract import build_program

        jobs = [ExecJob.for_task(TASK, build_program(TASK, c).source, record_calls=True) for c in completions]
        results = box.run_many(jobs)
        assert [r.status.value for r in results] == ["passed", "failed", "timeout", "error"]
        runs = []
        run, run_many = box.run, box.run_many
        box.run = lambda job: runs.append(job) or run(job)  # type: ignore[method-assign]
        box.run_many = lambda js, **k: runs.extend(js) or run_many(js, **k)  # type: ignore[method-assign]
        out = analyze_group(Localizer(box), TASK, completions, ids, tok, results)
    assert [a.credit.mode for a in out] == [Mode.CORRECT, Mode.LOGIC, Mode.SYNTAX, Mode.SYNTAX]
    assert out[2].localization.status == "fallback:timeout"
    # the analysis traced the logic rollout (and ran the reference), and never re-ran a program's
    # tests: the hang in particular would have cost a second timeout
    assert any(job.trace and job.program == jobs[1].program for job in runs)
    assert not any(job.program in (jobs[2].program, jobs[3].program) for job in runs)
    assert not any(job.program == jobs[1].program and not job.trace for job in runs)


def test_reference_sources(sandbox, tmp_path):
    import pytest

    tok = train_tokenizer(tmp_path)
    sibling = REF.replace("total += x", "total = total + x")
    completions = [fenced(sibling), fenced(REF.replace("if x > 0", "if x >= 0 and x != 4"))]
    ids = [tok.encode(c, add_special_tokens=False) for c in completions]
    loc = Localizer(sandbox)
    for references, expected in (
        ("curated", "curated"),
        ("curated+siblings", "curated"),
        ("siblings", "sibling"),
    ):
        out = analyze_group(loc, TASK, completions, ids, tok, references=references)
        assert out[1].credit.mode is Mode.LOGIC and out[1].credit.status == "localized", references
        assert out[1].localization.reference == expected, references
        assert "x != 4" in tok.decode(ids[1][out[1].credit.span.start : out[1].credit.span.end])
    # reference-free with no passing rollout: no reference at all, so uniform credit (a fallback)
    out = analyze_group(loc, TASK, completions[1:], ids[1:], tok, references="siblings")
    assert out[0].credit.status.startswith("fallback")
    with pytest.raises(ValueError, match="unknown references"):
        analyze_group(loc, TASK, completions, ids, tok, references="oracle")


def test_a_parsed_completion_maps_onto_the_generated_ids(sandbox, tmp_path):
    """A trainer that parses the response (TRL's ``parse_response`` drops a reasoning part) scores
    the answer alone; its span still maps onto the ids the policy generated and is trained on, in
    the answer, not in a draft of it inside the reasoning."""
    tok = train_tokenizer(tmp_path)
    wrong = REF.replace("total += x", "total += x * x")
    answer = fenced(wrong)
    generated = f"<think>A first draft:\n{answer}\nThat is it.</think>\n\n{answer}"
    ids = tok.encode(generated, add_special_tokens=False)
    (plain,) = analyze_group(Localizer(sandbox), TASK, [answer], [tok.encode(answer)], tok)
    (parsed,) = analyze_group(Localizer(sandbox), TASK, [answer], [ids], tok)
    assert parsed.credit.status == "localized" and parsed.credit.span is not None
    assert plain.credit.span is not None and len(parsed.credit.span) == len(plain.credit.span)
    span = parsed.credit.span
    assert "x * x" in tok.decode(ids[span.start : span.end])
    assert tok.decode(ids[: span.start]).count("x * x") == 1  # the draft's copy lies before it
    # statements map onto the answer's tokens too (random_span draws from them)
    statements = parsed.credit.statement_spans
    assert statements and all("</think>" in tok.decode(ids[: s.start]) for s in statements)
    unrelated = analyze_group(Localizer(sandbox), TASK, [answer], [tok.encode("no code here")], tok)
    assert unrelated[0].credit.status == "fallback:span_mapping"


def test_zero_advantage_rollouts_are_routed_without_a_sandbox_run(sandbox, tmp_path):
    from tests.scripted import CountingSandbox

    tok = train_tokenizer(tmp_path)
    completions = [
        fenced(REF),
        fenced(REF.replace("total += x", "total += x * x")),
        fenced("def f(xs)\n    return 0\n"),
    ]
    ids = [tok.encode(c, add_special_tokens=False) for c in completions]
    results = [
        sandbox.run(ExecJob.for_task(TASK, build_program(TASK, c).source, record_calls=True))
        for c in completions
    ]
    counting = CountingSandbox(sandbox)
    skip = ["zero_advantage"] * 3
    out = analyze_group(Localizer(counting), TASK, completions, ids, tok, results, skip=skip)
    assert counting.jobs == 0
    assert [a.credit.mode for a in out] == [Mode.CORRECT, Mode.LOGIC, Mode.SYNTAX]
    assert [a.credit.status for a in out] == ["uniform", "fallback:zero_advantage", "fallback:zero_advantage"]
    assert all(a.credit.span is None for a in out)
    analysed = analyze_group(Localizer(counting), TASK, completions, ids, tok, results)
    assert counting.jobs > 0 and analysed[1].credit.status == "localized"
