"""Keyword classifier on log-power spectrograms, with an exposed intermediate representation.

The encoder follows the idea of SpeechBrain's ``Conv2dEncoder_v2`` (strided 2-D convolutions
over a spectrogram giving a (B, C, T', F') feature map), scaled down for one-second clips:
three stride-2 blocks, so ``T' = ceil(T / 8)`` and ``F' = ceil(F / 8)``. The input is always
the log-power spectrogram (257 bins); with ``n_mels`` the model first pools it into mel bands
itself (40 bands → F' = 5), which keeps interpreters working on the 257-bin spectrogram while
the encoder sees an envelope that depends less on the speaker's pitch.
Post-hoc interpreters (lab.piq) work on the map: ``forward(x) == classify(embed(x))``.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.errors import ArgumentError
from lab.models._checks import check_features
from lab.models.normalize import FeatureNormalizer

__all__ = ["KeywordClassifier"]


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


def _subtract_clip_mean(x: torch.Tensor) -> torch.Tensor:
    """Remove each clip's average spectrum (voice and channel colouring) from its frames.

    All-zero frames (digital silence, batch padding) neither count in the mean nor change, so
    padding a clip in a batch does not change the mean it is normalized by.
    """
    active = (x.abs().sum(dim=-1, keepdim=True) > 0).to(x.dtype)  # (B, T, 1)
    mean = (x * active).sum(dim=1, keepdim=True) / active.sum(dim=1, keepdim=True).clamp(min=1)
    return (x - mean) * active


class KeywordClassifier(nn.Module):
    """Convolutional encoder + pooled linear head over keyword classes.

    Parameters
    ----------
    n_classes : int
        Number of keyword classes (``len(lab.data.KEYWORDS)``).
    n_bins : int
        Frequency bins of the log-power spectrogram (257 for n_fft=512).
    dim : int
        Channels of the embedding, the ``C`` of ``embed``'s (B, C, T', F') output.
    widths : tuple of int
        Channels of the first two blocks.
    dropout : float
        Dropout before the linear head during training.
    per_clip_mean : bool
        Subtract each clip's mean (log-mel or log-power) spectrum first, ignoring all-zero
        frames.
    n_mels : int, optional
        Pool the power spectrum into this many mel bands (``lab.audio.mel_filterbank``)
        before the encoder; None feeds the 257 log-power bins directly.

    Examples
    --------
    >>> import torch
    >>> model = KeywordClassifier(n_classes=24).eval()
    >>> x = torch.zeros(2, 50, 257)  # (B, frames, bins) log-power spectrogram
    >>> h = model.embed(x)
    >>> h.shape
    torch.Size([2, 64, 7, 33])
    >>> model.classify(h).shape
    torch.Size([2, 24])
    >>> torch.equal(model(x), model.classify(h))
    True
    >>> KeywordClassifier(n_mels=40).embed(x).shape  # mel front end: 40 bands -> F' = 5
    torch.Size([2, 64, 7, 5])
    """

    feature_kind = "log_power"

    def __init__(
        self,
        n_classes: int = 24,
        n_bins: int = 257,
        dim: int = 64,
        widths: tuple[int, int] = (16, 32),
        dropout: float = 0.2,
        per_clip_mean: bool = False,
        n_mels: int | None = None,
    ):
        super().__init__()
        self.config = dict(n_classes=n_classes, n_bins=n_bins, dim=dim, widths=list(widths),
                           dropout=dropout, per_clip_mean=per_clip_mean)
        if n_mels is not None:
            from lab.audio import mel_filterbank

            self.config["n_mels"] = int(n_mels)
            fb = torch.from_numpy(mel_filterbank(n_fft=2 * (n_bins - 1), n_mels=int(n_mels)))
            # Derived from the config, so it is not part of the checkpoint.
            self.register_buffer("mel_weights", fb.T.contiguous(), persistent=False)
        else:
            self.mel_weights = None
        self.normalize = FeatureNormalizer(n_bins if n_mels is None else int(n_mels))
        # Full-resolution layers are the expensive ones, so only strided ones run there.
        self.encoder = nn.Sequential(
            _block(1, widths[0], 2), _block(widths[0], widths[1], 2), _block(widths[1], dim, 2),
            _block(dim, dim, 1),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, n_classes)

    def front_end(self, x: torch.Tensor) -> torch.Tensor:
        """Log-power frames (..., n_bins) → what the normalizer sees: log-mel bands
        ``log1p(mel · expm1(x))`` with ``n_mels`` (the same log1p scale as the input), else x.
        """
        if self.mel_weights is None:
            return x
        # clamp: masked or perturbed inputs may go slightly below zero log-power
        return torch.log1p(torch.expm1(x).clamp(min=0) @ self.mel_weights)

    @torch.no_grad()
    def fit_normalizer(self, frames: torch.Tensor) -> None:
        """Fit the input standardization on training log-power frames (N, n_bins)."""
        frames = torch.as_tensor(frames, dtype=torch.float32)
        check_features(frames[None], self.config["n_bins"], name="frames")
        self.normalize.fit(self.front_end(torch.as_tensor(frames, dtype=torch.float32)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Log-power spectrograms (B, T, n_bins) → feature map (B, dim, T', F')."""
        x = check_features(x, self.config["n_bins"], name="x (log-power spectrograms)")
        x = self.front_end(x)
        if self.config["per_clip_mean"]:
            x = _subtract_clip_mean(x)
        return self.encoder(self.normalize(x).unsqueeze(1))

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """Feature map (B, dim, T', F') → class logits (B, n_classes)."""
        if h.ndim != 4 or h.shape[1] != self.config["dim"]:
            raise ArgumentError(
                f"h must have shape (B, {self.config['dim']}, T', F'), got {tuple(h.shape)}"
            )
        # Max over time (after averaging over frequency) does not depend on how much
        # padding follows a short clip, so a clip scores the same alone or in a batch.
        pooled = h.mean(dim=3).amax(dim=2)
        return self.head(self.dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))
