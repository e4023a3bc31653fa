"""AlignmentPanel: redraws in place, reports the loss, refuses a blank that is a target."""

import pytest
import torch

from lab.transducer import rnnt_loss
from lab.widgets import AlignmentPanel


def test_panel_sliders_redraw_and_loss_matches_rnnt_loss():
    panel = AlignmentPanel(n_frames=16, corpus=0)
    heat, labels, loss = panel.heatmap.value, panel.label_image.value, panel.loss_value
    assert heat[:4] == b"\x89PNG" and labels[:4] == b"\x89PNG"
    x, y = panel._utterances[0].logits, panel._utterances[0].targets
    want = rnnt_loss(x[None], torch.tensor([y]), torch.tensor([x.shape[0]]),
                     torch.tensor([len(y)]), blank=0)
    assert loss == pytest.approx(want.item(), rel=1e-5)
    panel.temperature.value = 2.0
    assert panel.heatmap.value != heat and panel.loss_value != loss
    panel.utterance.value = 2
    assert "hello world" in panel.loss.value


def test_panel_blank_equal_to_a_target_shows_error():
    panel = AlignmentPanel(n_frames=12, corpus=0)
    y = panel._utterances[0].targets
    before = panel.heatmap.value
    panel.blank.value = y[0]
    assert "blank" in panel.error.value and panel.heatmap.value == before
    # refused: the slider is back on the setting on display, and the message says so
    assert panel.blank.value == 0 and "back to blank 0" in panel.error.value
    panel.temperature.value = 2.0
    assert panel.error.value == ""


def test_panel_accepts_model_logits():
    logits = torch.randn(2, 6, 3, 5)
    panel = AlignmentPanel(logits, torch.tensor([[1, 2], [3, 0]]),
                           torch.tensor([6, 4]), torch.tensor([2, 1]))
    assert len(panel.utterance.options) == 2
    panel.utterance.value = 1
    assert "T=4 frames, U=1 labels" in panel.loss.value
    with pytest.raises(ValueError, match="targets is required"):
        AlignmentPanel(logits)


def test_panel_runs_the_zoo_transducer_on_real_utterances():
    panel = AlignmentPanel(corpus=2)
    first = panel._utterances[0]
    assert first.source is not None and first.text in panel.loss.value
    assert first.logits.shape[-1] == 29 and first.frame_s == pytest.approx(0.04, abs=0.005)
    occupancy, labels, decoded = panel.views
    assert occupancy.labels()["x"] == "time (s)" and occupancy.labels()["rows"][0] == "start"
    assert labels.labels()["colorbar"] == "probability"
    assert decoded.labels()["rows"] == ["Viterbi"]
    assert len({v.size[0] for v in panel.views}) == 1
    # a synthetic example has no time base: its axis counts frames
    panel.utterance.value = len(panel._utterances) - 1
    assert occupancy.labels()["x"] == "frame t"


def test_panel_aligns_an_upload_on_the_models_hypothesis():
    import io

    import soundfile as sf

    from lab.data import Corpus

    corpus = Corpus("test", cache=False)
    wav, sr = sf.read(corpus.root / corpus.rows[0].path)
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format="WAV")
    panel = AlignmentPanel(corpus=1)
    panel._on_upload({"new": [{"name": "mine.wav", "content": buf.getvalue()}]})
    assert panel._utterances[-1].name.startswith("⬆ mine.wav")
    assert panel.utterance.value == len(panel._utterances) - 1
    assert panel.error.value == ""
    panel._on_upload({"new": [{"name": "junk.wav", "content": b"junk"}]})
    assert "junk.wav" in panel.error.value
