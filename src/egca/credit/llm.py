"""The LLM localizer backend (the paper's "debugger LLM" role, optional).

A causal LM gets the numbered program, one failing input with the expected and the actual output,
and the reference, and names the buggy line. The reply is parsed strictly: its first non-empty line
must be ``LINE: <n>`` (or the bare number) with ``n`` a line of the program that holds a statement;
anything else is an abstention (``reason="abstain:llm_unparsed"``). Two ways to run the model: a
local Hugging Face causal LM (``model``: a path or registry name, greedy decoding on CPU), or an
OpenAI-compatible server (``url``: ``.../v1`` base; ``POST /chat/completions``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from egca.credit.divergence import ProgramIndex
from egca.credit.localize import Localization, Localizer, lacks_calls, route_error
from egca.credit.types import Mode
from egca.execution import ExecJob, ExecResult, Sandbox, Status
from egca.tasks.task import MISSING, Task, TestCase
from egca.values import short_repr

SYSTEM = (
    "You are a debugger. You are given a Python program with numbered lines, a failing input, the "
    "expected and the actual output, and a correct reference solution. Answer with the number of the "
    "single line of the program that contains the bug, as 'LINE: <number>', and nothing else."
)
_REPLY = re.compile(
    r"^\s*(?:\**\s*line\s*(?:number)?\s*[:#=]?\s*\**\s*)?(\d+)\s*\**\s*\.?\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class LLMConfig:
    """Where the debugger model is: a local HF model (``model``) or a server (``url``)."""

    model: str | None = None
    url: str | None = None
    api_model: str = "default"  # the ``model`` field sent to the server
    max_new_tokens: int = 12
    timeout_s: float = 60.0
    max_program_lines: int = 200


def parse_line(reply: str, program: str) -> int | None:
    """The line ``reply`` names, if it is strictly well-formed and a statement line of ``program``."""
    first = next((ln for ln in reply.splitlines() if ln.strip()), "")
    m = _REPLY.match(first)
    if m is None:
        return None
    line = int(m.group(1))
    try:
        index = ProgramIndex(program)
    except SyntaxError:
        return None
    lines = program.splitlines()
    if not 1 <= line <= len(lines) or index.statement(line) is None:
        return None
    text = lines[line - 1].strip()
    if not text or text.startswith("#"):  # inside a statement's extent, but no code of its own
        return None
    return line


def build_messages(
    program: str, call: str, expected: str, actual: str, reference: str
) -> list[dict[str, str]]:
    """The chat messages of one query."""
    numbered = "\n".join(f"{i:3d} | {ln}" for i, ln in enumerate(program.splitlines(), 1))
    user = (
        f"Program:\n{numbered}\n\nFailing call: {call}\nExpected output: {expected}\n"
        f"Actual output: {actual}\n\nReference solution:\n{reference}\n\nWhich line is wrong?"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def server_generate(config: LLMConfig) -> Callable[[list[dict[str, str]]], str]:
    """A generator that queries an OpenAI-compatible ``/chat/completions`` endpoint."""
    assert config.url is not None
    endpoint = config.url.rstrip("/") + "/chat/completions"

    def generate(messages: list[dict[str, str]]) -> str:
        body = json.dumps(
            {
                "model": config.api_model,
                "messages": messages,
                "max_tokens": config.max_new_tokens,
                "temperature": 0.0,
            }
        ).encode()
        req = urllib.request.Request(endpoint, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=config.timeout_s) as resp:
            data = json.loads(resp.read().decode("utf-8"))
        return str(data["choices"][0]["message"]["content"])

    return generate


def hf_generate(config: LLMConfig) -> Callable[[list[dict[str, str]]], str]:
    """A generator running a local Hugging Face causal LM greedily (loaded once)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from egca.models.resolve import resolve_model

    assert config.model is not None
    path = str(resolve_model(config.model, progress=False))
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True)
    model.eval()

    def generate(messages: list[dict[str, str]]) -> str:
        enc: Any = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids = enc["input_ids"]
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=enc["attention_mask"],
                max_new_tokens=config.max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
        return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))

    return generate


