"""Word-aligned perturbation: replace one word of the audio and measure what the model loses.

Shen et al. (Interspeech 2025) find word-aligned perturbation the reliable attribution for
speech; the words come from the model's own alignment (:mod:`.segments`). Each perturbation
acts on the waveform, so every perturbed input is something to listen to, and the model sees
it through its own front end:

- ``"silence"``: the word's samples become zeros;
- ``"noise"``: white noise at the word's own RMS level (the energy stays, the content goes);
- ``"mean_spectrum"``: the word's frames get the clip's mean log-power spectrum, resynthesised
  with the original phase (:func:`lab.audio.waveform_from_log_power`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import float_waveform, integer
from lab.interpret.attribution.alignment import model_kind
from lab.interpret.attribution.segments import Segment, word_segments
from lab.interpret.attribution.targets import Word, make_target
from lab.runtime import evaluating, model_device

__all__ = ["PERTURBATIONS", "WordImportance", "masked_waveform", "perturb", "word_importance"]

PERTURBATIONS = ("silence", "noise", "mean_spectrum")
HOP = 320


def _span(segment: Segment, n: int, hop: int) -> slice:
    # frame t is centred on sample t * hop and owns the samples nearest to it (as mute_audio)
    return slice(max(0, segment.start * hop - hop // 2), min(n, segment.end * hop - hop // 2))


def perturb(waveform, segments: Segment | list[Segment], *, kind: str = "silence",
            seed: int = 0, hop_length: int = HOP) -> np.ndarray:
    """A copy of ``waveform`` with the samples of ``segments`` replaced by ``kind``.

    Examples
    --------
    >>> y = np.ones(1600, dtype=np.float32)
    >>> out = perturb(y, Segment(1, 3, "w"), kind="silence")
    >>> int((out == 0).sum()), float(out[:160].min())
    (640, 1.0)
    """
    y = float_waveform("waveform", waveform).copy()
    if not isinstance(kind, str) or kind not in PERTURBATIONS:
        raise ArgumentError(f"kind must be one of {list(PERTURBATIONS)}, got {kind!r}")
    hop_length = integer("hop_length", hop_length, minimum=1)
    segments = [segments] if isinstance(segments, Segment) else list(segments)
    if not all(isinstance(s, Segment) for s in segments):
        raise ArgumentTypeError("segments must be a Segment or a list of Segment")
    rng = np.random.default_rng(integer("seed", seed, minimum=0))
    if kind == "mean_spectrum":
        from lab.audio import log_power_spectrogram, waveform_from_log_power

        log_power, phase = log_power_spectrogram(y, hop_length=hop_length)
        edited = log_power.copy()
        for s in segments:
            edited[s.start:s.end] = log_power.mean(axis=0)
        resynth = waveform_from_log_power(edited, phase, hop_length=hop_length, length=y.size)
    for s in segments:
        span = _span(s, y.size, hop_length)
        if kind == "silence":
            y[span] = 0.0
        elif kind == "noise":
            rms = float(np.sqrt(np.mean(y[span] ** 2))) if y[span].size else 0.0
            y[span] = rng.normal(0.0, rms, y[span].size).astype(np.float32)
        else:
            y[span] = resynth[span]
    return y


def masked_waveform(waveform, mask: np.ndarray, *, feature_kind: str = "log_power",
                    hop_length: int = HOP) -> np.ndarray:
    """Listen to a (T, F) mask: what the kept bins sound like.

    On the log-power grid (``feature_kind="log_power"``) the masked spectrogram is
    resynthesised with the original phase; bins the mask drops fall silent. On other grids
    (MFCC bins are not frequencies) the frames that keep fewer bins than the mask's mean are
    muted (:func:`lab.interpret.mute_audio`).

    Examples
    --------
    >>> y = np.sin(np.arange(3200) * 0.2).astype(np.float32)
    >>> out = masked_waveform(y, np.zeros((11, 257)))
    >>> out.shape, float(np.abs(out).max())
    ((3200,), 0.0)
    """
    from lab.audio import log_power_spectrogram, waveform_from_log_power
    from lab.interpret.muting import mute_audio

    y = float_waveform("waveform", waveform)
    m = np.asarray(mask, dtype=np.float64)
    if feature_kind != "log_power":
        return mute_audio(y, m, float(m.mean()), hop_length=hop_length)
    log_power, phase = log_power_spectrogram(y, hop_length=hop_length)
    if m.shape != log_power.shape:
        raise ArgumentError(f"mask must have the spectrogram's shape {log_power.shape}, got "
                            f"{m.shape}")
    return waveform_from_log_power((log_power * m).astype(np.float32), phase,
                                   hop_length=hop_length, length=y.size)


@dataclass
class WordImportance:
    """What perturbing each segment does to the model.

    Attributes
    ----------
    segments : list of Segment
        The perturbed words (or blocks).
    perturbation : str
        ``"silence"``, ``"noise"`` or ``"mean_spectrum"``.
    target : str
        The explained score (a class logit or the transcript's log-probability).
    score : float
        That score on the original audio.
    drops : ndarray (S,)
        Score lost when each segment is perturbed (higher: the segment mattered more).
    word_drops : ndarray (S, W) or None
        ASR models: the loss of each output word's log-probability (rows: perturbed
        segments, columns: the transcript's words).
    answers : list of str
        The model's answer (keyword or transcript) on each perturbed input.
    answer : str
        Its answer on the original audio.
    waveforms : list of ndarray
        The perturbed audio, one per segment, to listen to.
    """

    segments: list
    perturbation: str
    target: str
    score: float
    drops: np.ndarray
    word_drops: np.ndarray | None
    answers: list
    answer: str
    waveforms: list = field(repr=False, default_factory=list)

    def table(self) -> str:
        """One line per segment: label, frames, score drop, the model's answer."""
        lines = [f"{'segment':<12} {'frames':>9} {'drop':>8}  answer"]
        for s, d, a in zip(self.segments, self.drops, self.answers):
            lines.append(f"{s.label or '·':<12} {s.start:>4}-{s.end:<4} {d:8.2f}  {a}")
        return "\n".join(lines)


def _answers(model: nn.Module, kind: str, batch: torch.Tensor) -> list[str]:
    from lab.data import KEYWORDS
    from lab.models import transcribe_batch

    if kind != "classifier":
        return transcribe_batch(model, batch)
    with torch.no_grad():
        logits = model(batch)
    labels = logits.argmax(-1).tolist()
    named = logits.shape[1] == len(KEYWORDS)
    return [KEYWORDS[c] if named else str(c) for c in labels]


def word_importance(
    model: nn.Module,
    audio,
    *,
    perturbation: str = "silence",
    segments: list[Segment] | None = None,
    target=None,
    seed: int = 0,
    sr: int = 16000,
) -> WordImportance:
    """Perturb each word of an utterance in turn and measure the model's loss.

    Parameters
    ----------
    model : nn.Module
        A classifier, a CTC model or the zoo Transducer (see :func:`lab.interpret.attribute`).
    audio : path or waveform (n,)
        Real audio: the perturbation acts on samples, so the result can be listened to.
    perturbation : {"silence", "noise", "mean_spectrum"}
    segments : list of Segment, optional
        Default: the model's own words (:func:`~.segments.word_segments`; fixed 10-frame
        blocks for a classifier).
    target : None, int, str or Word
        The score whose drop is measured (see :func:`~.targets.make_target`).

    Examples
    --------
    >>> from lab.models import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> y = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    >>> wi = word_importance(clf, y, perturbation="noise")
    >>> len(wi.segments), wi.drops.shape, len(wi.waveforms[0])
    (3, (3,), 8000)
    """
    import lab.audio
    from lab.models import as_features

    if isinstance(audio, str) or hasattr(audio, "__fspath__"):
        audio = lab.audio.load(audio, sr=16000)
        sr = 16000
    if isinstance(sr, bool) or sr != 16000:
        raise ArgumentError(f"sr must be 16000 (resample with lab.audio.load), got {sr!r}")
    if getattr(audio, "ndim", 1) != 1:
        raise ArgumentError("audio must be a path or a waveform (n,): word-aligned "
                            f"perturbation edits samples, got shape {tuple(audio.shape)}")
    y = float_waveform("audio", audio)
    if not isinstance(perturbation, str) or perturbation not in PERTURBATIONS:
        raise ArgumentError(
            f"perturbation must be one of {list(PERTURBATIONS)}, got {perturbation!r}")
    features = as_features(model, y)
    device = model_device(model)
    x = torch.from_numpy(features)[None].to(device)
    with evaluating(model):
        kind = model_kind(model, x)
        if segments is None:
            segments = word_segments(model, features)
        segments = list(segments)
        if not segments:
            raise ArgumentError("segments must name at least one segment")
        goal = make_target(model, x, target)
        waves = [perturb(y, s, kind=perturbation, seed=seed + i)
                 for i, s in enumerate(segments)]
        batch = torch.from_numpy(np.stack([as_features(model, w) for w in waves])).to(device)
        with torch.no_grad():
            base = float(goal.forward(x)[0])
            drops = base - goal.forward(batch).cpu().numpy()
            word_drops = None
            if kind != "classifier":
                n_words = len([s for s in word_segments(model, features) if s.word is not None])
                columns = []
                for j in range(n_words):
                    word = make_target(model, x, Word(j)).forward
                    columns.append(float(word(x)[0]) - word(batch).cpu().numpy())
                word_drops = np.stack(columns, 1) if columns else np.zeros((len(segments), 0))
        answers = _answers(model, kind, batch)
        answer = _answers(model, kind, x)[0]
    return WordImportance(segments, perturbation, goal.description, base,
                          drops.astype(np.float64), word_drops, answers, answer, waves)
