"""Transducer alignment panel: lattice occupancy, best path, per-frame label probabilities."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.transducer import rnnt_alignment, synthetic_logits
from lab.widgets.base import Panel
from lab.widgets.checks import check_int
from lab.widgets.render import figure_to_png, new_figure

__all__ = ["AlignmentPanel"]

_EXAMPLES = ("yes", "no", "hello world", "stop the music")


def _tokenizer():
    from lab.data import CharTokenizer

    return CharTokenizer()


class AlignmentPanel(Panel):
    """See where an RNN-T lattice puts its probability mass for one utterance.

    Shows the (t, u) occupancy exp(alpha + beta - log P) with the Viterbi path drawn on it,
    the probability of emitting each label at each frame, and the loss -log P(y|x). The
    blank-index and temperature sliders redraw the images in place.

    Parameters
    ----------
    logits : torch.Tensor, optional
        Joint-network outputs: (T, U+1, V) for one utterance or (B, T, U+1, V) for several,
        finite; without them the panel shows synthetic examples
        (:func:`lab.transducer.synthetic_logits`).
    targets : torch.Tensor or list, optional
        Label ids in ``[0, V)``, (U,) or (B, U); required with ``logits``.
    logit_lengths, target_lengths : torch.Tensor, optional
        Lengths for batched ``logits`` (default: full lengths), within the padded sizes.
    labels : list of str, optional
        Names of the V classes for the axes (default: the lab character tokenizer's).
    blank : int
        Initial blank index, in ``[0, V)``.
    n_frames : int
        Frames of the synthetic examples.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel; parts carry CSS classes ``lab-alignment-<part>`` (``utterance``,
        ``blank``, ``temperature``, ``heatmap``, ``labels``, ``loss``, ``error``), the root
        ``lab-alignment-panel``.

    Examples
    --------
    >>> from lab.widgets import AlignmentPanel
    >>> panel = AlignmentPanel()
    >>> panel.loss_value > 0
    True
    """

    css = "lab-alignment"

    def __init__(
        self,
        logits: torch.Tensor | None = None,
        targets=None,
        logit_lengths: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
        *,
        labels: list[str] | None = None,
        blank: int = 0,
        n_frames: int = 40,
    ) -> None:
        super().__init__()
        n_frames = check_int(n_frames, "n_frames", 1)
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, list | tuple)
                                   or not all(isinstance(n, str) for n in labels)):
            raise ArgumentTypeError(f"labels must be a list of str, got {labels!r}"[:200])
        tok = _tokenizer()
        self._utterances = []  # (name, logits (T, U+1, V), targets list)
        if logits is None:
            V = tok.vocab_size
            for text in _EXAMPLES:
                y = tok.encode(text)
                x = synthetic_logits(y, n_frames=n_frames, vocab_size=V, blank=tok.blank,
                                     seed=len(text))
                self._utterances.append((f"synthetic: {text!r}", x, y))
            shown = {tok.blank: "∅", tok.encode(" ")[0]: "␣"}
            names = labels or [shown.get(i) or tok.decode([i]) or "?" for i in range(V)]
        else:
            if targets is None:
                raise ArgumentError("targets is required when logits is given")
            self._utterances = _utterances_from(logits, targets, logit_lengths, target_lengths)
            V = self._utterances[0][1].shape[-1]
            names = labels or [str(i) for i in range(V)]
        blank = check_int(blank, "blank", 0, V - 1)  # the slider would clamp it silently
        self._names = names
        # One figure per image, kept for the panel's lifetime: slider moves only update the
        # artists, which keeps a redraw well under the 100 ms panel budget.
        self._occ_fig = new_figure(figsize=(5.0, 3.2))
        self._occ_ax = self._occ_fig.add_subplot()
        self._occ_im = self._occ_ax.imshow(np.zeros((2, 2)), origin="lower", aspect="auto",
                                           cmap="magma", vmin=0, vmax=1,
                                           interpolation="nearest")
        (self._path_line,) = self._occ_ax.plot([], [], color="#3cf", lw=1.5, marker=".", ms=3)
        self._occ_ax.set_xlabel("frame t")
        self._occ_ax.set_ylabel("labels emitted u")
        self._occ_ax.set_title("occupancy and best path", fontsize=9)
        self._occ_fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
        self._lab_fig = new_figure(figsize=(4.2, 3.2))
        self._lab_ax = self._lab_fig.add_subplot()
        self._lab_fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.9)
        self._lab_key: tuple | None = None
        self._lab_lines: list = []
        self.loss_value = float("nan")

        self.utterance = widgets.Dropdown(
            options=[(n, i) for i, (n, _, _) in enumerate(self._utterances)], value=0,
            description="utterance")
        self.blank = widgets.IntSlider(value=blank, min=0, max=V - 1, description="blank index",
                                       continuous_update=False)
        self.temperature = widgets.FloatLogSlider(value=1.0, base=2, min=-2, max=2, step=0.25,
                                                  description="temperature",
                                                  continuous_update=False)
        self.heatmap = widgets.Image(format="png")
        self.label_image = widgets.Image(format="png")
        self.loss = widgets.HTML()
        for w, part in ((self.utterance, "utterance"), (self.blank, "blank"),
                        (self.temperature, "temperature"), (self.heatmap, "heatmap"),
                        (self.label_image, "labels"), (self.loss, "loss")):
            self.tagged(w, part)
        controls = widgets.HBox([self.utterance, self.blank, self.temperature])
        self._set_root(widgets.VBox([controls, self.loss, self.error,
                                     widgets.HBox([self.heatmap, self.label_image])]))
        for w in (self.utterance, self.blank, self.temperature):
            w.observe(self._on_change, names="value")
        self._redraw()

    def __repr__(self) -> str:
        name = self._utterances[self.utterance.value][0]
        return (f"AlignmentPanel({len(self._utterances)} utterances, showing {name!r}, "
                f"blank={self.blank.value})")

    def _on_change(self, _change) -> None:
        self._redraw()

    def _redraw(self) -> None:
        name, x, y = self._utterances[self.utterance.value]
        T, U1, _ = x.shape
        try:
            al = rnnt_alignment((x / self.temperature.value)[None], torch.tensor([y]),
                                torch.tensor([T]), torch.tensor([U1 - 1]),
                                blank=self.blank.value)
        except Exception as err:  # e.g. a blank that is also a target: shown, not raised
            self.show_error(err)
            return
        self.clear_error()
        self.loss_value = float(-al.log_prob[0])
        self.loss.value = (
            f"<b>{html.escape(name)}</b>: T={T} frames, U={U1 - 1} labels · "
            f"loss −log P(y|x) = <b>{self.loss_value:.3f}</b> nats · best path log-prob "
            f"{float(al.best_log_prob[0]):.3f}"
        )
        self.heatmap.value = self._occupancy_png(al.occupancy[0].numpy(), al.best_path[0], y)
        self.label_image.value = self._labels_png(al.label_probs[0].numpy(), y)

    def _ticks(self, y) -> list[str]:
        return [self._names[c] if c < len(self._names) else str(c) for c in y]

    def _occupancy_png(self, occ: np.ndarray, path: torch.Tensor, y) -> bytes:
        T, U1 = occ.shape
        self._occ_im.set_data(occ.T)
        self._occ_im.set_extent((-0.5, T - 0.5, -0.5, U1 - 0.5))
        p = path.numpy()
        self._path_line.set_data(p[:, 0], p[:, 1])
        self._occ_ax.set_xlim(-0.5, T - 0.5)
        self._occ_ax.set_ylim(-0.5, U1 - 0.5)
        self._occ_ax.set_yticks(range(len(y) + 1), ["·"] + self._ticks(y), fontsize=7)
        return figure_to_png(self._occ_fig, close=False, tight=False)

    def _labels_png(self, probs: np.ndarray, y) -> bytes:
        ax = self._lab_ax
        key = (tuple(y), probs.shape[0])
        if key != self._lab_key:  # new utterance: rebuild lines and legend (slow path)
            ax.clear()
            self._lab_lines = [ax.plot(probs[:, u], lw=1.2, label=f"{u}: {name}")[0]
                               for u, name in enumerate(self._ticks(y))]
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("frame t")
            ax.set_ylabel("P(label emitted at t)")
            ax.set_title("per-frame label probabilities", fontsize=9)
            if len(y) <= 12:
                ax.legend(fontsize=6, ncol=2, loc="upper right")
            self._lab_key = key
        else:  # same utterance, new blank/temperature: only the curves move
            for u, line in enumerate(self._lab_lines):
                line.set_ydata(probs[:, u])
        return figure_to_png(self._lab_fig, close=False, tight=False)


def _utterances_from(logits, targets, logit_lengths, target_lengths) -> list:
    """(name, logits (T, U+1, V), targets) per utterance, after checking every argument."""
    try:
        x = torch.as_tensor(logits).detach().float().cpu()
        tg = torch.as_tensor(targets).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ArgumentTypeError(f"logits and targets must be tensors or arrays ({exc})") from None
    if x.dim() == 3:
        x, tg = x[None], tg.reshape(1, -1)
    if x.dim() != 4:
        raise ArgumentError(f"logits must be (T, U+1, V) or (B, T, U+1, V), got "
                            f"{tuple(x.shape)}")
    B, T, U1, V = x.shape
    if min(B, T, U1) < 1 or V < 2:
        raise ArgumentError(f"logits must have B, T, U+1 >= 1 and V >= 2, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ArgumentError("logits must be finite, got NaN or inf entries")
    if tg.dim() == 1 and B == 1:
        tg = tg.reshape(1, -1)
    if tg.dim() != 2 or tg.shape[0] != B:
        raise ArgumentError(f"targets must be (U,) or (B, U) with B={B}, got {tuple(tg.shape)}")
    if tg.is_floating_point() or tg.is_complex() or tg.dtype == torch.bool:
        raise ArgumentTypeError(f"targets must hold integer label ids, got dtype {tg.dtype}")
    if tg.numel() and (int(tg.min()) < 0 or int(tg.max()) >= V):
        raise ArgumentError(f"targets must be label ids in [0, {V}), got values in "
                            f"[{int(tg.min())}, {int(tg.max())}]")
    tl = _lengths(logit_lengths, "logit_lengths", B, 1, T)
    ul = _lengths(target_lengths, "target_lengths", B, 0, min(tg.shape[1], U1 - 1))
    if target_lengths is None and tg.shape[1] != U1 - 1:
        raise ArgumentError(f"targets have {tg.shape[1]} labels but logits have U+1={U1}: "
                            "give target_lengths or logits with U+1 = len(targets) + 1")
    return [(f"utterance {b}", x[b, :int(tl[b]), :int(ul[b]) + 1], tg[b, :int(ul[b])].tolist())
            for b in range(B)]


def _lengths(lengths, name: str, batch: int, low: int, high: int) -> torch.Tensor:
    if lengths is None:
        return torch.full((batch,), high)
    try:
        out = torch.as_tensor(lengths).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ArgumentTypeError(f"{name} must be a (B,) tensor of ints, got "
                                f"{type(lengths).__name__}") from None
    if out.is_floating_point() or out.is_complex() or out.dtype == torch.bool:
        raise ArgumentTypeError(f"{name} must hold ints, got dtype {out.dtype}")
    if out.shape != (batch,):
        raise ArgumentError(f"{name} must have shape ({batch},), got {tuple(out.shape)}")
    if int(out.min()) < low or int(out.max()) > high:
        raise ArgumentError(f"{name} must be in [{low}, {high}], got {out.tolist()}")
    return out
