"""01_mfcc.ipynb in JupyterLab: the panel renders, and moving a slider swaps the heatmap bytes."""

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    docs_screenshot,
    image_digest,
    press_slider,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

HEATMAP = ".lab-mfcc-heatmap"


def test_slider_changes_heatmap(run_notebook):
    page = run_notebook("01_mfcc.ipynb")
    page.wait_for_selector(f"{HEATMAP}[src]", state="visible")
    page.wait_for_selector(".lab-mfcc-waveform[src]", state="visible")
    assert_no_error_output(page)
    before = image_digest(page, HEATMAP)

    press_slider(page, "lab-mfcc-n-mfcc", "ArrowLeft", times=6)  # 26 → 20 coefficients
    after = wait_for_image_change(page, HEATMAP, before)
    assert after != before, "the heatmap did not change after moving the n_mfcc slider"
    page.wait_for_function(
        "() => document.querySelector('.lab-mfcc-info').textContent.includes('× 20 features')"
    )

    press_slider(page, "lab-mfcc-hop", "ArrowLeft", times=10)  # 20 ms → 10 ms hop
    assert wait_for_image_change(page, HEATMAP, after) != after
    assert_no_error_output(page)
    assert page.locator(".lab-mfcc-error").inner_text().strip() == ""
    docs_screenshot(page, ".lab-mfcc-panel", "mfcc_panel.png")
