"""PIQPanel: loads utterances, threshold swaps mask/interpretation/audio in place, bad uploads."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from lab.models.classifier import KeywordClassifier
from lab.piq import PIQInterpreter
from lab.widgets.piq_panel import PIQPanel
from lab.widgets.render import wav_bytes
from lab.widgets.sources import corpus_sources


@pytest.fixture(scope="module")
def panel():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    interpreter = PIQInterpreter(KeywordClassifier(n_classes=24, dim=16, widths=(8, 8)),
                                 codes_per_class=2, shared_keys=2, decoder_channels=16)
    return PIQPanel(interpreter, corpus_sources("test", limit=2, keywords_only=True), threshold=0.5)


def test_panel_shows_an_interpretation(panel):
    assert panel.result is not None
    assert panel.spectrogram.value[:4] == b"\x89PNG"
    assert panel.original_audio.value[:4] == b"RIFF"
    assert panel.probabilities.value.count("<tr>") == 5
    assert panel.result.class_name in panel.probabilities.value
    classes = set(panel.widget._dom_classes)
    assert "lab-piq-panel" in classes and "lab-piq-threshold" in panel.threshold._dom_classes


def test_threshold_updates_mask_and_audio(panel):
    panel.set_threshold(0.0)
    mask, audio_bytes = panel.mask.value, panel.interpreted_audio.value
    area = panel.result.mask_area
    assert area == 1.0
    panel.set_threshold(1.0)  # only the bins at this utterance's mask maximum
    assert panel.result.mask_area < area
    assert panel.mask.value != mask and panel.interpreted_audio.value != audio_bytes
    np.testing.assert_array_equal(panel.result.interpreted_log_power,
                                  panel.result.mask * panel.result.log_power)


def test_bad_upload_keeps_previous_and_shows_error(panel):
    before = panel.result
    panel._on_upload({"new": [{"name": "junk.wav", "content": b"not audio"}]})
    assert "junk.wav" in panel.error.value and panel.result is before
    good = wav_bytes(0.1 * np.sin(np.arange(8000) * 0.1).astype(np.float32), 16000)
    panel._on_upload({"new": [{"name": "tone.wav", "content": good}]})
    assert panel.error.value == "" and panel.source.value == "⬆ tone.wav"


def test_views_share_a_labelled_time_axis(panel):
    for view in panel.views:
        labels = view.labels()
        assert labels["x"] == "time (s)" and labels["y"] == "frequency (Hz)"
        assert labels["colorbar"] == "power (dB re max)"
        assert view.size[0] == panel.views[0].size[0] and view.plot_px == panel.views[0].plot_px
    # the mask is drawn over the spectrogram: at threshold 0 nothing is veiled, so the mask
    # view shows the spectrogram itself, not a white image
    panel.set_threshold(0.0)
    r0, r1, c0, c1 = panel.mask_view._area

    def plot_area(png):
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[r0:r1, c0:c1]

    np.testing.assert_array_equal(plot_area(panel.mask.value), plot_area(panel.spectrogram.value))
    panel.set_threshold(1.0)
    assert (plot_area(panel.mask.value) != plot_area(panel.spectrogram.value)).any()


def test_time_cursor_marks_every_view(panel):
    before = [v.image.value for v in panel.views]
    panel.cursor.value = 0.2
    assert all(v.cursor == 0.2 for v in panel.views)
    assert all(v.image.value != b for v, b in zip(panel.views, before))
