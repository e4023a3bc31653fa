"""Drive MFCCPanel from Python: sliders, feature toggle, uploads, transcriber hook, speed."""

from __future__ import annotations

import datetime
import io
import time

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from lab import audio
from lab.widgets.mfcc_panel import MFCCPanel, Transcription

SR = audio.SAMPLE_RATE


def chirp(seconds: float, f0: float, f1: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    return (0.4 * np.sin(phase)).astype(np.float32)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    root = tmp_path_factory.mktemp("wavs")
    paths = {}
    for name, y, sr in [("rising", chirp(1.2, 200, 3000), SR),
                        ("falling", chirp(0.8, 2500, 300, 8000), 8000)]:
        paths[name] = root / f"{name}.wav"
        sf.write(paths[name], y, sr)
    return paths


@pytest.fixture
def panel(wavs):
    return MFCCPanel(sources=wavs)


def png_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def wav_frames(data: bytes) -> int:
    return sf.info(io.BytesIO(data)).frames


def test_initial_state_shows_first_source(panel, wavs):
    assert panel.source.value == "rising"
    assert len(panel.waveform) == int(1.2 * SR)
    assert panel.heatmap.value[:4] == b"\x89PNG" and png_size(panel.heatmap.value) == (760, 240)
    assert wav_frames(panel.player.value) == int(1.2 * SR)
    assert panel.features().shape == (1 + int(1.2 * SR) // 320, 26)
    assert panel.error.value == ""
    assert "61 frames × 26 features" in panel.info.value


def test_sliders_change_image_bytes_in_place(panel):
    image = panel.heatmap
    before = image.value
    panel.n_mfcc.value = 13
    assert panel.heatmap is image and image.value != before
    assert panel.features().shape[1] == 13
    after_mfcc = image.value
    panel.hop_ms.value = 10
    assert image.value != after_mfcc
    assert panel.params["hop_length"] == 160 and panel.features().shape[0] == 1 + 19200 // 160
    panel.window_ms.value = 20
    assert panel.params == {"n_fft": 320, "win_length": 320, "hop_length": 160}


def test_feature_toggle_changes_shape_and_bytes(panel):
    shown = {}
    for kind in ("mfcc", "log_mel", "log_power"):
        panel.feature.value = kind
        shown[kind] = (panel.features().shape[1], panel.heatmap.value)
    assert [shown[k][0] for k in ("mfcc", "log_mel", "log_power")] == [26, 40, 257]
    assert len({png for _, png in shown.values()}) == 3
    assert panel.n_mfcc.disabled  # n_mfcc means nothing for log-power


def test_picking_another_utterance_resamples_and_updates(panel):
    heat, wave = panel.heatmap.value, panel.waveform_image.value
    panel.source.value = "falling"  # 8 kHz file → 16 kHz
    assert len(panel.waveform) == int(0.8 * SR)
    assert panel.heatmap.value != heat and panel.waveform_image.value != wave


def upload_value(name: str, content: bytes) -> tuple[dict, ...]:
    stamp = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return ({"name": name, "type": "audio/wav", "size": len(content),
             "content": memoryview(content), "last_modified": stamp},)


def test_good_upload_becomes_the_current_source(panel):
    buf = io.BytesIO()
    sf.write(buf, chirp(0.5, 500, 600), SR, format="FLAC")
    panel.upload.value = upload_value("mine.flac", buf.getvalue())
    assert panel.source.value == "⬆ mine.flac"
    assert len(panel.waveform) == SR // 2 and panel.error.value == ""
    assert panel.upload.value == ()  # cleared, so the same file can be chosen again
    panel.source.value = "rising"
    assert len(panel.waveform) == int(1.2 * SR)
    panel.source.value = "⬆ mine.flac"  # the upload stays in the dropdown
    assert len(panel.waveform) == SR // 2


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"not audio at all" * 10, "cannot be decoded"),
        (b"", "empty"),
    ],
)
def test_bad_upload_shows_error_label_and_keeps_audio(panel, content, expected):
    before = panel.waveform.copy()
    panel.upload.value = upload_value("bad.wav", content)
    assert panel.error.value.startswith("Cannot use bad.wav:")
    assert expected in panel.error.value
    assert "Traceback" not in panel.error.value
    np.testing.assert_array_equal(panel.waveform, before)
    assert panel.source.value == "rising"


def test_nan_upload_error():
    buf = io.BytesIO()
    nan_audio = np.array([0.0, np.nan] * 100, dtype=np.float32)
    sf.write(buf, nan_audio, SR, format="WAV", subtype="FLOAT")
    panel = MFCCPanel(sources={"ok": _ok_bytes()})
    panel.upload.value = upload_value("nan.wav", buf.getvalue())
    assert "NaN" in panel.error.value


def _ok_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, chirp(0.3, 300, 400), SR, format="WAV")
    return buf.getvalue()


