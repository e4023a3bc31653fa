"""Transducer (RNN-T) loss: float64 reference, Numba CPU and Numba CUDA kernels, alignments.

See :mod:`lab.transducer.functional` for the exact definitions.
"""

from .examples import synthetic_logits
from .functional import RNNTAlignment, rnnt_alignment, rnnt_loss, rnnt_loss_packed
from .modules import RNNTLoss, TransducerLoss

__all__ = [
    "RNNTAlignment",
    "RNNTLoss",
    "TransducerLoss",
    "rnnt_alignment",
    "rnnt_loss",
    "rnnt_loss_packed",
    "synthetic_logits",
]
