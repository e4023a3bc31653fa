"""The metrics of one clip and one attribution, whatever the model: what panels show."""

from __future__ import annotations

import numpy as np
import torch

from lab.interpret._checks import real
from lab.interpret.attribution.alignment import model_kind
from lab.interpret.evaluation.asr import transcript_metrics
from lab.interpret.evaluation.compare import top_k
from lab.interpret.evaluation.metrics import curves, mask_metrics
from lab.runtime import model_device

__all__ = ["clip_metrics"]


def clip_metrics(model, features, scores, area: float) -> dict:
    """Metrics of the top ``area`` of ``scores`` on one clip's ``features`` (T, F).

    A classifier gets :func:`.metrics.mask_metrics` and the deletion / insertion AUCs; a
    speech recognizer :func:`.asr.transcript_metrics`.

    Examples
    --------
    >>> from lab.models import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> x = np.random.default_rng(0).random((16, 257), dtype=np.float32)
    >>> m = clip_metrics(clf, x, x, 0.25)
    >>> sorted(k for k in m if k.endswith("auc")), round(m["area"], 2)
    (['deletion_auc', 'insertion_auc'], 0.25)
    """
    area = real("area", area, minimum=0.0, maximum=1.0)
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))[None].to(model_device(model))
    s = torch.as_tensor(np.asarray(scores, dtype=np.float32)).reshape(x.shape)
    mask = top_k(s, int(round(area * x.numel())))
    if model_kind(model, x) == "classifier":
        out = mask_metrics(model, x, mask)
        c = curves(model, x, s)
        out.update(deletion_auc=c["deletion_auc"], insertion_auc=c["insertion_auc"])
        return out
    return transcript_metrics(model, x, mask)
