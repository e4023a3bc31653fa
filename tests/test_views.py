"""lab.widgets.views: labelled views, scales, symbols placed in time, fast redraws."""

import io
import time

import numpy as np
import pytest
from PIL import Image

from lab.widgets.views import (
    BLANK_NAME,
    SPACE_NAME,
    TimeCursor,
    Token,
    View,
    ctc_tokens,
    ln_power_db,
    log1p_power_db,
    power_db,
    symbol_names,
    transducer_tokens,
    word_spans,
    zscore,
)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_scales():
    assert power_db(np.array([1.0, 1e-12]), floor_db=60).tolist() == [0.0, -60.0]
    lp = np.log1p(np.array([[1000.0, 10.0]]))
    np.testing.assert_allclose(log1p_power_db(lp), [[0.0, -20.0]])
    np.testing.assert_allclose(ln_power_db(np.log(np.array([100.0, 1.0]))), [0.0, -20.0])
    z = zscore(np.random.default_rng(0).normal(5, 3, size=(200, 4)))
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-6)


def test_symbols_and_tokens_in_time():
    names = symbol_names()
    assert names[0] == BLANK_NAME and names[1] == SPACE_NAME and names[2] == "a"
    # "ab a": frames 1-2 'a', 3 'b', 4 blank, 5 space, 6 'a'; repeats merge, blank resets
    best = [0, 2, 2, 3, 0, 1, 2]
    post = np.eye(len(names))[best]
    tokens = ctc_tokens(post, names)
    assert [(t.frame, t.name) for t in tokens] == [(1, "a"), (3, "b"), (5, "space"), (6, "a")]
    assert word_spans(tokens, 7) == [(1, 5, "ab"), (6, 7, "a")]
    path = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 0], [2, 1, 1], [2, 2, 0]])
    assert [t.frame for t in transducer_tokens(path, [2, 3], names)] == [1, 2]
    with pytest.raises(ValueError, match="best_path"):
        transducer_tokens(np.zeros((3, 2)), [1], names)


def test_view_caption_carries_the_labels():
    view = View(title="t", ylabel="frequency (Hz)", colorbar="power (dB re max)", width=400,
                height=150, css="lab-x")
    view.show_image(np.zeros((10, 5)), duration=1.0, rows=list("abcde"))
    caption = view.caption.value
    for attr in ("data-x='time (s)'", "data-y='frequency (Hz)'",
                 "data-colorbar='power (dB re max)'", "data-rows='a|b|c|d|e'",
                 f"data-plot-left='{view.plot_px[0]}'"):
        assert attr in caption
    assert "lab-x" in view.image._dom_classes and "lab-x-axes" in view.caption._dom_classes
    assert Image.open(io.BytesIO(view.image.value)).size == (400, 150)
    with pytest.raises(ValueError, match="2-D"):
        view.show_image(np.zeros(3))
    with pytest.raises(ValueError, match="mask"):
        view.show_image(np.zeros((10, 5)), mask=np.ones((3, 3)))
    with pytest.raises(ValueError, match="width"):
        View(width=10)


def test_fast_path_matches_a_full_draw():
    rng = np.random.default_rng(1)
    a, b = rng.random((40, 12)), rng.random((40, 12))
    fast = View(width=500, height=200, colorbar="probability")
    fast.show_image(a, duration=0.8, vmin=0, vmax=1)
    fast.show_image(b, duration=0.8, vmin=0, vmax=1)  # same axes: colour-mapped into pixels
    full = View(width=500, height=200, colorbar="probability")
    full.show_image(b, duration=0.8, vmin=0, vmax=1)
    # the same picture up to the antialiased edge pixels under the axes' frame
    differ = (pixels(fast.image.value) != pixels(full.image.value)).any(axis=2)
    assert differ.mean() < 0.01
    r0, r1, c0, c1 = fast._area
    assert not differ[r0 + 1:r1 - 1, c0 + 1:c1 - 1].any()


def test_redraw_of_new_data_is_fast():
    view = View(width=760, height=240, colorbar="z-score")
    rng = np.random.default_rng(2)
    view.show_image(rng.random((200, 26)), duration=4.0, vmin=0, vmax=1)
    start = time.perf_counter()
    for _ in range(5):
        view.show_image(rng.random((200, 26)), duration=4.0, vmin=0, vmax=1)
    assert (time.perf_counter() - start) / 5 < 0.05


def test_mask_veil_time_veil_path_and_cursor():
    view = View(width=400, height=160)
    data = np.full((20, 4), 0.0)
    plain = pixels(view.show_image(data, duration=1.0, vmin=0, vmax=1))
    mask = np.ones((20, 4))
    mask[:10] = 0
    veiled = pixels(view.show_image(data, duration=1.0, vmin=0, vmax=1, mask=mask))
    r0, r1, c0, c1 = view._area
    left, right = veiled[r0:r1, c0:c0 + 10], veiled[r0:r1, c1 - 10:c1]
    assert left.mean() > plain[r0:r1, c0:c0 + 10].mean() + 100  # paler where removed
    np.testing.assert_array_equal(right, plain[r0:r1, c1 - 10:c1])
    view.show_image(data, duration=1.0, vmin=0, vmax=1)
    kept = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    half = pixels(view.set_time_veil(kept))
    assert half[r0:r1, c1 - 10:c1].mean() > half[r0:r1, c0:c0 + 10].mean() + 100
    view.set_time_veil(None)
    view.set_path(np.array([0.1, 0.9]), np.array([0.0, 3.0]))
    with_path = pixels(view.render())
    assert (with_path != plain).any()
    view.set_path(None)
    np.testing.assert_array_equal(pixels(view.render()), plain)
    cursor = pixels(view.set_cursor(0.5))
    cyan = (cursor[..., 0] < 40) & (cursor[..., 1] > 170) & (cursor[..., 2] > 230)
    col = int(np.median(np.nonzero(cyan.any(axis=0))[0]))
    assert abs(col - (c0 + (c1 - c0) / 2)) <= 2


def test_waveform_tokens_and_lines_views():
    wave = View(width=400, height=100, ylabel="amplitude")
    png = wave.show_waveform(np.sin(np.arange(8000) / 9.0), 16000)
    assert wave.duration == 0.5 and png[:4] == b"\x89PNG"
    text = View(width=400, height=90)
    text.show_tokens([("m", [Token(2, 3, "b"), Token(4, 1, "space")], 0.02)], duration=0.5)
    assert text.labels()["rows"] == ["m"]
    lines = View(width=400, height=120, ylabel="p")
    lines.show_lines(np.arange(10) * 0.05, [np.linspace(0, 1, 10)], ["x"], ylim=(0, 1))
    assert lines.labels()["rows"] == ["x"]


def test_time_cursor_follows_the_views_it_is_given():
    views = [View(width=300, height=100), View(width=300, height=100)]
    for v in views:
        v.show_image(np.zeros((10, 2)), duration=2.0)
    cursor = TimeCursor(lambda: views, width=300)
    cursor.reset(2.0)
    assert cursor.slider.max == 2.0 and all(v.cursor is None for v in views)
    cursor.slider.value = 1.0
    assert [v.cursor for v in views] == [1.0, 1.0]
    cursor.reset(1.0)
    assert all(v.cursor is None for v in views)
