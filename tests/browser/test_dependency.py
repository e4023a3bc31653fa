"""04_streaming_dependencies.ipynb in JupyterLab: the chunk-size slider redraws the heatmap."""

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    docs_screenshot,
    image_digest,
    press_slider,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

HEATMAP = ".lab-dep-heatmap"


def test_chunk_slider_changes_heatmap(run_notebook):
    page = run_notebook("04_streaming_dependencies.ipynb")
    page.wait_for_selector(f"{HEATMAP}[src]", state="visible")
    assert_no_error_output(page)
    assert "NOT streamable" in page.locator(".lab-dep-badge").inner_text()
    assert "7" in page.locator(".lab-dep-lookahead").inner_text()
    before = image_digest(page, HEATMAP)

    press_slider(page, "lab-dep-chunk", "ArrowLeft", times=4)  # chunks of 8 → 4 frames
    after = wait_for_image_change(page, HEATMAP, before)
    assert after != before, "the heatmap did not change after moving the chunk-size slider"
    page.wait_for_function(
        "() => document.querySelector('.lab-dep-lookahead').textContent.includes('3 frames')"
    )

    press_slider(page, "lab-dep-max-lookahead", "ArrowRight", times=3)  # allow 3 frames ahead
    page.wait_for_function(
        "() => document.querySelector('.lab-dep-badge').textContent.includes('streamable with')"
    )
    assert_no_error_output(page)
    docs_screenshot(page, ".lab-dependency-panel", "dependency_panel.png")
