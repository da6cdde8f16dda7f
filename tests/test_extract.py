"""Code extraction from raw completions, with exact character offsets back into them."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egca.tasks import ExtractedCode, Program, Task, TestCase, build_program, extract_code
from egca.tasks.extract import defines_top_level, prompt_imports

PROMPT = (
    'from typing import List\nimport math\n\n\ndef mean(xs: List[float]) -> float:\n    """Mean of xs."""\n'
)
TASK = Task(
    task_id="t/0",
    prompt=PROMPT,
    entry_point="mean",
    reference=PROMPT + "    return sum(xs) / len(xs)\n",
    tests=(TestCase(index=0, source="assert candidate([1.0]) == 1.0\n"),),
)


def check_extracted(raw: str, ex: ExtractedCode) -> None:
    assert 0 <= ex.start <= ex.end <= len(raw)
    assert raw[ex.start : ex.end] == ex.code


def check_program(raw: str, program: Program) -> None:
    ex = program.extracted
    check_extracted(raw, ex)
    n = len(ex.code)
    assert program.source[program.code_offset : program.code_offset + n] == ex.code
    for i in range(len(program.source)):
        j = program.program_to_completion(i)
        if program.code_offset <= i < program.code_offset + n:
            assert j is not None and raw[j] == program.source[i]
        else:
            assert j is None


def test_fenced_chat_answer() -> None:
    raw = "Here is the solution:\n\n```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```\n\nIt divides the sum."
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.style == "fence"
    assert ex.code == "def mean(xs):\n    return sum(xs) / len(xs)\n"
    program = build_program(TASK, raw)
    check_program(raw, program)
    # the prompt's imports the answer lacks are put in front
    assert program.source == "from typing import List\nimport math\n" + ex.code
    assert program.code_offset == len("from typing import List\nimport math\n")


def test_unterminated_fence_runs_to_the_end() -> None:
    raw = "Sure!\n~~~py\ndef mean(xs):\n    return sum(xs) / len(x"
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert (
        ex.style == "fence" and ex.code == "def mean(xs):\n    return sum(xs) / len(x" and ex.end == len(raw)
    )


def test_two_fences_entry_point_in_the_second() -> None:
    raw = (
        "A helper first:\n```python\ndef helper(xs):\n    return len(xs)\n```\n"
        "Then:\n```python\ndef mean(xs):\n    return sum(xs) / helper(xs)\n```\nDone."
    )
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.code.startswith("def mean(xs):")
    assert extract_code(raw).code.startswith("def helper(xs):")  # without an entry point: the first block


def test_python_tagged_block_preferred_over_others() -> None:
    raw = "Run:\n```bash\npip install x\n```\n```\nplain = 1\n```\n```python\nx = 1\n```\n"
    assert extract_code(raw).code == "x = 1\n"
    raw2 = "Run:\n```bash\npip install x\n```\n```\nplain = 1\n```\n"
    assert extract_code(raw2).code == "plain = 1\n"
    assert extract_code("```python\n```\n```\ny = 2\n```").code == "y = 2\n"  # empty blocks come last


def test_raw_continuation_with_stop_sequence() -> None:
    raw = "    return sum(xs) / len(xs)\n\n\ndef check(candidate):\n    assert candidate([1.0]) == 1.0\n"
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.style == "continuation" and ex.start == 0
    assert ex.code == "    return sum(xs) / len(xs)\n\n"
    program = build_program(TASK, raw)
    check_program(raw, program)
    assert program.source == PROMPT + ex.code and program.code_offset == len(PROMPT)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("    x = 1\n# note\n    return x\n", "    x = 1"),
        ("    return 1\nprint(mean([1]))\n", "    return 1"),
        ("    return 1\nif __name__ == '__main__':\n    pass\n", "    return 1"),
        ("    return 1\nassert mean([1]) == 1\n", "    return 1"),
        ("    return 1\nclass A:\n    pass\n", "    return 1"),
        ("\n\n    return 1\n", "\n\n    return 1\n"),
    ],
)
def test_continuation_stop_sequences(raw: str, code: str) -> None:
    ex = extract_code(raw)
    assert ex.style == "continuation" and ex.code == code


def test_stop_sequence_on_the_first_line_is_ignored() -> None:
    raw = "\n#comment\n    return 1\n#x\n"
    ex = extract_code(raw)
    assert ex.style == "continuation" and ex.code == "\n#comment\n    return 1"


def test_prose_then_code_without_fence() -> None:
    raw = (
        "Sure, here you go.\n\nfrom typing import List\n\ndef mean(xs):\n    '''Docstring\ntext at column 0\n'''\n"
        "    return sum(xs) / len(xs)\n\nprint(mean([1.0, 2.0]))\n\nThis prints 1.5.\nAnother line.\n"
    )
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.style == "raw"
    assert ex.code.startswith("from typing import List\n")
    assert ex.code.endswith("return sum(xs) / len(xs)\n\n")  # the usage example after it is cut off
    ast.parse(ex.code)
    program = build_program(TASK, raw)
    check_program(raw, program)
    assert program.source.startswith("import math\nfrom typing import List\n")


def test_code_only_answer_keeps_leading_statements() -> None:
    raw = "SCALE = 2\n\ndef mean(xs):\n    return SCALE * sum(xs)\n"
    ex = extract_code(raw, "mean")
    assert ex.style == "raw" and ex.code == raw
    raw2 = "for this task I wrote:\nimport os\ndef mean(xs): return 1\nExplanation: it returns 1\n"
    assert extract_code(raw2).code == "import os\ndef mean(xs): return 1\n"


def test_raw_code_keeps_module_lines_above_the_def() -> None:
    raw = "Sure.\nMOD = 10**9 + 7\n\ndef mean(xs): return MOD\nDone!\n"
    assert extract_code(raw).code == "MOD = 10**9 + 7\n\ndef mean(xs): return MOD\n"
    # 'This is prose' parses as Python ('This is prose' is a comparison) but is not taken as code
    raw2 = "Sure.\nx = 1\nThis is prose\ndef mean(xs): return x\n"
    assert extract_code(raw2).code == "def mean(xs): return x\n"


def test_humaneval_references_round_trip() -> None:
    from egca.tasks.humaneval import load_humaneval

    for task in load_humaneval():
        solution = task.metadata["canonical_solution"]
        assert build_program(task, solution).source == task.reference  # continuation
        fenced = build_program(task, "Here:\n```python\n" + task.reference + "```\nDone.")
        assert fenced.source == task.reference
        raw = build_program(task, "Here it is:\n\n" + task.reference + "\nThis works.\n")
        assert raw.extracted.style == "raw" and raw.source.strip() == task.reference.strip(), task.task_id


def test_crlf_text() -> None:
    raw = "Answer:\r\n```python\r\ndef mean(xs):\r\n    return sum(xs)\r\n```\r\nBye\r\n"
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.code == "def mean(xs):\r\n    return sum(xs)\r\n"
    program = build_program(TASK, raw)
    check_program(raw, program)
    # line 3 of the program is 'def mean(xs):' (two import lines were added)
    assert program.line_span_to_completion(3, 0, 3, 3) == (ex.start, ex.start + 3)
    cont = "    return 1\r\n\r\ndef g():\r\n    pass\r\n"
    assert extract_code(cont).code == "    return 1\r\n"


def test_non_ascii_before_code_character_offsets() -> None:
    raw = "Voilà — la réponse 😀 :\n```python\ndef mean(xs):\n    return 'é' * len(xs)\n```\n"
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.start == raw.index("def mean")  # a character offset, not a byte offset
    program = build_program(TASK, raw)
    check_program(raw, program)
    line = program.source.splitlines().index("    return 'é' * len(xs)") + 1
    # ast columns are UTF-8 bytes: convert before mapping
    tree = ast.parse(program.source)
    mult = next(n for n in ast.walk(tree) if isinstance(n, ast.BinOp))
    assert mult.lineno == line
    col = program.char_column(line, mult.end_col_offset or 0)
    span = program.line_span_to_completion(line, program.char_column(line, mult.col_offset), line, col)
    assert span is not None and raw[span[0] : span[1]] == "'é' * len(xs)"


def test_line_span_mapping_clips_to_the_code() -> None:
    raw = "    return sum(xs) / len(xs)\n"
    program = build_program(TASK, raw)
    n_prompt_lines = PROMPT.count("\n")
    body_line = n_prompt_lines + 1
    assert program.line_span_to_completion(body_line, 4, body_line, 10) == (4, 10)
    # the def header is prompt text: nothing to map
    assert program.line_span_to_completion(5, 0, 5, 3) is None
    # a span from the header into the body is clipped to the completion part
    assert program.line_span_to_completion(5, 0, body_line, 10) == (0, 10)
    assert program.line_span_to_completion(body_line, 4, body_line, 4) == (4, 4)
    assert program.line_span_to_completion(99, 0, 99, 1) is None
    assert program.line_span_to_completion(body_line, 5, body_line, 4) is None
    assert program.program_to_completion(len(program.source)) is None
    assert program.program_to_completion(-1) is None


def test_program_for_text_prompt_is_the_code_alone() -> None:
    task = Task(
        task_id="Mbpp/1",
        prompt="Write a function f.\nassert f(1) == 2",
        entry_point="f",
        reference="",
        tests=(),
    )
    raw = "```python\ndef g(x):\n    return x + 1\n```"
    program = build_program(task, raw)
    assert program.source == "def g(x):\n    return x + 1\n" and program.code_offset == 0


def test_future_import_blocks_the_import_prefix() -> None:
    raw = "```python\nfrom __future__ import annotations\ndef mean(xs: List[float]):\n    return 1\n```"
    program = build_program(TASK, raw)
    assert program.code_offset == 0


def test_helpers() -> None:
    assert prompt_imports("import os\nfrom a import (\n  b)\nfrom x import y\n  import z\n") == [
        "import os",
        "from x import y",
    ]
    assert defines_top_level("async def f(x):\n", "f")
    assert defines_top_level("f: int = 3\n", "f")
    assert not defines_top_level("    def f(x):\n", "f")
    assert not defines_top_level("f == 3\n", "f")


# -- properties ------------------------------------------------------------------------------------

_pieces = st.sampled_from(
    [
        "```python\n",
        "```py\r\n",
        "```\n",
        "~~~\n",
        "```bash\n",
        "def mean(xs):\n",
        "    return 1\n",
        "def other():\n",
        "import os\n",
        "print(1)\n",
        "\n",
        "\r\n",
        "# c\n",
        "Some prose.\n",
        "Explanation: é😀\n",
        "x = 1\n",
        "class A:\n",
        "if __name__ == '__main__':\n",
    ]
)
_texts = st.lists(st.one_of(_pieces, st.text(max_size=12)), max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(_texts, st.sampled_from([None, "mean", "other"]))
def test_extraction_offsets_property(raw: str, entry_point: str | None) -> None:
    ex = extract_code(raw, entry_point)
    check_extracted(raw, ex)
    if ex.style == "continuation":
        assert ex.start == 0


@settings(max_examples=300, deadline=None)
@given(_texts, st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=20))
def test_program_offsets_property(raw: str, line: int, col: int) -> None:
    program = build_program(TASK, raw)
    check_program(raw, program)
    offset = program.offset(line, col)
    if offset is None:
        return
    end_line = line + 1
    end = program.offset(end_line, 0)
    span = program.line_span_to_completion(line, col, end_line, 0) if end is not None else None
    if span is not None and end is not None:
        lo, hi = program.code_offset, program.code_offset + len(program.extracted.code)
        s, e = max(offset, lo), min(end, hi)
        assert raw[span[0] : span[1]] == program.source[s:e]


def test_truncated_fence_keeps_the_complete_function() -> None:
    # the answer hit the length limit inside a usage example after a complete function
    raw = "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n\n# Example\nprint(mean([1, 2,"
    ex = extract_code(raw, "mean")
    check_extracted(raw, ex)
    assert ex.code == "def mean(xs):\n    return sum(xs) / len(xs)\n\n# Example\n"
    program = build_program(TASK, raw)
    check_program(raw, program)
    # a cut inside the entry point itself is left broken (a syntax error: nothing complete to run)
    inside = "```python\ndef mean(xs):\n    total = 0\n    for x in xs:\n        total += (x"
    assert extract_code(inside, "mean").code == inside[len("```python\n") :]
    # a closed block is never cut, even when it does not parse
    closed = "```python\ndef mean(xs):\n    return (\nprint(1)\n```"
    assert extract_code(closed, "mean").code == "def mean(xs):\n    return (\nprint(1)\n"


def test_the_answers_own_tests_are_cut_off() -> None:
    body = "import math\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n\n"
    for tail in (
        "# Test\nassert mean([1, 2]) == 2\nassert mean([2]) == 2\n",
        'if __name__ == "__main__":\n    print(mean([1, 2]))\n',
        "print(mean([1, 2]))  # 1.5\n",
        "mean([1, 2])\n",
    ):
        raw = f"Here:\n```python\n{body}{tail}```\nDone."
        ex = extract_code(raw, "mean")
        check_extracted(raw, ex)
        assert ex.code.startswith(body) and ex.code[len(body) :] in ("", "# Test\n"), tail
    # statements before the entry point's definition are kept
    code = "x = 1\nprint(x)\ndef helper():\n    return 2\nhelper()\ndef mean(xs):\n    return 0\n"
    raw = f"```python\n{code}assert mean([]) == 0\n```"
    assert extract_code(raw, "mean").code == code
    # without an entry point the first function definition counts
    assert extract_code(raw).code == "x = 1\nprint(x)\ndef helper():\n    return 2\n"
    # a string after the function (a note) stays
    raw = '```python\ndef mean(xs):\n    return 0\n"""note"""\n```'
    assert extract_code(raw, "mean").code == 'def mean(xs):\n    return 0\n"""note"""\n'
