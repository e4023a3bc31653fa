"""Paired bootstrap intervals for the difference of two methods on the same utterances."""

from __future__ import annotations

import numpy as np

from lab.errors import ArgumentError
from lab.interpret._checks import integer, real

__all__ = ["paired_bootstrap"]


def paired_bootstrap(a, b, *, n_resamples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> dict:
    """Mean of ``a − b`` over paired utterances and its percentile bootstrap interval.

    Utterances are resampled with replacement, the same ones for both methods, so the
    interval reflects how the methods differ on the clips, not how hard the clips are.

    Examples
    --------
    >>> r = paired_bootstrap([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.5])
    >>> r["difference"], r["low"] > 0
    (0.875, True)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ArgumentError(f"a and b must be equal-length 1-D, got {a.shape} and {b.shape}")
    n_resamples = integer("n_resamples", n_resamples, minimum=1)
    level = real("level", level, minimum=0.0, maximum=1.0, strict=True)
    diff = a - b
    rng = np.random.default_rng(integer("seed", seed, minimum=0))
    means = diff[rng.integers(0, diff.size, (n_resamples, diff.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"difference": float(diff.mean()), "low": float(low), "high": float(high)}
