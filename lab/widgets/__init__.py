"""Interactive panels. Panels only compose public API from ``lab.<capability>``."""
