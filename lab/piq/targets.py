"""The masks PIQ learns and returns: the training target and the relative threshold."""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import ArgumentError
from lab.interpret._checks import finite, numeric_array, real

__all__ = ["frame_mask", "oracle_mask", "threshold_mask"]


def frame_mask(lengths, batch: int, frames: int) -> torch.Tensor:
    """(B, T) boolean mask of the frames that are not padding.

    ``lengths`` (B ints in ``[0, T]``) or None (nothing is padding).

    Examples
    --------
    >>> frame_mask(torch.tensor([2, 1]), 2, 3).int().tolist()
    [[1, 1, 0], [1, 0, 0]]
    """
    if lengths is None:
        return torch.ones(batch, frames, dtype=torch.bool)
    lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ArgumentError(f"lengths must be ints (valid frames per item), got {lengths!r}")
    lengths = lengths.reshape(-1).cpu()
    if lengths.numel() != batch:
        raise ArgumentError(f"lengths has {lengths.numel()} entries for a batch of {batch}")
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > frames):
        raise ArgumentError(
            f"lengths must lie in [0, {frames}] (the padded length), got {lengths.tolist()}"
        )
    return torch.arange(frames)[None, :] < lengths[:, None]


def oracle_mask(
    log_power: torch.Tensor, lengths: torch.Tensor | None = None, *, ratio: float = 0.35
) -> torch.Tensor:
    """Bins above ``ratio`` × each utterance's OWN maximum log-power (the decoder's target).

    Parameters
    ----------
    log_power : torch.Tensor, shape (B, T, F)
        Padded log-power spectrograms, finite.
    lengths : torch.Tensor, shape (B,), optional
        Valid frames per utterance; padding never counts towards the maximum nor the mask.
    ratio : float
        Fraction of the per-utterance maximum, in [0, 1].

    Examples
    --------
    >>> x = torch.tensor([[[0.0, 1.0], [4.0, 2.0]], [[9.0, 3.0], [0.0, 0.0]]])
    >>> oracle_mask(x).int().tolist()
    [[[0, 0], [1, 1]], [[1, 0], [0, 0]]]
    """
    if not isinstance(log_power, torch.Tensor):
        log_power = torch.from_numpy(np.array(numeric_array("log_power", log_power)))
    if log_power.dim() != 3:
        raise ArgumentError(f"log_power must be (B, T, F), got shape {tuple(log_power.shape)}")
    ratio = real("ratio", ratio, minimum=0.0, maximum=1.0)
    finite("log_power", log_power.detach())
    valid = frame_mask(lengths, log_power.shape[0], log_power.shape[1]).to(log_power.device)
    masked = log_power.masked_fill(~valid[..., None], float("-inf"))
    peak = masked.flatten(1).amax(1).clamp_min(0.0)
    return (log_power > ratio * peak[:, None, None]) & valid[..., None]


def threshold_mask(soft_mask: np.ndarray, threshold: float) -> np.ndarray:
    """Binary mask of the bins where ``soft_mask >= threshold × soft_mask.max()`` (one utterance).

    The maximum is taken over this utterance only, never over a batch.

    Examples
    --------
    >>> threshold_mask(np.array([[0.2, 0.8], [0.4, 0.1]]), 0.5).astype(int).tolist()
    [[0, 1], [1, 0]]
    """
    threshold = real("threshold", threshold, minimum=0.0, maximum=1.0)
    soft_mask = numeric_array("soft_mask", soft_mask, dtype=None)
    if soft_mask.ndim != 2:
        raise ArgumentError(f"soft_mask must be (T, F) for one utterance, got {soft_mask.shape}")
    finite("soft_mask", soft_mask)
    peak = float(soft_mask.max()) if soft_mask.size else 0.0
    return soft_mask >= threshold * peak
