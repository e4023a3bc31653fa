"""Listen to a mask: silence the audio of the frames an importance mask calls unimportant."""

from __future__ import annotations

import numpy as np

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import finite, integer, numeric_array, real

__all__ = ["frame_count", "mute_audio"]


def frame_count(n_samples: int, hop_length: int = 320) -> int:
    """Frames of the lab's centred STFT features of ``n_samples`` samples: ``1 + n // hop``.

    Examples
    --------
    >>> frame_count(16000), frame_count(319), frame_count(0)
    (51, 1, 1)
    """
    return 1 + int(n_samples) // int(hop_length)


def mute_audio(
    waveform: np.ndarray,
    mask: np.ndarray,
    threshold: float,
    *,
    hop_length: int = 320,
) -> np.ndarray:
    """Silence the samples of the frames whose mask mean is below ``threshold``.

    Frame ``t`` of the features is centred on sample ``t * hop_length`` (centred STFT), so
    each sample belongs to the frame whose centre is nearest; a waveform of ``n`` samples
    has ``1 + n // hop_length`` frames (:func:`frame_count`), and the mask must have exactly
    that many rows: a mask of other features, or a transposed one, would mute the wrong
    samples.

    Parameters
    ----------
    waveform : 1-D array
        Mono samples, finite (any numeric dtype; the copy keeps it).
    mask : (T, F) array
        An importance mask of the waveform's features, ``T = 1 + len(waveform) // hop_length``.
    threshold : float
        Frames with ``mask[t].mean() < threshold`` are muted.
    hop_length : int
        Samples between frames (320 = 20 ms at 16 kHz).

    Returns
    -------
    ndarray
        A muted copy of ``waveform``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.ones(7, dtype=np.float32)
    >>> mute_audio(y, np.array([[1.0], [0.0], [1.0], [1.0]]), 0.5, hop_length=2)
    array([1., 0., 0., 1., 1., 1., 1.], dtype=float32)
    >>> mute_audio(y, np.ones((1, 4)), 0.5, hop_length=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: mask has 1 frames but ... (it looks transposed: pass mask.T)
    """
    y = numeric_array("waveform", waveform, dtype=None)
    if y.dtype == np.bool_:
        raise ArgumentTypeError("waveform must hold numeric samples, got dtype bool")
    m = numeric_array("mask", mask, dtype=np.float64)
    if y.ndim != 1:
        raise ArgumentError(f"waveform must be 1-D (mono samples), got shape {y.shape}")
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ArgumentError(f"mask must be a non-empty 2-D (frames, features) array, got {m.shape}")
    hop_length = integer("hop_length", hop_length, minimum=1)
    threshold = real("threshold", threshold)
    finite("waveform", y)
    finite("mask", m)
    frames = frame_count(y.size, hop_length)
    if m.shape[0] != frames:
        hint = (" (it looks transposed: pass mask.T)" if m.shape[1] == frames else "")
        raise ArgumentError(
            f"mask has {m.shape[0]} frames but a waveform of {y.size} samples has {frames} "
            f"frames at hop_length={hop_length} (1 + {y.size} // {hop_length}); expected a "
            f"mask of shape ({frames}, F){hint}"
        )
    means = m.mean(axis=1)
    frame = np.minimum((np.arange(y.size) + hop_length // 2) // hop_length, m.shape[0] - 1)
    out = y.copy()
    out[means[frame] < threshold] = 0
    return out
