"""AttributionPanel: several attribution methods on one utterance, on one time axis.

The panel composes public API only: :func:`lab.interpret.attribute` (Captum's methods),
:func:`lab.interpret.word_importance` (word-aligned perturbation),
:func:`lab.interpret.attribution.masked_waveform` (listen to the kept bins) and
:func:`lab.interpret.evaluation.clip_metrics` (this clip's fidelity, faithfulness, curves or
transcript under masking). Every image is a :class:`lab.widgets.views.View` of one width, so
the spectrogram, the word bar chart and each method's map share their time columns.

Models from outside the zoo have no word alignment, so the word bar chart is left out (the
panel says so) and the metrics compare the model's own decision on the kept and the dropped
bins, each of which can be listened to when the grid can be heard
(:func:`lab.interpret.attribution.attribution_grid` chooses the grid):

- waveform models (Silero VAD, a Hugging Face ``*ForCTC`` or audio classifier, any waveform
  adapter) are attributed on the log-power spectrogram, the grid their importance masks use;
- Whisper (``WhisperForConditionalGeneration``) on the log-power spectrogram too, heard
  resynthesised with the input phase through its log-mel front end; the explained score is
  the teacher-forced log-probability of its greedy transcript, and the metrics show the
  transcript it decodes from the kept and from the dropped bins;
- feature models (a module adapted with ``input="features"``, a Hugging Face classifier over
  features) on their own features; their masks can be heard only through an inverse the
  adapter carries (``adapter.inverse``: features ``(T, F)`` → waveform), else the audio
  controls are hidden and the panel says why.

Attributions are computed when an utterance loads (a few hundred milliseconds per method on
the keyword classifier); the area slider and the perturbation menu only re-threshold and
re-perturb.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence

import ipywidgets as W
import numpy as np

from lab import audio
from lab.errors import ArgumentError, ArgumentTypeError
from lab.widgets.base import Panel
from lab.widgets.checks import (
    check_choice,
    check_int,
    check_model,
    check_number,
    check_sources,
    foreign_adapter,
    zoo_module,
)
from lab.widgets.render import figure_to_png, new_figure, wav_bytes
from lab.widgets.sources import UtterancePicker, corpus_sources
from lab.widgets.views import BOTTOM_PX, DPI, LEFT_PX, RIGHT_PX, TOP_PX, View, log1p_power_db

__all__ = ["AttributionPanel"]

AudioSource = str | os.PathLike | bytes
DEFAULT_METHODS = ("input_x_gradient", "integrated_gradients", "occlusion")


class AttributionPanel(UtterancePicker, Panel):
    """Pick or upload an utterance; compare what several attribution methods credit.

    Parameters
    ----------
    model : torch.nn.Module or lab.models.SpeechModel, optional
        Default: the shipped keyword classifier. DeepSpeech and the Transducer work too
        (maps on their MFCC grid, the transcript's log-probability as the target), and so do
        models from outside the zoo (no word bars): waveform models (Silero VAD, Hugging
        Face CTC models and audio classifiers) and Whisper on the log-power grid, feature
        adapters on their own features (see the module docstring).
    sources : mapping of label → path or bytes, optional
        Utterances for the dropdown; default the keyword utterances of ``split``.
    methods : sequence of str
        Methods of :func:`lab.interpret.attribute`, one row each.
    area : float
        Fraction of the bins each method's mask keeps (the metrics and the masked audio).
    perturbation : {"silence", "noise", "mean_spectrum"}
        How the word bar chart perturbs each word.
    settings : lab.interpret.AttributionSettings, optional

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel; parts carry CSS classes ``lab-attribution-<part>`` (``source``,
        ``upload``, ``domain``, ``area``, ``perturbation``, ``spectrogram``, ``words``,
        ``map``, ``audio-original``, ``audio``, ``audio-removed``, ``audio-note``,
        ``metrics``, ``info``, ``words-note``, ``error``).
    attributions : dict of method → lab.interpret.attribution.Attribution
    words : lab.interpret.attribution.WordImportance or None
        None for models from outside the zoo (no word alignment).
    adapter : lab.models.SpeechModel or None
        The adapter of a model from outside the zoo, else None.
    kind : str
        The grid of the maps: ``"log_power"``, ``"features"`` (an adapter's own features) or
        a zoo model's feature kind (``"mfcc"``).
    listenable : bool
        Whether the masks can be heard (False for a feature adapter without ``inverse``;
        :attr:`audio_note` then says why).
    heard : dict of method → dict
        The audio last made for each method: ``"kept"`` (and, outside the zoo,
        ``"removed"``) waveforms.
    """

    css = "lab-attribution"
    WORDS_HEIGHT = 120

    def __init__(
        self,
        model=None,
        sources: Mapping[str, AudioSource] | None = None,
        *,
        split: str = "test",
        methods: Sequence[str] = DEFAULT_METHODS,
        area: float = 0.1,
        perturbation: str = "silence",
        settings=None,
        image_width: int = 760,
        image_height: int = 160,
    ) -> None:
        super().__init__()
        from lab.interpret.attribution import METHODS, PERTURBATIONS, AttributionSettings

        if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
            raise ArgumentTypeError("methods must be a non-empty sequence of method names")
        self.methods = [check_choice(m, "methods", METHODS) for m in methods]
        if len(set(self.methods)) != len(self.methods):
            raise ArgumentError(f"methods must not repeat, got {list(methods)}")
        area = check_number(area, "area", 0.0, 1.0)
        perturbation = check_choice(perturbation, "perturbation", PERTURBATIONS)
        if settings is not None and not isinstance(settings, AttributionSettings):
            raise ArgumentTypeError(
                f"settings must be an AttributionSettings, got {type(settings).__name__}")
        image_width = check_int(image_width, "image_width", 300, 4096)
        image_height = check_int(image_height, "image_height", 100, 4096)
        if model is None:
            from lab.models import load_pretrained

            model = load_pretrained("classifier")
        self.model = zoo_module(check_model(model))
        foreign = foreign_adapter(self.model)
        self.sr = audio.SAMPLE_RATE
        self.adapter = foreign
        self.settings = settings
        self.grid, self.inverse, audio_note = None, None, ""
        if foreign is None:
            self.kind = getattr(model, "feature_kind", "mfcc")
        else:
            name = type(foreign.module).__name__
            if foreign.sample_rate != self.sr:
                raise ArgumentError(f"model: {name} hears {foreign.sample_rate} Hz audio; the "
                                    f"panel loads and plays {self.sr} Hz")
            self.grid = _hearable_grid(foreign)
            self.kind = ("log_power" if foreign.input == "waveform" or self.grid == "log_power"
                         else "features")
            if self.kind == "features":
                # the panel hears a feature model's masks only through the adapter's inverse
                self.inverse = getattr(foreign, "inverse", None)
                if self.inverse is not None and not callable(self.inverse):
                    raise ArgumentTypeError(
                        f"inverse: {name}'s adapter.inverse must be a callable (features "
                        f"(T, F) → waveform), got {type(self.inverse).__name__}")
                if self.inverse is None:
                    audio_note = (
                        f"<small>No audio for the masks: {html.escape(name)} takes features "
                        "computed outside the spectrogram the lab resynthesises, and its "
                        "adapter has no inverse to audio (adapt it with inverse=callable(features "
                        "(T, F)) → waveform to listen).</small>")
        self.listenable = not audio_note
        self._sources: dict[str, AudioSource] = check_sources(
            corpus_sources(split, keywords_only=True) if sources is None else sources)
        self.image_size = (image_width, image_height)
        self.waveform = np.zeros(0, dtype=np.float32)
        self.features = None
        self._view = None  # adapters: this clip's grid → scores module
        self._transcript = None  # seq2seq: the greedy transcript of the clip
        self.attributions: dict = {}
        self.heard: dict = {}
        self.words = None
        tagged = self.tagged

        self._picker_widgets()
        self.area = tagged(W.FloatSlider(
            value=area, min=0.01, max=1.0, step=0.01, description="mask area",
            continuous_update=False, readout_format=".2f",
            layout=W.Layout(width="360px")), "area")
        self.perturbation = tagged(W.Dropdown(options=list(PERTURBATIONS), value=perturbation,
                                              description="words"), "perturbation")
        grid = "frequency (Hz)" if self.kind == "log_power" else "feature"
        self._ylabel = grid  # a feature adapter's own label replaces it once a clip loads
        self.spectrogram_view = View(
            title="input features", ylabel=grid,
            colorbar="power (dB re max)" if self.kind == "log_power" else "value",
            width=image_width, height=image_height, css=f"{self.css}-spectrogram")
        # the same pixel size as the views, so the bars sit in their time columns
        self.words_image = tagged(W.Image(
            format="png", width=image_width, height=self.WORDS_HEIGHT,
            layout=W.Layout(width=f"{image_width}px", height=f"{self.WORDS_HEIGHT}px")), "words")
        self.original_audio = tagged(W.Audio(format="wav", autoplay=False), "audio-original")
        self.map_views: dict[str, View] = {}
        self.audios: dict[str, W.Audio] = {}
        self.removed_audios: dict[str, W.Audio] = {}
        self.metrics: dict[str, W.HTML] = {}
        rows = []
        for method in self.methods:
            view = View(title=f"{method} (pale: outside the mask)", ylabel=grid,
                        colorbar="attribution value", cmap="RdBu_r", width=image_width,
                        height=image_height, css=f"{self.css}-map")
            self.map_views[method] = view
            self.audios[method] = tagged(W.Audio(format="wav", autoplay=False), "audio")
            self.removed_audios[method] = tagged(W.Audio(format="wav", autoplay=False),
                                                 "audio-removed")
            self.metrics[method] = tagged(W.HTML(), "metrics")
            if foreign is None:  # the zoo's rows stay as they were: the kept bins only
                listen = [self.audios[method]]
            else:  # the metrics compare the kept and the removed bins: hear both
                listen = [W.VBox([W.HTML(f"<small>{part} bins</small>"), player])
                          for part, player in (("kept", self.audios[method]),
                                               ("removed", self.removed_audios[method]))]
                for box in listen if not self.listenable else ():
                    box.layout.display = "none"  # the audio note says why
            rows.append(W.VBox([view.widget, W.HBox([*listen, self.metrics[method]])]))
        self.info = tagged(W.HTML(), "info")
        self.words_note = tagged(W.HTML(), "words-note")
        self.audio_note = tagged(W.HTML(value=audio_note), "audio-note")
        if foreign is not None:
            # word-aligned perturbation needs the zoo's transcript alignment
            self.words_image.layout.display = "none"
            self.perturbation.disabled = True
            self.words_note.value = (
                f"<small>No word bars: {html.escape(type(foreign.module).__name__)} has no "
                "word alignment (word-aligned perturbation needs a zoo model). "
                f"{_grid_sentence(foreign, self.kind)}</small>")
        self.domain = tagged(W.HTML(), "domain")  # what the model knows, its confidence here
        self._set_root(W.VBox([
            W.HBox([self.source, self.upload]),
            self.error,
            self.domain,
            W.HBox([self.area, self.perturbation]),
            self.spectrogram_view.widget,
            self.words_image,
            self.words_note,
            W.HBox([W.HTML("<b>original</b>"), self.original_audio]),
            self.audio_note,
            *rows,
            self.info,
        ]))
        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.area.observe(lambda change: self.refresh(), names="value")
        self.perturbation.observe(lambda change: self._update_words(), names="value")
        self.load(self._sources[self.source.value], self.source.value)

    def __repr__(self) -> str:
        return (f"AttributionPanel({len(self._sources)} utterances, methods {self.methods}, "
                f"showing {self.source.value!r})")

    # --- state --------------------------------------------------------------------------------

    def load(self, source: AudioSource, label: str | None = None) -> bool:
        """Attribute ``source`` with every method; on failure show the error, keep the last."""
        from lab.interpret import attribute
        from lab.interpret.attribution import attribution_grid
        from lab.models import as_features, predict

        try:
            waveform = audio.load(source, sr=self.sr)
            if self.adapter is not None:  # the grid attribute() uses for it (one dispatch)
                on = attribution_grid(self.adapter, waveform, grid=self.grid, sr=self.sr)
                features = on.features
                attributions = {m: attribute(self.adapter, waveform, method=m, sr=self.sr,
                                             settings=self.settings, grid=self.grid)
                                for m in self.methods}
                self._view, self._ylabel = on.view, on.label
                self._transcript = (predict(self.adapter, waveform)
                                    if self.adapter.kind == "seq2seq" else None)
            else:
                features = as_features(self.model, waveform)
                attributions = {m: attribute(self.model, features, method=m,
                                             settings=self.settings) for m in self.methods}
        except Exception as exc:  # bad audio or a failing model: shown, never raised
            self.show_error(exc, f"Cannot use {label or 'this audio'}")
            return False
        self.clear_error()
        self.waveform, self.features, self.attributions = waveform, features, attributions
        from lab.widgets.model_transcribers import domain_html

        self.domain.value = domain_html(self.model, waveform)
        self.original_audio.value = wav_bytes(waveform, self.sr)
        self._show_features()
        self._update_words()
        self.refresh()
        return True

    def set_area(self, area: float) -> None:
        """Move the area slider (masks, masked audio and metrics follow)."""
        self.area.value = area

    def refresh(self) -> None:
        """Masks, masked audio and this clip's metrics for the current area."""
        from lab.interpret.attribution import masked_waveform
        from lab.interpret.evaluation import clip_metrics

        if self.features is None or not self.attributions:
            return
        area = self.area.value
        # The line saying what the maps show comes first: it is cheap, and the maps, audio
        # and metrics below it arrive one method at a time.
        first = next(iter(self.attributions.values()))
        self.info.value = (
            f"explaining the <b>{html.escape(first.target)}</b> · masks keep "
            f"{100 * area:.0f}% of the {first.scores.size} bins · {first.scores.shape[0]} frames")
        try:
            for method, a in self.attributions.items():
                mask = a.mask(area)
                lim = float(np.abs(a.scores).max()) or 1.0
                self.map_views[method].show_image(
                    a.scores, duration=self._duration(), vmin=-lim, vmax=lim,
                    y_extent=self._y_extent(), mask=mask, ylabel=self._ylabel)
                if self.adapter is None:
                    listen = masked_waveform(self.waveform, mask, feature_kind=self.kind)
                    self.heard[method] = {"kept": listen}
                    self.audios[method].value = wav_bytes(listen, self.sr)
                    metrics = clip_metrics(self.model, self.features, a.scores, area)
                else:
                    heard = self._listen(mask)
                    self.heard[method] = heard
                    for part, player in (("kept", self.audios[method]),
                                         ("removed", self.removed_audios[method])):
                        if part in heard:
                            player.value = wav_bytes(heard[part], self.sr)
                    metrics = self._adapter_metrics(mask, heard)
                self.metrics[method].value = self._metrics_html(a, metrics)
        except Exception as exc:  # a failing model shows in the panel
            self.show_error(exc, "Cannot draw the attributions")

    # --- drawing ------------------------------------------------------------------------------

    def _duration(self) -> float:
        if self.kind == "features" and getattr(self.adapter, "features_fn", None) is None:
            # an extractor's fixed-length input (Whisper-style: 30 s) spans more than the
            # clip; its frames keep their own time so the clip sits where it is
            return self.features.shape[0] * self.adapter.feature_seconds
        return len(self.waveform) / self.sr

    def _y_extent(self):
        return (0.0, self.sr / 2) if self.kind == "log_power" else None

    def _show_features(self) -> None:
        if self.kind == "log_power":
            self.spectrogram_view.show_image(log1p_power_db(self.features),
                                             duration=self._duration(), vmin=-80.0, vmax=0.0,
                                             y_extent=self._y_extent(), ylabel=self._ylabel)
        else:
            self.spectrogram_view.show_image(self.features, duration=self._duration(),
                                             ylabel=self._ylabel)

    def _listen(self, mask: np.ndarray) -> dict:
        """What the model hears from the kept and from the removed bins (adapters).

        The log-power grid is resynthesised with the input phase (what the model heard while
        it was attributed); a feature grid only through the adapter's inverse, else nothing.
        """
        from lab.interpret.attribution import masked_waveform

        if self.kind == "log_power":
            return {"kept": masked_waveform(self.waveform, mask, feature_kind="log_power"),
                    "removed": masked_waveform(self.waveform, 1.0 - mask,
                                               feature_kind="log_power")}
        if self.inverse is None:
            return {}
        out = {}
        for part, keep in (("kept", mask), ("removed", 1.0 - mask)):
            wave = np.asarray(self.inverse(self.features * keep), dtype=np.float32)
            out[part] = audio.as_waveform(wave, f"adapter.inverse output ({part} bins)")
        return out

    def _adapter_metrics(self, mask: np.ndarray, heard: dict) -> dict:
        """The model's own decision on the whole grid, on the kept bins and on the rest.

        A seq2seq model's decision is its greedy transcript: the one it decodes from what
        the kept and the removed bins sound like.
        """
        import torch

        from lab.models import edit_distance, predict

        if self.adapter.kind == "seq2seq" and heard:
            text = self._transcript

            def cer_of(other: str) -> float:
                return edit_distance(text, other) / max(1, len(text))

            kept = predict(self.adapter, heard["kept"])
            dropped = predict(self.adapter, heard["removed"])
            return {"adapter": "seq2seq", "text": text, "kept": kept == text,
                    "text_in": kept, "text_out": dropped, "cer_in": cer_of(kept),
                    "cer_out": cer_of(dropped)}

        from lab.runtime import evaluating

        adapter = self.adapter
        x = torch.from_numpy(self.features)[None]
        m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None]
        with evaluating(adapter.module), torch.no_grad():
            scores = self._view(torch.cat([x, x * m, x * (1 - m)]).to(adapter.device))
        full, kept, dropped = adapter.decode(scores)
        if adapter.kind == "frame_scores":
            def agree(other):
                return float(np.mean([a == b for a, b in zip(full, other, strict=True)]))

            return {"adapter": "frames", "agree_in": agree(kept), "agree_out": agree(dropped)}
        if adapter.kind == "classification":
            name = adapter.labels or ()

            def label(decision):
                c = decision[0]
                return name[c] if c < len(name) else str(c)

            return {"adapter": "class", "kept": kept == full, "class_in": label(kept),
                    "class_out": label(dropped)}
        text = adapter.text(full)

        def cer(other) -> float:
            return edit_distance(text, adapter.text(other)) / max(1, len(text))

        return {"kept": kept == full, "cer_in": cer(kept), "cer_out": cer(dropped)}

    def _update_words(self) -> None:
        from lab.interpret import word_importance

        if self.features is None or self.adapter is not None:  # no word alignment
            return
        try:
            self.words = word_importance(self.model, self.waveform,
                                         perturbation=self.perturbation.value)
        except Exception as exc:
            self.show_error(exc, "Cannot perturb the words")
            return
        self.words_image.value = self._words_png()

    def _words_png(self) -> bytes:
        """Bars over each word's span, in the plot columns of the views above and below."""
        width, height = self.image_size[0], self.WORDS_HEIGHT
        fig = new_figure(figsize=(width / DPI, height / DPI), dpi=DPI)
        ax = fig.add_axes([LEFT_PX / width, BOTTOM_PX / height,
                           (width - LEFT_PX - RIGHT_PX) / width,
                           (height - BOTTOM_PX - TOP_PX) / height])
        hop = 1.0 / 50  # 20 ms frames
        wi = self.words
        for s, drop, answer in zip(wi.segments, wi.drops, wi.answers):
            ax.bar(s.start * hop, drop, width=s.frames * hop, align="edge",
                   color="#c44e52" if drop > 0 else "#4c72b0", edgecolor="white")
            # the segment, and what the model answers once it is perturbed
            ax.text((s.start + s.frames / 2) * hop, 0, f"{s.label or '·'}\n→ {answer}",
                    ha="center", va="bottom", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlim(0, self._duration())
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel("score lost", fontsize=8)
        ax.set_title(f"word-aligned perturbation ({wi.perturbation})", fontsize=9)
        ax.tick_params(labelsize=8)
        return figure_to_png(fig, dpi=DPI, tight=False)

    def _metrics_html(self, a, m: dict) -> str:
        if m.get("adapter") == "frames":
            cells = [("frames agree (kept bins)", f"{100 * m['agree_in']:.0f}%"),
                     ("frames agree (dropped bins)", f"{100 * m['agree_out']:.0f}%")]
        elif m.get("adapter") == "class":
            cells = [("kept class", "yes" if m["kept"] else "no"),
                     ("class (kept bins)", m["class_in"]),
                     ("class (dropped bins)", m["class_out"])]
        elif m.get("adapter") == "seq2seq":
            cells = [("transcript kept", "yes" if m["kept"] else "no"),
                     ("transcript", repr(m["text"])),
                     ("kept bins →", repr(m["text_in"])),
                     ("removed bins →", repr(m["text_out"])),
                     ("CER in", f"{m['cer_in']:.2f}"), ("CER out", f"{m['cer_out']:.2f}")]
        elif "faithfulness" in m:
            cells = [("kept class", "yes" if m["kept"] else "no"),
                     ("faithfulness", f"{m['faithfulness']:.3f}"),
                     ("AD %", f"{100 * m['drop']:.1f}"), ("AG %", f"{100 * m['gain']:.1f}"),
                     ("deletion AUC", f"{m['deletion_auc']:.3f}"),
                     ("insertion AUC", f"{m['insertion_auc']:.3f}")]
        else:
            cells = [("transcript kept", "yes" if m["kept"] else "no"),
                     ("CER in", f"{m['cer_in']:.2f}"), ("CER out", f"{m['cer_out']:.2f}")]
        cells.append(("ms", f"{1000 * a.seconds:.0f}"))
        return ("<table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k, _ in cells)
                + "</tr><tr>" + "".join(f"<td>{html.escape(v)}</td>" for _, v in cells)
                + "</tr></table>")

    # --- events -------------------------------------------------------------------------------

    def _on_source(self, change) -> None:
        if not self._quiet and change["new"] is not None:
            self.load(self._sources[change["new"]], change["new"])


def _hearable_grid(adapter) -> str | None:
    """The ``grid`` of :func:`lab.interpret.attribute` the panel uses for an adapter.

    Whisper's log-mel is computed from a waveform in a way the lab can follow in torch, so it
    is attributed on the log-power spectrogram (masks that can be listened to); every other
    adapter on the grid its masks use (the log-power spectrogram of waveform models, the
    own features of feature models).
    """
    from lab.models.adapters import WhisperModel

    return "log_power" if isinstance(adapter, WhisperModel) else None


def _grid_sentence(adapter, kind: str) -> str:
    """What the maps cover and what the metrics compare, for the words note."""
    if adapter.input == "waveform":
        where = "the log-power spectrogram the model's masks use"
    elif kind == "log_power":
        where = ("the log-power spectrogram, heard resynthesised with the input phase "
                 "through the model's own feature front end")
    else:
        where = "the model's own features"
    decision = ("the greedy transcript it decodes from" if adapter.kind == "seq2seq"
                else "its own decision on")
    return f"Maps are on {where}; metrics compare {decision} the kept and the dropped bins."
