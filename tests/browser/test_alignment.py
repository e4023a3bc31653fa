"""05_transducer_loss.ipynb in JupyterLab: the alignment panel renders and its sliders redraw."""

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    docs_screenshot,
    image_digest,
    press_slider,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

HEATMAP = ".lab-alignment-heatmap"
LABELS = ".lab-alignment-labels"


def test_alignment_panel_sliders_redraw(run_notebook):
    page = run_notebook("05_transducer_loss.ipynb")
    page.wait_for_selector(f"{HEATMAP}[src]", state="visible")
    page.wait_for_selector(f"{LABELS}[src]", state="visible")
    assert_no_error_output(page)
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

    # blank onto the class of "s" (a target letter): refused with a message, image kept
    press_slider(page, "lab-alignment-blank", "ArrowRight", times=20)
    page.wait_for_function(
        "() => document.querySelector('.lab-alignment-error').textContent.includes('blank')")
    press_slider(page, "lab-alignment-blank", "ArrowLeft", times=20)
    page.wait_for_function(
        "() => document.querySelector('.lab-alignment-error').textContent.trim() === ''")
    assert_no_error_output(page)
    docs_screenshot(page, ".lab-alignment-panel", "alignment_panel.png")
