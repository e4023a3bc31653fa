"""Draw a dependency matrix."""

from __future__ import annotations

import numpy as np

from lab.errors import ArgumentError, ArgumentTypeError
from lab.streaming._checks import as_deps

__all__ = ["plot_dependency_matrix"]


def plot_dependency_matrix(
    deps, *, ax=None, title: str = "Dependency plot", grid: bool | None = None
):
    """Plot ``deps`` (``[in_frame, out_frame]``): x = input frame, y = output frame, red = depends.

    Parameters
    ----------
    deps : BoolTensor or array
        Matrix from :func:`~lab.streaming.infer_dependency_matrix` (booleans or 0/1 values,
        at least one row and one column).
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new pyplot figure.
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
    from matplotlib.axes import Axes
    from matplotlib.colors import ListedColormap

    d = as_deps(deps).numpy()
    if 0 in d.shape:
        raise ArgumentError(f"deps is empty (shape {d.shape}): there is nothing to plot")
    if ax is not None and not isinstance(ax, Axes):
        raise ArgumentTypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    if ax is None:
        # pyplot on purpose: a plotting function called in a notebook shows its figure
        import matplotlib.pyplot as plt

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
    ax.set_title(str(title))
    ax.set_xlabel("input frame")
    ax.set_ylabel("output frame")
    ax.set_aspect("equal")
    return fig
