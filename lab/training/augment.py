"""Cheap training-time augmentation that helps on voices never heard in training.

All randomness comes from torch's global generator, whose state the trainer saves with each
run checkpoint, so a resumed run draws the same augmentations.
"""

from __future__ import annotations

import torch

__all__ = ["mask_bands", "random_gain_log_power"]


def mask_bands(
    features: torch.Tensor,
    fill: torch.Tensor,
    *,
    time_masks: int = 2,
    max_time: int = 5,
    feature_masks: int = 1,
    max_features: int = 20,
) -> torch.Tensor:
    """SpecAugment-style masking: replace random time spans and feature bands with ``fill``.

    Parameters
    ----------
    features : Tensor, shape (B, T, F)
    fill : Tensor, shape (F,)
        Value of a masked cell (the training mean, which standardizes to zero).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> out = mask_bands(torch.ones(2, 30, 8), torch.zeros(8), max_features=3)
    >>> out.shape, bool((out == 0).any()), bool((out == 1).any())
    (torch.Size([2, 30, 8]), True, True)
    """
    out = features.clone()
    batch, frames, dims = features.shape
    for b in range(batch):
        for _ in range(time_masks):
            width = int(torch.randint(0, max_time + 1, ()))
            start = int(torch.randint(0, max(1, frames - width), ()))
            out[b, start : start + width] = fill
        for _ in range(feature_masks):
            width = int(torch.randint(0, min(max_features, dims) + 1, ()))
            start = int(torch.randint(0, max(1, dims - width), ()))
            out[b, :, start : start + width] = fill[start : start + width]
    return out


def random_gain_log_power(features: torch.Tensor, *, max_db: float = 6.0) -> torch.Tensor:
    """Rescale each utterance's waveform by a random gain, in the log1p-power domain.

    ``log1p(g² · expm1(L))`` is exactly the log-power of the waveform multiplied by ``g``.

    Examples
    --------
    >>> import torch
    >>> x = torch.log1p(torch.tensor([[[4.0]]]))
    >>> out = random_gain_log_power(x, max_db=0.0)
    >>> torch.allclose(out, x)
    True
    """
    db = (torch.rand(features.shape[0], 1, 1) * 2 - 1) * max_db
    power_gain = 10.0 ** (db / 10.0)
    return torch.log1p(torch.expm1(features) * power_gain)

