"""Read a dependency matrix: lookahead, left context, causality; assert it in tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lab.errors import ArgumentError, LabError
from lab.streaming._checks import as_deps, as_int
from lab.streaming.dependency import infer_dependency_matrix

__all__ = [
    "DependencySummary",
    "NotStreamableError",
    "assert_streamable",
    "dependency_summary",
    "lookahead_violations",
]


class NotStreamableError(LabError, AssertionError):
    """A model looks further ahead (or back) than allowed; an AssertionError for test suites."""


@dataclass(frozen=True)
class DependencySummary:
    """What a dependency matrix says about streaming, in input frames.

    Attributes
    ----------
    lookahead : int
        Most future input frames any output frame uses (0 for a causal model).
    left_context : int
        Most past input frames any output frame uses; for an RNN this is the whole probe.
    causal : bool
        ``lookahead == 0``.
    n_dependencies : int
        Number of True entries.
    lookahead_per_frame : tuple of int
        Per output frame, last dependent input frame minus the frame's own position
        (negative: the output only uses older frames; frames without any dependency: 0).
    """

    lookahead: int
    left_context: int
    causal: bool
    n_dependencies: int
    lookahead_per_frame: tuple[int, ...]


def _as_deps(deps) -> torch.Tensor:
    d = as_deps(deps)
    if d.shape[0] == 0:
        raise ArgumentError(
            f"deps must have at least one input frame (row), got shape {tuple(d.shape)}"
        )
    return d


def _positions(deps: torch.Tensor, in_stride: int, seq_len: int | None):
    in_stride = as_int(in_stride, "in_stride", minimum=1)
    n_rows, out_len = deps.shape
    if seq_len is None:
        seq_len = n_rows * in_stride
    elif math.ceil(as_int(seq_len, "seq_len", minimum=1) / in_stride) != n_rows:
        raise ArgumentError(
            f"seq_len={seq_len} with in_stride={in_stride} gives {math.ceil(seq_len / in_stride)} "
            f"rows, but deps has {n_rows}"
        )
    in_pos = torch.arange(n_rows) * in_stride
    # Output frame j of T' covers the input up to frame ceil((j+1) T / T') - 1: the last
    # frame it could see causally (j itself when T' == T, the end of its window when the
    # model subsamples).
    own = (torch.arange(1, out_len + 1) * seq_len + out_len - 1) // out_len - 1
    return in_pos, own


def dependency_summary(
    deps, *, in_stride: int = 1, seq_len: int | None = None
) -> DependencySummary:
    """Summarise a matrix from :func:`infer_dependency_matrix`.

    Parameters
    ----------
    deps : BoolTensor
        ``[in_frame, out_frame]`` dependency matrix.
    in_stride : int
        The stride used to compute ``deps`` (row k is input frame ``k * in_stride``).
    seq_len : int, optional
        Input length in frames; needed only when ``in_stride`` does not divide it.

    Examples
    --------
    >>> from lab.streaming import dependency_summary, example_model, infer_dependency_matrix
    >>> conv = example_model("centered_conv", kernel_size=5)
    >>> s = dependency_summary(infer_dependency_matrix(conv, (1, 12, 40)))
    >>> s.lookahead, s.left_context, s.causal
    (2, 2, False)
    """
    d = _as_deps(deps)
    in_pos, own = _positions(d, in_stride, seq_len)
    has = d.any(dim=0)
    last = torch.where(d, in_pos[:, None], -1).max(dim=0).values
    first = torch.where(d, in_pos[:, None], torch.iinfo(torch.int64).max).min(dim=0).values
    ahead = torch.where(has, last - own, 0)
    behind = torch.where(has, own - first, 0)
    lookahead = max(0, int(ahead.max())) if d.shape[1] else 0
    left = max(0, int(behind.max())) if d.shape[1] else 0
    return DependencySummary(
        lookahead=lookahead,
        left_context=left,
        causal=lookahead == 0,
        n_dependencies=int(d.sum()),
        lookahead_per_frame=tuple(int(a) for a in ahead),
    )


def _max_frames(value, name: str) -> int:
    # -1 would flag every frame and 0.5 would compare as a fraction of a frame
    return as_int(value, name, minimum=0)


def lookahead_violations(
    deps, max_lookahead: int = 0, *, in_stride: int = 1, seq_len: int | None = None
) -> list[tuple[int, int, int]]:
    """Output frames that use input more than ``max_lookahead`` frames ahead.

    Returns
    -------
    list of (out_frame, in_frame, frames_ahead)
        One entry per offending output frame, with its furthest input frame, in output order.

    Examples
    --------
    >>> import torch
    >>> from lab.streaming import lookahead_violations
    >>> deps = torch.eye(3, dtype=torch.bool)
    >>> deps[2, 0] = True  # output frame 0 uses input frame 2
    >>> lookahead_violations(deps)
    [(0, 2, 2)]
    """
    d = _as_deps(deps)
    max_lookahead = _max_frames(max_lookahead, "max_lookahead")
    in_pos, own = _positions(d, in_stride, seq_len)
    out = []
    for j in range(d.shape[1]):
        rows = torch.nonzero(d[:, j]).flatten()
        if len(rows):
            furthest = int(in_pos[rows[-1]])
            if furthest - int(own[j]) > max_lookahead:
                out.append((j, furthest, furthest - int(own[j])))
    return out


def assert_streamable(
    model: Callable[[torch.Tensor], torch.Tensor],
    seq_shape: Sequence[int],
    max_lookahead: int = 0,
    *,
    max_left_context: int | None = None,
    in_stride: int = 1,
    method: str = "perturb",
    **infer_kwargs,
) -> DependencySummary:
    """Fail (``NotStreamableError``, an AssertionError) when ``model`` looks too far ahead.

    Meant for users' test suites: ``assert_streamable(my_encoder.eval(), (1, 64, 80))``.
    Extra keyword arguments go to :func:`infer_dependency_matrix`.

    Returns
    -------
    DependencySummary
        When the model passes.

    Examples
    --------
    >>> from lab.streaming import assert_streamable, example_model
    >>> assert_streamable(example_model("causal_conv"), (1, 16, 40)).causal
    True
    >>> assert_streamable(example_model("centered_conv"), (1, 16, 40))
    Traceback (most recent call last):
    ...
    lab.streaming.summary.NotStreamableError: output frame 0 depends on input frame 2, ...
    """
    from lab.models.adapters import module_for

    model = module_for(model, "dependency")  # an adapter: its own input frames and outputs
    max_lookahead = _max_frames(max_lookahead, "max_lookahead")
    if max_left_context is not None:
        max_left_context = _max_frames(max_left_context, "max_left_context")
    deps = infer_dependency_matrix(model, seq_shape, in_stride, method, **infer_kwargs)
    seq_len = int(tuple(seq_shape)[1])
    summary = dependency_summary(deps, in_stride=in_stride, seq_len=seq_len)
    bad = lookahead_violations(deps, max_lookahead, in_stride=in_stride, seq_len=seq_len)
    if bad:
        j, i, ahead = bad[0]
        raise NotStreamableError(
            f"output frame {j} depends on input frame {i}, {ahead} frames ahead of it "
            f"(max_lookahead={max_lookahead}); {len(bad)} of {deps.shape[1]} output frames "
            f"look too far ahead, the worst by {summary.lookahead} frames"
        )
    if max_left_context is not None and summary.left_context > max_left_context:
        in_pos, own = _positions(deps, in_stride, seq_len)
        for j in range(deps.shape[1]):
            rows = torch.nonzero(deps[:, j]).flatten()
            if len(rows) and int(own[j]) - int(in_pos[rows[0]]) > max_left_context:
                raise NotStreamableError(
                    f"output frame {j} depends on input frame {int(in_pos[rows[0]])}, "
                    f"{int(own[j]) - int(in_pos[rows[0]])} frames back "
                    f"(max_left_context={max_left_context})"
                )
    return summary
