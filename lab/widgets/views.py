"""Views: the one way panels draw labelled images — axes, units, colorbars, a shared time axis.

Every panel image is a :class:`View`: a kept :class:`matplotlib.figure.Figure` with fixed pixel
margins, an ``ipywidgets.Image`` showing it and a caption (an ``ipywidgets.HTML``) that names
the axes in words and carries them as ``data-*`` attributes for browser tests and screen
readers. Views of one utterance that share ``width`` (and the default margins) put the same
instant in the same pixel column: a waveform, its features, posteriors, a mask and the decoded
text line up, and :meth:`View.set_cursor` marks one instant in all of them.

Scales a researcher expects (display only; the arrays themselves are never changed):

* power in dB with a floor (:func:`power_db`, :func:`log1p_power_db`, :func:`ln_power_db`),
* per-coefficient z-scores for cepstra (:func:`zscore`),
* probabilities in [0, 1] for posteriors, with the model's symbols as row names
  (:func:`symbol_names`, blank and space named).

Decoded text is placed in time with :func:`ctc_tokens` (first frame of each emitted symbol) and
:func:`transducer_tokens` (where the Viterbi path of :func:`lab.transducer.rnnt_alignment`
emits), and split into words with :func:`word_spans`.

A view draws its figure (axes, ticks, colour bar) with matplotlib only when the axes change; new
data of the same layout is colour-mapped straight into the cached plot area and a time cursor
is a line of pixels, so a slider move costs a few milliseconds plus the PNG encoding.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from PIL import Image, ImageDraw

from lab.errors import ArgumentError, ArgumentTypeError
from lab.widgets.render import new_figure

__all__ = [
    "BLANK_NAME",
    "TimeCursor",
    "DPI",
    "SPACE_NAME",
    "Token",
    "View",
    "ctc_tokens",
    "ln_power_db",
    "log1p_power_db",
    "power_db",
    "symbol_names",
    "transducer_tokens",
    "word_spans",
    "zscore",
]

#: Pixels per inch of every view (fonts are in points: 9 pt ≈ 12 px here).
DPI = 100
FONT_PT = 9
#: Fixed margins in pixels: every view of one width has its plot area in the same columns.
LEFT_PX, RIGHT_PX, TOP_PX, BOTTOM_PX = 92, 92, 22, 42
COLORBAR_GAP_PX, COLORBAR_PX = 10, 12
BLANK_NAME, SPACE_NAME = "blank", "space"


# --- scales ---------------------------------------------------------------------------------

def power_db(power: np.ndarray, *, floor_db: float = 80.0, ref: float | None = None
             ) -> np.ndarray:
    """Power in dB relative to ``ref`` (default the maximum), floored ``floor_db`` below it.

    Examples
    --------
    >>> power_db(np.array([1.0, 0.1, 0.0])).round(1).tolist()
    [0.0, -10.0, -80.0]
    """
    p = np.maximum(np.asarray(power, dtype=np.float64), 0.0)
    top = float(p.max()) if ref is None and p.size else (ref or 1.0)
    db = 10.0 * np.log10(np.maximum(p, 1e-30) / max(top, 1e-30))
    return np.maximum(db, -float(floor_db))


def log1p_power_db(log1p_power: np.ndarray, **kwargs) -> np.ndarray:
    """dB of a ``log1p(power)`` array (what :func:`lab.audio.log_power_spectrogram` returns).

    Examples
    --------
    >>> log1p_power_db(np.log1p(np.array([100.0, 1.0]))).round(1).tolist()
    [0.0, -20.0]
    """
    return power_db(np.expm1(np.asarray(log1p_power, dtype=np.float64)), **kwargs)


def ln_power_db(ln_power: np.ndarray, *, floor_db: float = 80.0) -> np.ndarray:
    """dB (re the maximum, floored) of a natural-log power such as :func:`lab.audio.log_mel`.

    Examples
    --------
    >>> ln_power_db(np.log(np.array([10.0, 1.0]))).round(1).tolist()
    [0.0, -10.0]
    """
    db = 10.0 / np.log(10.0) * np.asarray(ln_power, dtype=np.float64)
    return np.maximum(db - db.max(), -float(floor_db)) if db.size else db


def zscore(features: np.ndarray) -> np.ndarray:
    """Each column (coefficient) to zero mean and unit variance over time.

    Cepstral c0 (loudness) is an order of magnitude larger than the rest and would wash out
    one shared colour scale; z-scores show every coefficient's own changes.

    Examples
    --------
    >>> zscore(np.array([[0.0, 10.0], [2.0, 30.0]])).round(6).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """
    f = np.asarray(features, dtype=np.float64)
    return (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-9)


# --- symbols and decoded text in time -----------------------------------------------------

def symbol_names(n_classes: int | None = None) -> list[str]:
    """Row names for posteriors over :class:`lab.data.CharTokenizer` ids (blank and space named).

    Examples
    --------
    >>> names = symbol_names()
    >>> names[:4], len(names)
    (['blank', 'space', 'a', 'b'], 29)
    """
    from lab.data import CharTokenizer

    tok = CharTokenizer()
    n = tok.vocab_size if n_classes is None else int(n_classes)
    space = tok.encode(" ")[0]
    names = []
    for i in range(n):
        if i == tok.blank:
            names.append(BLANK_NAME)
        elif i == space:
            names.append(SPACE_NAME)
        elif i < tok.vocab_size:
            names.append(tok.decode([i]) or str(i))
        else:
            names.append(str(i))
    return names


@dataclass(frozen=True)
class Token:
    """One decoded symbol placed in time: the frame where it is emitted and its name."""

    frame: int
    symbol: int
    name: str


def ctc_tokens(posteriors: np.ndarray, names: Sequence[str], *, blank: int = 0) -> list[Token]:
    """Greedy CTC symbols with the first frame of each (a new non-blank arg-max run).

    Examples
    --------
    >>> p = np.eye(3)[[0, 1, 1, 0, 2, 2, 1]]
    >>> [(t.frame, t.name) for t in ctc_tokens(p, ["∅", "a", "b"])]
    [(1, 'a'), (4, 'b'), (6, 'a')]
    """
    from lab.models import ctc_greedy_runs

    runs = ctc_greedy_runs(np.asarray(posteriors).argmax(axis=1), blank=blank)
    return [Token(frames[0], s, names[s] if s < len(names) else str(s)) for s, frames in runs]


def transducer_tokens(best_path, targets: Sequence[int], names: Sequence[str]) -> list[Token]:
    """Where a transducer Viterbi path emits each target symbol.

    ``best_path`` is ``RNNTAlignment.best_path[b]`` of :func:`lab.transducer.rnnt_alignment`:
    rows ``(t, u, kind)``, the node each emission leaves and its kind (1: label ``targets[u]``
    emitted at frame ``t``; 0: blank).

    Examples
    --------
    >>> path = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 0], [2, 1, 1], [2, 2, 0]])
    >>> [(t.frame, t.name) for t in transducer_tokens(path, [1, 2], ["∅", "a", "b"])]
    [(0, 'a'), (2, 'b')]
    """
    p = np.asarray(best_path)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ArgumentError(f"best_path must be (K, 3) rows (t, u, kind), got shape {p.shape}")
    out = []
    for t, u, kind in p.tolist():
        if kind == 1 and u < len(targets):
            s = int(targets[u])
            out.append(Token(int(t), s, names[s] if s < len(names) else str(s)))
    return out


def word_spans(tokens: Sequence[Token], n_frames: int, *, space: str = SPACE_NAME
               ) -> list[tuple[int, int, str]]:
    """Split placed symbols into words at the space: ``(first frame, end frame, word)``.

    A word ends where the next word's first symbol (or the space) is emitted, the last at
    ``n_frames``.

    Examples
    --------
    >>> ts = [Token(1, 2, "h"), Token(3, 3, "i"), Token(5, 1, "space"), Token(7, 4, "o")]
    >>> word_spans(ts, 10)
    [(1, 5, 'hi'), (7, 10, 'o')]
    """
    words, current, start = [], "", None
    for tok in tokens:
        if tok.name == space:
            if current:
                words.append((start, tok.frame, current))
            current, start = "", None
            continue
        if start is None:
            start = tok.frame
        current += tok.name
    if current:
        words.append((start, n_frames, current))
    return words


# --- the view -------------------------------------------------------------------------------

@dataclass
class _Labels:
    x: str = "time (s)"
    y: str = ""
    colorbar: str = ""
    rows: list[str] = field(default_factory=list)
    note: str = ""


class View:
    """One labelled panel image: a kept figure, its ``Image`` widget and an axes caption.

    Parameters
    ----------
    title : str
        Drawn above the plot.
    ylabel : str
        Vertical axis label with its unit (``"frequency (Hz)"``, ``"MFCC coefficient"``).
    colorbar : str, optional
        Colour bar label with its unit (``"power (dB)"``); no colour bar when empty.
    xlabel : str
        Horizontal axis label; ``"time (s)"`` for time-aligned views.
    width, height : int
        Pixel size of the image. Time-aligned views of one panel share ``width``.
    cmap : str or Colormap
    css : str, optional
        CSS class of the widget (e.g. ``"lab-mfcc-heatmap"``), added to the ``Image``; the
        caption gets ``<css>-axes`` and the box ``<css>-view``.
    square : bool
        Equal margins on both sides (matrices whose both axes are frames).

    Attributes
    ----------
    widget : ipywidgets.VBox
        Image and caption.
    image : ipywidgets.Image
        The PNG on display (``class lab-view-image``).
    caption : ipywidgets.HTML
        Axis names in words, and as ``data-x``, ``data-y``, ``data-colorbar``, ``data-rows``
        (row names joined by ``|``) and ``data-plot-left`` / ``data-plot-width`` (pixels of
        the plot area inside the image) on its ``.lab-view-axes`` element.

    Examples
    --------
    >>> import numpy as np
    >>> view = View(title="log-mel", ylabel="mel band", colorbar="power (dB)",
    ...             width=400, height=160)
    >>> png = view.show_image(np.zeros((50, 40)), duration=1.0, vmin=-80, vmax=0)
    >>> png[:4] == b"\\x89PNG", view.labels()["x"], view.labels()["colorbar"]
    (True, 'time (s)', 'power (dB)')
    >>> view.set_cursor(0.5) == view.image.value
    True
    """

    def __init__(
        self,
        *,
        title: str = "",
        ylabel: str = "",
        colorbar: str = "",
        xlabel: str = "time (s)",
        width: int = 760,
        height: int = 200,
        cmap: str | Colormap = "magma",
        css: str | None = None,
        square: bool = False,
    ) -> None:
        if not isinstance(width, int) or not isinstance(height, int) or width < 200 or (
                height < 60):
            raise ArgumentError(f"width and height must be ints >= 200 and >= 60 pixels, got "
                                f"{width!r} x {height!r}")
        self.size = (width, height)
        self._labels = _Labels(x=xlabel, y=ylabel, colorbar=colorbar)
        self.fig = new_figure(figsize=(width / DPI, height / DPI), dpi=DPI)
        right = LEFT_PX if square and not colorbar else RIGHT_PX
        self.plot_px = (LEFT_PX, width - LEFT_PX - right)
        self.ax = self.fig.add_axes(self._frac(LEFT_PX, BOTTOM_PX, width - LEFT_PX - right,
                                               height - TOP_PX - BOTTOM_PX))
        self.ax.tick_params(labelsize=FONT_PT - 1)
        self.ax.set_xlabel(xlabel, fontsize=FONT_PT)
        self.ax.set_ylabel(ylabel, fontsize=FONT_PT)
        self._title = self.ax.set_title(title, fontsize=FONT_PT + 1, loc="left", pad=4)
        for spine in self.ax.spines.values():  # a visible border even on white images
            spine.set_edgecolor("#444")
        self.cax = None
        if colorbar:
            self.cax = self.fig.add_axes(self._frac(
                width - right + COLORBAR_GAP_PX, BOTTOM_PX, COLORBAR_PX,
                height - TOP_PX - BOTTOM_PX))
            self.cax.tick_params(labelsize=FONT_PT - 1)
        self.cmap = cmap
        self._canvas = FigureCanvasAgg(self.fig)
        self._im = None
        self._cbar = None
        self._artists: list = []
        self._overlays: list = []
        self._data: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._clim = (0.0, 1.0)
        self._key: tuple | None = None
        self._dirty = True
        self._frame: np.ndarray | None = None
        self._area = (0, 0, 0, 0)
        self.cursor: float | None = None
        self._time_veil: np.ndarray | None = None
        self._path: tuple | None = None
        self.duration = 1.0
        self.image = W.Image(format="png", width=width, height=height,
                             layout=W.Layout(width=f"{width}px", height=f"{height}px",
                                             min_width=f"{width}px", border="1px solid #999"))
        self.image.add_class("lab-view-image")
        self.caption = W.HTML(layout=W.Layout(width=f"{width}px"))
        self.caption.add_class("lab-view-caption")
        self.widget = W.VBox([self.image, self.caption])
        self.widget.add_class("lab-view")
        if css:
            self.image.add_class(css)
            self.caption.add_class(f"{css}-axes")
            self.widget.add_class(f"{css}-view")
        self._update_caption()

    def _frac(self, x: float, y: float, w: float, h: float) -> list[float]:
        W_, H_ = self.size
        return [x / W_, y / H_, w / W_, h / H_]

    # --- caption ------------------------------------------------------------------------------

    def labels(self) -> dict:
        """The axis labels on display: ``x``, ``y``, ``colorbar``, ``rows`` and ``note``."""
        lab = self._labels
        return dict(x=lab.x, y=lab.y, colorbar=lab.colorbar, rows=list(lab.rows), note=lab.note)

    def set_note(self, note: str) -> None:
        """A short line under the image (what an overlay or a scale means)."""
        self._labels.note = note
        self._update_caption()

    def _update_caption(self) -> None:
        lab = self._labels
        esc = lambda s: html.escape(s, quote=True)
        words = [f"x: {lab.x}"]
        if lab.y:
            words.append(f"y: {lab.y}")
        if lab.colorbar:
            words.append(f"colour: {lab.colorbar}")
        if lab.note:
            words.append(lab.note)
        self.caption.value = (
            f"<div class='lab-view-axes' data-x='{esc(lab.x)}' data-y='{esc(lab.y)}' "
            f"data-colorbar='{esc(lab.colorbar)}' data-rows='{esc('|'.join(lab.rows))}' "
            f"data-plot-left='{self.plot_px[0]}' data-plot-width='{self.plot_px[1]}' "
            f"style='font-size:12px;color:#555;line-height:1.3'>"
            f"{esc(' · '.join(words))}</div>"
        )

    def set_xlabel(self, label: str) -> None:
        """Change the horizontal axis label (e.g. ``"frame"`` for data without a time base)."""
        if label != self._labels.x:
            self._labels.x = label
            self.ax.set_xlabel(label, fontsize=FONT_PT)
            self._dirty = True
            self._update_caption()

    def invalidate(self) -> None:
        """Draw the figure again at the next render (after changing artists on :attr:`ax`)."""
        self._dirty = True

    def add_overlay(self, artist):
        """Keep ``artist`` (a path, a marker) drawn over the image; returns it.

        A view with overlays draws its whole figure on every data change (the fast path would
        paint the image over them).
        """
        self._overlays.append(artist)
        self._dirty = True
        return artist

    def set_title(self, title: str) -> None:
        """Change the title drawn above the plot (redraws the figure once)."""
        if title != self._title.get_text():
            self._title.set_text(title)
            self._dirty = True

    # --- drawing ------------------------------------------------------------------------------

    def _clear_extras(self) -> None:
        for artist in self._artists:
            artist.remove()
        self._artists = []
        self._data = None
        self._dirty = True

    def show_image(
        self,
        data: np.ndarray,
        *,
        duration: float | None = None,
        vmin: float | None = None,
        vmax: float | None = None,
        y_extent: tuple[float, float] | None = None,
        rows: Sequence[str] | None = None,
        mask: np.ndarray | None = None,
        cmap: str | Colormap | None = None,
        colorbar: str | None = None,
        ylabel: str | None = None,
        x_extent: tuple[float, float] | None = None,
    ) -> bytes:
        """Draw a time-major ``(frames, rows)`` array; returns (and shows) the PNG.

        ``duration`` spans the frames over ``[0, duration]`` seconds (default: frame
        indices; matrices give ``x_extent``). ``y_extent`` maps the rows onto a physical axis
        (``(0, 8000)`` Hz); ``rows`` names every row instead (posteriors: symbols). ``mask``
        (same shape, 0/1) veils the entries it removes, over the data.

        Only a change of axes (extent, colour limits, row names, labels) draws the figure
        again; new data of the same layout is colour-mapped straight into the plot area.
        """
        a = np.asarray(data, dtype=np.float64)
        if a.ndim != 2 or 0 in a.shape:
            raise ArgumentError(f"data must be a non-empty 2-D (frames, rows) array, got shape "
                                f"{a.shape}")
        frames, n_rows = a.shape
        if x_extent is None:
            self.duration = float(duration) if duration is not None else float(frames)
            x_extent = (0.0, self.duration)
        else:
            self.duration = float(x_extent[1])
        if y_extent is None:
            y_extent = (-0.5, n_rows - 0.5)
        finite = a[np.isfinite(a)]
        lo = float(finite.min()) if vmin is None and finite.size else (
            float(vmin) if vmin is not None else 0.0)
        hi = float(finite.max()) if vmax is None and finite.size else (
            float(vmax) if vmax is not None else 1.0)
        if hi <= lo:
            hi = lo + 1.0
        if cmap is not None:
            self.cmap = cmap
        if colorbar is not None:
            self._labels.colorbar = colorbar
        if ylabel is not None:
            self._labels.y = ylabel
        names = [str(r) for r in rows] if rows is not None else []
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != a.shape:
                raise ArgumentError(f"mask must have the shape of data {a.shape}, got "
                                    f"{mask.shape}")
        extent = (x_extent[0], x_extent[1], y_extent[0], y_extent[1])
        key = (extent, lo, hi, id(self.cmap), tuple(names), self._labels.colorbar,
               self._labels.y, n_rows if names else None)
        self._data, self._mask, self._clim = a, mask, (lo, hi)
        if self._overlays and self._im is not None:
            self._im.set_data(a.T)
            self._dirty = True
        if key != self._key:
            self._key = key
            self._dirty = True
            if self._im is None:
                self._im = self.ax.imshow(a.T, origin="lower", aspect="auto", extent=extent,
                                          cmap=self.cmap, vmin=lo, vmax=hi,
                                          interpolation="nearest")
                if self.cax is not None:
                    self._cbar = self.fig.colorbar(self._im, cax=self.cax)
            else:
                self._im.set_data(a.T)
                self._im.set_extent(extent)
                self._im.set_clim(lo, hi)
                self._im.set_cmap(self.cmap)
            if self._cbar is not None:
                self._cbar.set_label(self._labels.colorbar, fontsize=FONT_PT)
            self.ax.set_ylabel(self._labels.y, fontsize=FONT_PT)
            self.ax.set_xlim(*x_extent)
            self.ax.set_ylim(*y_extent)
            if names:
                size = FONT_PT - 1 if n_rows <= 16 else FONT_PT - 2
                # at most one label per 11 px of plot height: thin them out, never overprint
                plot_h = self.size[1] - TOP_PX - BOTTOM_PX
                every = max(1, -(-n_rows * 11 // max(plot_h, 1)))
                ticks = np.arange(0, n_rows, every)
                lo_y, hi_y = y_extent
                at = lo_y + (ticks + 0.5) * (hi_y - lo_y) / n_rows
                self.ax.set_yticks(at, [names[i] for i in ticks], fontsize=size)
            elif self._labels.rows:
                self.ax.yaxis.set_major_locator(ticker.AutoLocator())
                self.ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
            self._labels.rows = names
            self._update_caption()
        return self.render()

    def show_waveform(self, waveform: np.ndarray, sr: int, *, color: str = "#1f77b4"
                      ) -> bytes:
        """Draw a waveform's min/max envelope per pixel column over ``[0, len / sr]`` s."""
        y = np.asarray(waveform, dtype=np.float64).ravel()
        if y.size == 0:
            raise ArgumentError("waveform must be non-empty")
        self._clear_extras()
        self.duration = y.size / float(sr)
        columns = max(1, min(self.plot_px[1], y.size))
        starts = np.linspace(0, y.size, columns + 1).astype(int)[:-1]
        lo, hi = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
        t = (starts + 0.5 * np.diff(np.append(starts, y.size))) / sr
        self._artists.append(self.ax.fill_between(t, lo, hi, color=color, lw=0.6,
                                                  step="mid"))
        peak = max(float(np.abs(y).max()), 1e-3)
        self.ax.set_xlim(0, self.duration)
        self.ax.set_ylim(-1.05 * peak, 1.05 * peak)
        self._update_caption()
        return self.render()

    def show_tokens(self, tracks: Sequence[tuple[str, Sequence[Token], float]], *,
                    duration: float, n_frames: Sequence[int] | None = None) -> bytes:
        """Decoded text under the features: one row per model, symbols at their frames.

        ``tracks`` holds ``(model name, tokens, seconds per frame)``; words (split at the
        space) are shaded and labelled in turn, each symbol is drawn at its frame.
        """
        self._clear_extras()
        self.duration = float(duration)
        ax = self.ax
        n = max(1, len(tracks))
        # symbols emitted in the same or adjacent frames would overprint: keep one character
        # width between letters (their tick marks stay at the true frame)
        char_s = 8.0 * self.duration / max(1, self.plot_px[1])
        for row, (_name, tokens, step) in enumerate(tracks):
            frames = (n_frames[row] if n_frames is not None
                      else (tokens[-1].frame + 1 if tokens else 1))
            for k, (start, end, _word) in enumerate(word_spans(tokens, frames)):
                self._artists.append(ax.axvspan(
                    start * step, end * step, ymin=(row + 0.1) / n, ymax=(row + 0.9) / n,
                    color="#dbe9f6" if k % 2 == 0 else "#f6e7d8", lw=0))
            x_text = -1.0
            for tok in tokens:
                t = tok.frame * step
                if tok.name == SPACE_NAME:
                    self._artists.append(ax.axvline(t, ymin=row / n, ymax=(row + 1) / n,
                                                    color="#888", lw=0.8, ls=":"))
                    continue
                x_text = max(t, x_text + char_s)
                self._artists.append(ax.plot([t, t], [row - 0.42, row - 0.28], color="#333",
                                             lw=0.8)[0])
                self._artists.append(ax.text(x_text, row + 0.05, tok.name, ha="left",
                                             va="center", fontsize=FONT_PT + 1,
                                             family="monospace"))
        ax.set_xlim(0, self.duration)
        ax.set_ylim(-0.5, n - 0.5)
        names = [name for name, _, _ in tracks]
        ax.set_yticks(range(len(names)), names, fontsize=FONT_PT - 1)
        self._labels.rows = names
        self._update_caption()
        return self.render()

    def show_lines(self, x: np.ndarray, ys: Sequence[np.ndarray], names: Sequence[str], *,
                   ylim: tuple[float, float] | None = None, legend: bool = True,
                   styles: Sequence[dict] | None = None) -> bytes:
        """Curves against time (e.g. per-frame probabilities); ``names`` label them."""
        self._clear_extras()
        x = np.asarray(x, dtype=np.float64)
        for i, (y, name) in enumerate(zip(ys, names)):
            style = dict(lw=1.2) | (dict(styles[i]) if styles else {})
            (line,) = self.ax.plot(x, y, label=name, **style)
            self._artists.append(line)
        if legend and names:
            self._artists.append(self.ax.legend(fontsize=FONT_PT - 1, ncol=min(6, len(names)),
                                                loc="upper right", frameon=False))
        if x.size:
            self.ax.set_xlim(float(x[0]), float(x[-1]) if x[-1] > x[0] else float(x[0]) + 1)
            self.duration = float(self.ax.get_xlim()[1])
        if ylim:
            self.ax.set_ylim(*ylim)
        self._labels.rows = [str(n) for n in names]
        self._update_caption()
        return self.render()

    def draw_over(self, artist_fn) -> bytes:
        """Add artists with ``artist_fn(ax) -> list of artists`` (kept until the next show)."""
        self._artists.extend(artist_fn(self.ax) or [])
        self._dirty = True
        return self.render()

    def set_time_veil(self, kept: np.ndarray | None) -> bytes:
        """Veil the instants where ``kept`` (booleans spread evenly over the time axis) is False.

        Drawn into the pixels of the cached figure (e.g. the muted frames over a waveform), so
        moving a threshold costs only the PNG encoding.
        """
        self._time_veil = None if kept is None else np.asarray(kept, dtype=bool).ravel()
        return self.render()

    def set_path(self, x: np.ndarray | None, y: np.ndarray | None = None, *,
                 color: tuple[int, int, int] = (51, 204, 255)) -> None:
        """A polyline in data coordinates (e.g. a Viterbi path) drawn over the image pixels.

        Composited like the cursor, so a new path costs no figure draw; takes effect at the
        next render (``show_image`` renders).
        """
        self._path = None if x is None else (np.asarray(x, dtype=np.float64),
                                             np.asarray(y, dtype=np.float64), color)

    def set_cursor(self, seconds: float | None) -> bytes:
        """Mark one instant with a vertical line (None removes it); returns the new PNG.

        The line is drawn into the pixels of the cached figure, so a cursor move costs only
        the PNG encoding.
        """
        self.cursor = None if seconds is None else float(seconds)
        return self.render()

    def render(self) -> bytes:
        """Compose the figure into :attr:`image` and return the PNG bytes."""
        buf = io.BytesIO()
        Image.fromarray(self.compose()).save(buf, format="PNG", compress_level=1)
        png = buf.getvalue()
        self.image.value = png
        return png

    def compose(self) -> np.ndarray:
        """The view as an RGB array (figure drawn only when its axes changed)."""
        if self._dirty or self._frame is None:
            self._canvas.draw()
            self._frame = np.asarray(self._canvas.buffer_rgba())[..., :3].copy()
            box = self.ax.get_window_extent()
            H = self._frame.shape[0]
            # the inside of the axes in array rows/cols (matplotlib's y runs upwards)
            self._area = (int(round(H - box.y1)) + 1, int(round(H - box.y0)) - 1,
                          int(round(box.x0)) + 1, int(round(box.x1)) - 1)
            self._dirty = False
        out = self._frame
        r0, r1, c0, c1 = self._area
        if self._data is not None and not self._overlays and r1 > r0 and c1 > c0:
            out = out.copy()
            lo, hi = self._clim
            a = self._data.T[::-1]  # rows upwards
            scaled = np.nan_to_num(np.clip((a - lo) / (hi - lo), 0.0, 1.0))
            cmap = self._im.get_cmap()
            rgb = cmap(scaled, bytes=True)[..., :3]
            if self._mask is not None:
                veil = ~self._mask.T[::-1]
                rgb = rgb.copy()
                rgb[veil] = (0.22 * rgb[veil] + 0.78 * 255).astype(np.uint8)
            rows = (np.arange(r1 - r0) * rgb.shape[0] // (r1 - r0))
            cols = (np.arange(c1 - c0) * rgb.shape[1] // (c1 - c0))
            out[r0:r1, c0:c1] = rgb[rows][:, cols]
        if self._time_veil is not None and self._time_veil.size and c1 > c0:
            cols = np.arange(c1 - c0) * self._time_veil.size // (c1 - c0)
            veiled = np.nonzero(~self._time_veil[cols])[0] + c0
            if veiled.size:
                if out is self._frame:
                    out = out.copy()
                block = out[r0:r1, veiled].astype(np.float32)
                out[r0:r1, veiled] = (0.25 * block + 0.75 * 255).astype(np.uint8)
        if self._path is not None and c1 > c0 and r1 > r0 and self._path[0].size:
            px, py, color = self._path
            (x0, x1), (y0, y1) = self.ax.get_xlim(), self.ax.get_ylim()
            cols = c0 + (px - x0) / (x1 - x0) * (c1 - c0 - 1)
            rows = r1 - 1 - (py - y0) / (y1 - y0) * (r1 - r0 - 1)
            picture = Image.fromarray(out if out is not self._frame else out.copy())
            draw = ImageDraw.Draw(picture)
            points = list(zip(cols.tolist(), rows.tolist()))
            draw.line(points, fill=color, width=2)
            for cx, cy in points:
                draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=color)
            out = np.asarray(picture).copy()
        if self.cursor is not None and c1 > c0:
            x0, x1 = self.ax.get_xlim()
            if x1 > x0 and x0 <= self.cursor <= x1:
                if out is self._frame:
                    out = out.copy()
                col = c0 + int(round((self.cursor - x0) / (x1 - x0) * (c1 - c0 - 1)))
                out[r0:r1, max(c0, col - 1):col + 1] = (0, 192, 255)
        return out


def check_rows(rows, n: int) -> list[str]:
    """``rows`` as a list of ``n`` names (a clear error otherwise)."""
    if isinstance(rows, str) or not isinstance(rows, Sequence):
        raise ArgumentTypeError(f"rows must be a list of names, got {type(rows).__name__}")
    if len(rows) != n:
        raise ArgumentError(f"rows must name every one of the {n} rows, got {len(rows)}")
    return [str(r) for r in rows]


class TimeCursor:
    """A "time (s)" slider that marks the same instant in every view of a panel.

    Parameters
    ----------
    views : callable
        Returns the views to mark (called on every move, so a panel may add views later).
    width : int
        CSS width of the slider in pixels (the views' width lines it up with them).

    Examples
    --------
    >>> view = View(width=300, height=100)
    >>> _ = view.show_image(np.zeros((10, 3)), duration=2.0)
    >>> cursor = TimeCursor(lambda: [view], width=300)
    >>> cursor.reset(2.0); cursor.slider.value = 1.5
    >>> view.cursor
    1.5
    """

    def __init__(self, views, *, width: int = 760) -> None:
        self._views = views
        self._quiet = False
        self.slider = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01,
                                    description="time (s)", readout_format=".2f",
                                    continuous_update=True,
                                    style={"description_width": "90px"},
                                    layout=W.Layout(width=f"{width}px", min_width="300px"))
        self.slider.observe(self._moved, names="value")

    def reset(self, duration: float) -> None:
        """A new utterance: the slider spans ``[0, duration]`` and no instant is marked."""
        self._quiet = True
        try:
            self.slider.max = max(0.01, round(float(duration), 2))
            self.slider.value = 0.0
        finally:
            self._quiet = False
        for view in self._views():
            view.cursor = None

    def _moved(self, change) -> None:
        if not self._quiet:
            for view in self._views():
                view.set_cursor(change["new"])

