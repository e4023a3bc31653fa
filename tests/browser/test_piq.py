"""06_piq_interpretation.ipynb in JupyterLab: moving the threshold swaps mask image and audio."""

import time

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    audio_digest,
    image_digest,
    press_slider,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

MASK = ".lab-piq-mask"
AUDIO = ".lab-piq-audio-interpreted"


def test_threshold_changes_mask_and_audio(run_notebook):
    page = run_notebook("06_piq_interpretation.ipynb")
    page.wait_for_selector(f"{MASK}[src]", state="visible")
    page.wait_for_selector(f"{AUDIO}[src]", state="attached")
    assert_no_error_output(page)
    mask_before = image_digest(page, MASK)
    interpreted_before = image_digest(page, ".lab-piq-interpreted")
    audio_before = audio_digest(page, AUDIO)
    info_before = page.locator(".lab-piq-info").inner_text()

    press_slider(page, "lab-piq-threshold", "ArrowRight", times=6)  # 0.50 → 0.80
    assert wait_for_image_change(page, MASK, mask_before) != mask_before
    assert image_digest(page, ".lab-piq-interpreted") != interpreted_before
    deadline = time.monotonic() + 15
    while audio_digest(page, AUDIO) == audio_before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert audio_digest(page, AUDIO) != audio_before, "interpretation audio did not change"
    assert page.locator(".lab-piq-info").inner_text() != info_before
    assert page.locator(".lab-piq-error").inner_text().strip() == ""
    assert_no_error_output(page)
