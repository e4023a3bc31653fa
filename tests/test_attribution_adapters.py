"""AttributionPanel and attribute() on adapted models outside the zoo's waveform path.

- a tiny random WhisperForConditionalGeneration (seq2seq over log-mel, built from a config:
  no download), attributed on the log-power spectrogram it hears resynthesised with the
  input phase: maps, masks, kept/removed audio and the transcripts of the masked input;
- plain feature-input modules adapted with ``input="features"`` (an MFCC classifier, a
  log-power CTC model with an inverse to audio): maps on their own features, audio only
  through the adapter's inverse, otherwise disabled with the reason shown.

Every method the panel offers runs, with cheap settings (few steps, big patches).
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

pytest.importorskip("transformers")

from lab.audio import log_power_spectrogram, mfcc, waveform_from_log_power  # noqa: E402
from lab.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from lab.interpret import AttributionSettings, attribute  # noqa: E402
from lab.interpret.attribution import METHODS, WhisperHearing, attribution_grid  # noqa: E402
from lab.models import adapt  # noqa: E402
from lab.widgets import AttributionPanel  # noqa: E402
from tests.test_adapters import hf_whisper, speechlike  # noqa: E402

torch.set_num_threads(1)

#: Every method, cheap: 4 integrated-gradients steps, 2 samples, 2×2 occlusion patches,
#: ablation over ~3 blocks of frames; NoiseTunnel smooths saliency.
CHEAP = AttributionSettings(n_steps=4, n_samples=2, window=(26, 129), stride=(26, 129),
                            segment_frames=20, inner="saliency", batch_size=16)


def _wav(y: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, y, 16000, format="WAV")
    return out.getvalue()


def _samples(wav: bytes) -> int:
    return len(sf.read(io.BytesIO(wav))[0])


@functools.cache
def clip() -> np.ndarray:
    return speechlike(1.0)


def mfcc13(y: np.ndarray) -> np.ndarray:
    """13 MFCCs every 20 ms (the feature extractor of the feature-input classifier)."""
    return mfcc(y, n_mfcc=13)


def log_power(y: np.ndarray) -> np.ndarray:
    """The lab's log-power spectrogram (the CTC module's features)."""
    return log_power_spectrogram(y)[0]


def zero_phase_audio(features: np.ndarray) -> np.ndarray:
    """An inverse to audio for ``log_power`` features: zero-phase resynthesis."""
    return waveform_from_log_power(features, np.zeros_like(features))


class MeanPool(nn.Module):
    """(B, T, F) features → (B, C) class scores: a frame projection averaged over time."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).mean(dim=1)


def feature_classifier():
    torch.manual_seed(0)
    return adapt(MeanPool(13, 3).eval(), kind="classification", input="features",
                 features=mfcc13, labels=["yes", "no", "maybe"], frame_seconds=0.02)


def feature_ctc(inverse=True):
    torch.manual_seed(0)
    # the inverse is what the panel hears the masks through: own features (T, F) → waveform
    return adapt(nn.Linear(257, 5).eval(), kind="ctc", input="features", features=log_power,
                 labels=["<b>", "a", "b", "c", "|"], frame_seconds=0.02,
                 inverse=zero_phase_audio if inverse else None)


def _check_maps(panel: AttributionPanel, grid: tuple[int, int]) -> None:
    assert panel.error.value == "", panel.error.value
    assert set(panel.attributions) == set(panel.methods)
    assert panel.features.shape == grid
    for method, a in panel.attributions.items():
        assert a.scores.shape == grid and np.isfinite(a.scores).all(), method
        assert a.mask(panel.area.value).shape == grid
        assert panel.map_views[method].image.value[:4] == b"\x89PNG"
        assert panel.metrics[method].value.startswith("<table>")


# ---- Whisper: the log-power grid, heard through its log-mel ------------------------------

@pytest.fixture(scope="module")
def whisper_panel():
    return AttributionPanel(hf_whisper(), {"clip": _wav(clip())}, methods=list(METHODS),
                            settings=CHEAP, area=0.3)


def test_whisper_panel_attributes_every_method_on_the_log_power_grid(whisper_panel):
    panel = whisper_panel
    wave = panel.waveform
    assert panel.kind == "log_power" and panel.grid == "log_power" and panel.listenable
    _check_maps(panel, log_power_spectrogram(wave)[0].shape)
    assert panel.map_views["saliency"].labels()["y"] == "frequency (Hz)"
    assert "greedy tokens" in panel.info.value
    # the explained transcript is the one Whisper decodes from the clip
    assert panel.attributions["saliency"].target.endswith(f"{panel._transcript!r}")


def test_whisper_panel_plays_kept_and_removed_audio_and_their_transcripts(whisper_panel):
    panel = whisper_panel
    n = panel.waveform.size
    for method in panel.methods:
        heard = panel.heard[method]
        assert heard["kept"].shape == heard["removed"].shape == (n,)
        assert _samples(panel.audios[method].value) == n
        assert _samples(panel.removed_audios[method].value) == n
        cells = panel.metrics[method].value
        assert "kept bins →" in cells and "removed bins →" in cells and "CER in" in cells
    assert "greedy transcript it decodes" in panel.words_note.value
    before = panel.heard["saliency"]["kept"]
    panel.set_area(0.8)
    assert not np.array_equal(panel.heard["saliency"]["kept"], before)


