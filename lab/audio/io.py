"""Reading audio files and bytes into float32 waveforms."""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from lab.errors import ArgumentError, ArgumentTypeError

from .conventions import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, SAMPLE_RATE
from .errors import AudioError, AudioWarning

__all__ = ["DEFAULT_MAX_SAMPLES", "DEFAULT_MAX_SECONDS", "check_sample_rate", "load"]

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


#: Longest audio :func:`load` decodes unless told otherwise (``max_seconds=``).
DEFAULT_MAX_SECONDS: float = 600.0
#: Most samples (frames x channels, at the file's rate or after resampling) :func:`load`
#: decodes unless told otherwise (``max_samples=``): 256 MB of float32.
DEFAULT_MAX_SAMPLES: int = 64_000_000

# libsndfile logs "data : <declared> (should be <present>)" when a WAV/AIFF chunk claims
# more bytes than the file holds; the reader then quietly returns only what is there.
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
# Streaming writers (pipes) leave the size unset (0 or 0xFFFFFFFF): not a truncation.
_UNSET_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)


def _check_cap(value: object, label: str, kind: type) -> None:
    if value is None:
        return
    types = (int, np.integer) if kind is int else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, types):
        raise ArgumentTypeError(
            f"{label} must be a positive {kind.__name__} or None, got {value!r}"
        )
    if not math.isfinite(float(value)) or value <= 0:
        raise ArgumentError(f"{label} must be a positive finite number or None, got {value!r}")


def _truncation(extra_info: str, frames: int) -> str | None:
    """Why the file is truncated, from libsndfile's header log (None when it is not)."""
    match = _SHORT_CHUNK.search(extra_info)
    if not match or int(match.group(1)) in _UNSET_SIZES:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    return (f"is truncated: its header declares {declared} bytes of samples but only "
            f"{present} are present; loaded the {frames} frame(s) there are")


def load(
    source: Source,
    sr: int | None = SAMPLE_RATE,
    mono: bool = True,
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
) -> np.ndarray:
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
    max_seconds : float or None
        Refuse files longer than this (10 minutes by default); ``None`` lifts the cap.
    max_samples : int or None
        Refuse files that would decode (or resample) to more samples than this, counting
        every channel (64 million, 256 MB of float32, by default); ``None`` lifts the cap.
        Both caps are checked from the file's header *before* anything is decoded, so a
        small file that expands to gigabytes costs nothing.

    Returns
    -------
    np.ndarray
        float32 samples in [-1, 1], shape ``(samples,)`` or ``(channels, samples)``.
        Floating-point files whose samples exceed [-1, 1] are peak-normalized to 1 with an
        :class:`AudioWarning` (integer formats are always within range).

    Raises
    ------
    AudioError
        Missing file, unreadable or corrupt data, no samples, NaN/Inf samples, an
        unsupported sample rate, an unsupported channel layout, or audio longer or larger
        than the caps. The message names the file.

    Warns
    -----
    AudioWarning
        The file is truncated (its header declares more samples than it holds; the samples
        present are returned), or its float samples exceed [-1, 1] (peak-normalized).

    Examples
    --------
    >>> import numpy as np, soundfile as sf, io
    >>> buf = io.BytesIO()
    >>> sf.write(buf, np.zeros(800), 8000, format="WAV")
    >>> y = load(buf.getvalue())  # resampled from 8 kHz to 16 kHz
    >>> y.shape, y.dtype
    ((1600,), dtype('float32'))
    >>> load(buf.getvalue(), max_seconds=0.05)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.audio.errors.AudioError: <... bytes of audio>: lasts 0.1 s, longer than max_seconds=0.05 ...
    """
    if not isinstance(source, str | os.PathLike | bytes | bytearray | memoryview):
        raise ArgumentTypeError(
            f"source must be a path (str or os.PathLike) or the file's bytes, "
            f"got {type(source).__name__}"
        )
    if not isinstance(mono, bool | np.bool_):
        raise ArgumentTypeError(f"mono must be True or False, got {mono!r}")
    _check_cap(max_seconds, "max_seconds", float)
    _check_cap(max_samples, "max_samples", int)
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
        with sf.SoundFile(handle) as f:
            file_sr = check_sample_rate(f.samplerate, what="the file's sample rate", source=name)
            frames, n_channels = int(f.frames), int(f.channels)
            if n_channels > 2 and not mono:
                raise AudioError(
                    f"has {n_channels} channels; mono=False supports mono or stereo only "
                    "(use mono=True to downmix)",
                    source=name,
                )
            # The caps, from the header alone: nothing is decoded yet.
            seconds = frames / file_sr
            if max_seconds is not None and seconds > max_seconds:
                raise AudioError(
                    f"lasts {seconds:.3g} s, longer than max_seconds={max_seconds:g} "
                    "(pass a larger max_seconds, or None, to load it)",
                    source=name,
                )
            out_channels = 1 if mono else n_channels
            resampled = math.ceil(frames * (sr or file_sr) / file_sr) * out_channels
            decoded = max(frames * n_channels, resampled)
            if max_samples is not None and decoded > max_samples:
                raise AudioError(
                    f"would decode to {decoded:,} samples ({n_channels} channel(s), "
                    f"{seconds:.3g} s at {file_sr} Hz), more than max_samples={max_samples:,} "
                    "(pass a larger max_samples, or None, to load it)",
                    source=name,
                )
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            truncated = _truncation(f.extra_info, data.shape[0])
            is_float = f.subtype in ("FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III")
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(
            f"cannot be decoded as WAV, FLAC or Ogg audio (unreadable or corrupt): {exc}",
            source=name,
        ) from exc

    if truncated is None and data.shape[0] < frames:
        truncated = (f"is truncated: its header declares {frames} frames, only "
                     f"{data.shape[0]} could be read")
    if truncated:
        warnings.warn(f"{name}: {truncated}", AudioWarning, stacklevel=2)
    if data.shape[0] == 0:
        raise AudioError("contains no samples (zero-length audio)", source=name)
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioError(f"contains {bad} NaN or infinite sample(s)", source=name)
    peak = float(np.abs(data).max())
    if peak > 1.0 and is_float:
        # Float formats may exceed full scale; the lab promises [-1, 1], so scale down the
        # whole file (one gain, the waveform's shape is kept) and say so.
        warnings.warn(
            f"{name}: float samples reach {peak:.3g}, outside [-1, 1]; peak-normalized to 1",
            AudioWarning, stacklevel=2,
        )
        data = data / np.float32(peak)

    if mono:
        y = data.mean(axis=1) if n_channels > 1 else data[:, 0]
    else:
        y = data.T

    if sr is not None and file_sr != sr:
        import librosa  # imported lazily: it is slow to import and only needed to resample

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq", axis=-1)
    return np.ascontiguousarray(y, dtype=np.float32)
