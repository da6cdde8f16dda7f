"""The README's "train on your own tasks" example runs as written (on a tiny model, one short step)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
MARKER = "<!-- example: own-tasks"

# two tasks in the egca JSONL format (docs/task-format.md): one with a reference, one reference-free
MY_TASKS = [
    {
        "task_id": "demo/add",
        "prompt": 'def add(a, b):\n    """Add two numbers."""\n',
        "entry_point": "add",
        "reference": "def add(a, b):\n    return a + b\n",
        "tests": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
    },
    {
        "task_id": "demo/mul",
        "prompt": "Write a function mul(a, b) that multiplies two numbers.",
        "entry_point": "mul",
        "tests": ["assert mul(2, 3) == 6", "x = 4\nassert mul(x, x) == 16"],
    },
]


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None
    return block.group(1)


def _swap(code: str, old: str, new: str) -> str:
    assert old in code, f"the README example no longer contains {old!r}"
    return code.replace(old, new)


@pytest.mark.slow
def test_readme_example_trains_on_own_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tiny import make_tiny_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in MY_TASKS))
    code = readme_example()
    # only what makes it cheap changes (the model, steps, completion length), and the CPU the README
    # tells users without a GPU to ask for
    code = _swap(code, 'str(resolve_model("smollm2-135m-instruct"))', repr(make_tiny_model(tmp_path)))
    code = _swap(code, "max_steps=50", "max_steps=1")
    code = _swap(code, "max_completion_length=256", "max_completion_length=8")
    code = _swap(code, 'credit_normalizer="conserve",', 'credit_normalizer="conserve", use_cpu=True,')
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert [t.task_id for t in namespace["tasks"]] == ["demo/add", "demo/mul"]  # type: ignore[attr-defined]
    state = json.loads(next((tmp_path / "my-run").rglob("trainer_state.json")).read_text())
    assert state["global_step"] == 1
    scored = namespace["reward"].last  # type: ignore[attr-defined]  # the step's completions, run in the sandbox
    assert len(scored) == 4 and {s.task_id for s in scored} <= {"demo/add", "demo/mul"}
