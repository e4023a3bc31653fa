"""AlignmentPanel: redraws in place, reports the loss, refuses a blank that is a target."""

import pytest
import torch

from lab.transducer import rnnt_loss
from lab.widgets import AlignmentPanel


def test_panel_sliders_redraw_and_loss_matches_rnnt_loss():
    panel = AlignmentPanel(n_frames=16)
    heat, labels, loss = panel.heatmap.value, panel.label_image.value, panel.loss_value
    assert heat[:4] == b"\x89PNG" and labels[:4] == b"\x89PNG"
    _, x, y = panel._utterances[0]
    want = rnnt_loss(x[None], torch.tensor([y]), torch.tensor([x.shape[0]]),
                     torch.tensor([len(y)]), blank=0)
    assert loss == pytest.approx(want.item(), rel=1e-5)
    panel.temperature.value = 2.0
    assert panel.heatmap.value != heat and panel.loss_value != loss
    panel.utterance.value = 2
    assert "hello world" in panel.loss.value


def test_panel_blank_equal_to_a_target_shows_error():
    panel = AlignmentPanel(n_frames=12)
    _, _, y = panel._utterances[0]
    before = panel.heatmap.value
    panel.blank.value = y[0]
    assert "blank" in panel.error.value and panel.heatmap.value == before
    panel.blank.value = 0
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
