"""The unbiased pass@k estimator (Chen et al., 2021, "Evaluating Large Language Models Trained on Code")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from ``n`` is correct.

    ``c`` of the ``n`` samples are correct. Computes ``1 - C(n-c, k) / C(n, k)`` in the numerically
    stable product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)`` (no large binomials).

    Raises ``ValueError`` when ``k > n`` (the estimator is undefined: callers skip such ``k``) or when
    the counts are out of range (``n >= 1``, ``0 <= c <= n``, ``k >= 1``).
    """
    if n < 1:
        raise ValueError(f"pass@k needs at least one sample per task (n={n})")
    if not 0 <= c <= n:
        raise ValueError(f"number of correct samples must be in [0, n] (n={n}, c={c})")
    if k < 1:
        raise ValueError(f"k must be >= 1 (k={k})")
    if k > n:
        raise ValueError(f"pass@{k} is undefined with only n={n} samples per task (need k <= n)")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def estimate_pass_at_k(counts: Sequence[tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """Mean pass@k over tasks, for each ``k`` in ``ks``.

    ``counts`` holds one ``(n, c)`` pair per task (samples, correct samples); tasks may have different
    ``n``. Only ``k <= min(n)`` are estimated: larger ``k`` are left out of the result (compare its
    keys with ``ks`` to report them). Keys are ``"pass@{k}"`` in increasing ``k``; no tasks gives ``{}``.
    """
    if not counts:
        return {}
    min_n = min(n for n, _ in counts)
    result: dict[str, float] = {}
    for k in sorted(set(ks)):
        if k > min_n:
            continue
        result[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
    return result
