"""Tests for lab.audio: loading, features, their inverse, and every bad-input case."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from lab import audio
from lab.audio import AudioError

SR = audio.SAMPLE_RATE


def tone(freq: float = 440.0, seconds: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(y: np.ndarray, sr: int = SR, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def dominant_frequency(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[spectrum.argmax()])


# --- conventions -----------------------------------------------------------------------------

def test_conventions_are_deepspeech_style():
    assert (audio.SAMPLE_RATE, audio.N_FFT, audio.WIN_LENGTH) == (16000, 512, 512)
    assert 1000 * audio.WIN_LENGTH / audio.SAMPLE_RATE == 32.0
    assert 1000 * audio.HOP_LENGTH / audio.SAMPLE_RATE == 20.0
    assert (audio.N_MFCC, audio.N_MELS) == (26, 40)


# --- load ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_load_bytes_each_format(fmt):
    y = tone(seconds=0.4)
    out = audio.load(encode(y, fmt=fmt))
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - len(y)) <= (0 if fmt != "OGG" else 64)
    assert abs(dominant_frequency(out, SR) - 440.0) < 5.0
    if fmt != "OGG":  # lossless: equal up to 16-bit quantisation
        np.testing.assert_allclose(out, y, atol=1 / 32768 + 1e-6)


def test_load_path_str_and_pathlib(tmp_path):
    y = tone(seconds=0.25)
    path = tmp_path / "tone.flac"
    sf.write(path, y, SR)
    np.testing.assert_array_equal(audio.load(path), audio.load(str(path)))
    assert len(audio.load(path)) == len(y)


def test_load_resamples_to_requested_rate():
    y8k = tone(freq=300.0, seconds=0.5, sr=8000)
    out = audio.load(encode(y8k, sr=8000))
    assert len(out) == 2 * len(y8k)
    assert abs(dominant_frequency(out, SR) - 300.0) < 5.0
    out22 = audio.load(encode(y8k, sr=8000), sr=22050)
    assert abs(len(out22) - 22050 // 2) <= 1


def test_load_sr_none_keeps_native_rate():
    y8k = tone(seconds=0.1, sr=8000)
    assert len(audio.load(encode(y8k, sr=8000), sr=None)) == len(y8k)


def test_load_stereo_mono_and_not_mono():
    left, right = tone(200.0, 0.2), tone(900.0, 0.2)
    data = encode(np.stack([left, right], axis=1), subtype="FLOAT")
    mixed = audio.load(data)
    np.testing.assert_allclose(mixed, (left + right) / 2, atol=1e-6)
    both = audio.load(data, mono=False)
    assert both.shape == (2, len(left))
    np.testing.assert_allclose(both[1], right, atol=1e-6)
    assert audio.load(encode(left), mono=False).shape == (1, len(left))


def test_load_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match="nope.wav: no such file") as info:
        audio.load(missing)
    assert info.value.source == str(missing)


def test_load_directory(tmp_path):
    with pytest.raises(AudioError, match="directory"):
        audio.load(tmp_path)


def test_load_corrupt_bytes():
    with pytest.raises(AudioError, match=r"bytes of audio>: cannot be decoded.*corrupt"):
        audio.load(b"RIFF" + b"\x00garbage" * 20)


def test_load_corrupt_file_names_it(tmp_path):
    path = tmp_path / "broken.flac"
    path.write_bytes(encode(tone(), fmt="FLAC")[:30])  # truncated header
    with pytest.raises(AudioError, match="broken.flac: cannot be decoded"):
        audio.load(path)


def test_load_empty_bytes():
    with pytest.raises(AudioError, match="empty"):
        audio.load(b"")


def test_load_zero_length_audio(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="empty.wav: contains no samples"):
        audio.load(path)


def test_load_nan_and_inf_samples():
    data = encode(np.array([0.1, np.nan, np.inf, 0.2], dtype=np.float32), subtype="FLOAT")
    with pytest.raises(AudioError, match="2 NaN or infinite"):
        audio.load(data)


@pytest.mark.parametrize("sr", [0, -16000, 10**9, 16000.5, True, "16000"])
def test_load_rejects_unsupported_target_rate(sr):
    with pytest.raises(AudioError, match="not a supported sample rate"):
        audio.load(encode(tone()), sr=sr)


@pytest.mark.parametrize("file_sr", [100, 5_000_000])
def test_load_rejects_file_with_absurd_rate(tmp_path, file_sr):
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(64, dtype=np.float32), file_sr)
    with pytest.raises(AudioError, match=f"odd.wav: the file's sample rate={file_sr}"):
        audio.load(path)


def test_load_more_than_two_channels():
    data = encode(np.zeros((160, 3), dtype=np.float32))
    with pytest.raises(AudioError, match="3 channels; mono=False supports mono or stereo"):
        audio.load(data, mono=False)
    assert audio.load(data).shape == (160,)  # downmixing any layout is fine


def test_load_wrong_source_type():
    with pytest.raises(TypeError, match="source must be a path"):
        audio.load(np.zeros(10))


# --- features --------------------------------------------------------------------------------

def frames(n_samples: int, hop: int = audio.HOP_LENGTH) -> int:
    return 1 + n_samples // hop


def test_feature_shapes_and_dtypes():
    y = tone(seconds=1.0)
    assert audio.mfcc(y).shape == (frames(len(y)), 26)
    assert audio.log_mel(y).shape == (frames(len(y)), 40)
    log_power, phase = audio.log_power_spectrogram(y)
    assert log_power.shape == phase.shape == (frames(len(y)), 257)
    for a in (audio.mfcc(y), audio.log_mel(y), log_power, phase):
        assert a.dtype == np.float32


def test_log_power_matches_direct_fft():
    y = np.random.default_rng(1).standard_normal(4000).astype(np.float32) * 0.3
    log_power, phase = audio.log_power_spectrogram(y)
    padded = np.pad(y.astype(np.float64), 256)  # centred frames: half a window of zeros each side
    window = np.hanning(513)[:-1]  # periodic Hann
    t = 5
    spec = np.fft.rfft(padded[t * 320 : t * 320 + 512] * window)
    np.testing.assert_allclose(log_power[t], np.log1p(np.abs(spec) ** 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.cos(phase[t]), np.cos(np.angle(spec)), atol=1e-3)


def test_log_mel_peaks_at_tone_band():
    y = tone(freq=1000.0, seconds=0.5)
    centres = librosa.mel_frequencies(n_mels=42, fmin=0.0, fmax=SR / 2)[1:-1]
    peak_band = int(audio.log_mel(y)[10].argmax())
    assert abs(centres[peak_band] - 1000.0) < 120.0
    silence = audio.log_mel(np.zeros(1600, dtype=np.float32))
    np.testing.assert_allclose(silence, np.log(audio.LOG_MEL_FLOOR), rtol=1e-6)


def test_mfcc_matches_librosa_reference_and_params():
    y = np.random.default_rng(2).standard_normal(6400).astype(np.float32) * 0.1
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=26, n_fft=512, hop_length=320, win_length=512,
                               n_mels=40, center=True)
    np.testing.assert_allclose(audio.mfcc(y), ref.T, rtol=1e-3, atol=1e-2)
    assert audio.mfcc(y, n_mfcc=13, hop_length=160, n_fft=400, win_length=400).shape == (41, 13)


@pytest.mark.parametrize("hop,win", [(320, 512), (160, 400), (128, 256)])
def test_round_trip_through_log_power(hop, win):
    rng = np.random.default_rng(hop)
    t = np.arange(8000) / SR
    y = (0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    log_power, phase = audio.log_power_spectrogram(y, n_fft=win, hop_length=hop, win_length=win)
    back = audio.waveform_from_log_power(log_power, phase, hop_length=hop, win_length=win,
                                         length=len(y))
    assert back.shape == y.shape and back.dtype == np.float32
    inner = slice(win, -win)
    np.testing.assert_allclose(back[inner], y[inner], atol=2e-3)


def test_masked_log_power_is_silent_where_masked():
    y = tone(seconds=0.5)
    log_power, phase = audio.log_power_spectrogram(y)
    log_power[:, :] = 0.0
    assert np.abs(audio.waveform_from_log_power(log_power, phase)).max() < 1e-6


def test_griffin_lim_when_phase_is_unknown():
    y = tone(freq=500.0, seconds=0.5)
    log_power, _ = audio.log_power_spectrogram(y)
    back = audio.waveform_from_log_power(log_power, None, length=len(y), n_iter=16)
    assert back.shape == y.shape
    assert abs(dominant_frequency(back, SR) - 500.0) < 10.0


FEATURES = [
    lambda y: audio.mfcc(y),
    lambda y: audio.log_mel(y),
    lambda y: audio.log_power_spectrogram(y),
]


@pytest.mark.parametrize("feature", FEATURES, ids=["mfcc", "log_mel", "log_power"])
@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((2, 1600), dtype=np.float32), "1-D mono waveform"),
        (np.zeros((1, 2, 1600), dtype=np.float32), "1-D mono waveform"),
        (np.array(0.5, dtype=np.float32), "1-D mono waveform"),
        # int16 PCM is scaled now (see test_features_scale_integer_pcm); int64 has no PCM scale
        (np.zeros(1600, dtype=np.int64), "dtype int64"),
        (np.zeros(1600, dtype=np.complex64), "dtype complex64"),
        (np.array([0.0, np.nan, 0.1], dtype=np.float32), "NaN"),
        (np.array([0.0, -np.inf], dtype=np.float32), "infinite"),
        (np.zeros(0, dtype=np.float32), "zero-length"),
        ([0.0, 0.1], "numpy array"),
    ],
)
def test_features_reject_bad_waveforms(feature, bad, message):
    with pytest.raises(AudioError, match=message):
        feature(bad)


@pytest.mark.parametrize("feature", FEATURES, ids=["mfcc", "log_mel", "log_power"])
def test_features_scale_integer_pcm(feature):
    y = tone(seconds=0.1)
    pcm16 = np.round(y * 32767).astype(np.int16)
    scaled = feature(pcm16)
    scaled = scaled[0] if isinstance(scaled, tuple) else scaled
    expected = feature(pcm16.astype(np.float32) / 32768)
    expected = expected[0] if isinstance(expected, tuple) else expected
    np.testing.assert_allclose(scaled, expected, atol=1e-4)


def test_feature_parameter_errors():
    y = tone(seconds=0.1)
    with pytest.raises(ValueError, match="n_mfcc must be an integer in"):
        audio.mfcc(y, n_mfcc=41)
    with pytest.raises(ValueError, match="hop_length must be a positive integer"):
        audio.log_mel(y, hop_length=0)
    with pytest.raises(ValueError, match="win_length=600 must not exceed n_fft=512"):
        audio.log_power_spectrogram(y, win_length=600)
    with pytest.raises(AudioError, match="sr=0"):
        audio.mfcc(y, sr=0)


def test_inverse_rejects_bad_spectrograms():
    log_power, phase = audio.log_power_spectrogram(tone(seconds=0.1))
    with pytest.raises(AudioError, match="phase: shape"):
        audio.waveform_from_log_power(log_power, phase[:, :-1])
    with pytest.raises(AudioError, match="log_power: expected a time-major 2-D"):
        audio.waveform_from_log_power(log_power[None], phase)
    with pytest.raises(AudioError, match="log_power: contains NaN"):
        audio.waveform_from_log_power(np.full_like(log_power, np.nan), phase)
    with pytest.raises(AudioError, match="phase: expected a floating-point"):
        audio.waveform_from_log_power(log_power, phase.astype(np.int32))
