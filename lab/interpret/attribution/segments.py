"""Segments of an utterance: its words from the model's own alignment, or fixed blocks.

Word boundaries sit at the space symbol of the model's path (:mod:`.alignment`): word ``j``
spans the feature frames after the previous space's frames up to the next space's first
frame, so the words and the spaces between them tile the utterance. A classifier (no
alignment) or an empty transcript falls back to fixed-size segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import integer
from lab.interpret.attribution.alignment import SPACE, Alignment, align, model_kind

__all__ = ["Segment", "fixed_segments", "segment_ids", "word_segments"]


@dataclass(frozen=True)
class Segment:
    """Feature frames ``[start, end)`` of one word (``label``) or block.

    ``word`` is the index of the transcript word the segment holds (None for a gap or a
    fixed block).
    """

    start: int
    end: int
    label: str
    word: int | None = None

    def __post_init__(self) -> None:
        integer("start", self.start, minimum=0)
        integer("end", self.end, minimum=self.start + 1)

    @property
    def frames(self) -> int:
        return self.end - self.start


def fixed_segments(n_frames: int, size: int) -> list[Segment]:
    """Consecutive blocks of ``size`` frames (the last one shorter) labelled by their start.

    Examples
    --------
    >>> [(s.start, s.end) for s in fixed_segments(7, 3)]
    [(0, 3), (3, 6), (6, 7)]
    """
    n_frames = integer("n_frames", n_frames, minimum=1)
    size = integer("size", size, minimum=1)
    return [Segment(a, min(a + size, n_frames), f"{a * 0.02:.2f} s")
            for a in range(0, n_frames, size)]


def _alignment_segments(al: Alignment) -> list[Segment]:
    from lab.data import CharTokenizer

    words = al.words()
    if not words:
        return []
    text = CharTokenizer().decode
    spaces = [i for i, s in enumerate(al.ids) if s == SPACE]
    out: list[Segment] = []
    start = 0
    for j, word in enumerate(words):
        following = [i for i in spaces if i > word[-1]]
        if j == len(words) - 1 or not following:
            end = al.n_frames
        else:
            end = max(min(al.frames[following[0]]) * al.stride, start + 1)
        end = min(max(end, start + 1), al.n_frames)
        if start >= al.n_frames:
            break
        out.append(Segment(start, end, text([al.ids[i] for i in word]), word=j))
        if following:
            start = max(end, (max(al.frames[following[0]]) + 1) * al.stride)
    return out


def word_segments(model: nn.Module, features, *, fallback_frames: int = 10) -> list[Segment]:
    """The words of the model's own transcript of ``features`` (T, F), as frame segments.

    DeepSpeech and CTC models: boundaries at the space symbol of the greedy path. The zoo
    Transducer: at the space of the Viterbi path of :func:`lab.transducer.rnnt_alignment`.
    A classifier, or a model that hears no word, gets :func:`fixed_segments` of
    ``fallback_frames``.

    Examples
    --------
    >>> from lab.models import KeywordClassifier
    >>> segs = word_segments(KeywordClassifier(n_classes=3).eval(), np.zeros((25, 257)))
    >>> [(s.start, s.end) for s in segs]
    [(0, 10), (10, 20), (20, 25)]
    """
    x = _as_input(features)
    fallback_frames = integer("fallback_frames", fallback_frames, minimum=1)
    if model_kind(model, x) != "classifier":
        segments = _alignment_segments(align(model, x))
        if segments:
            return segments
    return fixed_segments(x.shape[1], fallback_frames)


def _as_input(features) -> torch.Tensor:
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    if not torch.is_tensor(features):
        raise ArgumentTypeError(
            f"features must be a (T, F) array or tensor, got {type(features).__name__}")
    x = features.float()
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[0] != 1 or x.shape[1] == 0:
        raise ArgumentError(f"features must be one utterance (T, F), got {tuple(features.shape)}")
    return x


def segment_ids(segments: list[Segment], n_frames: int) -> tuple[np.ndarray, list[Segment]]:
    """Group id of every frame, and the groups: ``segments`` plus the gaps between them.

    Frames no segment covers become their own groups (label ``""``), so a perturbation of
    every group touches every frame once.

    Examples
    --------
    >>> ids, groups = segment_ids([Segment(2, 4, "a")], 6)
    >>> ids.tolist(), [(g.start, g.end, g.label) for g in groups]
    ([1, 1, 0, 0, 2, 2], [(2, 4, 'a'), (0, 2, ''), (4, 6, '')])
    """
    n_frames = integer("n_frames", n_frames, minimum=1)
    if not isinstance(segments, list | tuple) or not all(isinstance(s, Segment) for s in segments):
        raise ArgumentTypeError("segments must be a list of Segment")
    ids = np.full(n_frames, -1, dtype=np.int64)
    groups = []
    for s in segments:
        if s.end > n_frames:
            raise ArgumentError(f"segment {s} ends after the input's {n_frames} frames")
        if (ids[s.start:s.end] >= 0).any():
            raise ArgumentError(f"segment {s} overlaps another segment")
        ids[s.start:s.end] = len(groups)
        groups.append(s)
    t = 0
    while t < n_frames:
        if ids[t] < 0:
            end = t
            while end < n_frames and ids[end] < 0:
                end += 1
            ids[t:end] = len(groups)
            groups.append(Segment(t, end, ""))
            t = end
        else:
            t += 1
    return ids, groups
