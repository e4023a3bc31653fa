"""MFCCPanel: listen to an utterance and watch its MFCC / log-mel / log-power features change.

The panel only composes :mod:`lab.audio` (loading, features) and :mod:`lab.data` (the shipped
corpus); images are redrawn by swapping ``ipywidgets.Image.value`` bytes in place.

Later panels and models extend it through transcribers: ``panel.add_transcriber(name, fn)``
where ``fn(waveform, sr)`` returns a string or a :class:`Transcription` (text plus optional
per-frame posteriors, shown as a heatmap aligned in time with the features).
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ipywidgets as W
import numpy as np

from lab import audio
from lab.errors import ArgumentError, ArgumentTypeError
from lab.widgets.base import Panel
from lab.widgets.checks import check_int, check_sources
from lab.widgets.render import array_to_png, wav_bytes, waveform_to_png
from lab.widgets.sources import UtterancePicker, corpus_sources

__all__ = ["MFCCPanel", "Transcription", "corpus_sources"]  # corpus_sources: re-exported

#: Feature key → (toggle label, colour map). Cepstra are signed, so they get a diverging map.
FEATURES: dict[str, tuple[str, str]] = {
    "mfcc": ("MFCC", "coolwarm"),
    "log_mel": ("log-mel", "magma"),
    "log_power": ("log-power", "magma"),
}

AudioSource = str | os.PathLike | bytes


@dataclass
class Transcription:
    """What a transcriber returns: text, and optionally posteriors of shape (frames, symbols)."""

    text: str
    posteriors: np.ndarray | None = None


Transcriber = Callable[[np.ndarray, int], "str | Transcription"]


class MFCCPanel(UtterancePicker, Panel):
    """Pick or upload an utterance; see its waveform and features, hear it, tune the framing.

    Parameters
    ----------
    sources : mapping of label → path or bytes, optional
        Utterances for the dropdown. By default the shipped corpus ``split`` (see
        :func:`corpus_sources`).
    split : str
        Corpus split used when ``sources`` is not given.
    feature : {"mfcc", "log_mel", "log_power"}
        Feature shown first.
    transcribers : mapping of name → callable, optional
        Passed to :meth:`add_transcriber`.
    image_width, image_height : int
        Pixel size of the heatmaps; fixed so the layout never jumps while sliders move.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole panel (displaying the panel displays it). Parts carry CSS classes
        ``lab-mfcc-<part>`` so browser tests can find them.
    waveform : np.ndarray
        The current utterance at :data:`lab.audio.SAMPLE_RATE`.
    """

    css = "lab-mfcc"

    def __init__(
        self,
        sources: Mapping[str, AudioSource] | None = None,
        *,
        split: str = "test",
        feature: str = "mfcc",
        transcribers: Mapping[str, Transcriber] | None = None,
        image_width: int = 640,
        image_height: int = 200,
    ) -> None:
        super().__init__()
        if not isinstance(feature, str) or feature not in FEATURES:
            raise ArgumentError(f"feature must be one of {sorted(FEATURES)}, got {feature!r}")
        image_width = check_int(image_width, "image_width", 16, 4096)
        image_height = check_int(image_height, "image_height", 16, 4096)
        if transcribers is not None and not isinstance(transcribers, Mapping):
            raise ArgumentTypeError(f"transcribers must be a mapping of name → callable, got "
                                    f"{type(transcribers).__name__}")
        self._sources: dict[str, AudioSource] = check_sources(
            corpus_sources(split) if sources is None else sources
        )
        self.sr = audio.SAMPLE_RATE
        self.image_size = (image_width, image_height)
        self.waveform = np.zeros(self.sr // 10, dtype=np.float32)
        self.transcribers: dict[str, Transcriber] = {}
        self.last_update_ms = 0.0

        tagged = self.tagged
        slider = dict(continuous_update=False, style={"description_width": "90px"},
                      layout=W.Layout(width="330px"))
        self.source = tagged(W.Dropdown(options=list(self._sources), description="Utterance",
                                        layout=W.Layout(width="460px")), "source")
        self.upload = tagged(W.FileUpload(accept=".wav,.flac,.ogg,audio/*", multiple=False,
                                          description="Upload"), "upload")
        self.feature = tagged(W.ToggleButtons(
            options=[(label, key) for key, (label, _) in FEATURES.items()], value=feature,
            style={"button_width": "90px"}), "feature")
        self.n_mfcc = tagged(W.IntSlider(value=audio.N_MFCC, min=2, max=audio.N_MELS,
                                         description="n_mfcc", **slider), "n-mfcc")
        ms = lambda n: round(1000 * n / audio.SAMPLE_RATE)
        self.window_ms = tagged(W.IntSlider(value=ms(audio.WIN_LENGTH), min=10, max=64, step=2,
                                            description="window (ms)", **slider), "window")
        self.hop_ms = tagged(W.IntSlider(value=ms(audio.HOP_LENGTH), min=5, max=40,
                                         description="hop (ms)", **slider), "hop")
        self.waveform_image = tagged(W.Image(format="png", width=image_width), "waveform")
        self.heatmap = tagged(W.Image(format="png", width=image_width, height=image_height),
                              "heatmap")
        self.player = tagged(W.Audio(format="wav", autoplay=False, loop=False), "audio")
        self.info = tagged(W.HTML(), "info")
        self.transcripts = tagged(W.VBox(), "transcripts")
        self._set_root(W.VBox([
            W.HBox([self.source, self.upload]),
            self.error,
            self.waveform_image,
            self.player,
            self.feature,
            W.HBox([self.n_mfcc, self.window_ms, self.hop_ms]),
            self.heatmap,
            self.info,
            self.transcripts,
        ]))

        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        for control in (self.feature, self.n_mfcc, self.window_ms, self.hop_ms):
            control.observe(self._on_params, names="value")
        for name, fn in (transcribers or {}).items():
            self.add_transcriber(name, fn)
        self._select(self.source.value)

    # --- display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"MFCCPanel({len(self._sources)} utterances, showing {self.source.value!r})"

    # --- extension point ------------------------------------------------------------------------

    def add_transcriber(self, name: str, fn: Transcriber) -> None:
        """Show ``fn(waveform, sr)``'s transcription (and posteriors) for every utterance."""
        if not isinstance(name, str):
            raise ArgumentTypeError(f"transcriber name must be a str, got {type(name).__name__}")
        if not callable(fn):
            raise ArgumentTypeError(
                f"transcriber {name!r} must be callable, got {type(fn).__name__}"
            )
        self.transcribers[name] = fn
        self._update_transcripts()

    def remove_transcriber(self, name: str) -> None:
        self.transcribers.pop(name)
        self._update_transcripts()

    def transcribe(self, waveform: np.ndarray, sr: int) -> dict[str, Transcription]:
        """Run every transcriber; override to batch models or add your own."""
        results = {}
        for name, fn in self.transcribers.items():
            out = fn(waveform, sr)
            results[name] = out if isinstance(out, Transcription) else Transcription(str(out))
        return results

    # --- state --------------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, int]:
        """Keyword arguments for :mod:`lab.audio` feature functions from the sliders."""
        win = round(self.window_ms.value * self.sr / 1000)
        hop = round(self.hop_ms.value * self.sr / 1000)
        return dict(n_fft=win, win_length=win, hop_length=hop)

    def features(self) -> np.ndarray:
        """The feature matrix on display, time-major ``(frames, features)``."""
        kind = self.feature.value
        if kind == "mfcc":
            return audio.mfcc(self.waveform, sr=self.sr, n_mfcc=self.n_mfcc.value, **self.params)
        if kind == "log_mel":
            return audio.log_mel(self.waveform, sr=self.sr, **self.params)
        return audio.log_power_spectrogram(self.waveform, **self.params)[0]

    def load(self, source: AudioSource, label: str | None = None) -> bool:
        """Show ``source`` (path or bytes); on bad audio show the error and keep the old one."""
        previous = self.waveform
        try:
            waveform = audio.load(source, sr=self.sr)
            self.waveform = waveform
            self.refresh()  # features of this audio: fails before anything is drawn for it
        except Exception as exc:  # shown in the panel, never raised into the notebook
            self.waveform = previous
            self.show_error(exc, f"Cannot use {label or 'this audio'}")
            return False
        self.clear_error()
        self.waveform_image.value = waveform_to_png(waveform, width=self.image_size[0], height=70)
        self.player.value = wav_bytes(waveform, self.sr)
        self._update_transcripts()
        return True

    def refresh(self) -> None:
        """Recompute the features and swap the heatmap bytes (no new output, no flicker)."""
        start = time.perf_counter()
        feats = self.features()
        label, cmap = FEATURES[self.feature.value]
        shown = feats
        if self.feature.value == "mfcc":
            # c0 (loudness) is an order of magnitude larger than the other coefficients and would
            # wash them out, so each coefficient gets its own colour scale (display only).
            shown = (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-6)
            lo, hi = -2.5, 2.5
        else:
            lo, hi = np.percentile(feats, [1, 99])
        width, height = self.image_size
        self.heatmap.value = array_to_png(shown.T, cmap=cmap, vmin=float(lo), vmax=float(hi),
                                          width=width, height=height)
        self.last_update_ms = 1000 * (time.perf_counter() - start)
        frames, dims = feats.shape
        p, kind = self.params, self.feature.value
        self.info.value = (
            f"<b>{label}</b> {frames} frames × {dims} features · window {p['win_length']} "
            f"samples, hop {p['hop_length']} · {len(self.waveform) / self.sr:.2f} s of audio · "
            f"time → right, feature index ↑ up"
            + (" · each coefficient on its own colour scale" if kind == "mfcc" else "")
        )
        self.n_mfcc.disabled = self.feature.value != "mfcc"

    # --- events -------------------------------------------------------------------------------

    def _select(self, label: str) -> None:
        self.load(self._sources[label], label)

    def _on_source(self, change) -> None:
        if not self._quiet and change["new"] is not None:
            self._select(change["new"])

    def _on_params(self, change) -> None:
        if not self._quiet:
            try:
                self.refresh()
            except Exception as exc:  # e.g. a window too short for this many MFCCs
                self.show_error(exc, "Cannot compute these features")
            else:
                self.clear_error()

    def _show_error(self, message: str) -> None:
        self.show_error(message) if message else self.clear_error()

    def _update_transcripts(self) -> None:
        if not self.transcribers:
            self.transcripts.children = ()
            return
        try:
            results = self.transcribe(self.waveform, self.sr)
        except Exception as exc:  # a model's failure must not break the panel
            self.show_error(f"{type(exc).__name__}: {exc}", "Transcription failed")
            return
        rows = []
        for name, result in results.items():
            text = W.HTML(f"<b>{html.escape(name)}</b>: {html.escape(result.text)}")
            text.add_class("lab-mfcc-transcript")
            row = [text]
            if result.posteriors is not None:
                post = W.Image(format="png", width=self.image_size[0],
                               value=array_to_png(np.asarray(result.posteriors).T, cmap="viridis",
                                                  width=self.image_size[0], height=120))
                post.add_class("lab-mfcc-posteriors")
                row.append(post)
            rows.append(W.VBox(row))
        self.transcripts.children = rows
