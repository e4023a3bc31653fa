import threading

import pytest
import torch
from torch import nn

from lab.widgets.dependency_panel import DependencyPanel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_panel_chunk_slider_updates_heatmap_and_readouts():
    panel = DependencyPanel(example="chunked_attention", seq_len=32, background=False)
    assert panel.summary.lookahead == 7 and panel.summary.left_context == 23
    assert "lab-dep-badge-bad" in panel.badge._dom_classes
    assert "NOT streamable" in panel.badge.value and "output frame 0" in panel.badge.value
    assert "<b>7</b>" in panel.lookahead_label.value
    before = panel.image.value
    assert before[:4] == b"\x89PNG"
    panel.chunk_size.value = 4
    assert panel.image.value != before
    assert panel.summary.lookahead == 3
    deps = panel.deps
    panel.max_lookahead.value = 3  # re-reads the matrix, does not recompute it
    assert panel.deps is deps
    assert "lab-dep-badge-ok" in panel.badge._dom_classes
    assert "lab-dep-badge-bad" not in panel.badge._dom_classes


def test_panel_models_and_methods():
    panel = DependencyPanel(seq_len=16, background=False)
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
    assert "lab-dependency-panel" in panel.widget._dom_classes
    assert {"lab-dep-run", "lab-dep-stop", "lab-dep-progress"} <= {
        c for w in panel.job.controls.children for c in w._dom_classes}


def test_panel_user_model_and_errors():
    user = nn.Linear(6, 3)  # frame-wise: output t uses input t only
    panel = DependencyPanel(user, n_features=6, seq_len=12)
    assert panel.model_picker.value == "your model"
    assert torch.equal(panel.deps, torch.eye(12, dtype=torch.bool))
    bad = DependencyPanel(lambda x: x.sum(-1), n_features=6, seq_len=12)
    assert "lab-dep-badge-error" in bad.badge._dom_classes
    assert "3-D" in bad.status.value and bad.deps is None
    assert bad.progress.bar_style == "danger" and not bad.job.running
    with pytest.raises(ValueError, match="example"):
        DependencyPanel(example="gru")
    with pytest.raises(ValueError, match="method"):
        DependencyPanel(method="fast")


def test_background_change_computes_in_a_thread_and_shows_the_result():
    panel = DependencyPanel(seq_len=16)  # background=True: what a notebook gets
    panel.model_picker.value = "centered conv"
    assert panel.job.wait(timeout=30)
    assert panel.summary.lookahead == 2 and "centered" in repr(panel)
    assert panel.progress.value == panel.progress.max and panel.progress.bar_style == "success"


def test_background_worker_exception_of_any_type_is_shown():
    broken = threading.Event()

    def flaky(x):
        if broken.is_set():  # fine in the constructor, broken afterwards
            raise KeyError("no such layer")
        return x

    panel = DependencyPanel(flaky, n_features=4, seq_len=8)
    assert panel.deps is not None
    broken.set()
    panel.seq_len.value = 12
    assert panel.job.wait(timeout=30)
    assert "KeyError" in panel.status.value and "no such layer" in panel.status.value
    assert "lab-dep-badge-error" in panel.badge._dom_classes and panel.deps is None
    assert "computing" not in panel.badge.value


def test_stop_shows_the_partial_matrix_and_a_new_setting_replaces_a_running_one():
    gate, entered = threading.Event(), threading.Event()

    def slow(x):
        if x.shape[0] > 2:  # batches of perturbed copies (perturb only) wait for the gate
            entered.set()
            gate.wait(10)
        return x

    panel = DependencyPanel(slow, n_features=4, seq_len=8, method="loop")
    panel.method.value = "perturb"  # replaced below before it finishes
    assert entered.wait(10)
    panel.seq_len.value = 12  # latest wins: the perturb run for 8 frames is stopped
    gate.set()
    assert panel.job.wait(timeout=30)
    assert panel.deps.shape == (12, 12) and panel.partial is None

    # a Stop part-way: computed rows drawn, the rest grey, nothing stale kept
    release, armed = threading.Event(), threading.Event()
    seen = []

    def stuck(x):
        if armed.is_set():
            seen.append(1)
            if len(seen) > 4:  # 2 determinism passes, then 2 loop rows, then stuck
                release.wait(10)
        return x

    panel = DependencyPanel(stuck, n_features=4, seq_len=8, method="loop")
    armed.set()
    panel.seq_len.value = 16
    while len(seen) < 5:
        threading.Event().wait(0.01)
    panel.stop_button.click()
    release.set()
    assert panel.job.wait(timeout=30)
    assert panel.deps is None and panel.partial is not None
    assert int(panel.partial.computed.all(dim=1).sum()) == 3  # the 3rd row ends after Stop
    assert "stopped" in panel.badge.value and "entries computed" in panel.status.value


def test_heatmap_axes_and_readout_match_the_sliders():
    panel = DependencyPanel(example="chunked_attention", seq_len=48)
    labels = panel.view.labels()
    assert labels["x"] == "input frame" and labels["y"] == "output frame"
    assert "grey: not computed" in labels["note"]
    assert "data-x='input frame'" in panel.view.caption.value
    # the measured 23 frames are explained against the slider's 16 (+ 7 inside the chunk)
    text = panel.left_context_label.value
    assert "<b>23</b>" in text and "16 frames before the chunk start" in text
    assert "up to 7 earlier frames" in text
    assert panel.job.readout.value.endswith("done")
