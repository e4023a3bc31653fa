import pytest
import torch
from torch import nn

from lab.widgets.dependency_panel import DependencyPanel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_panel_chunk_slider_updates_heatmap_and_readouts():
    panel = DependencyPanel(example="chunked_attention", seq_len=32)
    assert panel.summary.lookahead == 7 and panel.summary.left_context == 23
    assert "lab-dep-badge-bad" in panel.badge._dom_classes
    assert "NOT streamable" in panel.badge.value and "output frame 0" in panel.badge.value
    assert "<b>7</b>" in panel.lookahead_label.value
    before = panel.image.value
    assert before[:4] == b"\x89PNG"
    panel.chunk_size.value = 4
    assert panel.image.value != before
    assert panel.summary.lookahead == 3
    panel.max_lookahead.value = 3
    assert "lab-dep-badge-ok" in panel.badge._dom_classes
    assert "lab-dep-badge-bad" not in panel.badge._dom_classes


def test_panel_models_and_methods():
    panel = DependencyPanel(seq_len=16)
    assert panel._attention_box.layout.display == "none"  # sliders only for attention
    assert panel.summary.causal and "streamable (causal)" in panel.badge.value
    panel.model_picker.value = "centered conv"
    assert panel.summary.lookahead == 2
    panel.model_picker.value = "LSTM"
    panel.method.value = "jacobian"
    assert int(panel.deps.sum()) == 16 * 17 // 2
    for cls in ("lab-dep-model", "lab-dep-seqlen", "lab-dep-method", "lab-dep-chunk",
                "lab-dep-heatmap", "lab-dep-lookahead", "lab-dep-left-context"):
        assert any(cls in w._dom_classes for w in (
            panel.model_picker, panel.seq_len, panel.method, panel.chunk_size, panel.image,
            panel.lookahead_label, panel.left_context_label))


def test_panel_user_model_and_errors():
    user = nn.Linear(6, 3)  # frame-wise: output t uses input t only
    panel = DependencyPanel(user, n_features=6, seq_len=12)
    assert panel.model_picker.value == "your model"
    assert torch.equal(panel.deps, torch.eye(12, dtype=torch.bool))
    bad = DependencyPanel(lambda x: x.sum(-1), n_features=6, seq_len=12)
    assert "lab-dep-badge-error" in bad.badge._dom_classes
    assert "3-D" in bad.status.value
    with pytest.raises(ValueError, match="example"):
        DependencyPanel(example="gru")
    with pytest.raises(ValueError, match="method"):
        DependencyPanel(method="fast")
