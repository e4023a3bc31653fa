"""PIQPanel: what did the classifier listen to? Masks from :mod:`lab.piq`, listenable.

The classifier is the zoo's keyword classifier (the shipped decoder by default) or an
adapted audio classifier (a Hugging Face ``*ForAudioClassification``, a plain module adapted
with ``kind="classification"``) with a decoder trained on it: pass the trained
:class:`lab.piq.PIQInterpreter`, or the model and the decoder file
(``PIQPanel(model, checkpoint=path)``).

The panel only composes :mod:`lab.audio`, :mod:`lab.data` and
:class:`lab.piq.PIQInterpreter`; moving the threshold re-thresholds the last interpretation
(:meth:`lab.piq.Interpretation.with_threshold`) and swaps image and audio bytes in place.

Images are :class:`lab.widgets.views.View` s of one width and one time axis: the log-power
spectrogram in dB (80 dB floor), the same spectrogram with what the mask removes veiled, and
the interpretation (mask × log-power) on the original's dB scale.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import ipywidgets as W
import numpy as np

from lab import audio
from lab.errors import ArgumentError, ArgumentTypeError
from lab.widgets.base import Panel
from lab.widgets.checks import check_int, check_number, check_sources
from lab.widgets.jobs import busy
from lab.widgets.model_transcribers import domain_html
from lab.widgets.render import wav_bytes
from lab.widgets.sources import UtterancePicker, corpus_sources
from lab.widgets.views import TimeCursor, View, log1p_power_db

__all__ = ["PIQPanel"]

AudioSource = str | os.PathLike | bytes


class PIQPanel(UtterancePicker, Panel):
    """Pick or upload an utterance; see and hear what the classifier's decision rests on.

    Parameters
    ----------
    interpreter : lab.piq.PIQInterpreter or model, optional
        Default: :meth:`PIQInterpreter.from_pretrained` (shipped decoder and classifier). A
        classifier (the zoo's or an adapted one) is taken with ``checkpoint``.
    sources : mapping of label → path or bytes, optional
        Utterances for the dropdown; default the keyword utterances of ``split``.
    split : str
        Corpus split used when ``sources`` is not given.
    threshold : float, optional
        Initial relative mask threshold (default the interpreter's).
    top_k : int
        Classes listed with their probabilities (named by the interpreter's class names:
        an adapter's labels).
    checkpoint : path, optional
        A decoder file saved by :meth:`PIQInterpreter.save` for the classifier given as
        ``interpreter`` (loaded with :meth:`PIQInterpreter.from_pretrained`; a file for
        another model is a CheckpointError naming it).

    Examples
    --------
    Train a decoder on an adapted classifier, save it, and show it::

        model = adapt(Wav2Vec2ForSequenceClassification.from_pretrained(...))
        piq = PIQInterpreter(model)
        piq.fit(audio_batches(clips), epochs=5)
        piq.save("my_piq.pt")
        PIQPanel(piq)                              # or, later:
        PIQPanel(model, checkpoint="my_piq.pt")

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel; parts carry CSS classes ``lab-piq-<part>`` (``source``, ``upload``,
        ``threshold``, ``probabilities``, ``domain``, ``spectrogram``, ``mask``, ``interpreted``,
        ``audio-original``, ``audio-interpreted``, ``info``, ``error``).
    result : lab.piq.Interpretation
        The interpretation on display.
    """

    css = "lab-piq"

    def __init__(
        self,
        interpreter=None,
        sources: Mapping[str, AudioSource] | None = None,
        *,
        split: str = "test",
        threshold: float | None = None,
        top_k: int = 5,
        image_width: int = 760,
        image_height: int = 200,
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if threshold is not None:
            threshold = check_number(threshold, "threshold", 0.0, 1.0)
        top_k = check_int(top_k, "top_k", 1)
        image_width = check_int(image_width, "image_width", 300, 4096)
        image_height = check_int(image_height, "image_height", 100, 4096)
        if checkpoint is not None:
            if not isinstance(checkpoint, str | os.PathLike):
                raise ArgumentTypeError(
                    f"checkpoint must be a path, got {type(checkpoint).__name__}")
            if interpreter is None or hasattr(interpreter, "interpret"):
                raise ArgumentError(
                    "checkpoint: give the classifier the decoder was trained on with it, "
                    "PIQPanel(model, checkpoint=path)")
            from lab.piq import PIQInterpreter

            interpreter = PIQInterpreter.from_pretrained(interpreter, path=checkpoint)
        if interpreter is None:
            from lab.piq import PIQInterpreter

            interpreter = PIQInterpreter.from_pretrained()
        _refuse_models(interpreter)
        missing = [a for a in ("interpret", "config", "class_names")
                   if not hasattr(interpreter, a)]
        if missing:
            raise ArgumentTypeError(
                f"interpreter must be a lab.piq.PIQInterpreter (it lacks {', '.join(missing)}), "
                f"got {type(interpreter).__name__}"
            )
        self.interpreter = interpreter
        self._sources: dict[str, AudioSource] = check_sources(
            corpus_sources(split, keywords_only=True) if sources is None else sources
        )
        self.sr = audio.SAMPLE_RATE
        self.top_k = top_k
        self.image_size = (image_width, image_height)
        self.result = None
        self.waveform = np.zeros(0, dtype=np.float32)
        threshold = interpreter.config["threshold"] if threshold is None else threshold
        tagged = self.tagged

        def view(part: str, title: str, colorbar: str = "power (dB re max)") -> View:
            return View(title=title, ylabel="frequency (Hz)", colorbar=colorbar,
                        width=image_width, height=image_height, css=f"{self.css}-{part}")

        def captioned(text: str, child: W.Widget) -> W.VBox:
            return W.VBox([W.HTML(f"<b>{text}</b>"), child])

        self._picker_widgets()
        self.threshold = tagged(W.FloatSlider(
            value=threshold, min=0.0, max=1.0, step=0.05, description="threshold",
            continuous_update=False, readout_format=".2f",
            layout=W.Layout(width="360px", min_width="300px")), "threshold")
        self.probabilities = tagged(W.HTML(), "probabilities")
        # what the classifier knows and how sure it is here (domain_hint): a confident
        # keyword for a sentence it never heard the like of is still out of its domain
        self.domain = tagged(W.HTML(), "domain")
        self.spectrogram_view = view("spectrogram", "log-power spectrogram")
        self.mask_view = view("mask", "PIQ mask over the spectrogram (pale: removed)")
        self.interpreted_view = view("interpreted", "interpretation: mask × log-power")
        self.views = [self.spectrogram_view, self.mask_view, self.interpreted_view]
        self.time_cursor = TimeCursor(lambda: self.views, width=image_width)
        self.cursor = tagged(self.time_cursor.slider, "cursor")
        self.spectrogram = self.spectrogram_view.image
        self.mask = self.mask_view.image
        self.interpreted = self.interpreted_view.image
        self.original_audio = tagged(W.Audio(format="wav", autoplay=False, loop=False),
                                     "audio-original")
        self.interpreted_audio = tagged(W.Audio(format="wav", autoplay=False, loop=False),
                                        "audio-interpreted")
        self.info = tagged(W.HTML(), "info")
        self.busy = tagged(W.HTML(), "busy")
        self._set_root(W.VBox([
            W.HBox([self.source, self.upload, self.busy]),
            self.error,
            W.HBox([self.probabilities, self.threshold]),
            self.domain,
            self.cursor,
            self.spectrogram_view.widget,
            self.mask_view.widget,
            self.interpreted_view.widget,
            W.HBox([captioned("original", self.original_audio),
                    captioned("interpretation", self.interpreted_audio)]),
            self.info,
        ]))

        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.threshold.observe(self._on_threshold, names="value")
        self.load(self._sources[self.source.value], self.source.value)

    def __repr__(self) -> str:
        return f"PIQPanel({len(self._sources)} utterances, showing {self.source.value!r})"

    # --- state --------------------------------------------------------------------------------

    def load(self, source: AudioSource, label: str | None = None) -> bool:
        """Interpret ``source``; on bad audio show the error and keep the previous one."""
        try:
            with busy(self.busy, "interpreting"):
                waveform = audio.load(source, sr=self.sr)
                result = self.interpreter.interpret(waveform, threshold=self.threshold.value)
        except Exception as exc:  # bad audio or a failing model: shown, never raised
            self.show_error(exc, f"Cannot use {label or 'this audio'}")
            return False
        self.clear_error()
        self.waveform = waveform
        self.result = result
        self.original_audio.value = wav_bytes(waveform, self.sr)
        self._db = log1p_power_db(result.log_power)
        self.time_cursor.reset(len(waveform) / self.sr)
        self._show(self.spectrogram_view, self._db)
        self.probabilities.value = self._probability_html()
        # the adapter for an adapted classifier (its label set), the zoo's classifier else
        model = getattr(self.interpreter, "model", None)
        self.domain.value = domain_html(
            model if model is not None else getattr(self.interpreter, "classifier", None),
            waveform)
        self.refresh()
        return True

    def set_threshold(self, threshold: float) -> None:
        """Move the slider (the mask, interpretation and its audio follow)."""
        self.threshold.value = threshold

    def refresh(self) -> None:
        """Swap the mask, interpretation and interpretation audio for the current threshold."""
        result = self.result
        if result is None:
            return
        if result.threshold != self.threshold.value:
            result = self.result = result.with_threshold(self.threshold.value)
        self._show(self.mask_view, self._db, mask=result.mask)
        # the original's maximum is the 0 dB reference: removed bins fall to the floor
        ref = float(np.expm1(np.float64(result.log_power.max())))
        self._show(self.interpreted_view,
                   log1p_power_db(result.interpreted_log_power, ref=ref or 1.0))
        self.interpreted_audio.value = wav_bytes(result.waveform, self.sr)
        self.info.value = (
            f"explaining <b>{html.escape(result.class_name)}</b> · threshold "
            f"{result.threshold:.2f} × this utterance's mask maximum · mask keeps "
            f"{100 * result.mask_area:.1f}% of the time-frequency bins · "
            f"{result.log_power.shape[0]} frames"
        )

    def _show(self, view: View, db: np.ndarray, mask: np.ndarray | None = None) -> bytes:
        duration = len(self.waveform) / self.sr
        return view.show_image(db, duration=duration, vmin=-80.0, vmax=0.0,
                               y_extent=(0.0, self.sr / 2), mask=mask)

    def _probability_html(self) -> str:
        probs = self.result.probabilities
        names = self.interpreter.class_names
        rows = []
        for c in np.argsort(-probs)[: self.top_k]:
            width = round(120 * float(probs[c]))
            rows.append(
                f"<tr><td>{html.escape(names[c])}</td><td><div style='background:#4c72b0;"
                f"height:10px;width:{width}px'></div></td><td>{probs[c]:.3f}</td></tr>"
            )
        return "<table>" + "".join(rows) + "</table>"

    # --- events -------------------------------------------------------------------------------

    def _on_source(self, change) -> None:
        if not self._quiet and change["new"] is not None:
            self.load(self._sources[change["new"]], change["new"])

    def _on_threshold(self, change) -> None:
        self.refresh()


def _refuse_models(interpreter) -> None:
    """A model where the interpreter belongs: PIQ's own refusal for models it cannot read,
    and how to build the interpreter for the one it can."""
    import torch

    from lab.models import SpeechModel

    if not isinstance(interpreter, torch.nn.Module | SpeechModel) or hasattr(
            interpreter, "interpret"):
        return
    from lab.models.adapters import piq_classifier
    from lab.models.adapters.piq_view import PIQView

    view = piq_classifier(interpreter)  # refuses models PIQ cannot read, naming what applies
    if isinstance(view, PIQView):
        raise ArgumentTypeError(
            f"interpreter must be a lab.piq.PIQInterpreter, got the classifier "
            f"({type(view.adapter.module).__name__}) itself; train a decoder for it "
            "(piq = PIQInterpreter(model); piq.fit(lab.piq.audio_batches(clips)); "
            "piq.save(path)) and pass PIQPanel(piq) or PIQPanel(model, checkpoint=path)")
    raise ArgumentTypeError(
        "interpreter must be a lab.piq.PIQInterpreter, got the classifier itself; use "
        "PIQInterpreter.from_pretrained() (the shipped decoder) or train one for it with "
        "python -m lab.piq.train")
