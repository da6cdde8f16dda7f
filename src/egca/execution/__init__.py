"""Execution stage: run programs against tests in an isolated sandbox that decides each verdict
outside the program's process."""

from egca.execution.isolation import IsolationConfig
from egca.execution.job import ExecJob, Limits
from egca.execution.result import ErrorInfo, ExecResult, Status, TestResult
from egca.execution.sandbox import IsolationReport, Sandbox, SandboxError

__all__ = [
    "ErrorInfo",
    "ExecJob",
    "ExecResult",
    "IsolationConfig",
    "IsolationReport",
    "Limits",
    "Sandbox",
    "SandboxError",
    "Status",
    "TestResult",
]
