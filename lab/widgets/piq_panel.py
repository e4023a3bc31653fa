"""PIQPanel: what did the keyword classifier listen to? Masks from :mod:`lab.piq`, listenable.

The panel only composes :mod:`lab.audio`, :mod:`lab.data` and
:class:`lab.piq.PIQInterpreter`; moving the threshold re-thresholds the last interpretation
(:meth:`lab.piq.Interpretation.with_threshold`) and swaps image and audio bytes in place.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import ipywidgets as W
import numpy as np

from lab import audio
from lab.errors import ArgumentTypeError
from lab.widgets.base import Panel
from lab.widgets.checks import check_int, check_number, check_sources
from lab.widgets.render import array_to_png, wav_bytes
from lab.widgets.sources import UtterancePicker, corpus_sources

__all__ = ["PIQPanel"]

AudioSource = str | os.PathLike | bytes


class PIQPanel(UtterancePicker, Panel):
    """Pick or upload an utterance; see and hear what the classifier's decision rests on.

    Parameters
    ----------
    interpreter : lab.piq.PIQInterpreter, optional
        Default: :meth:`PIQInterpreter.from_pretrained` (shipped decoder and classifier).
    sources : mapping of label → path or bytes, optional
        Utterances for the dropdown; default the keyword utterances of ``split``.
    split : str
        Corpus split used when ``sources`` is not given.
    threshold : float, optional
        Initial relative mask threshold (default the interpreter's).
    top_k : int
        Classes listed with their probabilities.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel; parts carry CSS classes ``lab-piq-<part>`` (``source``, ``upload``,
        ``threshold``, ``probabilities``, ``spectrogram``, ``mask``, ``interpreted``,
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
        image_width: int = 260,
        image_height: int = 220,
    ) -> None:
        super().__init__()
        if threshold is not None:
            threshold = check_number(threshold, "threshold", 0.0, 1.0)
        top_k = check_int(top_k, "top_k", 1)
        image_width = check_int(image_width, "image_width", 16, 4096)
        image_height = check_int(image_height, "image_height", 16, 4096)
        if interpreter is None:
            from lab.piq import PIQInterpreter

            interpreter = PIQInterpreter.from_pretrained()
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

        def image(part: str) -> W.Image:
            return tagged(W.Image(format="png", width=image_width, height=image_height), part)

        def captioned(text: str, child: W.Widget) -> W.VBox:
            return W.VBox([W.HTML(f"<b>{text}</b>"), child])

        self.source = tagged(W.Dropdown(options=list(self._sources), description="Utterance",
                                        layout=W.Layout(width="420px")), "source")
        self.upload = tagged(W.FileUpload(accept=".wav,.flac,.ogg,audio/*", multiple=False,
                                          description="Upload"), "upload")
        self.threshold = tagged(W.FloatSlider(
            value=threshold, min=0.0, max=1.0, step=0.05, description="threshold",
            continuous_update=False, readout_format=".2f", layout=W.Layout(width="360px")),
            "threshold")
        self.probabilities = tagged(W.HTML(), "probabilities")
        self.spectrogram = image("spectrogram")
        self.mask = image("mask")
        self.interpreted = image("interpreted")
        self.original_audio = tagged(W.Audio(format="wav", autoplay=False, loop=False),
                                     "audio-original")
        self.interpreted_audio = tagged(W.Audio(format="wav", autoplay=False, loop=False),
                                        "audio-interpreted")
        self.info = tagged(W.HTML(), "info")
        self._set_root(W.VBox([
            W.HBox([self.source, self.upload]),
            self.error,
            W.HBox([self.probabilities, self.threshold]),
            W.HBox([captioned("log-power spectrogram", self.spectrogram),
                    captioned("PIQ mask", self.mask),
                    captioned("interpretation (mask × log-power)", self.interpreted)]),
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
            waveform = audio.load(source, sr=self.sr)
            result = self.interpreter.interpret(waveform, threshold=self.threshold.value)
        except Exception as exc:  # bad audio or a failing model: shown, never raised
            self.show_error(exc, f"Cannot use {label or 'this audio'}")
            return False
        self.clear_error()
        self.waveform = waveform
        self.result = result
        self.original_audio.value = wav_bytes(waveform, self.sr)
        self.spectrogram.value = self._png(result.log_power)
        self.probabilities.value = self._probability_html()
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
        self.mask.value = array_to_png(result.mask.T.astype(float), cmap="gray", vmin=0.0,
                                       vmax=1.0, width=self.image_size[0],
                                       height=self.image_size[1])
        self.interpreted.value = self._png(result.interpreted_log_power)
        self.interpreted_audio.value = wav_bytes(result.waveform, self.sr)
        self.info.value = (
            f"explaining <b>{html.escape(result.class_name)}</b> · threshold "
            f"{result.threshold:.2f} × this utterance's mask maximum · mask keeps "
            f"{100 * result.mask_area:.1f}% of the time-frequency bins · "
            f"{result.log_power.shape[0]} frames · time → right, frequency ↑ up"
        )

    def _png(self, log_power: np.ndarray) -> bytes:
        vmax = float(self.result.log_power.max()) if self.result is not None else None
        return array_to_png(log_power.T, cmap="magma", vmin=0.0, vmax=vmax or 1.0,
                            width=self.image_size[0], height=self.image_size[1])

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
