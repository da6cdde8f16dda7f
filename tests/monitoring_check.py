"""Run by tests/test_tracer.py under Python >= 3.12: settrace and sys.monitoring must agree."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
from egca.trace.tracer import MonitoringTracer, Tracer
from egca.trace.writes import write_sets

PROGRAMS = [
    (
        "def helper(v):\n    return v * 2\n\ndef f(xs):\n    total = 0\n    out = []\n    for x in xs:\n        total += helper(x)\n        out.append(total)\n    return out\n",
        ([1, 2],),
    ),
    ("def f(x):\n    y = x - 1\n    return 1 / y\n", (1,)),
    ("def f(n):\n    if n <= 1:\n        return 1\n    return n * f(n - 1)\n", (4,)),
    (
        "def g(n):\n    for i in range(n):\n        yield i * i\n\ndef f(n):\n    s = 0\n    for v in g(n):\n        s += v\n    return s\n",
        (3,),
    ),
    (
        "def f(n):\n    try:\n        return h(n)\n    except ZeroDivisionError:\n        return -1\n\ndef h(n):\n    return 1 // n\n",
        (0,),
    ),
]
for src, args in PROGRAMS:
    ns = {}
    exec(compile(src, "<candidate>", "exec"), ns)
    a = Tracer("<candidate>", write_sets(src)).run(ns["f"], args, {})
    b = MonitoringTracer("<candidate>", write_sets(src)).run(ns["f"], args, {})
    if a != b:
        print("DIFF", src.splitlines()[0])
        sys.exit(1)
print("same", sys.version.split()[0])
