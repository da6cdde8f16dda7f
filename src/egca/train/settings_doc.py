"""Every setting of :class:`egca.train.run.TrainSettings` with its default and meaning, for ``--help``.

The meaning of a field is its comment in the class body (trailing, or on the lines just above it),
so the dataclass stays the one place where a setting is declared and explained.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
from dataclasses import dataclass

from egca.train.run import TrainSettings


@dataclass(frozen=True)
class SettingDoc:
    name: str
    type: str
    default: str
    meaning: str


def _comments(source: str) -> dict[int, str]:
    """1-based line number -> the text of the comment on that line."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _default(f: dataclasses.Field[object]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    return json.dumps(value)  # the YAML spelling of None, booleans, numbers, strings, {} and []


def setting_docs(cls: type = TrainSettings) -> list[SettingDoc]:
    """One :class:`SettingDoc` per field of ``cls``, in declaration order."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (e.g. only bytecode installed): no meanings
        source = ""
    comments = _comments(source) if source else {}
    lines = source.splitlines()
    spans: dict[str, tuple[int, int]] = {}
    if source:
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for node in body.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                start = node.lineno
                while start > 1 and lines[start - 2].strip().startswith("#"):  # comment lines above
                    start -= 1
                spans[node.target.id] = (start, node.end_lineno or node.lineno)
    docs = []
    for f in dataclasses.fields(cls):
        lo, hi = spans.get(f.name, (0, -1))
        meaning = " ".join(comments[n] for n in range(lo, hi + 1) if n in comments)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        docs.append(SettingDoc(f.name, kind, _default(f), meaning))
    return docs


def settings_help() -> str:
    """The ``egca train --help`` epilog: every setting, its type, default and meaning."""
    docs = setting_docs()
    width = max(len(d.name) for d in docs)
    rows = ["settings (YAML keys or --set key=value; values parsed as YAML):"]
    for d in docs:
        rows.append(f"  {d.name:<{width}}  {d.type} = {d.default}")
        if d.meaning:
            rows.extend(
                textwrap.wrap(
                    d.meaning, 100, initial_indent=" " * (width + 4), subsequent_indent=" " * (width + 4)
                )
            )
    return "\n".join(rows)
