"""06_piq_interpretation.ipynb in JupyterLab: moving the threshold swaps mask image and audio;
the views are labelled (dB, Hz, time) and time-aligned; the round trip is measured."""


import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    assert_time_aligned,
    assert_views_labelled,
    audio_digest,
    docs_screenshot,
    image_digest,
    measure_round_trips,
    open_file_browser,
    press_slider,
    truncated_labels,
    wait_for_change,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

PANEL = ".lab-piq-panel"
MASK = ".lab-piq-mask"
AUDIO = ".lab-piq-audio-interpreted"


def test_threshold_changes_mask_and_audio(run_notebook):
    page = run_notebook("06_piq_interpretation.ipynb")
    page.wait_for_selector(f"{MASK}[src]", state="visible")
    page.wait_for_selector(f"{AUDIO}[src]", state="attached")
    assert_no_error_output(page)
    axes = assert_views_labelled(page, PANEL, minimum=3)
    for a in axes:
        assert a["x"] == "time (s)" and a["y"] == "frequency (Hz)"
        assert a["colorbar"] == "power (dB re max)"
    assert_time_aligned(page, [".lab-piq-spectrogram", MASK, ".lab-piq-interpreted"])
    mask_before = image_digest(page, MASK)
    interpreted_before = image_digest(page, ".lab-piq-interpreted")
    audio_before = audio_digest(page, AUDIO)
    info_before = page.locator(".lab-piq-info").inner_text()

    press_slider(page, "lab-piq-threshold", "ArrowRight", times=6)  # 0.50 → 0.80
    assert wait_for_image_change(page, MASK, mask_before) != mask_before
    assert image_digest(page, ".lab-piq-interpreted") != interpreted_before
    assert wait_for_change(page, lambda: audio_digest(page, AUDIO), audio_before) != audio_before, \
        "interpretation audio did not change"
    assert page.locator(".lab-piq-info").inner_text() != info_before
    assert page.locator(".lab-piq-error").inner_text().strip() == ""

    row = measure_round_trips(page, "PIQPanel", "lab-piq-threshold", MASK)
    assert row["median_ms"] <= 450, row
    assert_no_error_output(page)
    for width in (1400, 1000):
        open_file_browser(page, width)
        assert truncated_labels(page, PANEL) == [], f"labels cut off at {width} px"
    page.set_viewport_size({"width": 1400, "height": 1000})
    docs_screenshot(page, PANEL, "piq_panel.png")
