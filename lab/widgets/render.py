"""The panels' rendering layer: bytes that ipywidgets can show, and labelled views.

Panels update ``ipywidgets.Image.value`` / ``ipywidgets.Audio.value`` in place with
these bytes, which avoids the flicker of re-creating output areas.

Two levels:

* bytes helpers (here): :func:`new_figure` (a figure outside pyplot), :func:`figure_to_png`,
  :func:`array_to_png` (bare pixels), :func:`waveform_to_png`, :func:`wav_bytes`;
* labelled images (:mod:`lab.widgets.views`, also importable from here): :class:`View` draws
  a time-major array or a waveform with axes, units and a colour bar, keeps its figure and
  redraws new data in milliseconds; views of one ``width`` share a time axis (a pixel column
  is one instant) and :class:`TimeCursor` marks one instant in all of them. Scales:
  :func:`power_db`, :func:`log1p_power_db`, :func:`ln_power_db`, :func:`zscore`; symbols and
  decoded text in time: :func:`symbol_names`, :func:`ctc_tokens`,
  :func:`transducer_tokens`, :func:`word_spans`.

A new panel image should be a :class:`View`; ``array_to_png`` is for thumbnails and tests.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from PIL import Image

from lab.errors import ArgumentError

__all__ = ["array_to_png", "figure_to_png", "new_figure", "wav_bytes", "waveform_to_png"]

#: Names of :mod:`lab.widgets.views` that ``lab.widgets.render`` also provides (lazily: views
#: imports this module).
_VIEWS = ("View", "TimeCursor", "Token", "power_db", "log1p_power_db", "ln_power_db", "zscore",
          "symbol_names", "ctc_tokens", "transducer_tokens", "word_spans")


def __getattr__(name: str):
    if name in _VIEWS:
        from lab.widgets import views

        return getattr(views, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def new_figure(**kwargs) -> Figure:
    """A figure for a panel image, outside pyplot.

    Panels draw on ``matplotlib.figure.Figure`` objects, never through ``pyplot``: pyplot's
    figures belong to the user's backend (inline, widget, a window) and would show up in the
    notebook or leak, and choosing a backend is the user's business. A bare ``Figure`` saves to
    PNG with Agg whatever the backend is. ``kwargs`` go to ``Figure`` (``figsize``, ``dpi``, ...).

    Examples
    --------
    >>> fig = new_figure(figsize=(2, 1))
    >>> _ = fig.add_subplot().plot([0, 1])
    >>> figure_to_png(fig)[:4] == b"\\x89PNG"
    True
    """
    return Figure(**kwargs)


def array_to_png(
    array: np.ndarray,
    *,
    cmap: str | Colormap = "magma",
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
        raise ArgumentError(f"array_to_png expects a 2-D array, got shape {a.shape}")
    finite = a[np.isfinite(a)]
    lo = float(finite.min()) if vmin is None and finite.size else (vmin or 0.0)
    hi = (float(finite.max()) if vmax is None and finite.size
          else (vmax if vmax is not None else 1.0))
    scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    scaled = np.nan_to_num(np.clip(scaled, 0.0, 1.0))
    colormap = cmap if isinstance(cmap, Colormap) else colormaps[cmap]
    rgba = colormap(scaled, bytes=True)
    if origin == "lower":
        rgba = rgba[::-1]
    img = Image.fromarray(rgba, mode="RGBA")
    if width or height:
        img = img.resize((width or img.width, height or img.height), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def figure_to_png(fig, *, dpi: int = 80, close: bool = True, tight: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Panels that redraw on every slider move keep one figure, update its artists and pass
    ``close=False, tight=False``: the tight bounding box costs a second full draw. ``close``
    only matters for a figure made through pyplot (it is removed from pyplot's registry); a
    :func:`new_figure` is freed like any object.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    if close and getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt  # only pyplot-made figures have a manager

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


def waveform_to_png(
    waveform: np.ndarray,
    *,
    width: int = 640,
    height: int = 80,
    color: tuple[int, int, int] = (31, 119, 180),
) -> bytes:
    """Draw a waveform's min/max envelope per pixel column as a transparent PNG.

    A few milliseconds for minutes of audio, so it can be redrawn whenever the audio changes.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> png = waveform_to_png(np.sin(np.arange(16000) / 50.0), width=200, height=40)
    >>> Image.open(io.BytesIO(png)).size
    (200, 40)
    """
    y = np.asarray(waveform, dtype=np.float64).ravel()
    if y.size == 0:
        raise ArgumentError("waveform_to_png expects a non-empty 1-D waveform")
    if width < 1 or height < 1:
        raise ArgumentError(f"width and height must be positive, got {width}x{height}")
    # Column c covers samples [start[c], start[c + 1]); when a clip has fewer samples than
    # columns, reduceat gives the single sample at start[c], which is what we want.
    starts = np.minimum(np.linspace(0, y.size, width + 1).astype(int)[:-1], y.size - 1)
    lo = np.minimum.reduceat(y, starts)
    hi = np.maximum.reduceat(y, starts)
    peak = max(float(np.abs(y).max()), 1e-9)
    to_row = lambda v: np.round((1 - (v / peak + 1) / 2) * (height - 1)).astype(int)
    top, bottom = to_row(hi), to_row(lo)
    rows = np.arange(height)[:, None]
    ink = (rows >= top[None, :]) & (rows <= bottom[None, :])
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[ink] = (*color, 255)
    rgba[height // 2, :, :] = np.where(ink[height // 2, :, None], rgba[height // 2], (*color, 90))
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")
    return buf.getvalue()
