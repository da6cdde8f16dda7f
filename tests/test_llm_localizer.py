"""The LLM localizer backend: strict reply parsing, an OpenAI-compatible server (a local fake on
127.0.0.1), and a local Hugging Face model (the tiny test model, for the plumbing)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from egca.credit.llm import LLMConfig, LLMLocalizer, parse_line
from egca.credit.types import Mode
from egca.tasks import load_tasks

PROGRAM = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n\n    return total + 1\n"


def test_parse_line_is_strict():
    assert parse_line("LINE: 4", PROGRAM) == 4
    assert parse_line("line 6\nbecause ...", PROGRAM) == 6
    assert parse_line("  3  ", PROGRAM) == 3
    assert parse_line("**Line: 2**", PROGRAM) == 2
    assert parse_line("LINE: 5", PROGRAM) is None  # a blank line holds no statement
    assert parse_line("LINE: 60", PROGRAM) is None  # outside the program
    assert parse_line("LINE: 0", PROGRAM) is None
    assert parse_line("The bug is on line 4", PROGRAM) is None  # prose: not strictly a line
    assert parse_line("", PROGRAM) is None
    assert parse_line("LINE: 4", "def (:\n") is None


class _Fake(BaseHTTPRequestHandler):
    replies: ClassVar[list[str]] = []
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Fake.seen.append({"path": self.path, **body})
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": _Fake.replies.pop(0)}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


BUGGY = "def below_zero(operations):\n    balance = 0\n    for op in operations:\n        balance += op\n        if balance <= 0:\n            return True\n    return False\n"


def test_server_backend_names_a_line_or_abstains(sandbox, server):
    task = next(t for t in load_tasks("humaneval", limit=4) if t.task_id == "HumanEval/3")
    _Fake.replies[:] = ["LINE: 5", "I think line five", "LINE: 99"]
    _Fake.seen.clear()
    loc = LLMLocalizer(sandbox, LLMConfig(url=server, api_model="m")).localize(task, BUGGY)
    assert loc.mode is Mode.LOGIC and loc.span is not None and loc.span.start_line == 5
    req = _Fake.seen[0]
    assert req["path"] == "/v1/chat/completions" and req["model"] == "m"
    prompt = req["messages"][1]["content"]
    assert "  5 |         if balance <= 0:" in prompt  # numbered program
    assert "Expected output: False" in prompt and "Actual output: True" in prompt
    assert task.reference.strip().splitlines()[-1].strip() in prompt  # the reference is shown
    for _ in range(2):
        bad = LLMLocalizer(sandbox, LLMConfig(url=server)).localize(task, BUGGY)
        assert bad.span is None and bad.fallback and bad.reason == "abstain:llm_unparsed"


def test_dead_server_abstains(sandbox):
    task = next(t for t in load_tasks("humaneval", limit=4) if t.task_id == "HumanEval/3")
    loc = LLMLocalizer(sandbox, LLMConfig(url="http://127.0.0.1:9/v1", timeout_s=2)).localize(task, BUGGY)
    assert loc.span is None and loc.reason == "abstain:llm_error"


@pytest.mark.slow
def test_local_hf_model_plumbing(sandbox, tmp_path):
    from tests.tiny import make_tiny_model

    path = make_tiny_model(tmp_path)
    task = next(t for t in load_tasks("humaneval", limit=4) if t.task_id == "HumanEval/3")
    loc = LLMLocalizer(sandbox, LLMConfig(model=path, max_new_tokens=6)).localize(task, BUGGY)
    reply = loc.evidence["reply"]  # the random tiny model's greedy reply, parsed by the same rule
    line = parse_line(reply, BUGGY)
    if line is None:
        assert loc.span is None and loc.reason == "abstain:llm_unparsed"
    else:
        assert loc.span is not None and loc.span.start_line == line
