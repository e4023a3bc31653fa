"""Connectionist temporal classification helpers: greedy decoding of frame posteriors."""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import ArgumentError

__all__ = ["ctc_greedy_collapse", "ctc_greedy_decode"]


def ctc_greedy_collapse(best_path, *, blank: int = 0) -> list[int]:
    """Collapse a best path: merge repeated symbols, then drop blanks.

    Parameters
    ----------
    best_path : sequence of int
        The arg-max symbol of every frame.
    blank : int
        Index of the CTC blank symbol.

    Returns
    -------
    list of int
        The label sequence.

    Examples
    --------
    >>> ctc_greedy_collapse([0, 3, 3, 0, 3, 5, 5, 0], blank=0)
    [3, 3, 5]
    """
    out: list[int] = []
    previous = None
    for symbol in (int(s) for s in best_path):
        # A repeat is only a new symbol when a blank separates it from the previous one.
        if symbol != previous and symbol != blank:
            out.append(symbol)
        previous = symbol
    return out


def ctc_greedy_decode(
    scores: torch.Tensor | np.ndarray,
    lengths: torch.Tensor | np.ndarray | None = None,
    *,
    blank: int = 0,
) -> list[list[int]]:
    """Greedy (best path) CTC decoding of a batch of frame scores.

    Parameters
    ----------
    scores : Tensor or ndarray, shape (B, T, V) or (T, V)
        Logits, log-probabilities or probabilities (only the arg-max matters).
    lengths : Tensor or ndarray, shape (B,), optional
        Valid frames per utterance; all ``T`` frames when omitted.
    blank : int
        Index of the blank symbol.

    Returns
    -------
    list of list of int
        One label sequence per utterance.

    Examples
    --------
    >>> import torch
    >>> posteriors = torch.tensor([[0.1, 0.9, 0.0], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05],
    ...                            [0.2, 0.1, 0.7]])
    >>> ctc_greedy_decode(posteriors)
    [[1, 2]]
    """
    scores = torch.as_tensor(scores)
    if scores.ndim == 2:
        scores = scores.unsqueeze(0)
    if scores.ndim != 3:
        raise ArgumentError(
            f"scores must have shape (B, T, V) or (T, V), got {tuple(scores.shape)}"
        )
    best = scores.argmax(dim=-1).cpu().numpy()
    if lengths is None:
        lengths = np.full(best.shape[0], best.shape[1])
    lengths = np.asarray(torch.as_tensor(lengths).cpu())
    if lengths.shape != (best.shape[0],):
        raise ArgumentError(f"lengths must have shape ({best.shape[0]},), got {lengths.shape}")
    return [ctc_greedy_collapse(row[: int(n)], blank=blank) for row, n in zip(best, lengths)]
