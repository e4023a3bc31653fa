"""Encoder, residual block and PSI decoders of PIQ (post-hoc interpretation via quantization).

A PSI network maps a classifier's intermediate representation (B, C, H, W)
through an adapter, the class-partitioned codebook and a transposed-conv
decoder to a one-channel map the size of a log-power spectrogram.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lab.errors import ArgumentError
from lab.piq.quantize import VQEmbedding

__all__ = [
    "weights_init",
    "Conv2dEncoder_v2",
    "ResBlockAudio",
    "VectorQuantizedPSI_Audio",
    "VectorQuantizedPSIFocalNet_Audio",
    "VectorQuantizedPSIViT_Audio",
]

_INIT_TYPES = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)


def weights_init(m: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for convolution and linear layers.

    Meant for ``model.apply(weights_init)``; other layers are left alone.

    Examples
    --------
    >>> layer = nn.Conv2d(2, 3, 3)
    >>> weights_init(layer)
    >>> layer.bias.tolist()
    [0.0, 0.0, 0.0]
    """
    if isinstance(m, _INIT_TYPES):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _require_rank(x: torch.Tensor, rank: int, name: str, layout: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != rank:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ArgumentError(f"{name} must be a {rank}-D tensor {layout}, got {shape}")


class Conv2dEncoder_v2(nn.Module):
    """Four stride-2 convolutions turning a log spectrogram into a classification embedding.

    Each convolution (kernel 4, stride 2, padding 1) halves time and frequency; the
    channels grow from ``dim // 8`` to ``dim``.

    Parameters
    ----------
    dim : int
        Channels of the extracted embedding.

    Examples
    --------
    >>> inputs = torch.ones(3, 431, 513)
    >>> model = Conv2dEncoder_v2()
    >>> print(model(inputs).shape)
    torch.Size([3, 256, 26, 32])
    """

    def __init__(self, dim: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        # channels double with depth (dim/8 ... dim): full width only where the map is small
        for width in (max(dim // 8, 1), max(dim // 4, 1), max(dim // 2, 1), dim):
            layers += [nn.Conv2d(in_ch, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU()]
            in_ch = width
        self.net = nn.Sequential(*layers[:-1])  # the embedding itself is left un-rectified

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, T, F) log spectrograms to (B, dim, ~T/16, ~F/16) embeddings."""
        _require_rank(x, 3, "x", "(B, T, F)")
        return self.net(x.unsqueeze(1))


class ResBlockAudio(nn.Module):
    """Residual block ``x + conv1x1(relu(bn(conv3x3(relu(x)))))`` keeping shape.

    Parameters
    ----------
    dim : int
        Input and output channels.

    Examples
    --------
    >>> res = ResBlockAudio(128)
    >>> x = torch.randn(2, 128, 16, 16)
    >>> print(res(x).shape)
    torch.Size([2, 128, 16, 16])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(dim, dim, 3, 1, 1),
            nn.BatchNorm2d(dim),
            nn.ReLU(),
            nn.Conv2d(dim, dim, 1),
            nn.BatchNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _require_rank(x, 4, "x", "(B, C, H, W)")
        return x + self.block(x)


class VectorQuantizedPSI_Audio(nn.Module):
    """Reconstruct a log-power-spectrogram-sized map from a classifier's representation.

    Parameters
    ----------
    dim : int
        Channels of the classifier representation.
    K : int
        Codebook entries.
    numclasses : int
        Classes the codebook is partitioned into.
    activate_class_partitioning : bool
        Quantize each item only with its class's codes (plus shared ones).
    shared_keys : int
        Codebook entries shared by all classes.
    use_adapter : bool
        Pass the representation through a residual adapter before quantization.
    adapter_reduce_dim : bool
        The adapter halves the spatial size (stride-2 convolution).
    n_upsample : int, optional
        (lab extension) Number of stride-2 transposed convolutions in the decoder.
        Default: enough to take a 16 x 16 input to 257 x 257.
    output_size : tuple of int, optional
        (lab extension) Resize the decoded map to this (height, width).
    decoder_channels : int, optional
        (lab extension) Channels of the first decoder layer (halved at each upsampling,
        not below 16). Default ``min(dim, 64)``.
    time_upsample : int, optional
        (lab extension) How many of the ``n_upsample`` upsamplings also double the time
        axis (the first ones); the others double frequency only. Default all of them. A
        sequence model's representation has one "frequency" position per frame, at roughly
        the spectrogram's frame rate: the decoder must widen it to the bins without
        lengthening time.

    Examples
    --------
    >>> psi = VectorQuantizedPSI_Audio(dim=256, K=1024)
    >>> x = torch.randn(2, 256, 16, 16)
    >>> labels = torch.Tensor([0, 2])
    >>> logspectra, hcat, z_q_x = psi(x, labels)
    >>> print(logspectra.shape, hcat.shape, z_q_x.shape)
    torch.Size([2, 1, 257, 257]) torch.Size([2, 256, 8, 8]) torch.Size([2, 256, 8, 8])
    """

    def __init__(
        self,
        dim: int = 128,
        K: int = 512,
        numclasses: int = 50,
        activate_class_partitioning: bool = True,
        shared_keys: int = 0,
        use_adapter: bool = True,
        adapter_reduce_dim: bool = True,
        *,
        n_upsample: int | None = None,
        output_size: tuple[int, int] | None = None,
        decoder_channels: int | None = None,
        time_upsample: int | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.numclasses = numclasses
        self.output_size = output_size
        reduce = use_adapter and adapter_reduce_dim
        if use_adapter:
            adapter: list[nn.Module] = [ResBlockAudio(dim)]
            if adapter_reduce_dim:
                adapter += [nn.Conv2d(dim, dim, 4, 2, 1)]
            self.adapter = nn.Sequential(*adapter)
        else:
            self.adapter = nn.Identity()
        self.codebook = VQEmbedding(K, dim, numclasses, activate_class_partitioning, shared_keys)
        if n_upsample is None:
            n_upsample = 5 if reduce else 4
        if n_upsample < 0:
            raise ArgumentError(f"n_upsample must be >= 0, got {n_upsample}")
        time_upsample = n_upsample if time_upsample is None else time_upsample
        if not 0 <= time_upsample <= n_upsample:
            raise ArgumentError(
                f"time_upsample must lie in [0, n_upsample={n_upsample}], got {time_upsample}")
        channels = decoder_channels or min(dim, 64)
        layers: list[nn.Module] = [
            nn.Conv2d(dim, channels, 1), ResBlockAudio(channels), ResBlockAudio(channels)
        ]
        for i in range(n_upsample):
            out_ch = max(channels // 2, 16)
            # frequency-only layers keep time: kernel 3 / stride 1 / padding 1 along it
            up = (nn.ConvTranspose2d(channels, out_ch, 4, 2, 1) if i < time_upsample
                  else nn.ConvTranspose2d(channels, out_ch, (3, 4), (1, 2), (1, 1)))
            layers += [nn.ReLU(), up, nn.BatchNorm2d(out_ch)]
            channels = out_ch
        # a 2x2 kernel adds the odd bin: 256 -> 257, like n_fft // 2 + 1
        layers += [nn.ReLU(), nn.ConvTranspose2d(channels, 1, 2, 1, 0)]
        self.decoder = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(
        self, hs: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode ``hs`` (B, dim, H, W) quantized with the codes of ``labels`` (B,).

        Returns
        -------
        x_tilde : torch.Tensor, shape (B, 1, H', W')
            Decoded map (logits when trained as a mask).
        hcat : torch.Tensor, shape (B, dim, h, w)
            Adapter output: the representation that is quantized.
        z_q_x : torch.Tensor, shape (B, dim, h, w)
            Quantized representation, differentiable with respect to the codebook.
        """
        _require_rank(hs, 4, "hs", "(B, C, H, W)")
        if hs.shape[1] != self.dim:
            raise ArgumentError(f"hs must have dim={self.dim} channels (dim 1), got {hs.shape[1]}")
        hcat = self.adapter(hs)
        z_q_x_st, z_q_x = self.codebook.straight_through(hcat, labels)
        x_tilde = self.decoder(z_q_x_st)
        if self.output_size is not None:
            x_tilde = F.interpolate(
                x_tilde, size=tuple(self.output_size), mode="bilinear", align_corners=False
            )
        return x_tilde, hcat, z_q_x


class VectorQuantizedPSIFocalNet_Audio(VectorQuantizedPSI_Audio):
    """PSI decoder for FocalNet representations; decodes to the 495 x 593 FocalNet input grid.

    Examples
    --------
    >>> psi = VectorQuantizedPSIFocalNet_Audio(dim=256, K=1024)
    >>> x = torch.randn(2, 256, 16, 16)
    >>> labels = torch.Tensor([0, 2])
    >>> logspectra, hcat, z_q_x = psi(x, labels)
    >>> print(logspectra.shape, hcat.shape, z_q_x.shape)
    torch.Size([2, 1, 495, 593]) torch.Size([2, 256, 8, 8]) torch.Size([2, 256, 8, 8])
    """

    def __init__(self, dim: int = 1024, **kwargs) -> None:
        kwargs.setdefault("output_size", (495, 593))
        super().__init__(dim=dim, **kwargs)


class VectorQuantizedPSIViT_Audio(VectorQuantizedPSI_Audio):
    """PSI decoder for ViT representations; decodes to the 495 x 593 ViT input grid.

    Examples
    --------
    >>> psi = VectorQuantizedPSIViT_Audio(dim=256, K=1024)
    >>> x = torch.randn(2, 256, 16, 16)
    >>> labels = torch.Tensor([0, 2])
    >>> logspectra, hcat, z_q_x = psi(x, labels)
    >>> print(logspectra.shape, hcat.shape, z_q_x.shape)
    torch.Size([2, 1, 495, 593]) torch.Size([2, 256, 8, 8]) torch.Size([2, 256, 8, 8])
    """

    def __init__(self, dim: int = 768, **kwargs) -> None:
        kwargs.setdefault("output_size", (495, 593))
        super().__init__(dim=dim, **kwargs)
