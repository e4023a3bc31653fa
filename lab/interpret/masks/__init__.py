"""Importance masks: which input entries can be zeroed without changing the transcript.

A binary mask ``M`` (same shape as the features ``X``) is *valid* when the transcript of
``model(M * X)`` equals that of ``model(X)``. Both methods only ever return valid masks:

- ``"greedy"`` (the reference algorithm, :mod:`.greedy`): visit the entries in a seeded
  random order, zero one, restore it if the transcript changed. ``T * F`` sequential forward
  passes.
- ``"optimize"`` (:mod:`.optimize`): about ``T / 4`` steps of a sigmoid relaxation
  ``M = sigmoid(theta)`` trained with a hinge loss that keeps the original best path ahead by
  a margin plus a sparsity penalty (its weight adapts so the iterates stay near the
  boundary); one batched search picks the sparsest valid threshold of the learned order;
  while that mask keeps more than ``2 T`` entries, 3 more relaxed steps on the kept entries
  and a second threshold; then a budgeted polish (:mod:`.polish`) zeroes more of the kept
  entries coarse to fine (groups of 8, pairs, single entries, least important first as
  judged by one gradient of the path margins at the thresholded mask) with speculative
  batched greedy passes; a final single-input verification repairs the mask if needed.

Greedy's cost is ``T * F`` model calls of one input each; optimize's work grows with ``T`` too
(the relaxed steps, a polish budget of ``budget * T * F`` batched masks), so its speed-up over
greedy does not shrink with the utterance length.

Each method's options are a frozen settings object (:class:`GreedySettings`,
:class:`OptimizeSettings`) passed as ``settings=``; the keyword arguments of
:func:`importance_mask` fill them too. The modules: :mod:`.evaluator` (masked passes and
their transcripts), :mod:`.greedy`, :mod:`.optimize`, :mod:`.polish`, :mod:`.settings`,
:mod:`.search` (:func:`importance_mask`), :mod:`.result`.
"""

from lab.interpret.decoding import greedy_ctc_transcripts, transcribe
from lab.interpret.masks.result import MaskResult
from lab.interpret.masks.search import importance_mask
from lab.interpret.masks.settings import GreedySettings, OptimizeSettings
from lab.interpret.muting import mute_audio

__all__ = [
    "GreedySettings",
    "MaskResult",
    "OptimizeSettings",
    "greedy_ctc_transcripts",
    "importance_mask",
    "mute_audio",
    "transcribe",
]
