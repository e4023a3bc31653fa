"""Argument checks shared by the streaming functions (private).

Every failure names the argument and what is expected: an :class:`~lab.errors.ArgumentError`
(a ValueError) for a number of the wrong kind or range, an
:class:`~lab.errors.ArgumentTypeError` (a TypeError) for something that is not a number.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError


def as_int(value, name: str, *, minimum: int | None = None) -> int:
    """``value`` as an int (numpy ints too; bools and 2.0 are refused).

    Examples
    --------
    >>> as_int(np.int64(3), "k", minimum=1)
    3
    >>> as_int(2.5, "k")
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: k must be an int, got 2.5
    """
    expected = "an int" if minimum is None else f"an int >= {minimum}"
    if isinstance(value, bool | np.bool_):
        raise ArgumentError(f"{name} must be {expected}, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        if isinstance(value, numbers.Number):  # 2.5, 3.0, nan: a number, but not an int
            raise ArgumentError(f"{name} must be {expected}, got {value!r}") from None
        raise ArgumentTypeError(
            f"{name} must be {expected}, got {type(value).__name__}"
        ) from None
    if minimum is not None and out < minimum:
        raise ArgumentError(f"{name} must be {expected}, got {out}")
    return out


def as_deps(deps, name: str = "deps") -> torch.Tensor:
    """A 2-D ``[in_frame, out_frame]`` BoolTensor from bools or 0/1 values (on the CPU).

    Any other value (0.5, NaN, 2) is refused rather than read as True.

    Examples
    --------
    >>> as_deps([[1, 0], [0, 1]]).dtype
    torch.bool
    """
    try:
        d = torch.as_tensor(deps)
    except (TypeError, ValueError, RuntimeError):
        raise ArgumentTypeError(
            f"{name} must be a 2-D boolean [in_frame, out_frame] matrix (tensor or array), "
            f"got {type(deps).__name__}"
        ) from None
    if d.dim() != 2:
        raise ArgumentError(
            f"{name} must be a 2-D [in_frame, out_frame] matrix, got shape {tuple(d.shape)}"
        )
    d = d.detach().cpu()
    if d.dtype != torch.bool:
        if d.is_complex() or not ((d == 0) | (d == 1)).all():
            raise ArgumentError(
                f"{name} must hold booleans or 0/1 values (True: the output frame depends on "
                f"the input frame), got other values such as NaN or 0.5 (dtype {d.dtype})"
            )
        d = d != 0
    return d
