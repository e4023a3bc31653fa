"""Reading audio files and bytes into float32 waveforms."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from lab.errors import ArgumentTypeError

from .conventions import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, SAMPLE_RATE
from .errors import AudioError

__all__ = ["load", "check_sample_rate"]

Source = str | os.PathLike | bytes | bytearray | memoryview


def check_sample_rate(sr: int, *, what: str = "sr", source: str | None = None) -> int:
    """Return ``sr`` as an int, or raise :class:`AudioError` if it is not a usable rate.

    Examples
    --------
    >>> check_sample_rate(16000)
    16000
    >>> check_sample_rate(0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.audio.errors.AudioError: sr=0 is not a supported sample rate; expected an integer in ...
    """
    ok = isinstance(sr, int | np.integer) and not isinstance(sr, bool)
    if not ok or not MIN_SAMPLE_RATE <= int(sr) <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{what}={sr!r} is not a supported sample rate; expected an integer in "
            f"[{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz",
            source=source,
        )
    return int(sr)


def _describe(source: Source) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{len(memoryview(source).cast('B'))} bytes of audio>"
    return os.fspath(source)


def load(source: Source, sr: int | None = SAMPLE_RATE, mono: bool = True) -> np.ndarray:
    """Read a WAV, FLAC or Ogg file (a path, or its bytes) into a float32 waveform.

    Parameters
    ----------
    source : str, path-like or bytes
        A file path, or the encoded file itself (e.g. the content of an upload).
    sr : int or None
        Resample to this rate (with librosa's soxr resampler) unless it already matches.
        ``None`` keeps the file's own rate.
    mono : bool
        Average the channels into one. With ``mono=False`` the result is
        ``(channels, samples)`` for mono or stereo audio; more channels are not supported.

    Returns
    -------
    np.ndarray
        float32 samples in [-1, 1], shape ``(samples,)`` or ``(channels, samples)``.

    Raises
    ------
    AudioError
        Missing file, unreadable or corrupt data, no samples, NaN/Inf samples, an
        unsupported sample rate, or an unsupported channel layout. The message names the file.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, io
    >>> buf = io.BytesIO()
    >>> sf.write(buf, np.zeros(800), 8000, format="WAV")
    >>> y = load(buf.getvalue())  # resampled from 8 kHz to 16 kHz
    >>> y.shape, y.dtype
    ((1600,), dtype('float32'))
    """
    if not isinstance(source, str | os.PathLike | bytes | bytearray | memoryview):
        raise ArgumentTypeError(
            f"source must be a path (str or os.PathLike) or the file's bytes, "
            f"got {type(source).__name__}"
        )
    name = _describe(source)
    if sr is not None:
        sr = check_sample_rate(sr, source=name)

    if isinstance(source, bytes | bytearray | memoryview):
        if len(memoryview(source).cast("B")) == 0:
            raise AudioError("the data is empty (0 bytes)", source=name)
        handle = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.exists():
            raise AudioError("no such file", source=name)
        if path.is_dir():
            raise AudioError("is a directory, not an audio file", source=name)
        handle = path

    try:
        data, file_sr = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(
            f"cannot be decoded as WAV, FLAC or Ogg audio (unreadable or corrupt): {exc}",
            source=name,
        ) from exc

    file_sr = check_sample_rate(file_sr, what="the file's sample rate", source=name)
    if data.shape[0] == 0:
        raise AudioError("contains no samples (zero-length audio)", source=name)
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioError(f"contains {bad} NaN or infinite sample(s)", source=name)

    n_channels = data.shape[1]
    if mono:
        y = data.mean(axis=1) if n_channels > 1 else data[:, 0]
    elif n_channels > 2:
        raise AudioError(
            f"has {n_channels} channels; mono=False supports mono or stereo only "
            "(use mono=True to downmix)",
            source=name,
        )
    else:
        y = data.T

    if sr is not None and file_sr != sr:
        import librosa  # imported lazily: it is slow to import and only needed to resample

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq", axis=-1)
    return np.ascontiguousarray(y, dtype=np.float32)
