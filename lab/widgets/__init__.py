"""Interactive panels. Panels only compose public API from ``lab.<capability>``."""

from lab.widgets.mfcc_panel import MFCCPanel, Transcription

__all__ = ["MFCCPanel", "Transcription"]
