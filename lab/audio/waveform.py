"""One gate for every waveform that enters the lab: :func:`as_waveform`.

Whatever hands the lab samples — the feature functions, ``lab.models.transcribe``, the
dataset, the panels — goes through here, so integer PCM is *scaled* to [-1, 1] everywhere
(a cast would leave int16 speech 32768 times too loud) and every caller rejects the same bad
inputs with the same messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import AudioError

__all__ = ["PCM_SCALES", "as_waveform"]

#: Integer PCM dtypes and how they map to [-1, 1]: (offset, full scale).
#: ``(x - offset) / scale``; unsigned 8-bit is the WAV convention, centred on 128.
PCM_SCALES: dict[np.dtype, tuple[int, float]] = {
    np.dtype(np.int8): (0, 2.0**7),
    np.dtype(np.int16): (0, 2.0**15),
    np.dtype(np.int32): (0, 2.0**31),
    np.dtype(np.uint8): (128, 2.0**7),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_waveform(y: Any, name: str = "y") -> np.ndarray:
    """A 1-D float32 waveform from a numpy array or torch tensor of samples.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor
        Mono samples, shape ``(n,)``. Floating-point samples are used as they are (nominally
        in [-1, 1]); integer PCM (int8, int16, int32, uint8) is scaled to [-1, 1].
    name : str
        The argument's name, for error messages.

    Returns
    -------
    np.ndarray
        float32, shape ``(n,)``, C-contiguous (a copy unless ``y`` already was one).

    Raises
    ------
    AudioError
        Not an array, not 1-D, empty, an unsupported dtype (bool, complex, int64, unsigned
        16/32/64-bit), NaN or infinite samples, or floats beyond the float32 range.

    Examples
    --------
    >>> import numpy as np
    >>> as_waveform(np.array([0, 16384, -32768], dtype=np.int16)).tolist()
    [0.0, 0.5, -1.0]
    >>> as_waveform(np.array([128, 255], dtype=np.uint8)).tolist()
    [0.0, 0.9921875]
    >>> as_waveform(np.array([0.0, np.nan]))
    Traceback (most recent call last):
    ...
    lab.audio.errors.AudioError: y: the waveform contains NaN or infinite samples
    """
    if type(y).__module__.startswith("torch") and hasattr(y, "detach"):
        y = y.detach().cpu()
        # numpy has no bfloat16; its values fit float32 exactly
        y = (y.float() if str(y.dtype) == "torch.bfloat16" else y).numpy()
    if not isinstance(y, np.ndarray):
        raise AudioError(
            f"must be a numpy array or torch tensor of samples, got {type(y).__name__}",
            source=name,
        )
    if y.ndim != 1:
        raise AudioError(
            f"expected a 1-D mono waveform, got an array of shape {y.shape} "
            "(downmix stereo with y.mean(axis=0))",
            source=name,
        )
    if y.dtype in PCM_SCALES:
        offset, scale = PCM_SCALES[y.dtype]
        out = (y.astype(np.float64) - offset) / scale
    elif np.issubdtype(y.dtype, np.floating):
        out = y
    else:
        raise AudioError(
            f"expected floating-point samples in [-1, 1] or integer PCM (int8, int16, int32, "
            f"uint8), got dtype {y.dtype}",
            source=name,
        )
    if out.size == 0:
        raise AudioError("the waveform is empty (zero-length audio)", source=name)
    if not np.isfinite(out).all():
        raise AudioError("the waveform contains NaN or infinite samples", source=name)
    if out.dtype.itemsize > 4 and np.abs(out).max() > _FLOAT32_MAX:
        raise AudioError(
            f"samples reach {np.abs(out).max():.3g}, beyond float32's range "
            "(expected samples in [-1, 1])",
            source=name,
        )
    return np.ascontiguousarray(out, dtype=np.float32)
