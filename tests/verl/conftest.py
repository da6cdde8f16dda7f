"""The verl tests run where verl is installed (CI: the verl environment of .ci/run); elsewhere they skip."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "verl.trainer.ppo.v1",
    reason="verl is not installed here: tests/verl run in the verl environment (pip install -e '.[verl]')",
)
