"""Interactive panels. Panels only compose public API from ``lab.<capability>``."""

from lab.widgets.alignment_panel import AlignmentPanel
from lab.widgets.animation import AnimationPlayer
from lab.widgets.dependency_panel import DependencyPanel
from lab.widgets.feature_viz_panel import FeatureVizPanel
from lab.widgets.mask_panel import MaskPanel
from lab.widgets.mfcc_panel import MFCCPanel, Transcription
from lab.widgets.piq_panel import PIQPanel

__all__ = [
    "AlignmentPanel",
    "AnimationPlayer",
    "DependencyPanel",
    "FeatureVizPanel",
    "MaskPanel",
    "MFCCPanel",
    "PIQPanel",
    "Transcription",
]