def test_whisper_hears_its_own_log_mel_through_the_spectrogram():
    model, wave = hf_whisper(), clip()
    on = attribution_grid(model, wave, grid="log_power")
    assert isinstance(on.view, WhisperHearing) and on.kind == "log_power"
    x = torch.from_numpy(on.features)[None]
    view, own = model.mask_view(wave)
    with torch.no_grad():
        heard = on.view.log_mel(on.view.resynthesis.waveform(x))[0]
        # a mask of ones: Whisper's own features and its own scores, up to rounding
        np.testing.assert_allclose(heard.numpy(), own.numpy(), atol=1e-4)
        np.testing.assert_allclose(on.view(x).numpy(), view(own[None]).numpy(), atol=1e-4)
    # the default grid is unchanged: Whisper's own 80 mel bands
    assert attribute(model, wave, method="saliency").scores.shape == tuple(own.shape)


# ---- feature-input modules: their own grid, audio only through an inverse ---------------

def test_feature_classifier_panel_maps_its_features_and_says_why_it_cannot_play():
    model = feature_classifier()
    panel = AttributionPanel(model, {"clip": _wav(clip())}, methods=list(METHODS),
                             settings=CHEAP, area=0.2)
    _check_maps(panel, tuple(model.own_input(clip()).shape))
    assert panel.kind == "features" and not panel.listenable
    assert panel.map_views["occlusion"].labels()["y"] == "mfcc13 feature"
    assert panel.spectrogram_view.labels()["y"] == "mfcc13 feature"
    # the audio controls are hidden, and the panel says why
    assert "no inverse to audio" in panel.audio_note.value
    assert all(panel.audios[m].value == b"" for m in panel.methods)
    assert all(panel.heard[m] == {} for m in panel.methods)
    assert "kept class" in panel.metrics["saliency"].value
    assert "own features" in panel.words_note.value


def test_feature_ctc_panel_with_an_inverse_plays_the_masks():
    model = feature_ctc()
    panel = AttributionPanel(model, {"clip": _wav(clip())},
                             methods=["saliency", "integrated_gradients"], settings=CHEAP)
    _check_maps(panel, log_power(clip()).shape)
    assert panel.listenable and panel.audio_note.value == ""
    for method in panel.methods:
        assert panel.audios[method].value[:4] == b"RIFF"
        assert panel.removed_audios[method].value[:4] == b"RIFF"
        assert "transcript kept" in panel.metrics[method].value


def test_hf_feature_classifier_panel_maps_its_mel_bands_on_their_own_time():
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(0)
    cfg = WhisperConfig(num_mel_bins=80, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                        decoder_ffn_dim=16, d_model=16, num_labels=4)
    model = adapt(WhisperForAudioClassification(cfg).eval(),
                  processor=WhisperFeatureExtractor())
    panel = AttributionPanel(model, {"clip": _wav(clip())}, methods=["saliency"])
    _check_maps(panel, (3000, 80))  # the extractor's 30 s of frames
    assert panel.kind == "features" and not panel.listenable
    assert panel.map_views["saliency"].labels()["y"] == "mel band"
    assert panel._duration() == pytest.approx(30.0)  # its frames' own time, not the clip's
    assert "no inverse to audio" in panel.audio_note.value


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: attribute(hf_whisper(), clip(), method="saliency", grid="mel"), ArgumentError,
     "grid"),
    (lambda: attribute(hf_whisper(), clip(), method="saliency", grid=1), ArgumentTypeError,
     "grid"),
    (lambda: attribute(feature_classifier(), clip(), method="saliency", grid="log_power"),
     ArgumentError, "grid: MeanPool"),
    (lambda: attribute(hf_whisper(), np.zeros((100, 80), np.float32), method="saliency",
                       grid="log_power"), ArgumentError, "audio: the log-power grid"),
    (lambda: attribute(hf_whisper(), clip(), method="saliency", sr=8000), ArgumentError,
     "sr: WhisperForConditionalGeneration hears 16000 Hz"),
    (lambda: AttributionPanel(hf_whisper(), {"clip": _wav(clip())}, methods=["lime"]),
     ArgumentError, "methods"),
    (lambda: AttributionPanel(adapt(MeanPool(13, 3), kind="classification",
                                    input="features", features=mfcc13, sample_rate=8000),
                              {"clip": _wav(clip())}), ArgumentError, "model: MeanPool hears"),
])
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_non_callable_inverse_is_refused_naming_it():
    model = feature_ctc(inverse=False)
    model.inverse = "griffin-lim"
    with pytest.raises(ArgumentTypeError, match="inverse: Linear's adapter.inverse"):
        AttributionPanel(model, {"clip": _wav(clip())}, methods=["saliency"])


def test_adapt_checks_the_inverse_it_is_given():
    with pytest.raises(ArgumentTypeError, match="inverse must be callable"):
        adapt(nn.Linear(257, 5), kind="ctc", input="features", features=log_power,
              inverse="griffin-lim")
    with pytest.raises(ArgumentError, match="inverse: only feature-input models"):
        adapt(nn.Linear(320, 2), kind="classification", input="waveform",
              inverse=zero_phase_audio)
    assert feature_ctc(inverse=True).inverse is zero_phase_audio
    assert feature_ctc(inverse=False).inverse is None


def test_bad_audio_is_shown_not_raised(whisper_panel):
    assert not whisper_panel.load(b"not audio", "junk.wav")
    assert "junk.wav" in whisper_panel.error.value
