"""Audio front end: loading, DeepSpeech-style features and their inverse.

Conventions (see :mod:`lab.audio.conventions`): 16 kHz mono float32 waveforms; a 32 ms window
(``N_FFT = WIN_LENGTH = 512``), a 20 ms hop (``HOP_LENGTH = 320``), 26 MFCCs, 40 mel bands;
feature matrices are time-major float32 arrays of shape ``(frames, features)``.

Every waveform array entering the lab passes :func:`as_waveform` (integer PCM is scaled to
[-1, 1]); :func:`load` caps duration and decoded size from the file header before decoding.
"""

from .conventions import (
    HOP_LENGTH,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    N_FFT,
    N_MELS,
    N_MFCC,
    SAMPLE_RATE,
    WIN_LENGTH,
    WINDOW,
)
from .errors import AudioError, AudioWarning
from .features import (
    LOG_MEL_FLOOR,
    log_mel,
    log_power_spectrogram,
    mel_filterbank,
    mfcc,
    waveform_from_log_power,
)
from .io import DEFAULT_MAX_SAMPLES, DEFAULT_MAX_SECONDS, check_sample_rate, load
from .waveform import as_waveform

__all__ = [
    "AudioError",
    "AudioWarning",
    "as_waveform",
    "load",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_SAMPLES",
    "check_sample_rate",
    "mfcc",
    "log_mel",
    "mel_filterbank",
    "log_power_spectrogram",
    "waveform_from_log_power",
    "SAMPLE_RATE",
    "N_FFT",
    "WIN_LENGTH",
    "HOP_LENGTH",
    "N_MFCC",
    "N_MELS",
    "WINDOW",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "LOG_MEL_FLOOR",
]
