"""Interactive panels. Panels only compose public API from ``lab.<capability>``."""

from lab.widgets.dependency_panel import DependencyPanel
from lab.widgets.mfcc_panel import MFCCPanel, Transcription
from lab.widgets.piq_panel import PIQPanel

__all__ = ["DependencyPanel", "MFCCPanel", "PIQPanel", "Transcription"]
