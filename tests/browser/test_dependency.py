"""04_streaming_dependencies.ipynb in JupyterLab: the chunk-size slider redraws the labelled
heatmap; the readout agrees with the slider; the round trip is measured."""

import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
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

PANEL = ".lab-dependency-panel"
HEATMAP = ".lab-dep-heatmap"


def test_chunk_slider_changes_heatmap(run_notebook):
    page = run_notebook("04_streaming_dependencies.ipynb")
    page.wait_for_selector(f"{HEATMAP}[src]", state="visible")
    assert_no_error_output(page)
    (axes,) = assert_views_labelled(page, PANEL)
    assert axes["x"] == "input frame" and axes["y"] == "output frame"
    assert "NOT streamable" in page.locator(".lab-dep-badge").inner_text()
    assert "7" in page.locator(".lab-dep-lookahead").inner_text()
    left = page.locator(".lab-dep-left-context").inner_text()
    assert "23" in left and "16 frames before the chunk start" in left  # the slider says 16
    before = image_digest(page, HEATMAP)

    press_slider(page, "lab-dep-chunk", "ArrowLeft", times=4)  # chunks of 8 → 4 frames
    after = wait_for_image_change(page, HEATMAP, before)
    assert after != before, "the heatmap did not change after moving the chunk-size slider"
    page.wait_for_function(
        "() => document.querySelector('.lab-dep-lookahead').textContent.includes('3 frames')"
    )
    page.wait_for_function(
        "() => /\\d+\\/\\d+ · [0-9.]+ s/.test("
        "document.querySelector('.lab-dep-progress-text').textContent)")

    press_slider(page, "lab-dep-max-lookahead", "ArrowRight", times=3)  # allow 3 frames ahead
    page.wait_for_function(
        "() => document.querySelector('.lab-dep-badge').textContent.includes('streamable with')"
    )
    row = measure_round_trips(page, "DependencyPanel", "lab-dep-chunk", HEATMAP)
    assert row["median_ms"] <= 450, row
    assert_no_error_output(page)
    for width in (1400, 1000):
        open_file_browser(page, width)
        assert truncated_labels(page, PANEL) == [], f"labels cut off at {width} px"
    page.set_viewport_size({"width": 1400, "height": 1000})
    docs_screenshot(page, PANEL, "dependency_panel.png")
