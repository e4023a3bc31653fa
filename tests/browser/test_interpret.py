"""02/03 interpretation notebooks in JupyterLab: Run, Play (in the browser), progress, Stop and
the threshold."""

import time

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    image_digest,
    press_slider,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser


def frame_readout(page, player: str) -> str:
    return page.locator(f"{player} .lab-animation-slider .widget-readout").first.inner_text()


def wait_for_text(page, selector: str, needle: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    text = page.locator(selector).first.inner_text()
    while needle not in text and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        text = page.locator(selector).first.inner_text()
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
    assert frame_readout(page, panel_player) == "0"
    press_play_and_see_frames_move(page, panel_player)
    assert_no_error_output(page)


def test_mask_run_play_and_threshold(run_notebook):
    page = run_notebook("03_importance_masks.ipynb")
    assert_no_error_output(page)
    page.locator(".lab-mask-run").first.click()
    status = wait_for_text(page, ".lab-mask-status", "sparsity", timeout_s=30)
    assert "transcript kept: True" in status and not status.startswith("stopped")
    bar = page.locator(".lab-mask-progress .progress-bar").first
    assert bar.evaluate("el => el.style.width") == "100%"
    press_play_and_see_frames_move(page, ".lab-mask-panel .lab-animation")
    before = image_digest(page, ".lab-mask-muted-wave")
    text_before = page.locator(".lab-mask-muted-transcript").first.inner_text()
    # 0.05 → 0.0: nothing is muted any more (at 0.05 the frames with a sparse mask were)
    press_slider(page, "lab-mask-threshold", "ArrowLeft", times=5)
    assert wait_for_image_change(page, ".lab-mask-muted-wave", before) != before
    deadline = time.monotonic() + 10
    while (page.locator(".lab-mask-muted-transcript").first.inner_text() == text_before
           and time.monotonic() < deadline):
        page.wait_for_timeout(200)
    assert "muted transcript" in page.locator(".lab-mask-muted-transcript").first.inner_text()
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
