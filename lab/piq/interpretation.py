"""One interpreted utterance, and turning what the user gives into a 16 kHz spectrogram."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from lab.errors import ArgumentError
from lab.interpret._checks import finite, float_waveform, numeric_array
from lab.piq.targets import threshold_mask

__all__ = ["Interpretation", "listen", "spectrogram_of"]

#: The rate every PIQ spectrogram is computed at (the classifier's).
MODEL_RATE = 16000


@dataclass
class Interpretation:
    """What the classifier heard in one utterance.

    Attributes
    ----------
    label : int
        Predicted class (or the class asked for).
    class_name : str
    probabilities : np.ndarray, shape (n_classes,)
        Softmax of the classifier's logits.
    soft_mask : np.ndarray, shape (T, F)
        Decoder output in [0, 1].
    threshold : float
        Relative threshold giving ``mask``.
    mask : np.ndarray of bool, shape (T, F)
    log_power : np.ndarray, shape (T, F)
        The input log-power spectrogram.
    interpreted_log_power : np.ndarray, shape (T, F)
        ``mask × log_power``.
    phase : np.ndarray or None, shape (T, F)
        Phase of the input STFT (None when only features were given).
    waveform : np.ndarray
        Listenable interpretation (16 kHz), inverse STFT with the input phase
        (Griffin-Lim when the phase is unknown).
    length : int or None
        Samples of the (16 kHz) audio.
    """

    label: int
    class_name: str
    probabilities: np.ndarray
    soft_mask: np.ndarray
    threshold: float
    mask: np.ndarray
    log_power: np.ndarray
    interpreted_log_power: np.ndarray
    phase: np.ndarray | None
    waveform: np.ndarray = field(repr=False)
    length: int | None = None

    @property
    def mask_area(self) -> float:
        """Fraction of time-frequency bins kept by the mask."""
        return float(self.mask.mean())

    def with_threshold(self, threshold: float) -> Interpretation:
        """The same interpretation re-thresholded (no network call); waveform recomputed."""
        mask = threshold_mask(self.soft_mask, threshold)
        interpreted = (mask * self.log_power).astype(np.float32)
        return replace(
            self, threshold=float(threshold), mask=mask, interpreted_log_power=interpreted,
            waveform=listen(interpreted, self.phase, self.length),
        )


def listen(log_power: np.ndarray, phase: np.ndarray | None, length: int | None) -> np.ndarray:
    """A 16 kHz waveform of a (masked) log-power spectrogram."""
    from lab.audio import waveform_from_log_power

    return waveform_from_log_power(log_power, phase, length=length)


def _resample(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa  # slow to import; only a waveform at another rate needs it

    # the resampler lab.audio.load uses, so arrays and files at 8 kHz come out the same
    return librosa.resample(y, orig_sr=sr, target_sr=MODEL_RATE,
                            res_type="soxr_hq").astype(np.float32)


def spectrogram_of(audio_or_features, sr: int = MODEL_RATE):
    """``(log_power, phase, length)`` at 16 kHz for a waveform, an audio file or features.

    Parameters
    ----------
    audio_or_features : np.ndarray, torch.Tensor, str, path or bytes
        A 1-D waveform at ``sr`` (integer PCM is scaled to [-1, 1]; another rate is
        resampled to 16 kHz), an audio file or its bytes (resampled to 16 kHz whatever its
        rate), or a (T, n_bins) log-power spectrogram (phase and length None).
    sr : int
        Sample rate of a waveform array.

    Examples
    --------
    >>> y = np.zeros(8000, dtype=np.int16)
    >>> spectrogram_of(y, sr=8000)[0].shape  # 0.5 s, analysed at 16 kHz
    (51, 257)
    """
    from lab.audio import check_sample_rate, load, log_power_spectrogram

    sr = check_sample_rate(sr)
    data = audio_or_features
    if isinstance(data, str | os.PathLike | bytes | bytearray | memoryview):
        data = load(data, sr=MODEL_RATE)  # files carry their own rate
        sr = MODEL_RATE
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    if data.ndim == 1:
        y = float_waveform("audio_or_features", data)
        if sr != MODEL_RATE:
            y = _resample(y, sr)
        log_power, phase = log_power_spectrogram(y)
        return log_power, phase, len(y)
    if data.ndim == 2:
        if sr != MODEL_RATE:
            raise ArgumentError(
                f"sr={sr} was given with a (T, n_bins) spectrogram; sr describes a waveform "
                f"(spectrograms are always at {MODEL_RATE} Hz)"
            )
        log_power = np.array(numeric_array("audio_or_features", data), dtype=np.float32)
        finite("audio_or_features (log-power spectrogram)", log_power)
        return log_power, None, None
    raise ArgumentError(
        "audio_or_features must be a 1-D waveform or a (T, n_bins) log-power "
        f"spectrogram, got shape {data.shape}"
    )
