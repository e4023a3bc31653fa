"""Draw a dependency matrix."""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import ArgumentError

__all__ = ["plot_dependency_matrix"]


def plot_dependency_matrix(
    deps, *, ax=None, title: str = "Dependency plot", grid: bool | None = None
):
    """Plot ``deps`` (``[in_frame, out_frame]``): x = input frame, y = output frame, red = depends.

    Parameters
    ----------
    deps : BoolTensor or array
        Matrix from :func:`~lab.streaming.infer_dependency_matrix`.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    title : str
        Axes title.
    grid : bool, optional
        Outline every cell; default only when the matrix is at most 64 x 64.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import torch
    >>> from lab.streaming import plot_dependency_matrix
    >>> fig = plot_dependency_matrix(torch.ones(4, 4, dtype=torch.bool).tril())
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('input frame', 'output frame')
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    d = np.asarray(torch.as_tensor(deps).cpu(), dtype=bool)
    if d.ndim != 2:
        raise ArgumentError(f"deps must be a 2-D [in_frame, out_frame] matrix, got shape {d.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    else:
        fig = ax.figure
    if grid is None:
        grid = max(d.shape) <= 64
    ax.pcolormesh(
        d.T.astype(np.uint8),  # rows of the image are output frames
        cmap=ListedColormap(["white", "red"]),
        vmin=0,
        vmax=1,
        edgecolors="lightgray" if grid else "face",
        linewidth=0.3 if grid else 0.0,
    )
    ax.set_title(title)
    ax.set_xlabel("input frame")
    ax.set_ylabel("output frame")
    ax.set_aspect("equal")
    return fig
