"""05_transducer_loss.ipynb in JupyterLab: the alignment panel shows the zoo Transducer on a real
utterance with labelled, time-aligned views; its sliders redraw; a refused blank restores the
previous setting and says why."""

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    assert_time_aligned,
    assert_views_labelled,
    docs_screenshot,
    image_digest,
    measure_round_trips,
    open_file_browser,
    press_slider,
    truncated_labels,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

PANEL = ".lab-alignment-panel"
HEATMAP = ".lab-alignment-heatmap"
LABELS = ".lab-alignment-labels"


def test_alignment_panel_sliders_redraw(run_notebook):
    page = run_notebook("05_transducer_loss.ipynb")
    page.wait_for_selector(f"{HEATMAP}[src]", state="visible")
    page.wait_for_selector(f"{LABELS}[src]", state="visible")
    assert_no_error_output(page)
    occupancy, labels, decoded = assert_views_labelled(page, PANEL, minimum=3)
    # a real corpus utterance through the zoo Transducer: seconds, symbols on the rows
    assert occupancy["x"] == "time (s)" and occupancy["rows"][0] == "start"
    assert occupancy["colorbar"] == "occupancy probability"
    assert labels["colorbar"] == "probability" and labels["rows"][0].startswith("1: ")
    assert decoded["rows"] == ["Viterbi"]
    assert_time_aligned(page, [HEATMAP, LABELS, ".lab-alignment-decoded"])
    loss = page.locator(".lab-alignment-loss").first
    assert "loss" in loss.inner_text()
    before, before_loss = image_digest(page, HEATMAP), loss.inner_text()
    labels_before = image_digest(page, LABELS)

    press_slider(page, "lab-alignment-temperature", "ArrowRight", times=2)  # 1 → 1.41
    after = wait_for_image_change(page, HEATMAP, before)
    assert after != before, "the occupancy heatmap did not change with the temperature"
    assert wait_for_image_change(page, LABELS, labels_before) != labels_before
    page.wait_for_function(
        "(old) => document.querySelector('.lab-alignment-loss').textContent !== old",
        arg=before_loss)

    # blank onto the space (a target symbol): refused, the slider is put back, and it says so
    press_slider(page, "lab-alignment-blank", "ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('.lab-alignment-error').textContent.includes('blank')")
    page.wait_for_function(
        "() => document.querySelector('.lab-alignment-blank .widget-readout')"
        ".textContent.trim() === '0'")
    assert "back to blank 0" in page.locator(".lab-alignment-error").inner_text()
    press_slider(page, "lab-alignment-temperature", "ArrowLeft", times=2)  # a good setting
    page.wait_for_function(
        "() => document.querySelector('.lab-alignment-error').textContent.trim() === ''")

    row = measure_round_trips(page, "AlignmentPanel", "lab-alignment-temperature", HEATMAP)
    assert row["median_ms"] <= 1500, row
    assert_no_error_output(page)
    for width in (1400, 1000):
        open_file_browser(page, width)
        assert truncated_labels(page, PANEL) == [], f"labels cut off at {width} px"
    page.set_viewport_size({"width": 1400, "height": 1000})
    docs_screenshot(page, PANEL, "alignment_panel.png")
