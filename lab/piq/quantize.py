"""Class-partitioned vector quantization used by PIQ.

The codebook of ``K`` entries is split into one contiguous block per class plus
``shared_keys`` entries at the end that every class may use. Quantizing a
representation with a label restricts the nearest-neighbour search to that
class's block and the shared block, so the decoded interpretation can only be
built from codes that belong to the predicted class.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.errors import ArgumentError

__all__ = [
    "get_irrelevant_regions",
    "VectorQuantization",
    "VectorQuantizationStraightThrough",
    "VQEmbedding",
]

_STAGES = ("TRAIN", "VALID", "TEST")


def _check_labels(labels: torch.Tensor, batch: int | None, num_classes: int) -> torch.Tensor:
    """Return ``labels`` as int64 after checking rank, batch size, integrality and range."""
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.dim() != 1:
        raise ArgumentError(
            f"labels must be a 1-D tensor of class indices, got shape {tuple(labels.shape)}"
        )
    if batch is not None and labels.shape[0] != batch:
        raise ArgumentError(
            f"labels has {labels.shape[0]} entries but the inputs have a batch of {batch}"
        )
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise ArgumentError("labels must hold whole class indices, got fractional values")
    as_long = labels.long()
    if as_long.numel() and (as_long.min() < 0 or as_long.max() >= num_classes):
        raise ArgumentError(
            f"labels must lie in [0, {num_classes}) (num_classes={num_classes}), "
            f"got values in [{int(as_long.min())}, {int(as_long.max())}]"
        )
    return as_long


def get_irrelevant_regions(
    labels: torch.Tensor,
    K: int,
    num_classes: int,
    N_shared: int = 5,
    stage: str = "TRAIN",
) -> torch.Tensor:
    """Mark the codebook entries each label may NOT use.

    Class ``c`` owns entries ``[c * P, (c + 1) * P)`` with
    ``P = (K - N_shared) // num_classes``; the last ``N_shared`` entries are
    shared by all classes. Entries left over by the integer division belong to
    nobody.

    Parameters
    ----------
    labels : torch.Tensor, shape (B,)
        Class index of each item (float tensors holding whole numbers are accepted).
    K : int
        Number of codebook entries.
    num_classes : int
        Number of classes the codebook is partitioned into.
    N_shared : int
        Number of entries shared by all classes.
    stage : {"TRAIN", "VALID", "TEST"}
        Kept for API compatibility; the partition is the same in every stage so
        that training and interpretation use the same codes.

    Returns
    -------
    irrelevant_regions : torch.Tensor, shape (B, K)
        1.0 where the entry is outside the item's class block and the shared block, else 0.0.

    Examples
    --------
    >>> labels = torch.Tensor([1, 0, 2])
    >>> irrelevant_regions = get_irrelevant_regions(labels, 20, 3, 5)
    >>> print(irrelevant_regions.shape)
    torch.Size([3, 20])
    >>> irrelevant_regions[1].tolist()[:6], irrelevant_regions[1].tolist()[-5:]
    ([0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0])
    """
    if stage not in _STAGES:
        raise ArgumentError(f"stage must be one of {_STAGES}, got {stage!r}")
    if num_classes < 1:
        raise ArgumentError(f"num_classes must be >= 1, got {num_classes}")
    if not 0 <= N_shared <= K:
        raise ArgumentError(f"N_shared must lie in [0, K={K}], got {N_shared}")
    per_class = (K - N_shared) // num_classes
    if per_class < 1:
        raise ArgumentError(
            f"K={K} leaves no codebook entries per class for num_classes={num_classes} "
            f"and N_shared={N_shared}; need K >= num_classes + N_shared"
        )
    labels = _check_labels(labels, None, num_classes)
    columns = torch.arange(K, device=labels.device)
    start = (labels * per_class).unsqueeze(1)
    own = (columns >= start) & (columns < start + per_class)
    shared = columns >= K - N_shared
    return (~(own | shared)).float()


def _nearest_codes(
    inputs: torch.Tensor,
    codebook: torch.Tensor,
    labels: torch.Tensor | None,
    num_classes: int,
    activate_class_partitioning: bool,
    shared_keys: int,
    training: bool,
) -> torch.Tensor:
    """Index of the nearest allowed codebook entry for every vector of ``inputs`` (B, W, H, C)."""
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs)
        raise ArgumentError(f"inputs must be a 4-D tensor (B, W, H, C), got {shape}")
    if codebook.dim() != 2 or codebook.shape[1] != inputs.shape[-1]:
        raise ArgumentError(
            f"codebook must have shape (K, C={inputs.shape[-1]}), got {tuple(codebook.shape)}"
        )
    batch, channels = inputs.shape[0], inputs.shape[-1]
    with torch.no_grad():
        flat = inputs.reshape(batch, -1, channels)
        # ||x - e||^2 = ||x||^2 + ||e||^2 - 2 x.e ; avoids materialising all differences
        distances = (
            flat.pow(2).sum(-1, keepdim=True)
            + codebook.pow(2).sum(-1)
            - 2.0 * flat @ codebook.t()
        )
        if activate_class_partitioning and labels is not None:
            labels = _check_labels(labels.to(inputs.device), batch, num_classes)
            forbidden = get_irrelevant_regions(
                labels,
                codebook.shape[0],
                num_classes,
                shared_keys,
                "TRAIN" if training else "VALID",
            ).bool()
            distances = distances.masked_fill(forbidden.unsqueeze(1), float("inf"))
        indices = distances.argmin(-1)
    return indices.view(inputs.shape[:-1])


class VectorQuantization(torch.autograd.Function):
    """Nearest-neighbour vector quantization (indices only; not differentiable).

    Use :class:`VectorQuantizationStraightThrough` when gradients are needed.

    Examples
    --------
    >>> inputs = torch.ones(3, 14, 25, 256)
    >>> codebook = torch.randn(1024, 256)
    >>> labels = torch.Tensor([1, 0, 2])
    >>> print(VectorQuantization.apply(inputs, codebook, labels).shape)
    torch.Size([3, 14, 25])
    """

    @staticmethod
    def forward(
        ctx,
        inputs: torch.Tensor,
        codebook: torch.Tensor,
        labels: torch.Tensor | None = None,
        num_classes: int = 10,
        activate_class_partitioning: bool = True,
        shared_keys: int = 10,
        training: bool = True,
    ) -> torch.Tensor:
        """Return the (B, W, H) indices of the nearest allowed entries of ``codebook`` (K, C).

        ``labels=None`` searches the whole codebook.
        """
        indices = _nearest_codes(
            inputs, codebook, labels, num_classes, activate_class_partitioning,
            shared_keys, training,
        )
        ctx.mark_non_differentiable(indices)
        return indices

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError(
            "VectorQuantization is not differentiable: it returns codebook indices. "
            "Use VectorQuantizationStraightThrough (or VQEmbedding.straight_through) "
            "for a straight-through gradient estimate."
        )


class VectorQuantizationStraightThrough(torch.autograd.Function):
    """Vector quantization whose backward pass treats quantization as the identity.

    The straight-through estimator of van den Oord et al. (2017),
    https://arxiv.org/abs/1711.00937. The codebook receives the sum of the
    gradients of the vectors that selected each entry.

    Examples
    --------
    >>> inputs = torch.ones(3, 14, 25, 256)
    >>> codebook = torch.randn(1024, 256)
    >>> labels = torch.Tensor([1, 0, 2])
    >>> quant, quant_ind = VectorQuantizationStraightThrough.apply(inputs, codebook, labels)
    >>> print(quant.shape, quant_ind.shape)
    torch.Size([3, 14, 25, 256]) torch.Size([1050])
    """

    @staticmethod
    def forward(
        ctx,
        inputs: torch.Tensor,
        codebook: torch.Tensor,
        labels: torch.Tensor | None = None,
        num_classes: int = 10,
        activate_class_partitioning: bool = True,
        shared_keys: int = 10,
        training: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the quantized vectors (B, W, H, C) and their flat indices (B * W * H,)."""
        indices = _nearest_codes(
            inputs, codebook, labels, num_classes, activate_class_partitioning,
            shared_keys, training,
        ).reshape(-1)
        ctx.save_for_backward(indices, codebook)
        ctx.mark_non_differentiable(indices)
        quantized = codebook.index_select(0, indices).view_as(inputs)
        return quantized, indices

    @staticmethod
    def backward(ctx, grad_output, grad_indices):
        indices, codebook = ctx.saved_tensors
        grad_inputs = grad_codebook = None
        if ctx.needs_input_grad[0]:
            grad_inputs = grad_output.clone()
        if ctx.needs_input_grad[1]:
            flat = grad_output.contiguous().view(-1, codebook.shape[1])
            grad_codebook = torch.zeros_like(codebook).index_add_(0, indices, flat)
        return grad_inputs, grad_codebook, None, None, None, None, None


