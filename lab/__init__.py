"""lab: a Jupyter-first laboratory for looking inside speech models and training them.

Subpackages are imported on demand (``import lab.audio``) so that ``import lab`` stays cheap.
"""

__version__ = "0.1.0"

from lab.errors import LabError

__all__ = ["LabError", "__version__"]
