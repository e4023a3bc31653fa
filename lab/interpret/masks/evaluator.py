"""Masked forward passes: counting them, decoding them, and the path margins they keep."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lab.errors import ArgumentError
from lab.interpret.decoding import Decode
from lab.models.hooks import first_tensor

__all__ = ["Evaluator", "path_margins", "top_k_masks"]


class Evaluator:
    """Counts forward passes and compares transcripts of masked inputs with the target.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, T, F)`` to ``(batch, frames, symbols)`` scores.
    x : torch.Tensor, shape (T, F)
        The utterance every mask multiplies.
    decode : callable
        Scores to one hashable transcript per item.
    batch_size : int
        Masks per model call in :meth:`transcripts`.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, decode: Decode, batch_size: int):
        self.model = model
        self.x = x  # (T, F)
        self.decode = decode
        self.batch_size = batch_size
        self.forward_passes = 0
        self.model_calls = 0
        self.backward_passes = 0

    def scores(self, inputs: torch.Tensor) -> torch.Tensor:
        """The model's scores of a batch of inputs (counted)."""
        self.forward_passes += inputs.shape[0]
        self.model_calls += 1
        out = first_tensor(self.model(inputs))
        if out.ndim != 3 or out.shape[0] != inputs.shape[0]:
            raise ArgumentError(
                f"model output must have shape (batch, frames, symbols), got {tuple(out.shape)}"
            )
        return out

    def _as_key(self, decoded) -> list:
        return [tuple(d) if not isinstance(d, str) else d for d in decoded]

    def decode_one(self, scores: torch.Tensor):
        """Transcript of a single item's ``(1, frames, symbols)`` scores."""
        return self._as_key(self.decode(scores))[0]

    def transcripts(self, masks: torch.Tensor) -> list[tuple]:
        """Transcripts of ``masks * x`` for a stack of masks, ``batch_size`` per call."""
        out: list[tuple] = []
        with torch.no_grad():
            for start in range(0, masks.shape[0], self.batch_size):
                chunk = masks[start:start + self.batch_size]
                out.extend(self._as_key(self.decode(self.scores(chunk * self.x))))
        return out

    def valid(self, masks: torch.Tensor, target) -> list[bool]:
        """Whether each mask keeps the ``target`` transcript."""
        return [t == target for t in self.transcripts(masks)]


def path_margins(scores: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """Score of the original best symbol minus the best other symbol, per frame.

    Examples
    --------
    >>> s = torch.tensor([[[0.0, 2.0, 1.0], [3.0, 0.0, 0.5]]])
    >>> path_margins(s, torch.tensor([[1, 0]])).tolist()
    [[1.0, 2.5]]
    """
    chosen = scores.gather(-1, path[..., None]).squeeze(-1)
    others = scores.scatter(-1, path[..., None], float("-inf")).amax(dim=-1)
    return chosen - others


def top_k_masks(order: torch.Tensor, ks: Sequence[int], shape) -> torch.Tensor:
    """Masks keeping the first ``k`` entries of ``order`` (nested as k grows).

    Examples
    --------
    >>> top_k_masks(torch.tensor([2, 0, 1, 3]), [1, 3], (2, 2)).view(2, -1).tolist()
    [[0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]]
    """
    n = order.numel()
    rank = torch.empty(n, dtype=torch.long, device=order.device)
    rank[order] = torch.arange(n, device=order.device)
    ks_t = torch.as_tensor(list(ks), device=order.device)
    return (rank[None, :] < ks_t[:, None]).float().view(len(ks), *shape)
