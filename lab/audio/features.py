"""Time-major speech features (MFCC, log-mel, log-power spectrogram) and their inverse.

All functions take a 1-D float waveform and return float32 arrays of shape
``(frames, features)``; defaults come from :mod:`lab.audio.conventions`.
"""

from __future__ import annotations

import librosa
import numpy as np

from lab.errors import ArgumentError

from .conventions import HOP_LENGTH, N_FFT, N_MELS, N_MFCC, SAMPLE_RATE, WIN_LENGTH, WINDOW
from .errors import AudioError
from .io import check_sample_rate
from .waveform import as_waveform

__all__ = [
    "mfcc",
    "log_mel",
    "log_power_spectrogram",
    "waveform_from_log_power",
    "mel_filterbank",
    "LOG_MEL_FLOOR",
]

LOG_MEL_FLOOR: float = 1e-6
"""Mel power floor before the log, so digital silence maps to log(1e-6) = -13.8, not -inf."""

MAX_LOG_POWER: float = 200.0
"""Largest log-power :func:`waveform_from_log_power` inverts: ``log1p(|X|**2)`` of a float32
waveform stays below ``2 * log(3.4e38 * MAX_N_FFT)`` ≈ 200."""


def _check_waveform(y: np.ndarray, name: str = "y") -> np.ndarray:
    return as_waveform(y, name)


#: Largest FFT / window the feature functions accept (4 s at 16 kHz): far beyond any speech
#: front end, small enough that a typo cannot allocate gigabytes of window and frames.
MAX_N_FFT = 1 << 16
# Above this peak the float32 STFT of a waveform could overflow (|X| <= peak * win_length, and
# |X|**2 must stay below 3.4e38), so such waveforms are analysed in float64 instead; below it
# the float32 path is kept, bit for bit, for ordinary audio.
_FLOAT32_SAFE_PEAK = 1e15


