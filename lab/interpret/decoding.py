"""Transcripts the interpreters compare: greedy CTC decoding and waveform transcription."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch
from torch import nn

from lab.interpret._checks import float_waveform

__all__ = ["Decode", "greedy_ctc_transcripts", "transcribe"]

#: Maps ``(batch, frames, symbols)`` scores to one hashable transcript per item.
Decode = Callable[[torch.Tensor], Sequence[Hashable]]


def greedy_ctc_transcripts(scores: torch.Tensor, *, blank: int = 0) -> list[tuple[int, ...]]:
    """Greedy CTC transcripts (arg-max, merge repeats, drop blanks) of ``(B, T, V)`` scores.

    Examples
    --------
    >>> import torch
    >>> s = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    >>> greedy_ctc_transcripts(s)
    [(1, 1)]
    """
    try:
        from lab.models.ctc import ctc_greedy_decode
    except ImportError:  # pragma: no cover - lab.models ships with lab
        ctc_greedy_decode = None
    if ctc_greedy_decode is not None:
        return [tuple(seq) for seq in ctc_greedy_decode(scores, blank=blank)]
    best = scores.argmax(dim=-1).cpu().numpy()
    out = []
    for row in best:
        keep = np.r_[True, row[1:] != row[:-1]] & (row != blank)
        out.append(tuple(int(s) for s in row[keep]))
    return out


def transcribe(model: nn.Module, waveform: np.ndarray, *, sr: int = 16000) -> str:
    """Greedy transcript of a waveform through the model's own front end.

    Uses ``lab.models.transcribe`` (the model zoo's API), so features are computed exactly as
    the model expects. Integer PCM (e.g. int16) is scaled to [-1, 1] first.
    """
    from lab import models

    return models.transcribe(model, float_waveform("waveform", waveform), sr=sr)
