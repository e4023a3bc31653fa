"""Looking inside models: feature visualization, top examples, importance masks.

Everything here works for any ``torch.nn.Module`` that takes ``(batch, T, F)`` features.
Modules: :mod:`.attribution` (Captum attributions, word-aligned perturbation),
:mod:`.feature_viz` (learned inputs), :mod:`.ranking` (top dataset examples),
:mod:`.masks` (importance masks, one module per method), :mod:`.muting` (listen to a mask),
:mod:`.decoding` (the transcripts they compare).
"""

from lab.interpret.attribution import AttributionSettings, Word, attribute, word_importance
from lab.interpret.decoding import greedy_ctc_transcripts, transcribe
from lab.interpret.feature_viz import FeatureVizResult, total_variation, visualize_features
from lab.interpret.masks import GreedySettings, MaskResult, OptimizeSettings, importance_mask
from lab.interpret.muting import mute_audio
from lab.interpret.ranking import TopExample, top_examples

__all__ = [
    "AttributionSettings",
    "FeatureVizResult",
    "GreedySettings",
    "MaskResult",
    "OptimizeSettings",
    "TopExample",
    "Word",
    "attribute",
    "greedy_ctc_transcripts",
    "importance_mask",
    "mute_audio",
    "top_examples",
    "total_variation",
    "transcribe",
    "visualize_features",
    "word_importance",
]