class VQEmbedding(nn.Module):
    """Class-partitioned VQ dictionary wrapping the two quantization functions.

    Parameters
    ----------
    K : int
        Number of codebook entries.
    D : int
        Dimension of each entry (channels of the representations).
    numclasses : int
        Number of classes the codebook is partitioned into.
    activate_class_partitioning : bool
        Restrict each item to its class's entries (plus shared ones) when labels are given.
    shared_keys : int
        Number of entries shared by all classes.

    Notes
    -----
    ``forward`` and ``straight_through`` run the same search with the same
    partitioning, so they always pick the same codes. ``labels=None`` searches
    the whole codebook.
    """

    def __init__(
        self,
        K: int,
        D: int,
        numclasses: int = 50,
        activate_class_partitioning: bool = True,
        shared_keys: int = 0,
    ) -> None:
        super().__init__()
        if activate_class_partitioning and (K - shared_keys) // numclasses < 1:
            raise ArgumentError(
                f"K={K} is too small for numclasses={numclasses} with shared_keys={shared_keys}"
            )
        self.K, self.D = K, D
        self.numclasses = numclasses
        self.activate_class_partitioning = activate_class_partitioning
        self.shared_keys = shared_keys
        self.embedding = nn.Embedding(K, D)
        self.embedding.weight.data.uniform_(-1.0 / K, 1.0 / K)

    def _channels_last(self, z_e_x: torch.Tensor) -> torch.Tensor:
        if not isinstance(z_e_x, torch.Tensor) or z_e_x.dim() != 4:
            shape = tuple(z_e_x.shape) if isinstance(z_e_x, torch.Tensor) else type(z_e_x)
            raise ArgumentError(f"z_e_x must be a 4-D tensor (B, C, H, W), got {shape}")
        if z_e_x.shape[1] != self.D:
            raise ArgumentError(f"z_e_x must have {self.D} channels (dim 1), got {z_e_x.shape[1]}")
        return z_e_x.permute(0, 2, 3, 1).contiguous()

    def _args(self, labels):
        return (labels, self.numclasses, self.activate_class_partitioning, self.shared_keys,
                self.training)

    def forward(self, z_e_x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codebook indices (B, H, W) of ``z_e_x`` (B, C, H, W); not differentiable.

        Examples
        --------
        >>> inputs = torch.ones(3, 256, 14, 25)
        >>> codebook = VQEmbedding(1024, 256)
        >>> labels = torch.Tensor([1, 0, 2])
        >>> print(codebook(inputs, labels).shape)
        torch.Size([3, 14, 25])
        """
        return VectorQuantization.apply(
            self._channels_last(z_e_x), self.embedding.weight, *self._args(labels)
        )

    def straight_through(
        self, z_e_x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize with a straight-through gradient.

        Returns
        -------
        z_q_x_st : torch.Tensor, shape (B, C, H, W)
            Quantized representation; gradients pass to ``z_e_x`` unchanged.
        z_q_x : torch.Tensor, shape (B, C, H, W)
            The same values, differentiable with respect to the codebook (for the VQ loss).

        Examples
        --------
        >>> inputs = torch.ones(3, 256, 14, 25)
        >>> codebook = VQEmbedding(1024, 256)
        >>> labels = torch.Tensor([1, 0, 2])
        >>> quant, quant_ind = codebook.straight_through(inputs, labels)
        >>> print(quant.shape, quant_ind.shape)
        torch.Size([3, 256, 14, 25]) torch.Size([3, 256, 14, 25])
        """
        z = self._channels_last(z_e_x)
        quantized, indices = VectorQuantizationStraightThrough.apply(
            z, self.embedding.weight.detach(), *self._args(labels)
        )
        z_q_x_st = quantized.permute(0, 3, 1, 2).contiguous()
        z_q_x = self.embedding.weight.index_select(0, indices).view_as(z)
        return z_q_x_st, z_q_x.permute(0, 3, 1, 2).contiguous()
