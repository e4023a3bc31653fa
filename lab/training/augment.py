"""Cheap training-time augmentation that helps on voices never heard in training.

All randomness comes from torch's global generator, whose state the trainer saves with each
run checkpoint, so a resumed run draws the same augmentations.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models._checks import check_features, check_lengths

__all__ = [
    "mask_bands",
    "other_voices_log_power",
    "random_gain_log_power",
    "stretch_time",
    "warp_cepstra",
    "warp_frequency",
]


def _batch(features: object) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise ArgumentTypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.ndim != 3:
        raise ArgumentError(f"features must have shape (B, T, F), got {tuple(features.shape)}")
    return check_features(features, features.shape[-1])


def _amount(value: object, name: str, high: float) -> float:
    """A finite number in [0, high): a NaN or an out-of-range amount would poison the batch."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ArgumentError(f"{name} must be a finite number in [0, {high:g}), got {value!r}")
    if not 0 <= value < high:
        raise ArgumentError(f"{name} must be in [0, {high:g}), got {value!r}")
    return float(value)


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArgumentError(f"{name} must be an int >= 0, got {value!r}")
    return value


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
    features = _batch(features)
    for name, value in (("time_masks", time_masks), ("max_time", max_time),
                        ("feature_masks", feature_masks), ("max_features", max_features)):
        _count(value, name)
    if not isinstance(fill, torch.Tensor) or fill.shape != features.shape[-1:]:
        raise ArgumentError(
            f"fill must be a tensor of shape ({features.shape[-1]},), got "
            f"{tuple(fill.shape) if torch.is_tensor(fill) else type(fill).__name__}"
        )
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
    features = _batch(features)
    max_db = _amount(max_db, "max_db", 60.0)
    db = (torch.rand(features.shape[0], 1, 1) * 2 - 1) * max_db
    power_gain = 10.0 ** (db / 10.0)
    return torch.log1p(torch.expm1(features) * power_gain)


def warp_frequency(features: torch.Tensor, *, max_warp: float = 0.1) -> torch.Tensor:
    """Vocal tract length perturbation: stretch each utterance's frequency axis.

    Bin ``f`` of the output takes the (linearly interpolated) value at ``f / alpha`` of the
    input, with ``alpha`` drawn per utterance from ``[1 - max_warp, 1 + max_warp]``; a longer
    or shorter vocal tract moves formants by such a factor, which is much of what tells
    voices apart.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(5.0).repeat(1, 2, 1)  # (1, 2 frames, 5 bins)
    >>> torch.equal(warp_frequency(x, max_warp=0.0), x)
    True
    """
    features = _batch(features)
    max_warp = _amount(max_warp, "max_warp", 1.0)  # alpha must stay positive
    batch, _, bins = features.shape
    alpha = 1 + (torch.rand(batch, 1) * 2 - 1) * max_warp
    source = (torch.arange(bins, dtype=features.dtype) / alpha).clamp(max=bins - 1)  # (B, F)
    low = source.floor().long()
    high = (low + 1).clamp(max=bins - 1)
    frac = (source - low).unsqueeze(1)
    gather = lambda idx: features.gather(2, idx.unsqueeze(1).expand(-1, features.shape[1], -1))
    return gather(low) * (1 - frac) + gather(high) * frac


def stretch_time(
    features: torch.Tensor, lengths: torch.Tensor, *, max_rate: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Speak faster or slower: resample each utterance's frames by a random factor.

    Utterance ``b`` (its first ``lengths[b]`` frames) is linearly interpolated to
    ``round(lengths[b] * r)`` frames, ``r`` drawn from ``[1 - max_rate, 1 + max_rate]``;
    synthetic voices differ in speaking rate as much as in timbre. The batch is re-padded with
    zeros to the longest new length.

    Returns
    -------
    (features, lengths) : the stretched batch (B, T', F) and its new lengths (B,).

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(6.0).reshape(1, 6, 1)
    >>> out, n = stretch_time(x, torch.tensor([4]), max_rate=0.0)
    >>> n.tolist(), out[0, :, 0].tolist()
    ([4], [0.0, 1.0, 2.0, 3.0])
    """
    features = _batch(features)
    lengths = check_lengths(lengths, features.shape[0], features.shape[1])
    max_rate = _amount(max_rate, "max_rate", 1.0)
    rates = 1 + (torch.rand(features.shape[0]) * 2 - 1) * max_rate
    new_lengths = (lengths.to(torch.float32) * rates).round().clamp(min=1).long()
    out = features.new_zeros(features.shape[0], int(new_lengths.max()), features.shape[2])
    for b, (n, m) in enumerate(zip(lengths.tolist(), new_lengths.tolist())):
        if n == m:
            out[b, :n] = features[b, :n]
            continue
        frames = features[b, :n].T[None]  # (1, F, n) for interpolate
        out[b, :m] = nn.functional.interpolate(frames, size=m, mode="linear",
                                               align_corners=False)[0].T
    return out, new_lengths


def other_voices_log_power(
    features: torch.Tensor,
    lengths: torch.Tensor,
    *,
    max_db: float = 6.0,
    max_warp: float = 0.3,
    max_rate: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-power spectrograms as other voices would give them: loudness
    (:func:`random_gain_log_power`), vocal tract length (:func:`warp_frequency`) and speaking
    rate (:func:`stretch_time`). Used to train the keyword classifier and its PIQ decoders,
    whose test voices are never heard in training.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 20, 257)
    >>> out, n = other_voices_log_power(x, torch.tensor([20, 12]))
    >>> out.shape[0], out.shape[2], bool((n >= 10).all() and (n <= 22).all())
    (2, 257, True)
    """
    x = warp_frequency(random_gain_log_power(features, max_db=max_db), max_warp=max_warp)
    return stretch_time(x, lengths, max_rate=max_rate)


def _dct_matrix(n_coefficients: int, n_bands: int) -> torch.Tensor:
    """Orthonormal type-II DCT rows (n_coefficients, n_bands), as used for MFCCs."""
    k = torch.arange(n_coefficients, dtype=torch.float64)[:, None]
    n = torch.arange(n_bands, dtype=torch.float64)[None, :]
    basis = torch.cos(torch.pi * k * (2 * n + 1) / (2 * n_bands)) * math.sqrt(2 / n_bands)
    basis[0] /= math.sqrt(2)
    return basis.float()


def warp_cepstra(features: torch.Tensor, *, n_bands: int = 40, max_warp: float = 0.1):
    """:func:`warp_frequency` for MFCCs: back to smoothed log-mel bands, warp, DCT again.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 5, 26)
    >>> torch.allclose(warp_cepstra(x, max_warp=0.0), x, atol=1e-5)
    True
    """
    features = _batch(features)
    if isinstance(n_bands, bool) or not isinstance(n_bands, int) or n_bands < features.shape[-1]:
        # fewer bands than coefficients: the DCT rows are no longer orthonormal and the
        # round trip would silently change unwarped features
        raise ArgumentError(
            f"n_bands must be an int >= the {features.shape[-1]} coefficients, got {n_bands!r}"
        )
    dct = _dct_matrix(features.shape[-1], n_bands)
    bands = features @ dct  # orthonormal rows: the transpose is the pseudo-inverse
    return warp_frequency(bands, max_warp=max_warp) @ dct.T
