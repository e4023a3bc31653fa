"""Interactive panels. Panels only compose public API from ``lab.<capability>``.

Every panel derives from :class:`lab.widgets.base.Panel` (root widget in ``.widget``, CSS
classes ``lab-<panel>-<part>``, errors shown in the panel); panels with a long computation run
it through :class:`lab.widgets.jobs.PanelJob` (background thread, progress, Stop).
"""

from lab.widgets.alignment_panel import AlignmentPanel
from lab.widgets.animation import AnimationPlayer
from lab.widgets.attribution_panel import AttributionPanel
from lab.widgets.base import Panel
from lab.widgets.dependency_panel import DependencyPanel
from lab.widgets.feature_viz_panel import FeatureVizPanel
from lab.widgets.mask_panel import MaskPanel
from lab.widgets.mfcc_panel import MFCCPanel, Transcription
from lab.widgets.piq_panel import PIQPanel
from lab.widgets.scan_panel import ScanPanel

__all__ = [
    "AlignmentPanel",
    "AnimationPlayer",
    "AttributionPanel",
    "DependencyPanel",
    "FeatureVizPanel",
    "MaskPanel",
    "MFCCPanel",
    "PIQPanel",
    "Panel",
    "ScanPanel",
    "Transcription",
]