class LLMLocalizer:
    """Routes like the other backends; a logic-mode rollout gets the line the model names."""

    name = "llm"

    def __init__(
        self,
        sandbox: Sandbox,
        config: LLMConfig,
        generate: Callable[[list[dict[str, str]]], str] | None = None,
    ) -> None:
        if generate is None and not (config.model or config.url):
            raise ValueError("the llm localizer needs a model (a path or registry name) or a server URL")
        self.sandbox = sandbox
        self.config = config
        self._generate = generate
        self._ref_cache: dict[tuple[str, str], Any] = {}
        self._router = Localizer(sandbox, None)

    def route(self, task: Task, program: str, result: ExecResult, reason: str) -> Localization:
        """The rollout's mode without localizing it (see :meth:`Localizer.route`)."""
        return self._router.route(task, program, result, reason)

    def _gen(self) -> Callable[[list[dict[str, str]]], str]:
        if self._generate is None:
            self._generate = server_generate(self.config) if self.config.url else hf_generate(self.config)
        return self._generate

    def localize(
        self, task: Task, program: str, result: ExecResult | None = None, siblings: Sequence[str] = ()
    ) -> Localization:
        t0 = time.perf_counter()
        if result is None or lacks_calls(result):
            result = self.sandbox.run(ExecJob.for_task(task, program, record_calls=True))
        loc = self._localize(task, program, result)
        return replace(loc, analysis_s=time.perf_counter() - t0)

    def _failure(self, task: Task, result: ExecResult) -> tuple[str, str, str] | None:
        """(call, expected, actual) of the first failing test, as short text."""
        first = result.first_failing_test
        if first is None:
            return None
        test = task.tests[first.index]
        calls = [c for c in first.calls if c.raised is None]
        if test.kind == "call" and test.expected is not MISSING:
            actual = short_repr(calls[0].result, 300) if calls else first.message[:300]
            return f"{task.entry_point}{short_repr(test.args, 300)}", short_repr(test.expected, 300), actual
        if not calls or not task.reference:
            return test.display[:300], "(see the failing test)", first.message[:300]
        call = calls[-1]
        job = ExecJob(
            task.reference,
            (TestCase(0, kind="call", args=call.args),),
            entry_point=task.entry_point,
            setup=task.setup,
            capture=True,
        )
        res = self.sandbox.run(job)
        expected = short_repr(res.tests[0].output, 300) if res.tests[0].status is Status.PASSED else "?"
        return f"{task.entry_point}{short_repr(call.args, 300)}", expected, short_repr(call.result, 300)

    def _localize(self, task: Task, program: str, result: ExecResult) -> Localization:
        if result.status not in (Status.PASSED, Status.FAILED):
            return route_error(program, result)
        if result.passed:
            return Localization(Mode.CORRECT)
        failure = self._failure(task, result)
        if failure is None or len(program.splitlines()) > self.config.max_program_lines:
            return Localization(Mode.LOGIC, fallback=True, reason="abstain:llm_no_input")
        messages = build_messages(program, *failure, task.reference)
        try:
            reply = self._gen()(messages)
        except Exception as e:  # a dead server or a broken model: abstain, never crash training
            return Localization(
                Mode.LOGIC, fallback=True, reason="abstain:llm_error", evidence={"error": str(e)[:200]}
            )
        line = parse_line(reply, program)
        evidence = {"method": "llm", "reply": reply[:200]}
        if line is None:
            return Localization(Mode.LOGIC, fallback=True, reason="abstain:llm_unparsed", evidence=evidence)
        span = ProgramIndex(program).span_of(line)
        return Localization(Mode.LOGIC, span=span, kind="llm", evidence={**evidence, "line": line})
