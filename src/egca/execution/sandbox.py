"""The sandbox: a bounded pool of warm fork-server workers; per program, a fresh candidate process
and a fresh test-side process, both isolated, with the verdict decided outside the candidate's.

    with Sandbox(workers=4) as sandbox:
        results = sandbox.run_many([ExecJob(program, tests, entry_point="f"), ...])

Each worker (:mod:`egca.execution.worker`) is a separate, lean Python process started with a
scrubbed environment; it never sees this process's memory (tokens in ``os.environ``, model weights).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from egca.execution import protocol
from egca.execution.isolation import LAYERS, IsolationConfig
from egca.execution.job import ExecJob, Limits
from egca.execution.result import CallRecord, ErrorInfo, ExecResult, Status, TestResult
from egca.values import from_wire

log = logging.getLogger("egca.sandbox")

_BOOT = (
    "import json, sys\n"
    "cfg = json.loads(sys.argv[1])\n"
    "sys.path[:0] = cfg['sys_path']\n"
    "from egca.execution.worker import serve\n"
    "serve(cfg)\n"
)
_WARNED: set[str] = set()


class SandboxError(RuntimeError):
    """The sandbox could not start (or a required isolation layer is unavailable in strict mode)."""


@dataclass(frozen=True)
class IsolationReport:
    """Layers active in the workers, and the reasons the others are not."""

    active: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"active": dict(self.active), "missing": dict(self.missing)}


def _worker_env() -> dict[str, str]:
    keep = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    keep.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if "TMPDIR" in os.environ:
        keep["TMPDIR"] = os.environ["TMPDIR"]
    return keep


class _Worker:
    """One fork-server process and the pipes to it."""

    def __init__(self, index: int, config: dict[str, Any]) -> None:
        self.index = index
        self.config = dict(config, worker_index=index)
        self.proc: subprocess.Popen[bytes] | None = None
        self.hello: dict[str, Any] = {}
        self.start()

    def start(self) -> None:
        debug = bool(os.environ.get("EGCA_DEBUG_SANDBOX"))
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if debug else subprocess.DEVNULL,
            env=_worker_env(),
            close_fds=True,
        )
        hello = self._recv(timeout=120.0)
        if hello is None:
            self.stop()
            raise SandboxError("a sandbox worker did not start (set EGCA_DEBUG_SANDBOX=1 to see why)")
        self.hello = hello

    def _recv(self, timeout: float) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        try:
            return protocol.recv(fd)
        except (protocol.ProtocolError, EOFError, OSError):
            return None

    def run(self, job: ExecJob, limits: Limits) -> dict[str, Any] | None:
        """The worker's result dict, or None when the worker died or hung (it is restarted)."""
        assert self.proc is not None and self.proc.stdin is not None
        try:
            protocol.send(self.proc.stdin.fileno(), (job, limits))
        except OSError:
            self.restart()
            return None
        result = self._recv(timeout=limits.total_timeout_s + limits.timeout_s + 30.0)
        if result is None:
            self.restart()
        return result

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def _to_result(d: dict[str, Any], isolation: tuple[str, ...]) -> ExecResult:
    def err(e: dict[str, Any] | None) -> ErrorInfo | None:
        if not e:
            return None
        return ErrorInfo(
            type=str(e.get("type", "")),
            message=str(e.get("message", "")),
            line=e.get("line"),
            col=e.get("col"),
            end_line=e.get("end_line"),
            end_col=e.get("end_col"),
            in_candidate=bool(e.get("in_candidate", True)),
        )

    tests = tuple(
        TestResult(
            index=int(t["index"]),
            status=Status(t["status"]),
            message=str(t.get("message", "")),
            duration_s=float(t.get("duration_s", 0.0)),
            error=err(t.get("error")),
            output=from_wire(t["output"]) if "output" in t else None,
            calls=tuple(_call(c) for c in t.get("calls", ())),
            path=str(t.get("path", "")),
        )
        for t in d["tests"]
    )
    return ExecResult(
        status=Status(d["status"]),
        tests=tests,
        error=err(d.get("error")),
        duration_s=float(d.get("duration_s", 0.0)),
        stdout=str(d.get("stdout", "")),
        stderr=str(d.get("stderr", "")),
        isolation=isolation,
        trace=d.get("trace"),
        covered=tuple(d["covered"]) if d.get("covered") is not None else None,
        boundary_calls=int(d.get("boundary_calls", 0)),
    )


