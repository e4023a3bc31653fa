"""MaskPanel: which MFCC entries does the transcript need? Watch the mask form, hear the rest.

Composes :func:`lab.interpret.importance_mask`, :func:`lab.interpret.mute_audio` and
:func:`lab.interpret.transcribe`; the threshold slider only re-mutes and re-transcribes. The
search runs in a :class:`lab.widgets.jobs.PanelJob` thread: a progress bar follows it and Stop
ends it with a valid (less sparse) mask, which is shown like a finished one.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import ipywidgets as W
import numpy as np

from lab import audio, interpret
from lab.errors import ArgumentError
from lab.widgets.animation import AnimationPlayer
from lab.widgets.jobs import PanelJob
from lab.widgets.render import array_to_png, wav_bytes, waveform_to_png
from lab.widgets.sources import UtterancePicker, corpus_sources

__all__ = ["MaskPanel"]

AudioSource = str | os.PathLike | bytes
ROW_TITLES = ["binary importance mask (black = 0, white = 1)", "mask x MFCC", "MFCC"]


class MaskPanel(UtterancePicker):
    """Pick or upload an utterance, Run a mask search, mute what the mask calls unimportant.

    Parameters
    ----------
    model : torch.nn.Module, optional
        Default ``lab.models.load_pretrained("deepspeech")``.
    sources : mapping of label → path or bytes, optional
        Utterances for the dropdown (default: the test split, ``limit`` of them).
    method : {"optimize", "greedy"}
    sparsity_weight : float
        Passed to :func:`lab.interpret.importance_mask` (optimize); its default is the
        library's.
    threshold : float
        Initial mute threshold on the per-frame mask mean.
    run : bool
        Compute the first mask right away (synchronously).

    Attributes
    ----------
    widget : ipywidgets.VBox
        Parts carry CSS classes ``lab-mask-<part>`` (``source``, ``upload``, ``method``,
        ``sparsity``, ``run``, ``stop``, ``progress``, ``status``, ``threshold``, ``frames``,
        ``audio-original``, ``audio-muted``, ``transcript``, ``muted-transcript``).
    result : lab.interpret.MaskResult or None
    job : lab.widgets.jobs.PanelJob
        Owns the Run/Stop buttons, the progress bar and the search thread.
    """

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
        if model is None:
            from lab.models import load_pretrained

            model = load_pretrained("deepspeech")
        self.model = model
        if sources is None:

            sources = corpus_sources(split, limit=limit)
        self._sources = dict(sources)
        if not self._sources:
            raise ArgumentError("sources is empty; give at least one label → path/bytes")
        self.seed = seed
        self.sr = audio.SAMPLE_RATE
        self.result: interpret.MaskResult | None = None
        self.waveform = np.zeros(0, dtype=np.float32)
        self.features = np.zeros((1, 1), dtype=np.float32)
        self.muted = self.waveform

        def tagged(widget, part):
            widget.add_class(f"lab-mask-{part}")
            return widget

        self.source = tagged(W.Dropdown(options=list(self._sources), description="utterance",
                                        layout=W.Layout(width="420px")), "source")
        self.upload = tagged(W.FileUpload(accept=".wav,.flac,.ogg,audio/*", multiple=False,
                                          description="Upload"), "upload")
        self.method = tagged(W.ToggleButtons(options=["optimize", "greedy"], value=method),
                             "method")
        self.sparsity = tagged(W.FloatLogSlider(value=sparsity_weight, base=10, min=-1, max=2,
                                                description="sparsity"), "sparsity")
        self.job = PanelJob(tagged)
        self.run_button, self.stop_button = self.job.run_button, self.job.stop_button
        self.progress = self.job.progress
        self.status = tagged(W.HTML(), "status")
        self.transcript = tagged(W.HTML(), "transcript")
        self.player = AnimationPlayer([[np.ones((2, 2))] * 3], cmap=["gray", "coolwarm",
                                                                    "coolwarm"],
                                      row_titles=ROW_TITLES, titles=["press Run"],
                                      width=520, row_height=90)
        self.threshold = tagged(W.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01,
                                              description="threshold",
                                              continuous_update=False), "threshold")
        self.frames_image = tagged(W.Image(format="png"), "frames")
        self.muted_wave = tagged(W.Image(format="png"), "muted-wave")
        self.original_audio = tagged(W.Audio(format="wav", autoplay=False), "audio-original")
        self.muted_audio = tagged(W.Audio(format="wav", autoplay=False), "audio-muted")
        self.muted_transcript = tagged(W.HTML(), "muted-transcript")
        self.widget = tagged(W.VBox([
            W.HBox([self.source, self.upload]),
            W.HBox([self.method, self.sparsity]),
            self.job.controls,
            self.status,
            self.transcript,
            self.player,
            W.HTML("<b>Mute the frames whose mask mean is below the threshold</b> "
                   "(top strip: mask mean per frame; bottom: kept frames)"),
            self.threshold,
            self.frames_image,
            self.muted_wave,
            W.HBox([W.VBox([W.HTML("original"), self.original_audio]),
                    W.VBox([W.HTML("muted"), self.muted_audio])]),
            self.muted_transcript,
        ]), "panel")
        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.threshold.observe(lambda _c: self.refresh(), names="value")
        self.run_button.on_click(lambda _b: self.run(wait=False))
        self.load(self._sources[self.source.value])
        if run:
            self.run()

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"MaskPanel({len(self._sources)} utterances, showing {self.source.value!r})"

    def load(self, source: AudioSource, label: str | None = None) -> bool:
        """Load an utterance (clears the mask until Run; stops a running search first)."""
        if self.job.running:
            # The search belongs to the old utterance: end it before its features go away.
            self.job.stop()
            self.job.wait(timeout=30)
        try:
            waveform = audio.load(source, sr=self.sr)
        except (audio.AudioError, ValueError) as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return False
        from lab.models import as_features

        self.waveform = waveform
        self.features = as_features(self.model, waveform)
        self.result = None
        self.original_audio.value = wav_bytes(waveform, self.sr)
        text = interpret.transcribe(self.model, waveform)
        self.transcript.value = f"transcript: <b>{html.escape(text) or '∅'}</b>"
        self.status.value = f"{self.features.shape[0]} frames × {self.features.shape[1]} " \
                            "features · press Run"
        self.refresh()
        return True

    def run(self, wait: bool = True) -> interpret.MaskResult | None:
        """Search a mask with the chosen method; fills the animation and the muted audio.

        ``wait=False`` (the Run button) searches in a background thread and returns None;
        a Run while a search is still going is ignored (returns None).
        """
        if self.job.running:
            return None
        method, features = self.method.value, self.features
        self.status.value = f"searching a mask ({method})…"
        return self.job.start(lambda: self._work(method, features), wait=wait)

    def stop(self) -> None:
        """Stop a running search; the valid mask it has so far is shown."""
        self.job.stop()

    def _work(self, method: str, features: np.ndarray) -> interpret.MaskResult | None:
        try:
            result = interpret.importance_mask(
                self.model, features, method=method,
                sparsity_weight=self.sparsity.value, seed=self.seed, progress=False,
                should_stop=self.job.should_stop, on_progress=self.job.report,
            )
        except ValueError as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return None
        if features is self.features:  # not if another utterance was loaded meanwhile
            self.show(result)
        return result

    def show(self, result: interpret.MaskResult) -> None:
        """Display a mask search: its animation, summary and the muted audio."""
        self.result = result
        frames = [[m, m * self.features, self.features] for m in result.trajectory]
        self.player.update(frames, titles=result.trajectory_labels)
        state = "stopped · " if result.interrupted else ""
        self.status.value = (
            f"{state}{result.method}: sparsity <b>{result.sparsity:.3f}</b> · transcript kept: "
            f"{result.preserved} · {result.forward_passes} forward passes · "
            f"{result.seconds:.2f} s"
        )
        self.refresh()

    def refresh(self) -> None:
        """Re-mute and re-transcribe for the current threshold."""
        if self.result is None:
            mask = np.ones_like(self.features)
        else:
            mask = self.result.mask
        means = mask.mean(axis=1)
        kept = (means >= self.threshold.value).astype(float)
        self.frames_image.value = array_to_png(np.stack([kept, means]), cmap="gray", vmin=0.0,
                                               vmax=1.0, width=520, height=24)
        self.muted = interpret.mute_audio(self.waveform, mask, self.threshold.value)
        self.muted_wave.value = waveform_to_png(self.muted, width=520, height=60)
        self.muted_audio.value = wav_bytes(self.muted, self.sr)
        text = interpret.transcribe(self.model, self.muted)
        self.muted_transcript.value = f"muted transcript: <b>{html.escape(text) or '∅'}</b>"

    def set_threshold(self, threshold: float) -> None:
        """Move the slider (muted audio and its transcript follow)."""
        self.threshold.value = threshold

    def _on_source(self, change) -> None:
        if not self._quiet and change["new"] is not None and change["new"] in self._sources:
            self.load(self._sources[change["new"]])
