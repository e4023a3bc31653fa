"""Argument checks shared by :mod:`lab.interpret` and :mod:`lab.piq`.

Each check names the argument and says what is expected, and raises
:class:`~lab.errors.ArgumentError` (bad value) or :class:`~lab.errors.ArgumentTypeError` (bad
type), so a NaN or a string never reaches ``int()`` / ``range()`` and surfaces as a raw error.

Examples
--------
>>> integer("k", 3.0, minimum=1)
3
>>> integer("k", float("nan"), minimum=1)
Traceback (most recent call last):
...
lab.errors.ArgumentError: k must be an int >= 1, got nan
>>> real("lr", 0.1, minimum=0.0, strict=True)
0.1
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError


def _bound_text(kind: str, minimum, maximum, strict: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if strict else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"<= {maximum}")
    return f"{kind} {' and '.join(parts)}".strip()


def integer(name: str, value, *, minimum: int | None = None, maximum: int | None = None,
            allow_none: bool = False) -> int | None:
    """``value`` as an int (an integral float such as ``3.0`` is accepted) within bounds."""
    if value is None and allow_none:
        return None
    expected = _bound_text("an int", minimum, maximum, False) + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if not math.isfinite(value) or int(value) != value:
        raise ArgumentError(f"{name} must be {expected}, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ArgumentError(f"{name} must be {expected}, got {value!r}")
    return value


def real(name: str, value, *, minimum: float | None = None, maximum: float | None = None,
         strict: bool = False, allow_none: bool = False) -> float | None:
    """``value`` as a finite float within bounds (``strict``: strictly above ``minimum``)."""
    if value is None and allow_none:
        return None
    expected = (_bound_text("a finite number", minimum, maximum, strict)
                + (" or None" if allow_none else ""))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be {expected}, got {type(value).__name__}")
    value = float(value)
    if (not math.isfinite(value)
            or (minimum is not None and (value <= minimum if strict else value < minimum))
            or (maximum is not None and value > maximum)):
        raise ArgumentError(f"{name} must be {expected}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    """A real bool (numpy's included): ``polish="no"`` would otherwise count as True."""
    if not isinstance(value, bool | np.bool_):
        raise ArgumentTypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def numeric_array(name: str, value, *, dtype=np.float32) -> np.ndarray:
    """``value`` as a numeric numpy array of ``dtype`` (None keeps its own; tensors are
    detached and moved to the CPU)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} must be a numeric array: {exc}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == np.bool_):
        raise ArgumentTypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ArgumentTypeError(f"{name} must be real, got dtype {array.dtype}")
    return array if dtype is None else array.astype(dtype, copy=False)


def finite(name: str, array) -> None:
    """Reject NaN and infinity in an array or tensor."""
    ok = bool(torch.isfinite(array).all()) if isinstance(array, torch.Tensor) else bool(
        np.isfinite(array).all())
    if not ok:
        raise ArgumentError(f"{name} must be finite (no NaN or inf)")


def float_waveform(name: str, value) -> np.ndarray:
    """A 1-D float32 waveform: integer PCM scaled to [-1, 1], through :func:`lab.audio.as_waveform`.

    Casting PCM without scaling would feed a model samples ~30000 times too loud; the one
    gate in lab.audio scales it the same way everywhere and rejects empty, multi-channel or
    non-finite samples with an :class:`~lab.audio.AudioError` naming ``name``.

    Examples
    --------
    >>> float_waveform("y", np.array([-32768, 0, 16384], dtype=np.int16)).tolist()
    [-1.0, 0.0, 0.5]
    """
    from lab.audio import as_waveform

    if not isinstance(value, np.ndarray | torch.Tensor):
        value = np.asarray(value)
    return as_waveform(value, name)
