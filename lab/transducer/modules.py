"""nn.Module wrappers of :func:`lab.transducer.rnnt_loss`."""

from __future__ import annotations

import torch
from torch import nn

from .functional import check_options, rnnt_loss


class RNNTLoss(nn.Module):
    """Module form of :func:`rnnt_loss` (torchaudio's ``RNNTLoss`` arguments).

    Examples
    --------
    >>> import torch
    >>> from lab.transducer import RNNTLoss
    >>> loss = RNNTLoss(blank=0)(torch.zeros(1, 2, 2, 3), torch.tensor([[1]]),
    ...                          torch.tensor([2]), torch.tensor([1]))
    >>> round(loss.item(), 4)
    2.6027
    """

    def __init__(
        self,
        blank: int = -1,
        clamp: float = -1.0,
        reduction: str = "mean",
        fused_log_softmax: bool = True,
        *,
        one_sym_per_frame: bool = False,
        fastemit_lambda: float = 0.0,
        zero_infinity: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        # Bad options fail here, naming the argument, not at the first batch.
        check_options(blank=blank, clamp=clamp, reduction=reduction, backend=backend,
                      fastemit_lambda=fastemit_lambda, fused_log_softmax=fused_log_softmax,
                      one_sym_per_frame=one_sym_per_frame, zero_infinity=zero_infinity)
        self.blank = blank
        self.clamp = clamp
        self.reduction = reduction
        self.fused_log_softmax = fused_log_softmax
        self.one_sym_per_frame = one_sym_per_frame
        self.fastemit_lambda = fastemit_lambda
        self.zero_infinity = zero_infinity
        self.backend = backend

    def forward(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        logit_lengths: torch.Tensor,
        target_lengths: torch.Tensor,
    ) -> torch.Tensor:
        return rnnt_loss(
            logits, targets, logit_lengths, target_lengths, self.blank, self.clamp,
            self.reduction, self.fused_log_softmax, one_sym_per_frame=self.one_sym_per_frame,
            fastemit_lambda=self.fastemit_lambda, zero_infinity=self.zero_infinity,
            backend=self.backend,
        )


class TransducerLoss(nn.Module):
    """SpeechBrain-shaped transducer loss: ``TransducerLoss(blank=0, reduction="mean")``.

    ``forward(logits, labels, T, U)`` takes raw logits (B, T, U+1, V), labels (B, U) and the
    absolute frame and label lengths, like SpeechBrain's module, but works on CPU and CUDA,
    returns the plain -log P(y|x) (not divided by T) and its exact gradient, and "mean"
    divides both by the batch size.

    Examples
    --------
    >>> import torch
    >>> from lab.transducer import TransducerLoss
    >>> loss = TransducerLoss(blank=0)(torch.zeros(1, 2, 2, 3), torch.tensor([[1]]),
    ...                                torch.tensor([2]), torch.tensor([1]))
    >>> round(loss.item(), 4)
    2.6027
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", backend: str = "auto") -> None:
        super().__init__()
        check_options(blank=blank, reduction=reduction, backend=backend)
        self.blank = blank
        self.reduction = reduction
        self.backend = backend

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, T: torch.Tensor, U: torch.Tensor
    ) -> torch.Tensor:
        return rnnt_loss(logits, labels, T, U, blank=self.blank, reduction=self.reduction,
                         backend=self.backend)
