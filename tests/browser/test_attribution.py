"""09_attribution.ipynb in JupyterLab: the area slider swaps every method's mask, masked audio
and metrics; the spectrogram, the word bars and the maps share one time axis."""


import pytest

from tests.browser.lab_browser import (
    assert_no_error_output,
    assert_time_aligned,
    assert_views_labelled,
    audio_digest,
    docs_screenshot,
    image_digest,
    poll,
    press_slider,
    wait_for_change,
    wait_for_image_change,
)

pytestmark = pytest.mark.browser

MAP = ".lab-attribution-map"
AUDIO = ".lab-attribution-audio"
METRICS = ".lab-attribution-metrics"


def test_area_changes_masks_audio_and_metrics(run_notebook):
    page = run_notebook("09_attribution.ipynb")
    page.wait_for_selector(f"{MAP}[src]", state="visible")
    page.wait_for_selector(".lab-attribution-words[src]", state="visible")
    page.wait_for_selector(f"{AUDIO}[src]", state="attached")
    assert_no_error_output(page)
    assert page.locator(MAP).count() == 3  # three methods side by side
    assert_views_labelled(page, ".lab-attribution-panel", minimum=4)
    assert_time_aligned(page, [".lab-attribution-spectrogram", ".lab-attribution-words", MAP])
    map_before = image_digest(page, MAP)
    audio_before = audio_digest(page, AUDIO)
    metrics_before = page.locator(METRICS).first.inner_text()
    info_before = page.locator(".lab-attribution-info").inner_text()

    press_slider(page, "lab-attribution-area", "ArrowRight", times=20)  # 0.10 → 0.30
    assert wait_for_image_change(page, MAP, map_before) != map_before
    assert wait_for_change(page, lambda: audio_digest(page, AUDIO), audio_before) != audio_before, \
        "masked audio did not change"
    assert page.locator(METRICS).first.inner_text() != metrics_before
    # the panel redraws one method after another while the slider's last presses arrive
    info = poll(page, page.locator(".lab-attribution-info").inner_text, lambda t: "30%" in t)
    assert info != info_before and "30%" in info
    assert page.locator(".lab-attribution-error").inner_text().strip() == ""
    docs_screenshot(page, ".lab-attribution-panel", "attribution_panel.png")
    assert_no_error_output(page)


def test_perturbation_menu_redraws_the_word_bars(run_notebook):
    page = run_notebook("09_attribution.ipynb")
    page.wait_for_selector(".lab-attribution-words[src]", state="visible")
    before = image_digest(page, ".lab-attribution-words")
    page.locator(".lab-attribution-perturbation select").select_option("noise")
    assert wait_for_image_change(page, ".lab-attribution-words", before) != before
    assert page.locator(".lab-attribution-error").inner_text().strip() == ""
    assert_no_error_output(page)
