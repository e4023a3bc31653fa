"""Per-utterance quantities of one mask or one ranking of a classifier's input bins.

``c`` is the classifier's top-1 class on the input ``x``; softmax is applied once.

- fidelity: the top-1 class on the masked-in input ``m × x`` is still ``c``;
- faithfulness: ``p(c|x) − p(c|(1 − m) × x)`` (higher: the mask removed the evidence);
- AI (average increase): ``p(c|m × x) > p(c|x)``;
- AD (average drop): ``max(0, p(c|x) − p(c|m × x)) / p(c|x)`` (lower is better);
- AG (average gain): ``max(0, p(c|m × x) − p(c|x)) / (1 − p(c|x))``;
- deletion / insertion curves: ``p(c)`` as the top-ranked fraction of the bins is zeroed
  (deletion, lower area under the curve is better) or is the only part kept (insertion,
  higher is better), at :data:`FRACTIONS`; AUC by the trapezoid rule over [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import finite
from lab.runtime import evaluating

__all__ = ["FRACTIONS", "curves", "mask_metrics", "probabilities"]

FRACTIONS = np.linspace(0.0, 1.0, 11)


def probabilities(classifier, x: torch.Tensor) -> torch.Tensor:
    """Softmax of the classifier's scores for a batch (B, T, F), without gradients."""
    with torch.no_grad(), evaluating(classifier):
        return classifier(x).softmax(-1)  # the only softmax


def _check_pair(x, mask) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ArgumentTypeError("x and mask must be torch tensors")
    if x.dim() != 3 or x.shape[0] != 1 or mask.shape != x.shape:
        raise ArgumentError(
            f"x must be (1, T, F) and mask the same shape, got {tuple(x.shape)}, "
            f"{tuple(mask.shape)}"
        )
    finite("x", x)
    finite("mask", mask)


def mask_metrics(classifier, x: torch.Tensor, mask: torch.Tensor) -> dict:
    """Per-utterance quantities for one (1, T, F) input and a same-shaped 0/1 mask.

    Examples
    --------
    >>> from lab.models.classifier import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> x = torch.rand(1, 30, 257)
    >>> m = mask_metrics(clf, x, torch.ones_like(x))
    >>> m["kept"], m["p_in"] == m["p_x"], m["area"]
    (True, True, 1.0)
    """
    _check_pair(x, mask)
    mask = mask.to(device=x.device, dtype=x.dtype)
    p = probabilities(classifier, torch.cat([x, mask * x, (1 - mask) * x]))
    c = int(p[0].argmax())
    p_x, p_in, p_out = (float(v) for v in p[:, c].cpu())
    return dict(
        label=c, p_x=p_x, p_in=p_in, p_out=p_out,
        kept=int(p[1].argmax()) == c,
        faithfulness=p_x - p_out,
        increase=p_in > p_x,
        drop=max(0.0, p_x - p_in) / max(p_x, 1e-12),
        gain=max(0.0, p_in - p_x) / max(1.0 - p_x, 1e-12),
        area=float(mask.mean()),
    )


def curves(classifier, x: torch.Tensor, score: torch.Tensor,
           fractions: np.ndarray = FRACTIONS) -> dict:
    """Deletion and insertion curves of the ranking ``score`` (1, T, F) for the top-1 class.

    Examples
    --------
    >>> from lab.models.classifier import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> x = torch.rand(1, 20, 257)
    >>> c = curves(clf, x, torch.rand_like(x))
    >>> len(c["deletion"]), c["deletion"][0] == c["insertion"][-1]
    (11, True)
    """
    _check_pair(x, score)
    order = score.flatten().argsort(descending=True, stable=True)
    n = x.numel()
    masks = []
    for f in fractions:
        m = torch.zeros(n, device=x.device)
        m[order[: int(round(float(f) * n))]] = 1.0
        masks.append(m.view_as(x))
    kept = torch.cat(masks)
    p = probabilities(classifier, torch.cat([x, (1 - kept) * x, kept * x]))
    c = int(p[0].argmax())
    k = len(fractions)
    deletion = p[1:1 + k, c].cpu().numpy().astype(float)
    insertion = p[1 + k:, c].cpu().numpy().astype(float)
    return dict(label=c, deletion=deletion.tolist(), insertion=insertion.tolist(),
                deletion_auc=float(np.trapezoid(deletion, fractions)),
                insertion_auc=float(np.trapezoid(insertion, fractions)))
