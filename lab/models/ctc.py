"""Connectionist temporal classification helpers: greedy decoding of frame posteriors."""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["ctc_greedy_collapse", "ctc_greedy_decode", "ctc_greedy_runs"]


def _check_blank(blank: object, n_symbols: int | None = None) -> int:
    if isinstance(blank, bool) or not isinstance(blank, int | np.integer):
        raise ArgumentTypeError(f"blank must be an int, got {blank!r}")
    if blank < 0 or (n_symbols is not None and blank >= n_symbols):
        upper = "" if n_symbols is None else f", below the {n_symbols} symbols"
        raise ArgumentError(f"blank must be a symbol index >= 0{upper}, got {blank}")
    return int(blank)


def _integer_array(values: object, name: str) -> np.ndarray:
    """``values`` as an int64 array; floats and bools are refused, not truncated."""
    array = np.asarray(values.detach().cpu() if torch.is_tensor(values) else values)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or array.size == 0
    ):
        raise ArgumentTypeError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def ctc_greedy_collapse(best_path, *, blank: int = 0) -> list[int]:
    """Collapse a best path: merge repeated symbols, then drop blanks.

    Parameters
    ----------
    best_path : sequence of int
        The arg-max symbol of every frame (a list, 1-D array or tensor of integers >= 0).
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
    return [symbol for symbol, _frames in ctc_greedy_runs(best_path, blank=blank)]


def ctc_greedy_runs(best_path, *, blank: int = 0) -> list[tuple[int, list[int]]]:
    """The symbols of a collapsed best path, each with the frames of its run.

    What a view needs to place decoded text in time (the first frame of each run) and what
    word-aligned attribution needs to find a word's frames; the symbols are exactly
    :func:`ctc_greedy_collapse`'s.

    Examples
    --------
    >>> ctc_greedy_runs([0, 3, 3, 0, 3, 5, 5, 0], blank=0)
    [(3, [1, 2]), (3, [4]), (5, [5, 6])]
    """
    blank = _check_blank(blank)
    path = _integer_array(best_path, "best_path")
    if path.ndim != 1:
        raise ArgumentError(f"best_path must be 1-D, got shape {path.shape}")
    if path.size and path.min() < 0:
        raise ArgumentError(f"best_path must hold symbol indices >= 0, got {int(path.min())}")
    out: list[tuple[int, list[int]]] = []
    previous = None
    for t, symbol in enumerate(path.tolist()):
        # A repeat is only a new symbol when a blank separates it from the previous one.
        if symbol != blank and symbol == previous:
            out[-1][1].append(t)
        elif symbol != blank:
            out.append((symbol, [t]))
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
        Valid frames per utterance, integers in ``[0, T]``; all ``T`` frames when omitted.
    blank : int
        Index of the blank symbol, in ``[0, V)``.

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
    try:
        scores = torch.as_tensor(scores)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ArgumentTypeError(
            f"scores must be a tensor or array of numbers, got {type(scores).__name__}: {err}"
        ) from None
    if scores.is_complex() or scores.dtype == torch.bool:
        raise ArgumentTypeError(f"scores must be real numbers, got dtype {scores.dtype}")
    if scores.ndim == 2:
        scores = scores.unsqueeze(0)
    if scores.ndim != 3:
        raise ArgumentError(
            f"scores must have shape (B, T, V) or (T, V), got {tuple(scores.shape)}"
        )
    if scores.shape[-1] == 0:
        raise ArgumentError("scores must have at least one symbol (V >= 1), got V = 0")
    blank = _check_blank(blank, scores.shape[-1])
    if scores.is_floating_point() and torch.isnan(scores).any():
        # argmax treats NaN as the maximum: it would decode garbage without a word
        raise ArgumentError("scores contain NaN; a model that emits NaN cannot be decoded")
    best = scores.argmax(dim=-1).cpu().numpy()
    if lengths is None:
        lengths = np.full(best.shape[0], best.shape[1])
    lengths = _integer_array(lengths, "lengths")
    if lengths.shape != (best.shape[0],):
        raise ArgumentError(f"lengths must have shape ({best.shape[0]},), got {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > best.shape[1]):
        # used as slice ends: -1 would silently drop the last frame, 10**9 would pass
        raise ArgumentError(
            f"lengths must lie in [0, T = {best.shape[1]}], got {lengths.tolist()}"
        )
    return [ctc_greedy_collapse(row[:n], blank=blank) for row, n in zip(best, lengths.tolist())]
