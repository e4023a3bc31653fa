"""Synthetic joint-network outputs with a known, plausible alignment (for demos and panels)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lab.errors import ArgumentError


def synthetic_logits(
    targets: Sequence[int],
    n_frames: int,
    vocab_size: int,
    *,
    blank: int = 0,
    sharpness: float = 4.0,
    noise: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """Logits (T, U+1, V) of a joint network that "hears" label u around frame (u+½)·T/U.

    At lattice node (t, u) the next label y_{u+1} gets a bonus that grows as t passes the
    frame where that label is spoken, blank gets a bonus before it; Gaussian noise of std
    ``noise`` is added everywhere. Useful until a trained model provides real logits.

    Examples
    --------
    >>> from lab.transducer import synthetic_logits
    >>> synthetic_logits([3, 5], n_frames=6, vocab_size=8).shape
    torch.Size([6, 3, 8])
    """
    if n_frames <= 0:
        raise ArgumentError(f"n_frames must be positive, got {n_frames}")
    if not 0 <= blank < vocab_size:
        raise ArgumentError(f"blank must be in [0, {vocab_size}), got {blank}")
    y = list(targets)
    if any(not 0 <= c < vocab_size for c in y):
        raise ArgumentError(f"targets must be in [0, {vocab_size}), got {y}")
    U = len(y)
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, noise, (n_frames, U + 1, vocab_size))
    t = np.arange(n_frames)[:, None]
    centers = (np.arange(U) + 0.5) * n_frames / max(U, 1)
    # Positive once the frame reaches the label's centre: emit it; negative before: wait.
    lead = np.clip((t - centers[None, :]) / max(n_frames / max(U, 1), 1.0) * 2.0, -1, 1)
    for u, c in enumerate(y):
        logits[:, u, c] += sharpness * lead[:, u]
        logits[:, u, blank] += sharpness * (-lead[:, u])
    logits[:, U, blank] += sharpness  # all labels out: only blanks remain
    return torch.from_numpy(logits.astype(np.float32))