def test_bad_source_in_list_shows_error(tmp_path):
    panel = MFCCPanel(sources={"gone": tmp_path / "gone.wav", "ok": _ok_bytes()})
    assert "gone.wav: no such file" in panel.error.value
    panel.source.value = "ok"
    assert panel.error.value == "" and len(panel.waveform) == int(0.3 * SR)


def test_transcriber_extension_point(panel):
    seen = []

    def fake_model(y, sr):
        seen.append((len(y), sr))
        frames = 1 + len(y) // 320
        return Transcription("hello", posteriors=np.eye(frames, 5, dtype=np.float32))

    panel.add_transcriber("fake", fake_model)
    panel.add_transcriber("length", lambda y, sr: f"{len(y) / sr:.1f} s")
    texts = [row.children[0].value for row in panel.transcripts.children]
    assert texts == ["<b>fake</b>: hello", "<b>length</b>: 1.2 s"]
    view = panel.transcripts.children[0].children[1]
    assert "lab-mfcc-posteriors-view" in view._dom_classes
    assert "lab-mfcc-posteriors" in view.children[0]._dom_classes
    # the decoded text sits under the features, each symbol at its first frame
    assert panel.views[2] is panel.decoded_view
    assert panel.decoded_view.labels()["rows"] == ["fake"]
    panel.source.value = "falling"
    assert seen[-1] == (int(0.8 * SR), SR)
    assert panel.transcripts.children[1].children[0].value.endswith("0.8 s")

    panel.add_transcriber("broken", lambda y, sr: 1 / 0)
    assert panel.error.value.startswith("Transcription failed: ZeroDivisionError")
    with pytest.raises(TypeError, match="must be callable"):
        panel.add_transcriber("nope", "not a function")


def test_css_hooks_present(panel):
    classes = [c for w in _walk(panel.widget) for c in w._dom_classes]
    for part in ("panel", "source", "upload", "feature", "n-mfcc", "window", "hop", "heatmap",
                 "waveform", "audio", "error", "info", "transcripts", "cursor", "zscore",
                 "heatmap-axes", "waveform-axes"):
        assert classes.count(f"lab-mfcc-{part}") == 1, part


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_slider_update_is_fast():
    y = chirp(4.0, 100, 4000)
    panel = MFCCPanel(sources={"long": _encode(y)})
    timings = []
    for value in (20, 24, 13, 30, 26):
        start = time.perf_counter()
        panel.n_mfcc.value = value
        timings.append(time.perf_counter() - start)
    assert np.median(timings) < 0.1, timings


def _encode(y):
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV")
    return buf.getvalue()


def test_constructor_errors(wavs):
    with pytest.raises(ValueError, match="feature must be one of"):
        MFCCPanel(sources=wavs, feature="chroma")
    with pytest.raises(ValueError, match="sources is empty"):
        MFCCPanel(sources={})


def test_default_panel_shows_the_shipped_test_split():
    from lab.data import corpus_dir, read_manifest

    panel = MFCCPanel()
    rows = read_manifest(split="test")
    assert len(panel.source.options) == len(rows)
    first = rows[0]
    assert panel.source.value.startswith(first.text)
    expected = audio.load(corpus_dir() / first.path)
    np.testing.assert_array_equal(panel.waveform, expected)


def test_views_are_labelled_and_time_aligned(panel):
    wave, feats = panel.waveform_view, panel.feature_view
    assert feats.labels()["x"] == "time (s)" and wave.labels()["x"] == "time (s)"
    assert feats.labels()["colorbar"] == "z-score per coefficient"
    assert feats.labels()["y"] == "MFCC coefficient index"
    assert "data-colorbar='z-score per coefficient'" in feats.caption.value
    # one width, one plot area: a pixel column is one instant in every view
    assert png_size(wave.image.value)[0] == png_size(feats.image.value)[0] == 760
    assert wave.plot_px == feats.plot_px
    panel.zscore.value = False
    assert feats.labels()["colorbar"].startswith("MFCC value")
    panel.feature.value = "log_power"
    assert feats.labels()["y"] == "frequency (Hz)"
    assert feats.labels()["colorbar"] == "power (dB re max)"
    panel.feature.value = "log_mel"
    assert feats.labels()["y"] == "mel band"


def test_cursor_marks_the_same_instant_in_every_view(panel):
    before = [v.image.value for v in panel.views]
    panel.set_cursor(0.6)
    after = [v.image.value for v in panel.views]
    assert all(a != b for a, b in zip(after, before))
    columns = []
    for view in panel.views:
        rgb = np.asarray(Image.open(io.BytesIO(view.image.value)).convert("RGB")).astype(int)
        cyan = (rgb[..., 0] < 40) & (rgb[..., 1] > 170) & (rgb[..., 2] > 230)
        columns.append(int(np.median(np.nonzero(cyan.any(axis=0))[0])))
    assert max(columns) - min(columns) <= 1, columns
    # a new utterance starts without a cursor
    panel.source.value = "falling"
    assert panel.feature_view.cursor is None
