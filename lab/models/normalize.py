"""Per-feature standardization stored with a model, so checkpoints take raw features."""

from __future__ import annotations

import torch
from torch import nn

from lab.errors import ArgumentError

__all__ = ["FeatureNormalizer"]


class FeatureNormalizer(nn.Module):
    """``(x - mean) / std`` with statistics kept as buffers (saved in the state dict).

    Examples
    --------
    >>> import torch
    >>> norm = FeatureNormalizer(2)
    >>> norm.fit(torch.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> norm(torch.tensor([[3.0, 30.0]])).tolist()
    [[1.0, 1.0]]
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    @torch.no_grad()
    def fit(self, frames: torch.Tensor) -> None:
        """Set the statistics from frames of shape (N, n_features)."""
        frames = torch.as_tensor(frames, dtype=torch.float32)
        if frames.ndim != 2 or frames.shape[0] == 0 or frames.shape[1] != self.mean.numel():
            raise ArgumentError(
                f"frames must have shape (N >= 1, {self.mean.numel()}), got {tuple(frames.shape)}"
            )
        if not torch.isfinite(frames).all():
            # NaN statistics would make every later output NaN
            raise ArgumentError("frames contain NaN or infinite values")
        self.mean.copy_(frames.mean(dim=0))
        self.std.copy_(frames.std(dim=0, unbiased=False).clamp(min=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