def _call(c: dict[str, Any]) -> CallRecord:
    args = from_wire(c.get("args", {"t": "tuple", "v": []}))
    return CallRecord(
        args=tuple(args) if isinstance(args, (list, tuple)) else (args,),
        kwargs=dict(from_wire(c.get("kwargs", {"t": "dict", "v": []}))),
        result=from_wire(c["result"]) if "result" in c else None,
        raised=c.get("raised"),
    )


def _lost_worker_result(job: ExecJob) -> ExecResult:
    msg = "the sandbox worker died or hung while running this program; it was restarted"
    return ExecResult(
        status=Status.CRASHED,
        tests=tuple(TestResult(i, Status.SKIPPED, f"not run: {msg}") for i in range(len(job.tests))),
        error=ErrorInfo("WorkerLost", msg, in_candidate=True),
    )


class Sandbox:
    """A pool of ``workers`` fork servers (default: one per CPU core)."""

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        isolation: IsolationConfig | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self.limits = limits or Limits()
        self.isolation = isolation or IsolationConfig()
        self._config = {
            "sys_path": [p for p in sys.path if p],
            "isolation": asdict(self.isolation),
            "preload": list(preload),
        }
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.report = IsolationReport()

    # lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        with self._lock:
            if self._workers:
                return self
            with ThreadPoolExecutor(self.n_workers) as ex:
                self._workers = list(ex.map(lambda i: _Worker(i, self._config), range(self.n_workers)))
            for w in self._workers:
                self._idle.put(w)
            hello = self._workers[0].hello
            self.report = IsolationReport(active=dict(hello["layers"]), missing=dict(hello["missing"]))
            self._pool = ThreadPoolExecutor(self.n_workers, thread_name_prefix="egca-sandbox")
        self._warn_missing()
        return self

    def _warn_missing(self) -> None:
        missing = {k: v for k, v in self.report.missing.items() if k in LAYERS}
        if not missing:
            return
        text = "; ".join(f"{k}: {v}" for k, v in missing.items())
        if self.isolation.strict:
            self.close()
            raise SandboxError(f"isolation layers unavailable (strict mode): {text}")
        if text not in _WARNED:  # once per process, loudly
            _WARNED.add(text)
            log.warning("WARNING: egca sandbox running WITHOUT some isolation layers -- %s", text)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            for w in self._workers:
                w.stop()
            self._workers = []
            self._idle = queue.Queue()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # running ---------------------------------------------------------------------------------------

    @property
    def active_layers(self) -> tuple[str, ...]:
        return tuple(k for k in self.report.active if k in LAYERS or k == "env")

    def run(self, job: ExecJob) -> ExecResult:
        """Run one program (blocking)."""
        self.start()
        worker = self._idle.get()
        try:
            d = worker.run(job, job.resolve_limits(self.limits))
        finally:
            self._idle.put(worker)
        return _lost_worker_result(job) if d is None else _to_result(d, self.active_layers)

    def run_many(
        self,
        jobs: Iterable[ExecJob],
        progress: bool | Callable[[int], None] = False,
        desc: str = "executing",
    ) -> list[ExecResult]:
        """Run many programs in parallel over the workers; results are in input order."""
        self.start()
        jobs = list(jobs)
        assert self._pool is not None
        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs), desc=desc, disable=not sys.stderr.isatty(), leave=False)
        results: list[ExecResult | None] = [None] * len(jobs)

        def one(i: int) -> None:
            results[i] = self.run(jobs[i])
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(1)

        list(self._pool.map(one, range(len(jobs))))
        if bar is not None:
            bar.close()
        return [r for r in results if r is not None]
