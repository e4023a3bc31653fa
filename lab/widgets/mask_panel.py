"""MaskPanel: which MFCC entries does the transcript need? Watch the mask form, hear the rest.

Composes :func:`lab.interpret.importance_mask`, :func:`lab.interpret.mute_audio` and
:func:`lab.interpret.transcribe`; the threshold slider only re-mutes and re-transcribes. The
search runs in a :class:`lab.widgets.jobs.PanelJob` thread: a progress bar follows it and Stop
ends it with a valid (less sparse) mask, which is shown like a finished one.

Any model :func:`lab.models.adapt` takes works: for a waveform model (Hugging Face ``*ForCTC``
or audio classifier, Silero VAD) the mask lives on the log-power spectrogram of the input, the
panel's picture, and the panel plays :func:`lab.models.adapters.masked_audio` — the masked
spectrogram turned back into sound with the input's phase, frames below the threshold silent:
exactly what the model hears. Feature models (the zoo, Whisper) are masked on their own
features. Next to the model's decision (:func:`lab.models.predict`: text, classes or frame
scores) the panel shows :func:`lab.models.adapters.domain_hint`: what the model knows and
how sure it is on this input.

Every image shares one width and one time axis in seconds (a pixel column is one instant): the
animation of the mask search (MFCCs as per-coefficient z-scores, a raw toggle, what the mask
removes veiled), the mask mean and kept frames per frame, and the waveform with the muted
frames veiled.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Mapping

import ipywidgets as W
import numpy as np

from lab import audio, interpret
from lab.widgets.animation import AnimationPlayer
from lab.widgets.base import Panel
from lab.widgets.checks import (
    check_choice,
    check_int,
    check_model,
    check_number,
    check_sources,
    foreign_adapter,
)
from lab.widgets.jobs import PanelJob
from lab.widgets.render import wav_bytes
from lab.widgets.sources import UtterancePicker, corpus_sources
from lab.widgets.views import TimeCursor, View

__all__ = ["MaskPanel"]

AudioSource = str | os.PathLike | bytes
ROW_TITLES = ["MFCC; pale: entries the mask removes"]
#: Pixel width of every time-aligned image of the panel.
WIDTH = 760


class MaskPanel(UtterancePicker, Panel):
    """Pick or upload an utterance, Run a mask search, mute what the mask calls unimportant.

    Parameters
    ----------
    model : torch.nn.Module or lab.models.SpeechModel, optional
        Default ``lab.models.load_pretrained("deepspeech")``. Any model
        :func:`lab.models.adapt` takes (see the module docstring).
    sources : mapping of label → path or bytes, optional
        Utterances for the dropdown (default: the test split, ``limit`` of them).
    method : {"optimize", "greedy"}
    sparsity_weight : float
        Passed to :func:`lab.interpret.importance_mask` (optimize), in the slider's range
        [0.1, 100].
    threshold : float
        Initial mute threshold on the per-frame mask mean, in [0, 1].
    run : bool
        Compute the first mask right away (synchronously).

    Errors of the search (of any type) and of loading audio appear in the status line; a
    new utterance clears the previous one's mask and animation.

    Attributes
    ----------
    widget : ipywidgets.VBox
        Parts carry CSS classes ``lab-mask-<part>`` (``source``, ``upload``, ``method``,
        ``sparsity``, ``run``, ``stop``, ``progress``, ``status``, ``threshold``, ``frames``,
        ``muted-wave``, ``audio-original``, ``audio-muted``, ``transcript``,
        ``muted-transcript``, ``domain``).
    views : list of lab.widgets.views.View
        The kept-frames strip and the muted waveform (the animation's rows have the same
        width and plot area).
    result : lab.interpret.MaskResult or None
    job : lab.widgets.jobs.PanelJob
        Owns the Run/Stop buttons, the progress bar and the search thread.
    """

    css = "lab-mask"

    def __init__(
        self,
        model=None,
        sources: Mapping[str, AudioSource] | None = None,
        *,
        split: str = "test",
        limit: int = 20,
        method: str = "optimize",
        sparsity_weight: float = 20.0,
        threshold: float = 0.05,
        seed: int = 0,
        run: bool = False,
    ) -> None:
        super().__init__()
        method = check_choice(method, "method", ("optimize", "greedy"))
        sparsity_weight = check_number(sparsity_weight, "sparsity_weight", 0.1, 100.0)
        threshold = check_number(threshold, "threshold", 0.0, 1.0)
        seed = check_int(seed, "seed")
        if model is None:
            from lab.models import load_pretrained

            model = load_pretrained("deepspeech")
        self.model = check_model(model)
        # models outside the zoo go through the adapter API; the zoo keeps its own path
        self.adapter = foreign_adapter(self.model)
        self.on_spectrogram = self.adapter is not None and self.adapter.input == "waveform"
        from lab.widgets.model_transcribers import model_kind

        self._kind = model_kind(self.model)
        if sources is None:
            sources = corpus_sources(split, limit=check_int(limit, "limit", 1))
        self._sources = check_sources(sources)
        self.seed = seed
        # a model outside the zoo hears its own rate (the zoo: 16 kHz)
        self.sr = self.adapter.sample_rate if self.adapter is not None else audio.SAMPLE_RATE
        self.result: interpret.MaskResult | None = None
        self.waveform = np.zeros(0, dtype=np.float32)
        self.features = np.zeros((1, 1), dtype=np.float32)
        self.muted = self.waveform

        tagged = self.tagged
        self._picker_widgets()
        self.method = tagged(W.ToggleButtons(options=["optimize", "greedy"], value=method),
                             "method")
        self.sparsity = tagged(W.FloatLogSlider(value=sparsity_weight, base=10, min=-1, max=2,
                                                description="sparsity"), "sparsity")
        self.job = PanelJob(tagged, on_error=self.show_error)
        self.run_button, self.stop_button = self.job.run_button, self.job.stop_button
        self.progress = self.job.progress
        self.status = tagged(W.HTML(), "status")
        self._use_error_display(self.status)
        self.transcript = tagged(W.HTML(), "transcript")
        self.domain = tagged(W.HTML(), "domain")
        if self.on_spectrogram:
            looks = dict(cmap="magma", normalize="none", row_titles=[
                "log-power ln(1 + |STFT|²); pale: entries the mask removes"],
                ylabels=["frequency bin (31.25 Hz)"], colorbars=["log-power value ln(1 + power)"])
        elif self.adapter is not None:
            looks = dict(cmap="coolwarm", normalize="zscore", row_titles=[
                "the model's own features; pale: entries the mask removes"],
                ylabels=["feature index"], colorbars=["feature value"])
        else:
            looks = dict(cmap="coolwarm", normalize="zscore", row_titles=ROW_TITLES,
                         ylabels=["MFCC coefficient index"], colorbars=["MFCC value"])
        self.player = AnimationPlayer([[self.features]], titles=["press Run"], width=WIDTH,
                                      row_height=150, duration=1.0, **looks)
        self.player.add_class("lab-mask-player")
        self.threshold = tagged(W.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01,
                                              description="threshold",
                                              continuous_update=False,
                                              layout=W.Layout(width="400px",
                                                              min_width="300px")),
                                "threshold")
        self.frames_view = View(title="mask mean per frame; kept: mean ≥ threshold",
                                ylabel="", colorbar="fraction kept", cmap="cividis",
                                width=WIDTH, height=120, css="lab-mask-frames")
        self.muted_view = View(title="waveform; pale: muted frames", ylabel="amplitude",
                               width=WIDTH, height=130, css="lab-mask-muted-wave")
        self.views = [self.frames_view, self.muted_view]
        # marks the kept-frames strip and the waveform (the animation's frames are pre-drawn)
        self.time_cursor = TimeCursor(lambda: self.views, width=WIDTH)
        self.cursor = tagged(self.time_cursor.slider, "cursor")
        self.frames_image = self.frames_view.image
        self.muted_wave = self.muted_view.image
        self.original_audio = tagged(W.Audio(format="wav", autoplay=False), "audio-original")
        self.muted_audio = tagged(W.Audio(format="wav", autoplay=False), "audio-muted")
        self.muted_transcript = tagged(W.HTML(), "muted-transcript")
        self._set_root(W.VBox([
            W.HBox([self.source, self.upload]),
            W.HBox([self.method, self.sparsity]),
            self.job.controls,
            self.status,
            self.transcript,
            self.domain,
            self.player,
            W.HTML("<b>Mute the frames whose mask mean is below the threshold</b>"),
            self.threshold,
            self.cursor,
            self.frames_view.widget,
            self.muted_view.widget,
            W.HBox([W.VBox([W.HTML("original"), self.original_audio]),
                    W.VBox([W.HTML("muted"), self.muted_audio])]),
            self.muted_transcript,
        ]))
        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        # the slider's images and audio change at once; the muted transcript follows in a thread
        self._transcript_lock = threading.Lock()
        self._transcript_wanted: np.ndarray | None = None
        self.threshold.observe(lambda _c: self.refresh(wait=False), names="value")
        self.run_button.on_click(lambda _b: self.run(wait=False))
        self.load(self._sources[self.source.value], self.source.value)
        if run:
            self.run()

    def __repr__(self) -> str:
        return f"MaskPanel({len(self._sources)} utterances, showing {self.source.value!r})"

    @property
    def duration(self) -> float:
        """Seconds of the current utterance (the time axis of every image)."""
        return max(len(self.waveform), 1) / self.sr

    def _decision(self, waveform: np.ndarray) -> str:
        if self._kind in ("ctc", "transducer"):
            return interpret.transcribe(self.model, waveform)
        from lab.widgets.model_transcribers import decision_text

        return decision_text(self.model, waveform)

    def _features(self, waveform: np.ndarray) -> np.ndarray:
        """What the mask covers: the log-power picture (waveform models) or the features."""
        if self.on_spectrogram:
            return audio.log_power_spectrogram(waveform)[0]
        from lab.models import as_features

        return as_features(self.model, waveform)

    def load(self, source: AudioSource, label: str | None = None) -> bool:
        """Load an utterance (clears the mask until Run; stops a running search first).

        On audio the model cannot use, the status says why (naming ``label``) and the
        previous utterance stays; returns whether it loaded.
        """
        if self.job.running:
            # The search belongs to the old utterance: end it before its features go away.
            self.job.stop()
            self.job.wait(timeout=30)
        from lab.widgets.model_transcribers import hint_for

        try:
            waveform = audio.load(source, sr=self.sr)
            features = self._features(waveform)
            text = self._decision(waveform)
            hint = hint_for(self.model, waveform) or ""
        except Exception as exc:  # any failure of the audio or the model is shown, not raised
            self.show_error(exc, f"Cannot use {label or 'this audio'}")
            return False
        self.clear_error()
        self.waveform = waveform
        self.features = features
        self.result = None
        # the previous utterance's mask animation must not stay on screen: its features, unmasked
        self.player.update([[features]], titles=["no mask yet: press Run"],
                           duration=self.duration)
        self.muted_view.show_waveform(waveform, self.sr)
        self.time_cursor.reset(self.duration)
        self.original_audio.value = wav_bytes(waveform, self.sr)
        self.transcript.value = f"{self._said}: <b>{html.escape(text) or '∅'}</b>"
        colour = "#b00020" if "low:" in hint else "#555"  # domain_hint flags low confidence
        self.domain.value = f"<small style='color:{colour}'>{html.escape(hint)}</small>"
        self.status.value = f"{self.features.shape[0]} frames × {self.features.shape[1]} " \
                            "features · press Run"
        self.refresh()
        return True

    @property
    def _said(self) -> str:
        return "transcript" if self._kind in ("ctc", "seq2seq", "transducer") else "decision"

    def run(self, wait: bool = True) -> interpret.MaskResult | None:
        """Search a mask with the chosen method; fills the animation and the muted audio.

        ``wait=False`` (the Run button) searches in a background thread and returns None;
        a Run while a search is still going is ignored (returns None).
        """
        if self.job.running:
            return None
        method, features = self.method.value, self.features
        self.clear_error()
        self.status.value = f"searching a mask ({method})…"
        return self.job.start(lambda: self._work(method, features), wait=wait)

    def stop(self) -> None:
        """Stop a running search; the valid mask it has so far is shown."""
        self.job.stop()

    def _work(self, method: str, features: np.ndarray) -> interpret.MaskResult | None:
        try:
            # the slider is an optimize setting: greedy refuses options it does not take
            options = {"sparsity_weight": self.sparsity.value} if method == "optimize" else {}
            # a model outside the zoo is masked from its waveform (its own choice of picture)
            given = self.waveform if self.adapter is not None else features
            result = interpret.importance_mask(
                self.model, given, method=method, **options, seed=self.seed, progress=False,
                should_stop=self.job.should_stop, on_progress=self.job.report,
            )
        except Exception:
            if features is not self.features:  # a failure for an utterance no longer shown
                return None
            raise  # PanelJob hands it to show_error: the status never stays "searching…"
        if features is self.features:  # not if another utterance was loaded meanwhile
            self.show(result)
        return result

    def show(self, result: interpret.MaskResult) -> None:
        """Display a mask search: its animation, summary and the muted audio."""
        self.result = result
        frames = [[self.features] for _ in result.trajectory]
        masks = [[m] for m in result.trajectory]
        self.player.update(frames, titles=result.trajectory_labels, masks=masks,
                           duration=self.duration)
        state = "stopped · " if result.interrupted else ""
        self.status.value = (
            f"{state}{result.method}: sparsity <b>{result.sparsity:.3f}</b> · {self._said} kept: "
            f"{result.preserved} · {result.forward_passes} forward passes · "
            f"{result.seconds:.2f} s"
        )
        self.refresh()

    def refresh(self, wait: bool = True) -> None:
        """Re-mute and re-transcribe for the current threshold.

        ``wait=False`` (the slider) transcribes the muted audio in a background thread, so the
        images and audio are not held up by the model; the latest request wins.
        """
        if self.result is None:
            mask = np.ones_like(self.features)
        else:
            mask = self.result.mask
        means = mask.mean(axis=1)
        kept = means >= self.threshold.value
        self.frames_view.show_image(np.stack([means, kept.astype(float)], axis=1),
                                    duration=self.duration, vmin=0.0, vmax=1.0,
                                    rows=["mask mean", "kept"])
        if self.on_spectrogram:
            from lab.models.adapters import masked_audio

            # what the model hears: the masked picture with the input phase, frames below
            # the threshold silent (a mask of ones gives back the input itself)
            self.muted = masked_audio(self.adapter, self.waveform, mask * kept[:, None])
        elif self.adapter is not None:
            hop = round(self.adapter.feature_seconds * self.sr)
            self.muted = interpret.mute_audio(self.waveform, _frames_for(mask, self.waveform,
                                                                         hop),
                                              self.threshold.value, hop_length=hop)
        else:
            self.muted = interpret.mute_audio(self.waveform, mask, self.threshold.value)
        self.muted_view.set_time_veil(kept)
        self.muted_audio.value = wav_bytes(self.muted, self.sr)
        self._transcript_wanted = self.muted
        if wait:
            self._transcribe_latest()
            return
        self.muted_transcript.value = f"muted {self._said}: <i>transcribing…</i>"
        threading.Thread(target=self._transcribe_latest, daemon=True).start()

    def _transcribe_latest(self) -> None:
        with self._transcript_lock:  # one transcription at a time
            muted, self._transcript_wanted = self._transcript_wanted, None
            if muted is None:  # a later thread already did the latest one
                return
            try:
                text = self._decision(muted)
                shown = f"muted {self._said}: <b>{html.escape(text) or '∅'}</b>"
            except Exception as exc:  # shown where the transcript goes, never raised
                shown = (f"muted {self._said}: <span style='color:#b00'>"
                         f"{html.escape(str(exc))}</span>")
            if muted is self.muted:  # still the audio on display
                self.muted_transcript.value = shown

    def set_threshold(self, threshold: float) -> None:
        """Move the slider (muted audio and its transcript follow)."""
        self.threshold.value = threshold

    def _on_source(self, change) -> None:
        if not self._quiet and change["new"] is not None and change["new"] in self._sources:
            self.load(self._sources[change["new"]], change["new"])


def _frames_for(mask: np.ndarray, waveform: np.ndarray, hop: int) -> np.ndarray:
    """``mask`` with one row per centred frame of ``hop`` samples (``mute_audio``'s rule).

    A feature model's own features may have a frame fewer or more than the centred count
    (Whisper keeps ``n // hop`` frames): the last row is repeated or dropped.
    """
    frames = 1 + len(waveform) // hop
    if len(mask) >= frames:
        return mask[:frames]
    return np.concatenate([mask, np.repeat(mask[-1:], frames - len(mask), axis=0)])
