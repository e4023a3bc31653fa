"""AnimationPlayer, FeatureVizPanel and MaskPanel driven from Python."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from lab.data.dataset import Utterance
from lab.interpret import greedy_ctc_transcripts
from lab.models import DeepSpeech
from lab.widgets import AnimationPlayer, FeatureVizPanel, MaskPanel
from lab.widgets.jobs import PanelJob
from lab.widgets.render import wav_bytes

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DeepSpeech(n_hidden=16).eval()


@pytest.fixture(scope="module")
def sources():
    t = np.arange(8000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.1)).astype(np.float32)
    return {"tone": wav_bytes(tone, 16000)}


# --- AnimationPlayer ---------------------------------------------------------------------------


def test_player_frames_titles_and_browser_links():
    frames = [np.full((6, 4), float(i)) for i in range(5)]
    player = AnimationPlayer(frames, titles=[f"t{i}" for i in range(5)], width=40,
                             row_height=20)
    assert player.n_frames == 5 == len(player.stack.children) == len(player.captions.children)
    assert player.play.max == player.slider.max == 4
    linked = {(lk.source[1], lk.target[1]) for lk in player._links}
    assert ("value", "selected_index") in linked and ("value", "value") in linked
    img = Image.open(io.BytesIO(player.pngs[0]))
    assert img.width == 40
    assert player.pngs[0] != player.pngs[4]  # colour limits shared across frames


def test_player_rows_stack_vertically():
    frame = [np.zeros((6, 4)), np.ones((6, 4)), np.eye(6, 4)]
    player = AnimationPlayer([frame, frame], cmap=["gray", "coolwarm", "coolwarm"],
                             row_titles=["a", "b", "c"], width=50, row_height=10)
    assert Image.open(io.BytesIO(player.pngs[0])).height > 3 * 10


def test_gif_export_has_every_frame(tmp_path):
    frames = [np.zeros((6, 4))] * 3 + [np.ones((6, 4))] * 4  # repeated frames stay separate
    player = AnimationPlayer(frames, width=30, row_height=12)
    path = player.save(tmp_path / "anim.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 7


def test_mp4_without_ffmpeg_says_so(tmp_path, monkeypatch):
    from matplotlib import animation

    monkeypatch.setattr(animation.FFMpegWriter, "isAvailable", classmethod(lambda cls: False))
    player = AnimationPlayer([np.zeros((4, 4))] * 2)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        player.save(tmp_path / "anim.mp4")


def test_player_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        AnimationPlayer([])
    with pytest.raises(ValueError, match="titles must have one entry per frame"):
        AnimationPlayer([np.zeros((2, 2))] * 2, titles=["only one"])
    with pytest.raises(ValueError, match=".gif or .mp4"):
        AnimationPlayer([np.zeros((2, 2))]).save(tmp_path / "x.avi")
    with pytest.raises(ValueError, match="same number of rows"):
        AnimationPlayer([[np.zeros((2, 2))], [np.zeros((2, 2))] * 2])


# --- PanelJob ----------------------------------------------------------------------------------


def test_panel_job_runs_reports_and_restores_buttons():
    job = PanelJob(lambda widget, part: widget.add_class(f"x-{part}") or widget)
    assert {c for w in job.controls.children for c in w._dom_classes} == {"x-run", "x-stop",
                                                                         "x-progress",
                                                                         "x-progress-text"}
    assert job.stop_button.disabled and not job.run_button.disabled

    def work():
        assert job.running and job.run_button.disabled and not job.stop_button.disabled
        job.report(3, 7)
        return "done"

    assert job.start(work, wait=True) == "done"
    assert (job.progress.value, job.progress.max) == (3, 7)
    assert not job.running and not job.run_button.disabled and job.stop_button.disabled
    job.report(12, 5)  # clamped, and a shrinking max never trips the widget's validation
    assert (job.progress.value, job.progress.max) == (5, 5)


def test_panel_job_stop_and_busy_runs_are_ignored():
    job = PanelJob(lambda widget, part: widget)
    started, polls = threading.Event(), []

    def work():
        started.set()
        while not job.should_stop():
            polls.append(1)
            time.sleep(0.001)
        return "stopped"

    assert job.start(work, wait=False) is None
    assert started.wait(10) and job.running
    assert job.start(lambda: "second", wait=True) is None  # ignored while busy
    job.stop_button.click()
    assert job.wait(timeout=10) and not job.running
    assert job.start(lambda: "again", wait=True) == "again"  # Stop does not stick


def test_panel_job_failure_frees_the_buttons():
    job = PanelJob(lambda widget, part: widget)

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        job.start(broken, wait=True)
    assert not job.running and not job.run_button.disabled and job.stop_button.disabled


# --- FeatureVizPanel ---------------------------------------------------------------------------


def test_feature_viz_panel_runs_and_lists_top_examples(model):
    rng = np.random.default_rng(0)
    items = [Utterance(torch.tensor(rng.normal(size=(n, 26)) * 10, dtype=torch.float32),
                       torch.tensor([1]), f"utt {n}", -1, f"{n}.flac", "v")
             for n in (8, 12, 10)]
    panel = FeatureVizPanel(model, items, steps=10, shape=(12, 26), record_every=5, top_k=2)
    assert panel.layer.options[0] == "layer_1" and "normalize" not in panel.layer.options
    result = panel.run(wait=True)
    assert result.steps_done == 10 and panel.player.n_frames == 3
    assert panel.curves.value[:4] == b"\x89PNG"
    assert "final activation" in panel.status.value
    examples = panel.find_top_examples()
    assert len(examples) == 2 == len(panel.examples_box.children)
    assert examples[0].value >= examples[1].value


def test_feature_viz_panel_stop_keeps_partial_result(model):
    panel = FeatureVizPanel(model, [], steps=1000, shape=(10, 26))
    panel.steps.value = 1000
    panel.run(wait=False)
    panel.stop()
    assert panel.job.wait(timeout=30)
    assert panel.result is not None and panel.result.interrupted
    assert panel.result.steps_done < 1000 and not panel.run_button.disabled
    assert panel.progress.value == panel.result.steps_done and "stopped" in panel.status.value


def test_feature_viz_panel_bad_neurons_shows_error(model):
    panel = FeatureVizPanel(model, [], steps=10, shape=(10, 26))
    panel.neurons.value = "1, x"
    assert panel.run() is None and "integers" in panel.status.value
    panel.neurons.value = "999"
    assert panel.run() is None and "out of range" in panel.status.value


# --- MaskPanel ---------------------------------------------------------------------------------


def test_mask_panel_run_and_threshold(model, sources):
    panel = MaskPanel(model, sources)
    result = panel.run()
    assert result.preserved
    assert panel.player.n_frames == len(result.trajectory)
    panel.set_threshold(0.0)
    np.testing.assert_array_equal(panel.muted, panel.waveform)
    before = panel.muted_audio.value
    panel.set_threshold(1.0)
    frame_means = result.mask.mean(axis=1)
    if frame_means.min() < 1.0:
        assert panel.muted_audio.value != before
        assert np.abs(panel.muted).sum() < np.abs(panel.waveform).sum()
    assert "muted transcript" in panel.muted_transcript.value
    panel.method.value = "greedy"
    panel.sparsity.value = 50.0  # an optimize option: greedy runs without it
    assert panel.run().method == "greedy"
    assert "sparsity_weight" not in panel.error.value


def test_mask_panel_bad_upload_keeps_previous(model, sources):
    panel = MaskPanel(model, sources)
    before = panel.waveform.copy()
    assert not panel.load(b"not audio")
    np.testing.assert_array_equal(panel.waveform, before)


def transcript_of(model, features):
    with torch.no_grad():
        return greedy_ctc_transcripts(model(torch.as_tensor(features)[None]))[0]


def test_mask_panel_progress_reaches_total(model, sources):
    panel = MaskPanel(model, sources)
    assert {"lab-mask-stop", "lab-mask-progress"} <= {
        c for w in panel.job.controls.children for c in w._dom_classes}
    result = panel.run()
    assert result.preserved and not result.interrupted
    assert panel.progress.max > 1 and panel.progress.value == panel.progress.max
    assert "stopped" not in panel.status.value and "sparsity" in panel.status.value


def test_mask_panel_stop_shows_a_valid_interrupted_mask(model, sources):
    panel = MaskPanel(model, sources, method="greedy")
    assert panel.run(wait=False) is None
    deadline = time.monotonic() + 30
    while panel.progress.value == 0 and panel.job.running and time.monotonic() < deadline:
        time.sleep(0.005)
    assert panel.run() is None  # Run while running is ignored
    panel.stop_button.click()
    assert panel.job.wait(timeout=30)
    result = panel.result
    assert result is not None and result.interrupted
    assert transcript_of(model, result.mask * panel.features) == transcript_of(model,
                                                                               panel.features)
    assert panel.status.value.startswith("stopped") and "transcript kept: True" in \
        panel.status.value
    assert panel.player.n_frames == len(result.trajectory)
    assert not panel.run_button.disabled and panel.stop_button.disabled
    assert panel.run().interrupted is False  # the next Run starts afresh


def test_mask_panel_new_utterance_stops_the_running_search(model, sources):
    two = dict(sources, again=sources["tone"])
    panel = MaskPanel(model, two, method="greedy")
    panel.run(wait=False)
    panel.source.value = "again"
    assert not panel.job.running and panel.result is None and "press Run" in panel.status.value


def test_mask_panel_never_shows_a_search_of_the_previous_utterance(model, sources, monkeypatch):
    # A search that outlives the switch (load stops waiting for it after a timeout) must not
    # paint its mask over the new utterance.
    from lab.widgets import mask_panel

    two = dict(sources, again=sources["tone"])
    panel = MaskPanel(model, two, method="greedy")
    release, started = threading.Event(), threading.Event()
    real_search = mask_panel.interpret.importance_mask

    def slow_search(*args, **kwargs):
        started.set()
        release.wait(10)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(mask_panel.interpret, "importance_mask", slow_search)
    panel.run(wait=False)
    assert started.wait(10)
    monkeypatch.setattr(panel.job, "wait", lambda timeout=None: False)  # as if it timed out
    panel.source.value = "again"
    release.set()
    panel.job._thread.join(30)
    assert not panel.job.running
    assert panel.result is None and "press Run" in panel.status.value


def test_mask_panel_worker_exception_of_any_type_is_shown(model, sources, monkeypatch):
    from lab.widgets import mask_panel

    panel = MaskPanel(model, sources)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(mask_panel.interpret, "importance_mask", broken)
    panel.run(wait=False)
    assert panel.job.wait(timeout=30)
    assert "RuntimeError: out of memory (simulated)" in panel.status.value
    assert "searching" not in panel.status.value and panel.progress.bar_style == "danger"
    assert not panel.run_button.disabled and panel.result is None


def test_mask_panel_new_utterance_clears_the_previous_animation(model, sources):
    two = dict(sources, again=sources["tone"])
    panel = MaskPanel(model, two, method="greedy")
    panel.run()
    assert panel.player.n_frames > 1
    panel.source.value = "again"
    assert panel.player.n_frames == 1 and panel.player.titles == ["no mask yet: press Run"]
    assert panel.result is None


def test_mask_panel_bad_upload_names_the_file_without_object_reprs(model, sources):
    panel = MaskPanel(model, sources)
    panel._on_upload({"new": [{"name": "junk.wav", "content": b"not audio"}]})
    assert "Cannot use junk.wav:" in panel.status.value
    assert "object at 0x" not in panel.status.value and "bytes of audio" not in \
        panel.status.value
    assert list(panel.source.options) == ["tone"]


def test_feature_viz_panel_worker_exception_and_stale_settings(model, monkeypatch):
    from lab.widgets import feature_viz_panel

    panel = FeatureVizPanel(model, [], steps=10, shape=(10, 26))
    assert panel.run().steps_done == 10
    panel.neurons.value = "4"  # the result on display is of other neurons now
    assert "settings changed" in panel.status.value

    def broken(*args, **kwargs):
        raise KeyError("layer vanished")

    monkeypatch.setattr(feature_viz_panel.interpret, "visualize_features", broken)
    panel.run(wait=False)
    assert panel.job.wait(timeout=30)
    assert "KeyError" in panel.status.value and "optimizing" not in panel.status.value
    assert not panel.run_button.disabled


def test_panel_job_replace_runs_the_latest_request_only():
    job = PanelJob(lambda widget, part: widget)
    started, ran = threading.Event(), []

    def first():
        started.set()
        while not job.should_stop():
            time.sleep(0.001)
        ran.append("first (stopped)")

    job.start(first, wait=False)
    assert started.wait(10)
    assert job.replace(lambda: ran.append("second"), wait=False) is None
    assert job.replace(lambda: ran.append("third"), wait=False) is None  # replaces "second"
    assert job.wait(timeout=10)
    assert ran == ["first (stopped)", "third"]
    assert job.replace(lambda: "now", wait=True) == "now"  # idle: runs here at once
    job.start(first, wait=False)
    job.replace(lambda: ran.append("never"), wait=False)
    job.stop()  # Stop also drops what was queued
    assert job.wait(timeout=10) and ran[-1] == "first (stopped)"


# --- labelled rows, scales and time alignment (issue 13) -----------------------------------


def test_player_labelled_rows_zscore_toggle_and_last_frame():
    rng = np.random.default_rng(0)
    frames = [rng.standard_normal((30, 8)) * np.arange(1, 9) * 10 for _ in range(4)]
    masks = [[(rng.random((30, 8)) > 0.5).astype(float)] for _ in range(4)]
    player = AnimationPlayer([[f] for f in frames], normalize="zscore", duration=0.6,
                             ylabels=["MFCC coefficient index"], colorbars=["MFCC value"],
                             row_titles=["learned"], masks=masks, width=500, row_height=80)
    assert player.play.value == player.slider.value == player.stack.selected_index == 3
    assert "data-x='time (s)'" in player.axes.value
    assert "data-colorbar='z-score per feature'" in player.axes.value
    assert Image.open(io.BytesIO(player.pngs[0])).width == 500
    zscored = list(player.pngs)
    player.scale.value = "raw"
    assert "data-colorbar='MFCC value'" in player.axes.value
    assert player.pngs != zscored
    assert [im.value for im in player.stack.children] == player.pngs
    player.update([[f] for f in frames[:2]], at="first")
    assert player.play.value == 0 and player.play.max == 1
    with pytest.raises(ValueError, match="normalize"):
        AnimationPlayer([np.zeros((2, 2))], normalize="minmax")
    with pytest.raises(ValueError, match="masks"):
        AnimationPlayer([np.zeros((2, 2))], masks=[[None], [None]])


def test_mask_panel_views_share_width_and_time_axis(model, sources):
    panel = MaskPanel(model, sources, run=True)
    widths = {Image.open(io.BytesIO(png)).width
              for png in (panel.player.pngs[0], panel.frames_image.value, panel.muted_wave.value)}
    assert widths == {760}
    assert {v.plot_px for v in panel.views + panel.player._views} == {panel.views[0].plot_px}
    assert panel.frames_view.labels()["rows"] == ["mask mean", "kept"]
    assert panel.muted_view.labels()["x"] == "time (s)"
    before = panel.muted_wave.value
    panel.set_threshold(1.0)  # every frame muted: the waveform is veiled
    assert panel.muted_wave.value != before


def test_mask_threshold_slider_transcribes_in_the_background(model, sources):
    import time as _time

    panel = MaskPanel(model, sources, run=True)
    panel.threshold.value = 0.0  # the slider path: images now, transcript in a thread
    deadline = _time.monotonic() + 30
    while "transcribing" in panel.muted_transcript.value and _time.monotonic() < deadline:
        _time.sleep(0.05)
    from lab import interpret

    expected = interpret.transcribe(model, panel.muted)
    assert panel.muted_transcript.value == f"muted transcript: <b>{expected or '∅'}</b>"
