"""MFCCPanel: listen to an utterance and watch its MFCC / log-mel / log-power features change.

The panel only composes :mod:`lab.audio` (loading, features) and :mod:`lab.data` (the shipped
corpus); images are redrawn by swapping ``ipywidgets.Image.value`` bytes in place.

Later panels and models extend it through transcribers: ``panel.add_transcriber(name, fn)``
where ``fn(waveform, sr)`` returns a string or a :class:`Transcription` (text plus optional
per-frame posteriors, shown as a heatmap aligned in time with the features, and the decoded
symbols placed in time under the features).

Every image is a :class:`lab.widgets.views.View` of one width: waveform, features, decoded
text and posteriors share one time axis in seconds, and the time cursor marks one instant in
all of them.
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
from lab.widgets.jobs import busy
from lab.widgets.render import wav_bytes
from lab.widgets.sources import UtterancePicker, corpus_sources
from lab.widgets.views import (
    TimeCursor,
    Token,
    View,
    ctc_tokens,
    ln_power_db,
    log1p_power_db,
    zscore,
)

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
    """What a transcriber returns.

    Attributes
    ----------
    text : str
    posteriors : np.ndarray, optional
        Per-frame probabilities (frames, symbols), drawn under the features.
    symbols : list of str, optional
        Row names of ``posteriors`` (blank named ``"blank"``); default the symbol indices.
    tokens : list of lab.widgets.views.Token, optional
        Decoded symbols at their frames (frames of ``posteriors``, or of ``n_frames``); by
        default the greedy CTC symbols of ``posteriors`` at their first frame.
    n_frames : int, optional
        Frames that ``tokens`` count in, when there are no posteriors.
    hint : str, optional
        What the model knows and how sure it is on this input
        (:func:`lab.models.adapters.domain_hint`), shown under the text.
    """

    text: str
    posteriors: np.ndarray | None = None
    symbols: list[str] | None = None
    tokens: list[Token] | None = None
    n_frames: int | None = None
    hint: str | None = None

    def placed_tokens(self) -> tuple[list[Token], int] | None:
        """The decoded symbols placed in time and the number of frames they count in."""
        if self.tokens is not None:
            frames = self.n_frames or (len(self.posteriors) if self.posteriors is not None
                                       else (self.tokens[-1].frame + 1 if self.tokens else 1))
            return list(self.tokens), int(frames)
        if self.posteriors is None:
            return None
        post = np.asarray(self.posteriors)
        names = self.symbols or [str(i) for i in range(post.shape[1])]
        return ctc_tokens(post, names), post.shape[0]


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
        Pixel size of the feature image (every time-aligned view has this width); fixed so
        the layout never jumps while sliders move.

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
        image_width: int = 760,
        image_height: int = 240,
    ) -> None:
        super().__init__()
        if not isinstance(feature, str) or feature not in FEATURES:
            raise ArgumentError(f"feature must be one of {sorted(FEATURES)}, got {feature!r}")
        image_width = check_int(image_width, "image_width", 300, 4096)
        image_height = check_int(image_height, "image_height", 100, 4096)
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
                      layout=W.Layout(width="300px", min_width="260px"))
        self._picker_widgets("460px")
        self.feature = tagged(W.ToggleButtons(
            options=[(label, key) for key, (label, _) in FEATURES.items()], value=feature,
            style={"button_width": "90px"}), "feature")
        self.zscore = tagged(W.Checkbox(value=True, description="z-score each coefficient",
                                        indent=False, layout=W.Layout(width="230px")),
                             "zscore")
        self.n_mfcc = tagged(W.IntSlider(value=audio.N_MFCC, min=2, max=audio.N_MELS,
                                         description="n_mfcc", **slider), "n-mfcc")
        ms = lambda n: round(1000 * n / audio.SAMPLE_RATE)
        self.window_ms = tagged(W.IntSlider(value=ms(audio.WIN_LENGTH), min=10, max=64, step=2,
                                            description="window (ms)", **slider), "window")
        self.hop_ms = tagged(W.IntSlider(value=ms(audio.HOP_LENGTH), min=5, max=40,
                                         description="hop (ms)", **slider), "hop")
        self.time_cursor = TimeCursor(lambda: self.views, width=image_width)
        self.cursor = tagged(self.time_cursor.slider, "cursor")
        self.waveform_view = View(title="waveform", ylabel="amplitude", width=image_width,
                                  height=120, css="lab-mfcc-waveform")
        self.feature_view = View(title="features", colorbar=" ", width=image_width,
                                 height=image_height, css="lab-mfcc-heatmap")
        self.decoded_view = View(title="decoded text (each symbol at its first frame)",
                                 width=image_width, height=60 + 26 * 2,
                                 css="lab-mfcc-decoded")
        self.waveform_image = self.waveform_view.image
        self.heatmap = self.feature_view.image
        self.views: list[View] = [self.waveform_view, self.feature_view]
        self._posterior_views: dict[str, View] = {}
        self.player = tagged(W.Audio(format="wav", autoplay=False, loop=False), "audio")
        self.info = tagged(W.HTML(), "info")
        self.busy = tagged(W.HTML(), "busy")
        self.transcripts = tagged(W.VBox(), "transcripts")
        self._decoded_box = W.VBox([])
        self._set_root(W.VBox([
            W.HBox([self.source, self.upload, self.busy]),
            self.error,
            self.player,
            W.HBox([self.feature, self.zscore]),
            W.HBox([self.n_mfcc, self.window_ms, self.hop_ms],
                   layout=W.Layout(flex_flow="row wrap")),
            self.cursor,
            self.waveform_view.widget,
            self.feature_view.widget,
            self.info,
            self._decoded_box,
            self.transcripts,
        ]))

        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        for control in (self.feature, self.n_mfcc, self.window_ms, self.hop_ms, self.zscore):
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
        self.waveform_view.show_waveform(waveform, self.sr)
        self.time_cursor.reset(len(waveform) / self.sr)
        self.player.value = wav_bytes(waveform, self.sr)
        self._update_transcripts()
        return True

    def refresh(self) -> None:
        """Recompute the features and swap the feature image bytes (no new output, no flicker).

        MFCCs are shown as per-coefficient z-scores by default (c0, the loudness, would wash
        out one shared scale; the checkbox shows raw values), log-mel and log-power in dB
        below the utterance's maximum with an 80 dB floor.
        """
        start = time.perf_counter()
        feats = self.features()
        kind = self.feature.value
        label, cmap = FEATURES[kind]
        duration = len(self.waveform) / self.sr
        frames, dims = feats.shape
        view = self.feature_view
        view.set_title(label)
        if kind == "mfcc":
            if self.zscore.value:
                shown, lo, hi = zscore(feats), -2.5, 2.5
                unit = "z-score per coefficient"
            else:
                shown = feats
                lo, hi = (float(v) for v in np.percentile(feats, [1, 99]))
                unit = "MFCC value (DCT of dB)"
            view.show_image(shown, duration=duration, vmin=lo, vmax=hi, cmap=cmap,
                            colorbar=unit, ylabel="MFCC coefficient index")
        elif kind == "log_mel":
            view.show_image(ln_power_db(feats), duration=duration, vmin=-80.0, vmax=0.0,
                            cmap=cmap, colorbar="power (dB re max)", ylabel="mel band")
        else:
            view.show_image(log1p_power_db(feats), duration=duration, vmin=-80.0, vmax=0.0,
                            cmap=cmap, colorbar="power (dB re max)",
                            ylabel="frequency (Hz)", y_extent=(0.0, self.sr / 2))
        self.last_update_ms = 1000 * (time.perf_counter() - start)
        p = self.params
        self.info.value = (
            f"<b>{label}</b> {frames} frames × {dims} features · window {p['win_length']} "
            f"samples, hop {p['hop_length']} · {duration:.2f} s of audio"
            + (" · each coefficient on its own colour scale (z-score)"
               if kind == "mfcc" and self.zscore.value else "")
        )
        self.n_mfcc.disabled = kind != "mfcc"
        self.zscore.disabled = kind != "mfcc"

    def set_cursor(self, seconds: float) -> None:
        """Mark the instant ``seconds`` in every time-aligned view."""
        self.cursor.value = seconds

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
            self._decoded_box.children = ()
            self.views = [self.waveform_view, self.feature_view]
            return
        try:
            with busy(self.busy, "transcribing"):
                results = self.transcribe(self.waveform, self.sr)
        except Exception as exc:  # a model's failure must not break the panel
            self.show_error(f"{type(exc).__name__}: {exc}", "Transcription failed")
            return
        duration = len(self.waveform) / self.sr
        width = self.image_size[0]
        rows, tracks, posterior_views = [], [], []
        for name, result in results.items():
            text = W.HTML(f"<b>{html.escape(name)}</b>: {html.escape(result.text)}")
            text.add_class("lab-mfcc-transcript")
            row = [text]
            placed = result.placed_tokens()
            if placed is not None:
                tokens, frames = placed
                tracks.append((name, tokens, duration / max(1, frames)))
            if result.posteriors is not None:
                post = np.asarray(result.posteriors, dtype=np.float64)
                names = result.symbols or [str(i) for i in range(post.shape[1])]
                view = self._posterior_views.get(name)
                height = max(160, 11 * post.shape[1] + 70)
                if view is None or view.size != (width, height):
                    view = View(title=f"{name}: posteriors", ylabel="symbol",
                                colorbar="probability", cmap="viridis", width=width,
                                height=height, css="lab-mfcc-posteriors")
                    self._posterior_views[name] = view
                view.show_image(post, duration=duration, vmin=0.0, vmax=1.0, rows=names)
                posterior_views.append(view)
                row.append(view.widget)
            if result.hint:  # last in the row: what the model knows, how sure it is here
                low = "low:" in result.hint  # domain_hint flags a low confidence
                colour = "#b00020" if low else "#555"
                note = W.HTML(f"<small style='color:{colour}'>{html.escape(result.hint)}"
                              "</small>")
                note.add_class("lab-mfcc-domain")
                row.append(note)
            rows.append(W.VBox(row))
        self.transcripts.children = rows
        self.views = [self.waveform_view, self.feature_view] + posterior_views
        if tracks:
            view = self.decoded_view
            height = 60 + 26 * len(tracks)
            if view.size[1] != height:
                view = self.decoded_view = View(
                    title="decoded text (each symbol at its first frame)",
                    width=width, height=height, css="lab-mfcc-decoded")
            view.show_tokens(tracks, duration=duration)
            self.views.insert(2, view)
            self._decoded_box.children = (view.widget,)
        else:
            self._decoded_box.children = ()
        marked = self.cursor.value or None  # new views mark the instant the others mark
        for view in self.views:
            if view.cursor != marked:
                view.set_cursor(marked)
