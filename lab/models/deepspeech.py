"""A scaled-down DeepSpeech: MFCC frames → 3 clipped-ReLU layers → LSTM → 2 layers → CTC.

The submodule names follow Mozilla DeepSpeech (``layer_1`` … ``layer_6``, ``rnn_output``) so
that feature visualization can address layers by the names used in the literature.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError
from lab.models._checks import check_features, check_lengths
from lab.models.ctc import ctc_greedy_decode
from lab.models.normalize import FeatureNormalizer

__all__ = ["ClippedReLU", "DeepSpeech", "context_window"]


class ClippedReLU(nn.Module):
    """``min(max(x, 0), ceiling)``: DeepSpeech's activation, which keeps the LSTM inputs bounded."""

    def __init__(self, ceiling: float = 20.0):
        super().__init__()
        if isinstance(ceiling, bool) or not isinstance(ceiling, int | float) or not (
            math.isfinite(ceiling) and ceiling > 0
        ):
            # a NaN ceiling would turn every activation into NaN
            raise ArgumentError(f"ceiling must be a finite number > 0, got {ceiling!r}")
        self.ceiling = float(ceiling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0.0, max=self.ceiling)

    def extra_repr(self) -> str:
        return f"ceiling={self.ceiling}"


def context_window(features: torch.Tensor, n_context: int) -> torch.Tensor:
    """Stack each frame with its ``n_context`` neighbours on both sides (zeros past the edges).

    Parameters
    ----------
    features : Tensor, shape (B, T, F)
    n_context : int
        Frames of context on each side.

    Returns
    -------
    Tensor, shape (B, T, (2 * n_context + 1) * F)
        Frame ``t`` holds frames ``t - n_context … t + n_context`` in time order.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(3.0).reshape(1, 3, 1)
    >>> context_window(x, 1)[0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 2.0, 0.0]]
    """
    if isinstance(n_context, bool) or not isinstance(n_context, int) or n_context < 0:
        raise ArgumentError(f"n_context must be an int >= 0, got {n_context!r}")
    if not isinstance(features, torch.Tensor) or features.ndim != 3:
        raise ArgumentError(
            "features must be a (B, T, F) tensor, got "
            f"{tuple(features.shape) if torch.is_tensor(features) else type(features).__name__}"
        )
    if n_context == 0:
        return features
    padded = nn.functional.pad(features, (0, 0, n_context, n_context))
    width = 2 * n_context + 1
    windows = padded.unfold(1, width, 1)  # (B, T, F, width)
    return windows.transpose(2, 3).reshape(features.shape[0], features.shape[1], -1)


class DeepSpeech(nn.Module):
    """DeepSpeech-style CTC acoustic model.

    Parameters
    ----------
    n_features : int
        Features per frame (26 MFCCs by default).
    n_context : int
        Context frames on each side of a frame (0 disables the context window).
    n_hidden : int
        Width of the fully connected and LSTM layers.
    n_classes : int
        Output symbols including the CTC blank (index 0).
    dropout : float
        Dropout after the clipped-ReLU layers during training.
    relu_clip : float
        Ceiling of the clipped ReLU.

    Examples
    --------
    >>> import torch
    >>> model = DeepSpeech(n_hidden=32).eval()
    >>> model(torch.zeros(2, 50, 26)).shape
    torch.Size([2, 50, 29])
    >>> [name for name, _ in model.named_children() if name.startswith(("layer", "rnn"))]
    ['layer_1', 'layer_2', 'layer_3', 'rnn_output', 'layer_5', 'layer_6']
    """

    feature_kind = "mfcc"

    def __init__(
        self,
        n_features: int = 26,
        n_context: int = 4,
        n_hidden: int = 256,
        n_classes: int = 29,
        dropout: float = 0.05,
        relu_clip: float = 20.0,
    ):
        super().__init__()
        self.config = dict(n_features=n_features, n_context=n_context, n_hidden=n_hidden,
                           n_classes=n_classes, dropout=dropout, relu_clip=relu_clip)
        self.n_context = n_context
        self.normalize = FeatureNormalizer(n_features)
        n_input = (2 * n_context + 1) * n_features
        self.layer_1 = nn.Sequential(nn.Linear(n_input, n_hidden), ClippedReLU(relu_clip))
        self.layer_2 = nn.Sequential(nn.Linear(n_hidden, n_hidden), ClippedReLU(relu_clip))
        self.layer_3 = nn.Sequential(nn.Linear(n_hidden, n_hidden), ClippedReLU(relu_clip))
        self.rnn_output = nn.LSTM(n_hidden, n_hidden, batch_first=True)
        self.layer_5 = nn.Sequential(nn.Linear(n_hidden, n_hidden), ClippedReLU(relu_clip))
        self.layer_6 = nn.Linear(n_hidden, n_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map features (B, T, n_features) to logits (B, T, n_classes).

        The LSTM runs left to right, so padding after an utterance never changes its outputs.
        """
        features = check_features(features, self.config["n_features"])
        x = context_window(self.normalize(features), self.n_context)
        x = self.dropout(self.layer_1(x))
        x = self.dropout(self.layer_2(x))
        x = self.dropout(self.layer_3(x))
        x, _ = self.rnn_output(x)
        x = self.dropout(self.layer_5(x))
        return self.layer_6(x)

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """Per-frame log posteriors (B, T, n_classes)."""
        return self.forward(features).log_softmax(dim=-1)

    @torch.no_grad()
    def decode_ids(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> list:
        """Greedy CTC decoding to symbol indices, one list per utterance.

        ``lengths`` (B,) are the valid frames of each utterance, integers in [1, T].
        """
        features = check_features(features, self.config["n_features"])
        if lengths is not None:
            lengths = check_lengths(lengths, features.shape[0], features.shape[1])
        return ctc_greedy_decode(self.forward(features), lengths, blank=0)

    @torch.no_grad()
    def posteriors(self, features: np.ndarray | torch.Tensor) -> np.ndarray:
        """Per-frame output probabilities (T, n_classes) for one utterance's features (T, F)."""
        if torch.is_tensor(features):
            features = features.detach().cpu().numpy()
        if not isinstance(features, np.ndarray) or features.ndim != 2:
            raise ArgumentError(
                f"features must be one utterance's (T, {self.config['n_features']}) array, got "
                f"{getattr(features, 'shape', type(features).__name__)}"
            )
        x = torch.as_tensor(np.asarray(features, dtype=np.float32)).unsqueeze(0)
        return self.forward(x).softmax(dim=-1)[0].numpy()
