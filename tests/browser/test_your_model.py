"""07_your_model.ipynb in JupyterLab: the MaskPanel on the adapted Silero VAD.

The panel shows Silero's decision and its domain line, draws the mask over the log-power
spectrogram (labelled axes, time-aligned views) and, when the threshold moves, plays new
``masked_audio`` — what the model hears — and updates the muted decision.
"""


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

PANEL = ".lab-mask-panel"
MUTED = ".lab-mask-audio-muted"


def _text(page, selector: str) -> str:
    return page.locator(f"{PANEL} {selector}").first.inner_text()


def test_mask_panel_on_silero_plays_what_the_model_hears(run_notebook):
    page = run_notebook("07_your_model.ipynb")
    page.wait_for_selector(".lab-mask-muted-wave[src]", state="attached")
    page.wait_for_selector(f"{MUTED}[src]", state="attached")
    assert_no_error_output(page)
    page.locator(PANEL).first.scroll_into_view_if_needed()

    assert _text(page, ".lab-mask-transcript").startswith("decision: speech in ")
    domain = _text(page, ".lab-mask-domain")
    assert domain.startswith("SileroVAD (frame_scores, 1 labels): voice activity")
    assert "Confidence on this input:" in domain
    assert "kept: True" in _text(page, ".lab-mask-status")  # the notebook's mask is shown

    axes = assert_views_labelled(page, PANEL, minimum=3)
    assert any(a["y"] == "frequency bin (31.25 Hz)" for a in axes), axes  # the mask's picture
    assert_time_aligned(page, [f"{PANEL} .lab-animation-frame", ".lab-mask-frames",
                               ".lab-mask-muted-wave"])

    wave_before = image_digest(page, ".lab-mask-muted-wave")
    audio_before = audio_digest(page, MUTED)
    press_slider(page, "lab-mask-threshold", "ArrowRight", times=40)  # 0.20 → 0.60
    assert wait_for_image_change(page, ".lab-mask-muted-wave", wave_before) != wave_before
    assert wait_for_change(page, lambda: audio_digest(page, MUTED), audio_before) != audio_before, \
        "the masked audio did not change"
    muted = poll(page, lambda: _text(page, ".lab-mask-muted-transcript"),
                 lambda text: "transcribing" not in text)
    assert muted.startswith("muted decision: speech in ")
    docs_screenshot(page, PANEL, "your_model_mask_panel.png")
    assert_no_error_output(page)
