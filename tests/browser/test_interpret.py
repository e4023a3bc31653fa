"""02/03 interpretation notebooks in JupyterLab: Run, Play (in the browser), progress, Stop and
the threshold."""

import time

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    assert_time_aligned,
    assert_views_labelled,
    docs_screenshot,
    image_digest,
    image_geometry,
    measure_round_trips,
    open_file_browser,
    poll,
    press_slider,
    truncated_labels,
    wait_for_change,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser


def frame_readout(page, player: str) -> str:
    return page.locator(f"{player} .lab-animation-slider .widget-readout").first.inner_text()


def wait_for_text(page, selector: str, needle: str, timeout_s: float = 30) -> str:
    text = poll(page, page.locator(selector).first.inner_text, lambda t: needle in t, timeout_s)
    assert needle in text, f"{selector} never showed {needle!r}; it shows {text!r}"
    return text


def press_play_and_see_frames_move(page, player: str) -> None:
    start = frame_readout(page, player)
    page.locator(f"{player} .lab-animation-play button").first.click()
    seen = {start}
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        seen.add(frame_readout(page, player))
    assert len(seen) >= 2, f"Play did not advance the frames (saw {seen})"


def test_feature_viz_run_and_play(run_notebook):
    page = run_notebook("02_feature_visualization.ipynb")
    assert_no_error_output(page)
    # the standalone player: Play advances frames without the kernel
    press_play_and_see_frames_move(page, ".lab-animation")  # first in the page: the player cell
    # the panel: Run optimizes, then its animation and curves appear
    page.locator(".lab-fv-run").first.click()
    wait_for_text(page, ".lab-fv-status", "final activation", timeout_s=30)
    page.wait_for_selector(".lab-fv-curves img[src], img.lab-fv-curves[src]", state="attached")
    panel_player = ".lab-fv-panel .lab-animation"
    # the player ends on the learned input, not on the random start
    last = page.locator(f"{panel_player} .lab-animation-slider .widget-readout").first
    page.wait_for_function(
        "() => { const s = document.querySelector('.lab-fv-panel .lab-animation-slider "
        ".widget-readout'); return s && s.textContent.trim() !== '0'; }")
    assert int(last.inner_text()) > 0
    axes = assert_views_labelled(page, ".lab-fv-panel .lab-animation")
    assert axes[0]["colorbar"] == "z-score per feature" and axes[0]["x"] == "time (s)"
    assert page.locator(".lab-fv-panel img:not([src])").count() == 0  # no broken-image icon
    # frame and speed sliders keep their width with the file browser open
    for width in (1400, 1000):
        open_file_browser(page, width)
        for part in ("slider", "speed"):
            (box,) = image_geometry(page, f".lab-fv-panel .lab-animation-{part}")[:1]
            assert box["width"] >= 200, (part, width, box)
        assert truncated_labels(page, ".lab-fv-panel") == [], f"labels cut off at {width} px"
    page.set_viewport_size({"width": 1400, "height": 1000})
    press_play_and_see_frames_move(page, panel_player)
    assert_no_error_output(page)
    docs_screenshot(page, ".lab-fv-panel", "feature_viz_panel.png")


def test_mask_run_play_and_threshold(run_notebook):
    page = run_notebook("03_importance_masks.ipynb")
    assert_no_error_output(page)
    assert page.locator(".lab-mask-panel img:not([src])").count() == 0  # before Run too
    page.locator(".lab-mask-run").first.click()
    status = wait_for_text(page, ".lab-mask-status", "sparsity", timeout_s=30)
    assert "transcript kept: True" in status and not status.startswith("stopped")
    bar = page.locator(".lab-mask-progress .progress-bar").first
    assert bar.evaluate("el => el.style.width") == "100%"
    numbers = page.locator(".lab-mask-progress-text").first.inner_text()
    assert "/" in numbers and " s" in numbers and numbers.endswith("done"), numbers
    # the animation (mask over the MFCCs), kept frames and muted waveform share one time axis
    axes = assert_views_labelled(page, ".lab-mask-panel", minimum=3)
    assert axes[0]["colorbar"] == "z-score per feature" and axes[0]["x"] == "time (s)"
    assert_time_aligned(page, [".lab-mask-panel .lab-animation-frame", ".lab-mask-frames",
                               ".lab-mask-muted-wave"])
    press_play_and_see_frames_move(page, ".lab-mask-panel .lab-animation")
    before = image_digest(page, ".lab-mask-muted-wave")
    text_before = page.locator(".lab-mask-muted-transcript").first.inner_text()
    # 0.05 → 0.0: nothing is muted any more (at 0.05 the frames with a sparse mask were)
    press_slider(page, "lab-mask-threshold", "ArrowLeft", times=5)
    assert wait_for_image_change(page, ".lab-mask-muted-wave", before) != before
    text = wait_for_change(page, page.locator(".lab-mask-muted-transcript").first.inner_text,
                           text_before, timeout_s=10)
    assert "muted transcript" in text
    row = measure_round_trips(page, "MaskPanel", "lab-mask-threshold", ".lab-mask-frames",
                              first_key="ArrowRight")  # it stands at 0.0
    assert row["median_ms"] <= 450, row
    for width in (1400, 1000):
        open_file_browser(page, width)
        assert truncated_labels(page, ".lab-mask-panel") == [], f"labels cut off at {width} px"
    page.set_viewport_size({"width": 1400, "height": 1000})
    docs_screenshot(page, ".lab-mask-panel", "mask_panel.png")
    # Stop: greedy (T * F passes, seconds) stopped while it runs keeps and shows a valid mask
    page.locator(".lab-mask-method button", has_text="greedy").first.click()
    page.locator(".lab-mask-run").first.click()
    page.wait_for_selector(".lab-mask-stop:not([disabled])", timeout=30_000)
    page.locator(".lab-mask-stop").first.click()
    status = wait_for_text(page, ".lab-mask-status", "stopped", timeout_s=30)
    assert "greedy" in status and "transcript kept: True" in status
    page.wait_for_selector(".lab-mask-run:not([disabled])", timeout=30_000)
    assert page.locator(".lab-mask-stop").first.is_disabled()
    assert_no_error_output(page)
