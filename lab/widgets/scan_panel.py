"""ScanPanel: a finished dataset scan (:mod:`lab.scan`) as a sortable table, with the top
utterances of a neuron (activations scans) and an utterance's mask (masks scans), each with
an audio player.

The panel only reads: the table, the ranking and the masks come from :class:`lab.scan.Scan`
(``table``, ``top_utterances``, ``mask``, ``waveform``); nothing is recomputed here.
"""

from __future__ import annotations

import html
import os
from typing import Any

import ipywidgets as W
import numpy as np

from lab.audio.conventions import HOP_LENGTH, SAMPLE_RATE
from lab.errors import ArgumentError, ArgumentTypeError
from lab.scan import Scan
from lab.widgets.base import Panel
from lab.widgets.render import wav_bytes
from lab.widgets.views import View

__all__ = ["ScanPanel"]


def _html_table(frame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in frame[columns].itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float | np.floating):
                text = f"{value:.4g}"
            elif isinstance(value, list | tuple | np.ndarray):
                text = ", ".join(map(str, list(value)[:12])) + (" …" if len(value) > 12 else "")
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<table class='lab-scan-grid'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


class ScanPanel(Panel):
    """Browse a scan's results.

    Parameters
    ----------
    scan : lab.scan.Scan or path
        A scan (as returned by :func:`lab.scan.run`) or its folder.
    source : lab.scan.Source, optional
        The dataset, when the panel cannot reopen it from the manifest (a Hugging Face
        dataset); corpus and folder scans reopen theirs.
    rows : int
        Table rows shown.

    Attributes
    ----------
    sort_by, descending, rows : ipywidgets
        The table's sort column, order and length (:meth:`sort` sets them from code).
    layer, neuron, stat, k : ipywidgets
        Activations scans: which neuron's top utterances :meth:`show_neuron` lists.
    utterance : ipywidgets.Dropdown
        Masks scans: whose mask is shown.
    top : ipywidgets.VBox
        The ranked utterances, one row each with an ``ipywidgets.Audio`` player.

    Examples
    --------
    >>> import tempfile
    >>> from lab.scan import run
    >>> scan = run("evaluate", "test", model="classifier", out=tempfile.mkdtemp(),
    ...            client="inprocess", keywords_only=True, limit=3, progress=False)
    >>> panel = ScanPanel(scan)
    >>> panel.sort("confidence", descending=False)
    >>> panel.frame["confidence"].is_monotonic_increasing
    True
    """

    css = "lab-scan"

    def __init__(self, scan: Scan | str | os.PathLike, *, source: Any = None,
                 rows: int = 15) -> None:
        super().__init__()
        if isinstance(scan, str | os.PathLike):
            scan = Scan(scan)
        if not isinstance(scan, Scan):
            raise ArgumentTypeError(
                f"scan must be a lab.scan.Scan or a scan folder, got {type(scan).__name__}"
            )
        self.scan = scan
        self._source = source
        self._table = scan.table()
        self.frame = self._table
        tagged = self.tagged

        self.summary = tagged(W.HTML(self._summary_html()), "summary")
        columns = [c for c in self._table.columns if c not in ("codes",)]
        default = next((c for c in ("cer", "sparsity", "faithfulness", "confidence", "frames")
                        if c in columns), "index")
        self.sort_by = tagged(W.Dropdown(options=columns, value=default, description="Sort by"),
                              "sort")
        self.descending = tagged(W.Checkbox(value=True, description="descending"), "order")
        self.rows = tagged(W.BoundedIntText(value=rows, min=1, max=10_000, description="Rows",
                                            layout=W.Layout(width="160px")), "rows")
        self.grid = tagged(W.HTML(), "table")
        for control in (self.sort_by, self.descending, self.rows):
            control.observe(lambda _change: self._refresh_table(), names="value")
        parts: list[W.Widget] = [self.summary,
                                 W.HBox([self.sort_by, self.descending, self.rows]), self.grid]

        self.top = tagged(W.VBox(), "top")
        if scan.task == "activations":
            layers = scan.layers()
            self.layer = tagged(W.Dropdown(options=layers, value=layers[0],
                                           description="Layer"), "layer")
            self.neuron = tagged(W.BoundedIntText(value=0, min=0, max=self._width(layers[0]) - 1,
                                                  description="Neuron"), "neuron")
            self.stat = tagged(W.Dropdown(options=["max", "mean"], value="max",
                                          description="Statistic"), "stat")
            self.k = tagged(W.BoundedIntText(value=5, min=1, max=100, description="Top k"), "k")
            self.layer.observe(self._on_layer, names="value")
            for control in (self.neuron, self.stat, self.k):
                control.observe(lambda _change: self.show_neuron(), names="value")
            parts += [W.HTML("<b>Top utterances for a neuron</b>"),
                      W.HBox([self.layer, self.neuron, self.stat, self.k]), self.top]
        if scan.task == "masks":
            self.utterance = tagged(W.Dropdown(description="Utterance"), "utterance")
            # labelled like every panel image: time in seconds, the rows of the grid the
            # masks live on (an adapted waveform model's: the log-power spectrogram)
            grid = scan.manifest["params"].get("grid", "features")
            self.mask_view = View(title="importance mask; pale: entries the mask removes",
                                  ylabel="frequency bin (log-power)" if grid == "log_power"
                                  else "feature index", colorbar="kept (1) / removed (0)",
                                  width=760, height=220, cmap="gray", css="lab-scan-mask")
            self.mask_image = self.mask_view.image
            self.utterance.observe(lambda _change: self.select(), names="value")
            parts += [W.HTML("<b>Mask of an utterance</b> (kept entries bright)"),
                      self.utterance, self.mask_view.widget, self.top]
        failed = scan.errors()
        self.failed = tagged(W.HTML(self._errors_html(failed)), "errors")
        parts += [self.failed, self.error]
        self._refresh_table()
        if scan.task == "activations":
            self.show_neuron()
        self._set_root(W.VBox(parts))

    # ------------------------------------------------------------------------- views
    def _summary_html(self) -> str:
        manifest, summary = self.scan.manifest, self.scan.summary()
        model = manifest["model"].get("name") or manifest["model"].get("class", "model")
        data = manifest["dataset"]
        where = data.get("split") or data.get("root") or data["kind"]
        numbers = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in summary.items())
        state = "complete" if self.scan.complete else (
            f"partial: {self.scan.n_done} of {self.scan.n_utterances} utterances")
        return (f"<b>{html.escape(self.scan.task)}</b> scan of <code>{html.escape(str(model))}"
                f"</code> on <code>{html.escape(str(where))}</code> ({state}): "
                f"{html.escape(numbers)}")

    @staticmethod
    def _errors_html(failed) -> str:
        if not len(failed):
            return ""
        items = "".join(f"<li><code>{html.escape(str(r.id))}</code> ({html.escape(r.stage)}): "
                        f"{html.escape(str(r.error))}</li>" for r in failed.head(50).itertuples())
        return f"<b>{len(failed)} utterance(s) could not be scanned</b><ul>{items}</ul>"

    def _refresh_table(self) -> None:
        column = self.sort_by.value
        frame = self._table.sort_values([column, "index"], ascending=[not self.descending.value,
                                                                     True], kind="stable")
        self.frame = frame.head(int(self.rows.value))
        shown = [c for c in ("index", "id", "text", column) if c in frame.columns]
        shown += [c for c in self._table.columns if c not in shown and c not in ("label",)]
        self.grid.value = _html_table(self.frame, shown[:10])
        if self.scan.task == "masks":
            options = [(f"{r.index}: {r.id}", int(r.index)) for r in self.frame.itertuples()]
            if options:
                current = self.utterance.value
                self.utterance.options = options
                self.utterance.value = current if current in dict(options).values() else \
                    options[0][1]

    def sort(self, column: str, *, descending: bool = True) -> None:
        """Sort the table by ``column`` (what the Sort controls do)."""
        if column not in self.sort_by.options:
            raise ArgumentError(f"column must be one of {list(self.sort_by.options)}, "
                                f"got {column!r}")
        with self.sort_by.hold_trait_notifications():
            self.descending.value = descending
            self.sort_by.value = column
        self._refresh_table()

    def _width(self, layer: str) -> int:
        return int(self.scan.arrays(f"{layer}/max")[1].shape[1]) or 1

    def _on_layer(self, _change) -> None:
        self.neuron.max = self._width(self.layer.value) - 1
        self.show_neuron()

    def _player(self, index: int) -> W.Audio:
        try:
            wave = self.scan.waveform(index, source=self._source)
            return W.Audio(value=wav_bytes(wave, 16000), format="wav", autoplay=False,
                           loop=False)
        except Exception as err:  # a file moved since the scan: say so, keep the list
            self.show_error(err, f"Cannot play utterance {index}")
            return W.Audio(format="wav", autoplay=False, loop=False)

    def show_neuron(self, layer: str | None = None, neuron: int | None = None, *,
                    stat: str | None = None, k: int | None = None):
        """List the top ``k`` utterances of ``neuron`` in ``layer`` with audio players.

        Returns the ranking (a DataFrame from :meth:`lab.scan.Scan.top_utterances`).
        """
        if self.scan.task != "activations":
            raise ArgumentError(f"show_neuron needs an activations scan, this is "
                                f"{self.scan.task!r}")
        with self.layer.hold_trait_notifications():
            if layer is not None:
                self.layer.value = layer
                self.neuron.max = self._width(layer) - 1
            if neuron is not None:
                self.neuron.value = neuron
            if stat is not None:
                self.stat.value = stat
            if k is not None:
                self.k.value = k
        self.clear_error()
        try:
            ranking = self.scan.top_utterances(self.layer.value, int(self.neuron.value),
                                               k=int(self.k.value), stat=self.stat.value)
        except Exception as err:
            self.show_error(err, "Cannot rank")
            return None
        rows = []
        for rank, r in enumerate(ranking.itertuples(), start=1):
            label = W.HTML(f"{rank}. <code>{html.escape(str(r.id))}</code> "
                           f"“{html.escape(str(r.text))}” — {r.value:.3f}")
            rows.append(self.tagged(W.HBox([label, self.tagged(self._player(int(r.index)),
                                                               "audio")]), "row"))
        self.top.children = rows
        self.ranking = ranking
        return ranking

    def select(self, index: int | None = None) -> None:
        """Show utterance ``index``'s mask and audio (masks scans)."""
        if self.scan.task != "masks":
            raise ArgumentError(f"select needs a masks scan, this is {self.scan.task!r}")
        if index is not None:
            if index not in dict(self.utterance.options).values():
                self.utterance.options = [*self.utterance.options, (str(index), int(index))]
            self.utterance.value = int(index)
            return  # the observer comes back here
        if self.utterance.value is None:
            return
        self.clear_error()
        try:
            mask = self.scan.mask(int(self.utterance.value))
        except Exception as err:
            self.show_error(err, "Cannot show the mask")
            return
        # seconds per mask row: recorded by scans of adapted models (Whisper's log-mel rows
        # are 10 ms); the zoo's masks have one row of features per 20 ms hop
        seconds = self.scan.manifest["params"].get("grid_seconds", HOP_LENGTH / SAMPLE_RATE)
        self.mask_view.show_image(mask, duration=mask.shape[0] * float(seconds),
                                  vmin=0.0, vmax=1.0)
        self.top.children = [self.tagged(self._player(int(self.utterance.value)), "audio")]

    def __repr__(self) -> str:
        # No folder path: it would differ on every run of a notebook.
        return (f"ScanPanel({self.scan.task!r}, {self.scan.n_done}/{self.scan.n_utterances} "
                "utterances)")
