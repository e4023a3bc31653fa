"""Looking inside models: feature visualization, top examples, importance masks.

Everything here works for any ``torch.nn.Module`` that takes ``(batch, T, F)`` features.
"""

from lab.interpret.feature_viz import (
    FeatureVizResult,
    TopExample,
    top_examples,
    total_variation,
    visualize_features,
)
from lab.interpret.masks import (
    MaskResult,
    greedy_ctc_transcripts,
    importance_mask,
    mute_audio,
    transcribe,
)

__all__ = [
    "FeatureVizResult",
    "MaskResult",
    "TopExample",
    "greedy_ctc_transcripts",
    "importance_mask",
    "mute_audio",
    "top_examples",
    "total_variation",
    "transcribe",
    "visualize_features",
]
