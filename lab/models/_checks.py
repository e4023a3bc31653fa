"""Input checks shared by the lab's models: feature batches and their lengths."""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError


def check_features(x: object, n_features: int, name: str = "features") -> torch.Tensor:
    """``x`` as a finite floating (B >= 1, T >= 1, n_features) tensor, else a clear error.

    Integer tensors are converted to float32 (their values are exact); bool and complex ones
    are refused.
    """
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3 or x.shape[-1] != n_features or x.shape[0] == 0 or x.shape[1] == 0:
        raise ArgumentError(
            f"{name} must have shape (B, T, {n_features}) with B, T >= 1, got {tuple(x.shape)}"
        )
    if x.is_complex() or x.dtype == torch.bool:
        raise ArgumentTypeError(f"{name} must be real numbers, got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.float()
    if not torch.isfinite(x).all():
        raise ArgumentError(f"{name} contain NaN or infinite values")
    return x


def check_lengths(lengths: object, batch: int, frames: int, name: str = "lengths") -> torch.Tensor:
    """``lengths`` as an int64 (batch,) tensor of integers in [1, frames], else a clear error.

    They end slices, so a negative, float or too-large length would silently cut the wrong
    frames; they are refused instead.
    """
    raw = lengths.detach().cpu() if isinstance(lengths, torch.Tensor) else lengths
    try:
        array = np.asarray(raw)
    except (TypeError, ValueError) as err:
        raise ArgumentTypeError(f"{name} must be a sequence of integers: {err}") from None
    if array.dtype == object or array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ArgumentTypeError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.shape != (batch,):
        raise ArgumentError(f"{name} must have shape ({batch},), got {array.shape}")
    if array.min() < 1 or array.max() > frames:
        raise ArgumentError(f"{name} must lie in [1, T = {frames}], got {array.tolist()}")
    return torch.as_tensor(array, dtype=torch.long)
