"""AnimationPlayer: frames of arrays → a player that runs in the browser.

All frames are rendered to PNG once; a ``Play`` widget is *jslinked* to a frame slider and to
the ``selected_index`` of a ``Stack`` holding one ``Image`` per frame, so playback changes
frames in the frontend without kernel round trips (smooth on Binder/Colab).

Rows are drawn by :class:`lab.widgets.views.View` (axes, a colour bar with its unit, a time
axis in seconds when ``duration`` is given); rows marked ``normalize="zscore"`` show each
feature (column) as z-scores over time and all frames, with a toggle for raw values. After
:meth:`AnimationPlayer.update` the player shows the last frame (a result, not the random
start).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from PIL import Image, ImageDraw

from lab.errors import ArgumentError, ArgumentTypeError
from lab.widgets.checks import check_int
from lab.widgets.render import array_to_png
from lab.widgets.views import View

__all__ = ["AnimationPlayer", "render_rows"]

_TITLE_HEIGHT = 14
#: Narrower players draw bare pixels (no room for axes and a colour bar).
MIN_LABELLED_WIDTH = 300
_ZSCORE_LIMIT = 2.5


def _rows_of(frame) -> list[np.ndarray]:
    if isinstance(frame, np.ndarray) and frame.ndim == 2:
        rows = [frame]
    elif isinstance(frame, np.ndarray) and frame.ndim != 3:
        raise ArgumentError(f"every frame must be a 2-D array (or a stack of them), got shape "
                            f"{frame.shape}")
    elif isinstance(frame, str | bytes) or not hasattr(frame, "__iter__"):
        raise ArgumentTypeError(f"every frame must be a 2-D array or a list of them, got "
                                f"{type(frame).__name__}")
    else:
        rows = [np.asarray(r) for r in frame]
    for r in rows:
        if r.ndim != 2:
            raise ArgumentError(f"every frame row must be a 2-D array, got shape {r.shape}")
        if 0 in r.shape:
            raise ArgumentError(f"every frame row must be non-empty, got shape {r.shape}")
        if not np.issubdtype(r.dtype, np.number) and r.dtype != bool:
            raise ArgumentTypeError(f"frame rows must hold numbers, got dtype {r.dtype}")
    return rows


def _finite_limit(rows: list[np.ndarray], low: bool) -> float:
    # inf or NaN entries must not set the colour scale (a single inf makes every frame black)
    values = [r[np.isfinite(r)] for r in rows]
    values = [v for v in values if v.size]
    if not values:
        return 0.0 if low else 1.0
    return float(min(v.min() for v in values) if low else max(v.max() for v in values))


def render_rows(
    rows: Sequence[np.ndarray],
    *,
    cmaps: Sequence[str],
    limits: Sequence[tuple[float | None, float | None]],
    row_titles: Sequence[str] | None = None,
    time_major: bool = True,
    width: int = 480,
    row_height: int = 120,
) -> bytes:
    """Stack colour-mapped rows (each a 2-D array) into one PNG, optional title above each.

    Examples
    --------
    >>> import numpy as np
    >>> png = render_rows([np.zeros((5, 3)), np.ones((5, 3))], cmaps=["gray", "magma"],
    ...                   limits=[(0, 1), (0, 1)], row_titles=["a", "b"], width=40, row_height=10)
    >>> png[:4] == b"\\x89PNG"
    True
    """
    tiles = []
    for i, (row, cmap, (lo, hi)) in enumerate(zip(rows, cmaps, limits)):
        image = row.T if time_major else row  # time on the x axis, features upwards
        png = array_to_png(image, cmap=cmap, vmin=lo, vmax=hi, origin="lower",
                           width=width, height=row_height)
        tile = Image.open(io.BytesIO(png)).convert("RGB")
        if row_titles:
            canvas = Image.new("RGB", (width, row_height + _TITLE_HEIGHT), "white")
            ImageDraw.Draw(canvas).text((2, 1), row_titles[i], fill="black")
            canvas.paste(tile, (0, _TITLE_HEIGHT))
            tile = canvas
        tiles.append(tile)
    total = sum(t.height for t in tiles) + 4 * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, total), "white")
    y = 0
    for t in tiles:
        sheet.paste(t, (0, y))
        y += t.height + 4
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


class AnimationPlayer(widgets.VBox):
    """Play a sequence of 2-D arrays (or of stacks of 2-D arrays) as an animation.

    Parameters
    ----------
    frames : sequence
        Each frame is a 2-D array, or a sequence of 2-D arrays shown as rows (e.g. mask,
        mask ⊙ MFCC, MFCC). Arrays are time-major (frames, features) unless ``time_major``
        is False.
    cmap : str or sequence of str
        Colormap (one per row).
    titles : sequence of str, optional
        One caption per frame (shown under the image, switched in the browser too).
    row_titles : sequence of str, optional
        A label drawn above each row.
    vmin, vmax : float or sequence, optional
        Colour limits per row; default: the min/max of that row over all frames, so colours
        mean the same thing in every frame.
    interval : int
        Milliseconds per frame.
    loop : bool
        Restart at the end.
    width, row_height : int
        Pixel size of each row's plot (the image adds axes and a colour bar around it when
        ``width`` is at least 300).
    normalize : {"none", "zscore"} or sequence of them
        Per row: ``"zscore"`` shows each feature (column) as z-scores over time and all
        frames (MFCC rows: c0 would otherwise wash out the other coefficients); the
        ``scale`` toggle switches to raw values.
    duration : float, optional
        Seconds spanned by the time axis (e.g. ``frames * hop / sr``); frame indices without.
    ylabels, colorbars : sequence of str, optional
        Per-row vertical axis and colour bar labels, with units.
    masks : per-frame sequence of per-row masks, optional
        See :meth:`update`.

    Examples
    --------
    >>> import numpy as np
    >>> player = AnimationPlayer([np.eye(4) * i for i in range(3)], titles=["a", "b", "c"])
    >>> player.n_frames, player.play.max, player.play.value  # ends on the last frame
    (3, 2, 2)
    """

    def __init__(
        self,
        frames: Sequence,
        *,
        cmap: str | Sequence[str] = "coolwarm",
        titles: Sequence[str] | None = None,
        row_titles: Sequence[str] | None = None,
        vmin=None,
        vmax=None,
        interval: int = 120,
        loop: bool = True,
        time_major: bool = True,
        width: int = 640,
        row_height: int = 120,
        normalize: str | Sequence[str] = "none",
        duration: float | None = None,
        ylabels: Sequence[str] | None = None,
        colorbars: Sequence[str] | None = None,
        masks: Sequence | None = None,
    ):
        interval = check_int(interval, "interval", 1)
        width = check_int(width, "width", 1)
        row_height = check_int(row_height, "row_height", 1)
        for name in [cmap] if isinstance(cmap, str | Colormap) else list(cmap):
            if not isinstance(name, Colormap) and (not isinstance(name, str)
                                                   or name not in colormaps):
                raise ArgumentError(f"cmap: unknown colormap {name!r}; use a matplotlib name "
                                    "such as 'coolwarm', 'magma' or 'gray'")
        for name in [normalize] if isinstance(normalize, str) else list(normalize):
            if name not in ("none", "zscore"):
                raise ArgumentError(f"normalize must be 'none' or 'zscore' (per row), got "
                                    f"{name!r}")
        if duration is not None and not (isinstance(duration, int | float) and duration > 0):
            raise ArgumentError(f"duration must be a positive number of seconds, got "
                                f"{duration!r}")
        self._style = dict(cmap=cmap, row_titles=row_titles, vmin=vmin, vmax=vmax,
                           time_major=time_major, width=width, row_height=row_height,
                           normalize=normalize, duration=duration, ylabels=ylabels,
                           colorbars=colorbars)
        self._views: list[View] = []
        self.play = widgets.Play(value=0, min=0, max=0, step=1, interval=int(interval),
                                 repeat=bool(loop), description="Play")
        self.play.add_class("lab-animation-play")
        # min widths: in a narrow flex row (a side panel open) sliders would shrink to 0 px
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="frame",
                                        continuous_update=True,
                                        layout=widgets.Layout(width="260px",
                                                              min_width="220px"))
        self.slider.add_class("lab-animation-slider")
        self.speed = widgets.IntSlider(value=int(interval), min=20, max=1000, step=10,
                                       description="ms/frame",
                                       style={"description_width": "70px"},
                                       layout=widgets.Layout(width="260px", min_width="220px"))
        self.speed.add_class("lab-animation-speed")
        self.loop = widgets.Checkbox(value=bool(loop), description="loop", indent=False,
                                     layout=widgets.Layout(width="70px", min_width="70px"))
        self.scale = widgets.ToggleButtons(options=["z-score", "raw"], value="z-score",
                                           style={"button_width": "70px"},
                                           tooltips=["each feature as z-scores over time",
                                                     "values as they are"])
        self.scale.add_class("lab-animation-scale")
        self.axes = widgets.HTML()
        self.axes.add_class("lab-animation-axes")
        self.stack = widgets.Stack([], selected_index=None)
        self.stack.add_class("lab-animation-frames")
        self.captions = widgets.Stack([], selected_index=None)
        self.captions.add_class("lab-animation-titles")
        # Pure frontend wiring: no Python callback is involved while playing or scrubbing.
        self._links = [
            widgets.jslink((self.play, "value"), (self.slider, "value")),
            widgets.jslink((self.play, "value"), (self.stack, "selected_index")),
            widgets.jslink((self.play, "value"), (self.captions, "selected_index")),
            widgets.jslink((self.speed, "value"), (self.play, "interval")),
            widgets.jslink((self.loop, "value"), (self.play, "repeat")),
        ]
        controls = widgets.HBox([self.play, self.slider, self.speed, self.loop],
                                layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([self.stack, self.axes, self.captions, controls, self.scale])
        self.add_class("lab-animation")
        self.pngs: list[bytes] = []
        self.titles: list[str] = []
        self._frames: list = []
        self._masks: list | None = None
        self.update(frames, titles=titles, masks=masks)
        self.scale.observe(self._on_scale, names="value")

    @property
    def n_frames(self) -> int:
        return len(self.pngs)

    def update(self, frames: Sequence, *, titles: Sequence[str] | None = None,
               masks: Sequence | None = None, at: str = "last",
               duration: float | None = None) -> None:
        """Replace the frames (same style) and show the last frame (``at="first"``: the first).

        ``duration`` (seconds) replaces the time axis span given at construction.

        ``masks``, one entry per frame, each a list with one entry per row (a 0/1 array of the
        row's shape, or None), veils what each mask removes over its row.
        """
        if isinstance(frames, str | bytes) or not hasattr(frames, "__iter__"):
            raise ArgumentTypeError(f"frames must be a sequence of frames, got "
                                    f"{type(frames).__name__}")
        frames = list(frames)
        if not frames:
            raise ArgumentError("frames must contain at least one frame")
        rows = [_rows_of(f) for f in frames]
        n_rows = len(rows[0])
        if any(len(r) != n_rows for r in rows):
            raise ArgumentError("every frame must have the same number of rows")
        if titles is not None and len(titles) != len(frames):
            raise ArgumentError(f"titles must have one entry per frame ({len(frames)}), "
                             f"got {len(titles)}")
        if masks is not None:
            masks = [list(m) for m in masks]
            if len(masks) != len(frames) or any(len(m) != n_rows for m in masks):
                raise ArgumentError(f"masks must have one entry per frame ({len(frames)}), "
                                    f"each with one entry per row ({n_rows})")
        if at not in ("first", "last"):
            raise ArgumentError(f"at must be 'first' or 'last', got {at!r}")
        if duration is not None:
            if not (isinstance(duration, int | float) and duration > 0):
                raise ArgumentError(f"duration must be a positive number of seconds, got "
                                    f"{duration!r}")
            self._style["duration"] = float(duration)
        self._frames, self._masks = rows, masks
        self.titles = [str(t) for t in titles] if titles is not None else [
            f"frame {i + 1}/{len(frames)}" for i in range(len(frames))
        ]
        self._render()
        width = self._style["width"]
        # a fixed CSS width: the frames keep the width (and time axis) of the panel's other
        # views instead of shrinking with the notebook
        layout = dict(width=f"{width}px", min_width=f"{width}px", border="1px solid #999") \
            if width >= MIN_LABELLED_WIDTH else {}
        images = [widgets.Image(value=png, format="png", layout=widgets.Layout(**layout))
                  for png in self.pngs]
        for im in images:
            im.add_class("lab-animation-frame")
        last = len(images) - 1 if at == "last" else 0
        # the slider's max before its value: a value above the old max would be clamped
        self.play.max = self.slider.max = len(images) - 1
        self.stack.children = images
        self.captions.children = [widgets.HTML(value=f"<b>{t}</b>") for t in self.titles]
        # jslinks sync these in the browser only: set each here, so kernel and page agree and
        # a drag starts from the frame on display
        self.play.value = self.slider.value = last
        self.stack.selected_index = last
        self.captions.selected_index = last

    def _on_scale(self, _change) -> None:
        self._render()
        for image, png in zip(self.stack.children, self.pngs):
            image.value = png

    def _render(self) -> None:
        """Render every frame to PNG with the current style and scale."""
        rows = self._frames
        if not rows:
            return
        n_rows = len(rows[0])
        style = self._style
        cmaps = self._per_row(style["cmap"], n_rows, "cmap")
        lows = self._per_row(style["vmin"], n_rows, "vmin")
        highs = self._per_row(style["vmax"], n_rows, "vmax")
        norms = self._per_row(style["normalize"], n_rows, "normalize")
        zscored = [n == "zscore" and self.scale.value == "z-score" for n in norms]
        self.scale.layout.display = None if "zscore" in norms else "none"
        shown = [[np.asarray(r[i], dtype=np.float64) for i in range(n_rows)] for r in rows]
        for i in range(n_rows):
            if zscored[i]:
                # one mean and spread per feature over time and every frame: colours mean the
                # same in every frame
                axis = 0 if style["time_major"] else 1
                stack = np.concatenate([f[i] for f in shown], axis=axis)
                finite = np.where(np.isfinite(stack), stack, np.nan)
                mean = np.nanmean(finite, axis=axis, keepdims=True)
                std = np.nanstd(finite, axis=axis, keepdims=True) + 1e-9
                for f in shown:
                    f[i] = (f[i] - mean) / std
        limits = []
        for i in range(n_rows):
            if zscored[i]:
                limits.append((-_ZSCORE_LIMIT, _ZSCORE_LIMIT))
                continue
            row = [f[i] for f in shown]
            lo = lows[i] if lows[i] is not None else _finite_limit(row, low=True)
            hi = highs[i] if highs[i] is not None else _finite_limit(row, low=False)
            limits.append((lo, hi))
        if style["width"] < MIN_LABELLED_WIDTH:
            self.pngs = [
                render_rows(r, cmaps=cmaps, limits=limits, row_titles=style["row_titles"],
                            time_major=style["time_major"], width=style["width"],
                            row_height=style["row_height"])
                for r in shown
            ]
            self.axes.value = ""
            return
        self.pngs = self._render_views(shown, cmaps, limits, zscored)

    def _render_views(self, shown, cmaps, limits, zscored) -> list[bytes]:
        style = self._style
        n_rows = len(shown[0])
        titles = style["row_titles"] or [""] * n_rows
        ylabels = self._per_row(style["ylabels"], n_rows, "ylabels") if style["ylabels"] \
            else ["feature index"] * n_rows
        colorbars = list(style["colorbars"]) if style["colorbars"] else ["value"] * n_rows
        if len(self._views) != n_rows:
            from lab.widgets.views import BOTTOM_PX, TOP_PX

            self._views = [View(title=str(titles[i]), ylabel=ylabels[i], colorbar=" ",
                                xlabel="time (s)" if style["duration"] else "frame",
                                width=style["width"],
                                height=style["row_height"] + TOP_PX + BOTTOM_PX,
                                cmap=cmaps[i])
                           for i in range(n_rows)]
        pngs = []
        duration = style["duration"]
        for k, frame in enumerate(shown):
            arrays = []
            for i, view in enumerate(self._views):
                data = frame[i] if style["time_major"] else frame[i].T
                mask = None
                if self._masks is not None and self._masks[k][i] is not None:
                    mask = np.asarray(self._masks[k][i])
                    mask = mask if style["time_major"] else mask.T
                label = "z-score per feature" if zscored[i] else colorbars[i]
                view.show_image(data, duration=duration, vmin=limits[i][0], vmax=limits[i][1],
                                cmap=cmaps[i], colorbar=label, mask=mask,
                                ylabel=ylabels[i])
                arrays.append(view.compose())
            sheet = np.concatenate(arrays, axis=0)
            buf = io.BytesIO()
            Image.fromarray(sheet).save(buf, format="PNG", compress_level=1)
            pngs.append(buf.getvalue())
        self.axes.value = "".join(v.caption.value for v in self._views)
        return pngs

    @staticmethod
    def _per_row(value, n_rows, name):
        if value is None or isinstance(value, (str, int, float)):
            return [value] * n_rows
        value = list(value)
        if len(value) != n_rows:
            raise ArgumentError(f"{name} must have one entry per row ({n_rows}), got {len(value)}")
        return value

    def images(self) -> list[Image.Image]:
        """The frames as Pillow images, with a position bar along the bottom edge.

        The bar also makes every frame distinct, so GIF writers cannot merge repeated frames
        (an optimization that converged still shows as many frames as steps recorded).
        """
        out = []
        n = len(self.pngs)
        for i, png in enumerate(self.pngs):
            im = Image.open(io.BytesIO(png)).convert("RGB")
            canvas = Image.new("RGB", (im.width, im.height + 4), "white")
            canvas.paste(im, (0, 0))
            end = round((im.width - 1) * (i + 1) / n)
            ImageDraw.Draw(canvas).rectangle([0, im.height + 1, end, im.height + 3],
                                             fill=(60, 60, 60))
            out.append(canvas)
        return out

    def save(self, path: str | os.PathLike, *, interval: int | None = None) -> str:
        """Export to ``.gif`` (Pillow) or ``.mp4`` (matplotlib's ffmpeg writer).

        Returns the path written.
        """
        path = os.fspath(path)
        ms = int(interval or self.play.interval)
        ext = os.path.splitext(path)[1].lower()
        if ext == ".gif":
            frames = self.images()
            frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms,
                           loop=0 if self.play.repeat else 1)
            return path
        if ext == ".mp4":
            return self._save_mp4(path, ms)
        raise ArgumentError(f"path must end in .gif or .mp4, got {path!r}")

    def _save_mp4(self, path: str, ms: int) -> str:
        from matplotlib import animation
        from matplotlib.figure import Figure

        if not animation.FFMpegWriter.isAvailable():
            raise RuntimeError(
                "saving .mp4 needs ffmpeg on PATH (matplotlib's FFMpegWriter); install ffmpeg "
                "(e.g. `apt install ffmpeg` or `conda install ffmpeg`) or save a .gif instead"
            )
        frames = [np.asarray(im) for im in self.images()]
        h, w = frames[0].shape[:2]
        # ffmpeg's yuv420p needs even sizes
        frames = [f[: h - h % 2, : w - w % 2] for f in frames]
        fig = Figure(figsize=(frames[0].shape[1] / 100, frames[0].shape[0] / 100), dpi=100)
        ax = fig.add_axes([0, 0, 1, 1])
        ax.axis("off")
        shown = ax.imshow(frames[0])
        writer = animation.FFMpegWriter(fps=max(1, round(1000 / ms)))
        with writer.saving(fig, path, dpi=100):
            for f in frames:
                shown.set_data(f)
                writer.grab_frame()
        return path
