"""Turn arrays, figures and waveforms into bytes that ipywidgets can show.

Panels update ``ipywidgets.Image.value`` / ``ipywidgets.Audio.value`` in place with
these bytes, which avoids the flicker of re-creating output areas.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg", force=False)  # panels render off-screen; the kernel may have no display
import numpy as np
from matplotlib import colormaps
from PIL import Image

__all__ = ["array_to_png", "figure_to_png", "wav_bytes"]


def array_to_png(
    array: np.ndarray,
    *,
    cmap: str = "magma",
    vmin: float | None = None,
    vmax: float | None = None,
    origin: str = "lower",
    width: int | None = None,
    height: int | None = None,
) -> bytes:
    """Colour-map a 2-D array (rows = y, cols = x) into PNG bytes.

    Much faster than a matplotlib figure, so sliders stay responsive.

    Examples
    --------
    >>> import numpy as np
    >>> png = array_to_png(np.arange(12.0).reshape(3, 4))
    >>> png[:4] == b"\\x89PNG"
    True
    """
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"array_to_png expects a 2-D array, got shape {a.shape}")
    finite = a[np.isfinite(a)]
    lo = float(finite.min()) if vmin is None and finite.size else (vmin or 0.0)
    hi = float(finite.max()) if vmax is None and finite.size else (vmax if vmax is not None else 1.0)
    scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    scaled = np.nan_to_num(np.clip(scaled, 0.0, 1.0))
    rgba = colormaps[cmap](scaled, bytes=True)
    if origin == "lower":
        rgba = rgba[::-1]
    img = Image.fromarray(rgba, mode="RGBA")
    if width or height:
        img = img.resize((width or img.width, height or img.height), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def figure_to_png(fig, *, dpi: int = 80, close: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes (and close it unless told not to)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buf.getvalue()


def wav_bytes(waveform: np.ndarray, sr: int) -> bytes:
    """Encode a mono float waveform as 16-bit WAV bytes for ``ipywidgets.Audio``.

    Examples
    --------
    >>> import numpy as np
    >>> wav_bytes(np.zeros(160, dtype=np.float32), 16000)[:4]
    b'RIFF'
    """
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0), sr,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()
