"""PIQ's training losses: BCE to the oracle mask, VQ and commitment, and the lab's
classifier terms (masked-in fidelity, masked-out faithfulness)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

__all__ = ["classifier_terms", "decoder_losses", "training_mask"]


def decoder_losses(mask_logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                   hcat: torch.Tensor, z_q_x: torch.Tensor, beta: float) -> dict:
    """The PIQ loss: ``bce + vq + beta * commitment`` over the valid bins.

    ``target`` and ``valid`` have the shape of ``mask_logits`` (B, T, F); ``hcat`` is the
    adapted representation and ``z_q_x`` its quantization.
    """
    bce = F.binary_cross_entropy_with_logits(mask_logits[valid], target[valid])
    vq = F.mse_loss(z_q_x, hcat.detach())
    commitment = F.mse_loss(hcat, z_q_x.detach())
    total = bce + vq + beta * commitment
    return dict(total=total, bce=bce, vq=vq, commitment=commitment)


def training_mask(mask_logits: torch.Tensor, valid: torch.Tensor, *, threshold: float,
                  straight_through: bool) -> torch.Tensor:
    """The mask the classifier terms see: soft, or binary with straight-through gradients.

    Examples
    --------
    >>> logits = torch.tensor([[[0.0, 2.0]]])
    >>> training_mask(logits, torch.ones(1, 1, 1), threshold=0.9, straight_through=True).tolist()
    [[[0.0, 1.0]]]
    """
    soft = mask_logits.sigmoid() * valid
    if not straight_through:
        return soft
    # Same rule as threshold_mask: relative to each utterance's own maximum.
    peak = soft.detach().flatten(1).amax(1)[:, None, None]
    hard = (soft.detach() >= threshold * peak).to(soft.dtype) * valid
    return hard + soft - soft.detach()


def classifier_terms(logits_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     mask: torch.Tensor, labels: torch.Tensor, *, fidelity_weight: float,
                     faithfulness_weight: float) -> dict:
    """``fidelity`` (cross-entropy of the label on ``mask × x``) and ``faithfulness``
    (``-log(1 - p(label | (1 - mask) × x))``), those whose weight is positive.

    ``logits_of(z)`` is the frozen classifier on inputs stacked like ``torch.cat([x, x])``
    (the zoo's ``classify(embed(z))``; an adapted classifier hears each half with its clip's
    phase).
    """
    out: dict[str, torch.Tensor] = {}
    both = torch.cat([mask * x, (1 - mask) * x])  # one classifier call for both terms
    logits = logits_of(both)
    logits_in, logits_out = logits[: x.shape[0]], logits[x.shape[0]:]
    if fidelity_weight > 0:
        out["fidelity"] = F.cross_entropy(logits_in, labels)
    if faithfulness_weight > 0:
        p_out = logits_out.softmax(-1).gather(1, labels[:, None]).squeeze(1)
        out["faithfulness"] = -torch.log1p(-p_out.clamp(max=1 - 1e-6)).mean()
    return out
