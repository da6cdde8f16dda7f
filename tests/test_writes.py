"""Static write-sets of program lines."""

from __future__ import annotations

from egca.trace.writes import write_sets

PROGRAM = """\
import heapq
def f(xs, k):
    total = 0
    a, (b, c) = 1, (2, 3)
    for i, x in enumerate(xs):
        total += x
        seen[x] = i
    out = []
    out.append(total)
    heapq.heappush(h, 3)
    obj.attr = 5
    if (n := len(xs)) > k:
        del out[0]
    squares = [y * y for y in xs]
    with open('f') as fh:
        pass
    return out
"""


def test_write_sets_by_line():
    w = write_sets(PROGRAM)
    assert w[3] == {"total"}
    assert w[4] == {"a", "b", "c"}
    assert w[5] == {"i", "x"}
    assert w[6] == {"total"}
    assert w[7] == {"seen"}
    assert w[8] == {"out"} and w[9] == {"out"}
    assert w[10] == {"h"} and w[11] == {"obj"}
    assert w[12] == {"n"} and w[13] == {"out"}
    assert w[14] == {"squares"}  # not the comprehension variable
    assert w[15] == {"fh"}
    assert 17 not in w and 2 not in w
