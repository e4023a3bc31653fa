"""One evaluation for every interpretation method of a classifier (PIQ included).

Modules: :mod:`.metrics` (fidelity, faithfulness, AI/AD/AG of a mask; deletion and
insertion curves of a ranking), :mod:`.bootstrap` (paired intervals), :mod:`.compare` (the
loop: matched areas, time per clip), :mod:`.explainers` (Captum attributions, random),
:mod:`.table` (markdown), :mod:`.asr` (speech recognizers: transcript kept, CER under
masking), :mod:`.clip` (one clip's metrics, for panels). ``python -m
lab.interpret.evaluate`` runs it on the test split.
"""

from lab.interpret.evaluation.asr import compare_asr, transcript_metrics
from lab.interpret.evaluation.bootstrap import paired_bootstrap
from lab.interpret.evaluation.clip import clip_metrics
from lab.interpret.evaluation.compare import METRICS, Explanation, compare, summarize, top_k
from lab.interpret.evaluation.explainers import (
    attribution_explainer,
    energy_explainer,
    random_explainer,
)
from lab.interpret.evaluation.metrics import FRACTIONS, curves, mask_metrics, probabilities
from lab.interpret.evaluation.table import intervals_table, results_table

__all__ = [
    "FRACTIONS",
    "METRICS",
    "Explanation",
    "attribution_explainer",
    "clip_metrics",
    "compare",
    "compare_asr",
    "curves",
    "energy_explainer",
    "intervals_table",
    "mask_metrics",
    "paired_bootstrap",
    "probabilities",
    "random_explainer",
    "results_table",
    "summarize",
    "top_k",
    "transcript_metrics",
]
