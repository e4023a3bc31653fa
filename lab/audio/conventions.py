"""The audio conventions of the whole lab, stated once.

They follow Mozilla DeepSpeech's front end: 16 kHz mono audio, a 32 ms analysis window,
a 20 ms hop and 26 MFCCs. Every feature function in :mod:`lab.audio` uses these defaults and
every feature matrix is time-major, shape ``(frames, features)``, dtype float32, so that row
``t`` is what a model sees at step ``t``.
"""

SAMPLE_RATE: int = 16_000
"""Samples per second of every waveform in the lab."""

N_FFT: int = 512
"""FFT size in samples (32 ms at 16 kHz); gives ``N_FFT // 2 + 1 = 257`` frequency bins."""

WIN_LENGTH: int = 512
"""Analysis window length in samples (32 ms), equal to :data:`N_FFT` so no zero padding."""

HOP_LENGTH: int = 320
"""Hop between frames in samples (20 ms), i.e. 50 frames per second."""

N_MFCC: int = 26
"""Number of cepstral coefficients, as in DeepSpeech."""

N_MELS: int = 40
"""Number of mel bands, for :func:`lab.audio.log_mel` and underneath :func:`lab.audio.mfcc`."""

WINDOW: str = "hann"
"""Window function of every STFT."""

MIN_SAMPLE_RATE: int = 1_000
MAX_SAMPLE_RATE: int = 384_000
"""Sample rates outside ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]`` are rejected as corrupt or absurd."""
