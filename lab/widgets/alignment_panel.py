"""Transducer alignment panel: lattice occupancy, best path, per-frame label probabilities.

By default the panel runs the zoo Transducer (``load_pretrained("transducer")``) on real
utterances of the shipped corpus (their reference transcripts) and on uploads (the model's own
hypothesis), followed by a few synthetic lattices; your own joint logits can be given instead.
Every image is a :class:`lab.widgets.views.View`: the occupancy lattice with the Viterbi path,
the per-frame emission probability of each target symbol, and the decoded symbols placed on the
Viterbi path share one time axis (seconds at the encoder's frame rate).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.transducer import rnnt_alignment, synthetic_logits
from lab.widgets.base import Panel, describe_error
from lab.widgets.checks import check_int
from lab.widgets.jobs import busy
from lab.widgets.sources import UtterancePicker, audio_upload, take_upload
from lab.widgets.views import View, symbol_names, transducer_tokens

__all__ = ["AlignmentPanel"]

_EXAMPLES = ("yes", "no", "hello world", "stop the music")
WIDTH = 760


def _tokenizer():
    from lab.data import CharTokenizer

    return CharTokenizer()


class _Utterance:
    """One lattice to show: joint logits (T, U+1, V), targets, and its time base."""

    def __init__(self, name: str, logits=None, targets=None, frame_s: float | None = None,
                 source=None, text: str | None = None):
        self.name, self.logits, self.targets = name, logits, targets
        self.frame_s, self.source, self.text = frame_s, source, text
        self.domain = ""  # the model's domain line for audio (domain_hint), as HTML


class AlignmentPanel(UtterancePicker, Panel):
    """See where an RNN-T lattice puts its probability mass for one utterance.

    Shows the (t, u) occupancy exp(alpha + beta - log P) with the Viterbi path drawn on it,
    the probability of emitting each target symbol at each frame, the symbols placed where the
    Viterbi path emits them, and the loss -log P(y|x). The blank-index and temperature sliders
    redraw the images in place; a refused setting (a blank that is also a target) puts the
    slider back to the setting on display and says why.

    Parameters
    ----------
    logits : torch.Tensor, optional
        Joint-network outputs: (T, U+1, V) for one utterance or (B, T, U+1, V) for several,
        finite. Without them the panel shows the zoo Transducer on ``corpus`` utterances of
        the test split (and uploads), then synthetic examples
        (:func:`lab.transducer.synthetic_logits`).
    targets : torch.Tensor or list, optional
        Label ids in ``[0, V)``, (U,) or (B, U); required with ``logits``.
    logit_lengths, target_lengths : torch.Tensor, optional
        Lengths for batched ``logits`` (default: full lengths), within the padded sizes.
    labels : list of str, optional
        Names of the V classes for the axes (default: the lab character tokenizer's, blank
        and space named).
    blank : int
        Initial blank index, in ``[0, V)``.
    n_frames : int
        Frames of the synthetic examples.
    corpus : int
        Real test utterances for the zoo Transducer (0: synthetic examples only). Skipped
        when no shipped checkpoint loads.
    model : torch.nn.Module, optional
        A transducer with ``encode``, ``predict``, ``join`` and ``decode_ids`` instead of
        the zoo's (or its :func:`lab.models.adapt` adapter). CTC models, and any other kind,
        are refused: their per-frame view is :func:`lab.models.ctc_posteriors` (the MFCC
        panel's posteriors).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel; parts carry CSS classes ``lab-alignment-<part>`` (``utterance``,
        ``upload``, ``blank``, ``temperature``, ``heatmap``, ``labels``, ``decoded``,
        ``loss``, ``domain`` (the model's domain and confidence, for audio), ``error``),
        the root ``lab-alignment-panel``.
    views : list of lab.widgets.views.View
        Occupancy, label probabilities and decoded symbols, one width and time axis.

    Examples
    --------
    >>> from lab.widgets import AlignmentPanel
    >>> panel = AlignmentPanel(corpus=0)
    >>> panel.loss_value > 0, panel.views[0].labels()["colorbar"]
    (True, 'occupancy probability')
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
        corpus: int = 6,
        model=None,
    ) -> None:
        super().__init__()
        n_frames = check_int(n_frames, "n_frames", 1)
        corpus = check_int(corpus, "corpus", 0, 200)
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, list | tuple)
                                   or not all(isinstance(n, str) for n in labels)):
            raise ArgumentTypeError(f"labels must be a list of str, got {labels!r}"[:200])
        if model is not None:
            from lab.models import SpeechModel
            from lab.widgets.model_transcribers import transducer_model

            if not isinstance(model, torch.nn.Module | SpeechModel):
                raise ArgumentTypeError(f"model must be a transducer with encode, predict, join "
                                        f"and decode_ids, got {type(model).__name__}")
            # a CTC model (or any other kind) is refused naming ctc_posteriors
            model = transducer_model(model)
        tok = _tokenizer()
        self._model = model
        self._utterances: list[_Utterance] = []
        if logits is None:
            V = tok.vocab_size
            if corpus:
                self._utterances.extend(self._corpus_utterances(corpus))
            for text in _EXAMPLES:
                y = tok.encode(text)
                x = synthetic_logits(y, n_frames=n_frames, vocab_size=V, blank=tok.blank,
                                     seed=len(text))
                self._utterances.append(_Utterance(f"synthetic: {text!r}", x, y))
            names = labels or symbol_names(V)
        else:
            if targets is None:
                raise ArgumentError("targets is required when logits is given")
            self._utterances = [_Utterance(n, x, y) for n, x, y in
                                _utterances_from(logits, targets, logit_lengths,
                                                 target_lengths)]
            V = self._utterances[0].logits.shape[-1]
            names = labels or [str(i) for i in range(V)]
        blank = check_int(blank, "blank", 0, V - 1)  # the slider would clamp it silently
        self._names = names
        self._V = V
        self.loss_value = float("nan")
        self._shown: tuple | None = None  # (utterance, blank, temperature) on display
        self._decoded_key: tuple | None = None

        self.occupancy_view = View(title="occupancy and Viterbi path", ylabel="symbols emitted",
                                   colorbar="occupancy probability", width=WIDTH, height=300,
                                   css="lab-alignment-heatmap")
        self.labels_view = View(title="P(target symbol emitted at this frame)",
                                ylabel="target symbol", colorbar="probability", width=WIDTH,
                                height=260, cmap="viridis", css="lab-alignment-labels")
        self.decoded_view = View(title="symbols where the Viterbi path emits them",
                                 width=WIDTH, height=90, css="lab-alignment-decoded")
        self.views = [self.occupancy_view, self.labels_view, self.decoded_view]
        self.heatmap = self.occupancy_view.image
        self.label_image = self.labels_view.image

        self._sources = {}
        self.source = self.utterance = widgets.Dropdown(
            options=[(u.name, i) for i, u in enumerate(self._utterances)], value=0,
            description="utterance", layout=widgets.Layout(width="460px"))
        self.upload = audio_upload()
        self.blank = widgets.IntSlider(value=blank, min=0, max=V - 1, description="blank index",
                                       continuous_update=False,
                                       style={"description_width": "90px"},
                                       layout=widgets.Layout(width="330px", min_width="300px"))
        self.temperature = widgets.FloatLogSlider(value=1.0, base=2, min=-2, max=2, step=0.25,
                                                  description="temperature",
                                                  continuous_update=False,
                                                  style={"description_width": "90px"},
                                                  layout=widgets.Layout(width="330px",
                                                                        min_width="300px"))
        self.loss = widgets.HTML()
        self.domain = self.tagged(widgets.HTML(), "domain")
        self.busy = self.tagged(widgets.HTML(), "busy")
        for w, part in ((self.utterance, "utterance"), (self.upload, "upload"),
                        (self.blank, "blank"), (self.temperature, "temperature"),
                        (self.loss, "loss")):
            self.tagged(w, part)
        self.upload.layout.display = None if self._can_upload() else "none"
        self._set_root(widgets.VBox([
            widgets.HBox([self.utterance, self.upload, self.busy]),
            widgets.HBox([self.blank, self.temperature],
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.loss, self.domain, self.error,
            *[v.widget for v in self.views],
        ]))
        for w in (self.utterance, self.blank, self.temperature):
            w.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self._redraw()

    def __repr__(self) -> str:
        name = self._utterances[self.utterance.value].name
        return (f"AlignmentPanel({len(self._utterances)} utterances, showing {name!r}, "
                f"blank={self.blank.value})")

    # --- the model and real utterances -----------------------------------------------------

    def _transducer(self):
        if self._model is None:
            from lab.models import load_pretrained

            self._model = load_pretrained("transducer")
        return self._model

    def _can_upload(self) -> bool:
        return self._model is not None or any(u.source is not None for u in self._utterances)

    def _corpus_utterances(self, limit: int) -> list[_Utterance]:
        try:
            self._transducer()
            from lab.data import Corpus

            data = Corpus(split="test", cache=False)
        except Exception:  # no checkpoint or corpus: synthetic examples only
            return []
        return [_Utterance(f"{row.text} · {row.voice} · {row.duration:.1f} s",
                           source=data.root / row.path, text=row.text)
                for row in data.rows[:limit]]

    @torch.no_grad()
    def _lattice(self, utt: _Utterance) -> None:
        """Joint logits of the transducer for ``utt`` (reference text, or its hypothesis)."""
        if utt.logits is not None:
            return
        with busy(self.busy, "running the transducer"):
            self._compute_lattice(utt)

    def _compute_lattice(self, utt: _Utterance) -> None:
        from lab import audio
        from lab.models import as_features

        model = self._transducer()
        waveform = audio.load(utt.source, sr=audio.SAMPLE_RATE)
        x = torch.as_tensor(as_features(model, waveform))[None]
        tok = _tokenizer()
        y = tok.encode(utt.text) if utt.text is not None else list(model.decode_ids(x)[0])
        if not y:
            raise ArgumentError("the model hears no symbol in this audio: nothing to align")
        encoded, lengths = model.encode(x)
        T = int(lengths[0])
        utt.logits = model.join(encoded[:, :T], model.predict(torch.tensor([y])))[0].float()
        utt.targets = y
        utt.frame_s = len(waveform) / audio.SAMPLE_RATE / T
        from lab.widgets.model_transcribers import domain_html

        utt.domain = domain_html(model, waveform)

    def load(self, source, label: str | None = None) -> bool:
        """Align an uploaded file (bytes or path) on the model's own hypothesis."""
        utt = _Utterance(f"⬆ {label or 'upload'} (model's hypothesis)", source=source)
        try:
            self._lattice(utt)
        except Exception as exc:  # shown, the previous utterance stays
            self.show_error(exc, f"Cannot use {label or 'this audio'}")
            return False
        self._utterances.append(utt)
        with self._quietly():
            self.utterance.options = [(u.name, i) for i, u in enumerate(self._utterances)]
        self.utterance.value = len(self._utterances) - 1
        return True

    def _on_upload(self, change) -> None:
        taken = take_upload(self, change)
        if taken is not None:
            self.load(taken[1], taken[0])

    # --- drawing ------------------------------------------------------------------------------

    def _on_change(self, _change) -> None:
        if not self._quiet:
            self._redraw()

    def _restore(self, why: str) -> None:
        """Put the controls back to the setting on display and say why."""
        if self._shown is not None:
            utterance, blank, temperature = self._shown
            with self._quietly():
                self.utterance.value = utterance
                self.blank.value = blank
                self.temperature.value = temperature
            why += f" · back to blank {blank}, temperature {temperature:g}"
        self.show_error(why)

    def _redraw(self) -> None:
        utt = self._utterances[self.utterance.value]
        blank, temperature = self.blank.value, self.temperature.value
        try:
            self._lattice(utt)
            x, y = utt.logits, utt.targets
            T, U1, _ = x.shape
            al = rnnt_alignment((x / temperature)[None], torch.tensor([y]),
                                torch.tensor([T]), torch.tensor([U1 - 1]), blank=blank)
        except Exception as err:  # e.g. a blank that is also a target: refused, explained
            self._restore(describe_error(err, f"blank {blank} refused"
                                         if "blank" in str(err) else "Cannot align"))
            return
        self.clear_error()
        self._shown = (self.utterance.value, blank, temperature)
        self.loss_value = float(-al.log_prob[0])
        self.domain.value = utt.domain
        self.loss.value = (
            f"<b>{html.escape(utt.name)}</b>: T={T} frames, U={U1 - 1} labels · "
            f"loss −log P(y|x) = <b>{self.loss_value:.3f}</b> nats · best path log-prob "
            f"{float(al.best_log_prob[0]):.3f}"
        )
        self._draw(utt, al, T, U1)

    def _draw(self, utt: _Utterance, al, T: int, U1: int) -> None:
        step = utt.frame_s or 1.0
        xlabel = "time (s)" if utt.frame_s else "frame t"
        span = (0.0, T * step)
        targets = [self._names[c] if c < len(self._names) else str(c) for c in utt.targets]
        for view in self.views:
            view.set_xlabel(xlabel)
        path = al.best_path[0].numpy()
        self.occupancy_view.set_path((path[:, 0] + 0.5) * step, path[:, 1])
        self.occupancy_view.show_image(al.occupancy[0].numpy(), x_extent=span, vmin=0.0,
                                       vmax=1.0, rows=["start"] + targets)
        self.labels_view.show_image(al.label_probs[0].numpy(), x_extent=span, vmin=0.0,
                                    vmax=1.0, rows=[f"{u + 1}: {n}"
                                                    for u, n in enumerate(targets)])
        tokens = transducer_tokens(path, utt.targets, self._names)
        key = (id(utt), tuple(tokens))
        if key != self._decoded_key:  # the path often keeps its emissions: no redraw then
            self._decoded_key = key
            self.decoded_view.show_tokens([("Viterbi", tokens, step)], duration=T * step,
                                          n_frames=[T])

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