def _check_int(value: object, label: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ArgumentError(f"{label} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise ArgumentError(f"{label} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _check_band(fmin: object, fmax: object, sr: int) -> tuple[float, float]:
    """``0 <= fmin < fmax <= sr / 2``, both finite (fmax None means sr / 2)."""
    nyquist = sr / 2
    for label, value in (("fmin", fmin), ("fmax", fmax)):
        if value is None and label == "fmax":
            continue
        real = isinstance(value, int | float | np.integer | np.floating)
        if isinstance(value, bool) or not real or not np.isfinite(value):
            raise ArgumentError(f"{label} must be a finite frequency in Hz, got {value!r}")
    fmax = nyquist if fmax is None else float(fmax)
    if not 0 <= float(fmin) < fmax <= nyquist:
        raise ArgumentError(
            f"expected 0 <= fmin < fmax <= sr / 2 = {nyquist:g} Hz, got fmin={fmin!r}, "
            f"fmax={fmax!r}"
        )
    return float(fmin), fmax


def _check_frames(n_fft: int, hop_length: int, win_length: int) -> None:
    for label, value in (("n_fft", n_fft), ("hop_length", hop_length), ("win_length", win_length)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ArgumentError(
                f"{label} must be a positive integer number of samples, got {value!r}"
            )
        if value > MAX_N_FFT:
            raise ArgumentError(f"{label} must be at most {MAX_N_FFT} samples, got {value!r}")
    if win_length > n_fft:
        raise ArgumentError(f"win_length={win_length} must not exceed n_fft={n_fft}")


def _stft(y: np.ndarray, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    if float(np.abs(y).max()) > _FLOAT32_SAFE_PEAK:
        y = y.astype(np.float64)
    # center=True pads half a window each side so frame t is centred on sample t * hop_length.
    return librosa.stft(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=WINDOW, center=True
    )


def mel_filterbank(
    *,
    sr: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """The mel filterbank of :func:`log_mel`: float32 weights of shape ``(n_mels, n_fft // 2 + 1)``.

    Multiplying power-spectrogram frames by its transpose gives mel-band power, which is how
    models that take log-power spectrograms pool them into mel bands themselves.
    ``n_mels`` may not exceed the ``n_fft // 2 + 1`` bins; the band needs
    ``0 <= fmin < fmax <= sr / 2`` (``fmax=None`` is ``sr / 2``).

    Examples
    --------
    >>> mel_filterbank().shape
    (40, 257)
    """
    sr = check_sample_rate(sr)
    _check_frames(n_fft, 1, 1)
    _check_int(n_mels, "n_mels", 1, n_fft // 2 + 1)
    fmin, fmax = _check_band(fmin, fmax, sr)
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                               fmax=fmax).astype(np.float32)


def _mel_power(y, sr, n_mels, n_fft, hop_length, win_length, fmin, fmax) -> np.ndarray:
    power = np.abs(_stft(y, n_fft, hop_length, win_length)) ** 2
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    # einsum rather than `fb @ power`: for matrices this small a multi-threaded BLAS spends far
    # longer waking its threads than multiplying (tens of ms on a busy machine, vs ~0.1 ms).
    return np.einsum("mf,ft->mt", fb, power)  # (n_mels, frames)


def log_mel(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Natural log of the mel-band power, ``log(max(mel_power, LOG_MEL_FLOOR))``.

    Returns
    -------
    np.ndarray
        float32, shape ``(frames, n_mels)`` with ``frames = 1 + len(y) // hop_length``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    >>> log_mel(y).shape
    (51, 40)
    """
    y = _check_waveform(y)
    sr = check_sample_rate(sr)
    _check_frames(n_fft, hop_length, win_length)
    _check_int(n_mels, "n_mels", 1, n_fft // 2 + 1)
    fmin, fmax = _check_band(fmin, fmax, sr)
    mel = _mel_power(y, sr, n_mels, n_fft, hop_length, win_length, fmin, fmax)
    return np.log(np.maximum(mel, LOG_MEL_FLOOR)).T.astype(np.float32)


def mfcc(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    n_mfcc: int = N_MFCC,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    n_mels: int = N_MELS,
) -> np.ndarray:
    """Mel-frequency cepstral coefficients (type-II orthonormal DCT of the dB mel power).

    Returns
    -------
    np.ndarray
        float32, shape ``(frames, n_mfcc)``; ``n_mfcc`` may not exceed ``n_mels``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    >>> mfcc(y).shape
    (26, 26)
    >>> mfcc(y, n_mfcc=13, hop_length=160).shape
    (51, 13)
    """
    y = _check_waveform(y)
    sr = check_sample_rate(sr)
    _check_frames(n_fft, hop_length, win_length)
    _check_int(n_mels, "n_mels", 1, n_fft // 2 + 1)
    if isinstance(n_mfcc, bool) or not isinstance(n_mfcc, int | np.integer) or not (
        1 <= n_mfcc <= n_mels
    ):
        raise ArgumentError(f"n_mfcc must be an integer in [1, n_mels={n_mels}], got {n_mfcc!r}")
    mel = _mel_power(y, sr, n_mels, n_fft, hop_length, win_length, 0.0, None)
    db = librosa.power_to_db(mel)
    coeffs = librosa.feature.mfcc(S=db, n_mfcc=n_mfcc, dct_type=2, norm="ortho")
    return coeffs.T.astype(np.float32)


def log_power_spectrogram(
    y: np.ndarray,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
) -> tuple[np.ndarray, np.ndarray]:
    """``log1p(|STFT|**2)`` and the STFT phase, both time-major.

    ``log1p`` keeps silence at 0 (so a mask that zeroes a cell silences it) and is exactly
    inverted by :func:`waveform_from_log_power`.

    Returns
    -------
    log_power, phase : np.ndarray
        float32, each of shape ``(frames, n_fft // 2 + 1)``; phase in radians.

    Examples
    --------
    >>> import numpy as np
    >>> log_power, phase = log_power_spectrogram(np.zeros(3200, dtype=np.float32))
    >>> log_power.shape, phase.shape, float(log_power.max())
    ((11, 257), (11, 257), 0.0)
    """
    y = _check_waveform(y)
    _check_frames(n_fft, hop_length, win_length)
    spec = _stft(y, n_fft, hop_length, win_length).T
    log_power = np.log1p(np.abs(spec) ** 2).astype(np.float32)
    return log_power, np.angle(spec).astype(np.float32)


def _check_spectrogram(a: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise AudioError(f"must be a numpy array, got {type(a).__name__}", source=name)
    if a.ndim != 2:
        raise AudioError(
            f"expected a time-major 2-D array (frames, bins), got shape {a.shape}", source=name
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise AudioError(f"expected a floating-point array, got dtype {a.dtype}", source=name)
    if a.shape[0] == 0:
        raise AudioError("has no frames", source=name)
    if not np.isfinite(a).all():
        raise AudioError("contains NaN or infinite values", source=name)
    return a


def waveform_from_log_power(
    log_power: np.ndarray,
    phase: np.ndarray | None,
    *,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    length: int | None = None,
    n_iter: int = 32,
) -> np.ndarray:
    """Invert :func:`log_power_spectrogram`: ``expm1`` → ``sqrt`` → ``× exp(i·phase)`` → iSTFT.

    Use it to listen to an edited (e.g. masked) spectrogram. ``n_fft`` is inferred from the
    number of bins. Negative log-power (not produced by ``log1p``) is treated as silence.

    Parameters
    ----------
    log_power, phase : np.ndarray
        Time-major ``(frames, bins)`` arrays from :func:`log_power_spectrogram`. With
        ``phase=None`` the phase is estimated by Griffin-Lim (``n_iter`` iterations).
    length : int, optional
        Trim or pad the output to this many samples (e.g. the original ``len(y)``); at most
        ``frames * hop_length + n_fft``.
    n_iter : int
        Griffin-Lim iterations, in [1, 10000].

    Raises
    ------
    AudioError
        A spectrogram that is not a finite 2-D float array, a phase of another shape, or
        log-power above :data:`MAX_LOG_POWER`.
    ArgumentError
        ``hop_length``, ``win_length``, ``length`` or ``n_iter`` out of range.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.sin(np.arange(4800) * 0.05).astype(np.float32)
    >>> y2 = waveform_from_log_power(*log_power_spectrogram(y), length=len(y))
    >>> bool(np.allclose(y[1000:-1000], y2[1000:-1000], atol=1e-3))
    True
    """
    log_power = _check_spectrogram(log_power, "log_power")
    n_fft = 2 * (log_power.shape[1] - 1)
    _check_frames(n_fft, hop_length, win_length)
    if float(log_power.max()) > MAX_LOG_POWER:
        # expm1 of more would overflow to inf and the iSTFT would return NaN samples
        raise AudioError(
            f"values reach {float(log_power.max()):.3g}; log1p power above {MAX_LOG_POWER:g} "
            "comes from no float32 waveform",
            source="log_power",
        )
    _check_int(n_iter, "n_iter", 1, 10_000)
    if length is not None:
        # librosa pads with zeros up to `length`: bound it by what the frames cover
        _check_int(length, "length", 0, log_power.shape[0] * hop_length + n_fft)
    magnitude = np.sqrt(np.expm1(np.maximum(log_power.astype(np.float64), 0.0))).T
    kwargs = dict(hop_length=hop_length, win_length=win_length, n_fft=n_fft, window=WINDOW,
                  center=True, length=length)
    if phase is None:
        y = librosa.griffinlim(magnitude, n_iter=n_iter, random_state=0, **kwargs)
    else:
        phase = _check_spectrogram(phase, "phase")
        if phase.shape != log_power.shape:
            raise AudioError(
                f"shape {phase.shape} does not match log_power's shape {log_power.shape}",
                source="phase",
            )
        y = librosa.istft(magnitude * np.exp(1j * phase.T.astype(np.float64)), **kwargs)
    return y.astype(np.float32)
