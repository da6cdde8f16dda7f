"""``egca doctor``: which isolation layers are active, and what a sandboxed program can really do."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from egca.execution.job import ExecJob, Limits
from egca.execution.sandbox import Sandbox
from egca.tasks.task import TestCase

# name -> a program that completes normally only if the action was allowed
PROBES: dict[str, str] = {
    "network (connect)": "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)",
    "network (loopback)": "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)",
    "write outside workdir": "open(OUTSIDE, 'w').write('x')",
    "read private file": "open(PRIVATE).read()",
    "list home directory": "import os\nos.listdir(os.path.expanduser('~root'))",
    "secret in environment": "import os\nassert 'EGCA_DOCTOR_SECRET' in os.environ",
    "fork": "import os\npid = os.fork()\nif pid == 0: os._exit(0)\nos.waitpid(pid, 0)",
    "posix_spawn": "import os\nos.posix_spawn('/bin/true', ['/bin/true'], {})",
    "subprocess": "import subprocess\nsubprocess.run(['/bin/true'])",
    "signal the parent": "import os\nos.kill(os.getppid(), 0)",
    "raise memory limit": "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    "allocate 8 GB": "x = bytearray(8 * 1024**3)",
}


def run_doctor() -> dict[str, Any]:
    """Start a sandbox, report its layers and run each probe as a program."""
    base = tempfile.mkdtemp(prefix="egca-doctor-")
    private = os.path.join(base, "private.txt")
    outside = os.path.join(base, "written-by-sandbox.txt")
    with open(private, "w") as f:
        f.write("secret")
    os.chmod(private, 0o600)
    os.environ["EGCA_DOCTOR_SECRET"] = "do-not-leak"
    header = f"OUTSIDE = {outside!r}\nPRIVATE = {private!r}\n"
    jobs = [
        ExecJob(program=header + body, tests=(TestCase(index=0, source="pass"),)) for body in PROBES.values()
    ]
    try:
        with Sandbox(workers=1, limits=Limits(timeout_s=5, total_timeout_s=10, memory_mb=512)) as sandbox:
            results = sandbox.run_many(jobs)
            report = sandbox.report
        probes: dict[str, tuple[str, str]] = {}
        for name, r in zip(PROBES, results):
            if r.passed:
                probes[name] = ("ALLOWED", "the program did it")
            else:
                detail = f"{r.error.type}: {r.error.message}" if r.error else r.status.value
                probes[name] = ("blocked", detail[:90])
        if os.path.exists(outside):
            probes["write outside workdir"] = ("ALLOWED", f"{outside} was written")
    finally:
        os.environ.pop("EGCA_DOCTOR_SECRET", None)
        for p in (private, outside):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(base)
    return {
        "active": report.active,
        "missing": report.missing,
        "probes": probes,
        "all_blocked": all(v == "blocked" for v, _ in probes.values()),
    }
