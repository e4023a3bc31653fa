"""Attribution with Captum on the lab's (T, F) feature grid, and word-aligned perturbation.

Modules: :mod:`.settings` (:class:`AttributionSettings`), :mod:`.alignment` (the model's own
path), :mod:`.grids` (the grid a model is attributed on, and what hears it),
:mod:`.targets` (what is explained: a class, the transcript, a :class:`Word`),
:mod:`.segments` (words or fixed blocks), :mod:`.methods` (:func:`attribute`),
:mod:`.perturbation` (silence / noise / mean-spectrum perturbation of words, listenable).
"""

from lab.interpret.attribution.alignment import Alignment, align
from lab.interpret.attribution.grids import GRIDS, Grid, WhisperHearing, attribution_grid
from lab.interpret.attribution.methods import Attribution, attribute, top_area_mask
from lab.interpret.attribution.perturbation import (
    PERTURBATIONS,
    WordImportance,
    masked_waveform,
    perturb,
    word_importance,
)
from lab.interpret.attribution.segments import Segment, fixed_segments, word_segments
from lab.interpret.attribution.settings import METHODS, AttributionSettings
from lab.interpret.attribution.targets import Target, Word, make_target

__all__ = [
    "GRIDS",
    "METHODS",
    "PERTURBATIONS",
    "Alignment",
    "Attribution",
    "AttributionSettings",
    "Grid",
    "Segment",
    "Target",
    "Word",
    "WhisperHearing",
    "WordImportance",
    "align",
    "attribute",
    "attribution_grid",
    "fixed_segments",
    "make_target",
    "masked_waveform",
    "perturb",
    "top_area_mask",
    "word_importance",
    "word_segments",
]
