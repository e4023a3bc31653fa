import io

import numpy as np
import pytest
from PIL import Image

from lab.widgets.render import waveform_to_png


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_envelope_follows_amplitude():
    # Loud first half, near-silent second half: ink spans rows only on the left.
    y = np.concatenate([np.sin(np.arange(8000) / 3.0), 0.01 * np.sin(np.arange(8000) / 3.0)])
    alpha = pixels(waveform_to_png(y, width=100, height=41))[..., 3]
    inked_rows = (alpha == 255).sum(axis=0)
    assert inked_rows[:50].min() >= 39  # full height
    assert inked_rows[50:].max() <= 3


def test_short_clip_and_bad_input():
    assert pixels(waveform_to_png(np.array([0.5, -0.5]), width=20, height=10)).shape == (10, 20, 4)
    with pytest.raises(ValueError, match="non-empty"):
        waveform_to_png(np.zeros(0))
    with pytest.raises(ValueError, match="positive"):
        waveform_to_png(np.zeros(10), width=0)
