"""Shared fixtures: one warm sandbox for the whole session; never a hub download."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Reference outputs computed by the tests are cached inside the checkout, not in the user's home.
os.environ.setdefault(
    "EGCA_CACHE_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".pytest_cache", "egca")
)

import pytest

from egca.execution import ExecJob, Limits, Sandbox
from egca.tasks.task import TestCase


@pytest.fixture(scope="session")
def sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sb = Sandbox(workers=2, limits=Limits(timeout_s=2.0, total_timeout_s=6.0, memory_mb=512))
        sb.start()
    yield sb
    sb.close()


def asserts(*sources: str) -> tuple[TestCase, ...]:
    return tuple(TestCase(index=i, source=s) for i, s in enumerate(sources))


def job(program: str, *tests: str, entry: str = "f", **kw) -> ExecJob:
    return ExecJob(program=program, tests=asserts(*tests), entry_point=entry, **kw)
