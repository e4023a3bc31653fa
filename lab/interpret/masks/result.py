"""What a mask search returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["MaskResult"]


@dataclass
class MaskResult:
    """A verified importance mask and how it was found.

    Attributes
    ----------
    mask : (T, F) float32 array of 0/1.
    method : ``"greedy"`` or ``"optimize"``.
    transcript : the transcript of the unmasked input (and of the masked one).
    preserved : True when ``model(mask * X)`` was checked to give ``transcript`` (always True
        for returned masks; kept explicit for reports).
    sparsity : fraction of zero entries.
    forward_passes : inputs pushed through the model (a batch of 32 counts 32).
    model_calls : calls of ``model`` (a batch counts once).
    backward_passes : gradient evaluations (optimize only).
    seconds : wall time.
    trajectory : list of (T, F) masks for animation; ``trajectory_labels`` describe them.
    interrupted : True when stopped early; the mask is still valid.
    """

    mask: np.ndarray
    method: str
    transcript: tuple
    preserved: bool
    sparsity: float
    forward_passes: int = 0
    model_calls: int = 0
    backward_passes: int = 0
    seconds: float = 0.0
    trajectory: list[np.ndarray] = field(default_factory=list)
    trajectory_labels: list[str] = field(default_factory=list)
    interrupted: bool = False


def finish(mask: torch.Tensor, method: str, target, traj: list[np.ndarray], labels: list[str],
           interrupted: bool) -> MaskResult:
    """A :class:`MaskResult` for a verified ``mask`` (counters are filled in by the caller)."""
    m = mask.detach().cpu().numpy().astype(np.float32)
    return MaskResult(
        mask=m, method=method, transcript=target, preserved=True,
        sparsity=float(1.0 - m.mean()), trajectory=traj, trajectory_labels=labels,
        interrupted=interrupted,
    )
