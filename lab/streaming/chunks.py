"""Split sequences into fixed-size chunks, as a streaming model sees them."""

from __future__ import annotations

import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.streaming._checks import as_int

__all__ = ["split_fixed_chunks", "split_wav_lens"]


def split_fixed_chunks(x: torch.Tensor, chunk_size: int, dim: int = -1) -> list[torch.Tensor]:
    """Split ``x`` into chunks of ``chunk_size`` along ``dim``; the last chunk may be smaller.

    Parameters
    ----------
    x : torch.Tensor
        Tensor to split, typically ``(batch, time, features)`` or a waveform.
    chunk_size : int
        Largest size of a chunk along ``dim`` (at least 1).
    dim : int
        Dimension to split along; negative values count from the end.

    Returns
    -------
    list of torch.Tensor
        Views of ``x``; every chunk has ``size(dim) <= chunk_size`` and concatenating them
        along ``dim`` gives ``x`` back. ``ceil(x.size(dim) / chunk_size)`` chunks: none when
        ``x`` is empty along ``dim``.

    Examples
    --------
    >>> import torch
    >>> from lab.streaming import split_fixed_chunks
    >>> x = torch.zeros((16, 10000, 80))
    >>> chunks = split_fixed_chunks(x, 128, dim=1)
    >>> len(chunks)
    79
    >>> chunks[0].shape
    torch.Size([16, 128, 80])
    >>> chunks[-1].shape
    torch.Size([16, 16, 80])
    >>> [c.shape[-1] for c in split_fixed_chunks(torch.zeros((3, 20, 80)), 30)]
    [30, 30, 20]
    """
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    chunk_size = as_int(chunk_size, "chunk_size", minimum=1)
    dim = as_int(dim, "dim")
    if x.dim() == 0:
        raise ArgumentError("x must have at least one dimension to split, got a 0-d tensor")
    if not -x.dim() <= dim < x.dim():
        raise ArgumentError(
            f"dim={dim} is out of range for a tensor with {x.dim()} dimensions "
            f"(expected {-x.dim()} <= dim < {x.dim()})"
        )
    if x.shape[dim] == 0:
        return []  # torch.split would give one empty chunk; an empty sequence has none
    # torch.split works on the dimension it is given (negative included), which is exactly
    # the contract; the seed computed the count on `dim` but always split dim 1.
    return list(torch.split(x, chunk_size, dim=dim))


def split_wav_lens(chunk_lens: list[int], wav_lens: torch.Tensor) -> list[torch.Tensor]:
    """Turn relative lengths of whole sequences into relative lengths within each chunk.

    ``wav_lens`` holds, per batch item, the fraction of the padded sequence that is real
    signal. For each chunk the result holds the fraction of *that chunk* that is real signal,
    clamped to ``[0, 1]``.

    Parameters
    ----------
    chunk_lens : list of int
        Length of every chunk (each >= 1), e.g.
        ``[c.size(1) for c in split_fixed_chunks(x, 8, dim=1)]``.
    wav_lens : torch.Tensor
        Relative lengths in ``[0, 1]`` (finite floats), shape ``(batch,)``.

    Returns
    -------
    list of torch.Tensor
        One ``(batch,)`` tensor per chunk.

    Examples
    --------
    >>> import torch
    >>> from lab.streaming import split_fixed_chunks, split_wav_lens
    >>> x = torch.zeros((3, 20, 80))
    >>> chunks = split_fixed_chunks(x, 8, dim=1)
    >>> len(chunks)
    3
    >>> # 20 frames, 13 frames, 17 frames
    >>> wav_lens = torch.tensor([1.0, 0.65, 0.85])
    >>> chunked_wav_lens = split_wav_lens([c.size(1) for c in chunks], wav_lens)
    >>> chunked_wav_lens
    [tensor([1., 1., 1.]), tensor([1.0000, 0.6250, 1.0000]), tensor([1.0000, 0.0000, 0.2500])]
    >>> # wav 1 covers 62.5% (5/8) of the second chunk's frames
    """
    if isinstance(chunk_lens, str | bytes | torch.Tensor) and (
        not isinstance(chunk_lens, torch.Tensor) or chunk_lens.dim() != 1
    ):
        raise ArgumentTypeError(
            f"chunk_lens must be a list of ints, got {type(chunk_lens).__name__}"
        )
    try:
        items = list(chunk_lens)
    except TypeError:
        raise ArgumentTypeError(
            f"chunk_lens must be a list of ints, got {type(chunk_lens).__name__}"
        ) from None
    if not items:
        raise ArgumentError(
            f"chunk_lens must be a non-empty list of positive ints, got {chunk_lens!r}"
        )
    # 2.7 used to become 2 silently: only whole numbers of frames are lengths
    lens = [as_int(n, f"chunk_lens[{k}]", minimum=1) for k, n in enumerate(items)]
    try:
        wav_lens = torch.as_tensor(wav_lens)
    except (TypeError, ValueError, RuntimeError):
        raise ArgumentTypeError(
            f"wav_lens must be a (batch,) tensor of relative lengths, got "
            f"{type(wav_lens).__name__}"
        ) from None
    if not wav_lens.is_floating_point():
        raise ArgumentTypeError(
            f"wav_lens must hold relative (float) lengths, got dtype {wav_lens.dtype}"
        )
    if wav_lens.dim() != 1:
        raise ArgumentError(
            f"wav_lens must be 1-D (batch,), got shape {tuple(wav_lens.shape)}"
        )
    if wav_lens.numel() and not (
        torch.isfinite(wav_lens).all() and wav_lens.min() >= 0 and wav_lens.max() <= 1
    ):
        bad = wav_lens[~(torch.isfinite(wav_lens) & (wav_lens >= 0) & (wav_lens <= 1))]
        raise ArgumentError(
            f"wav_lens must be relative lengths in [0, 1], got {bad[0].item()!r}"
        )
    real_frames = wav_lens * sum(lens)
    out = []
    start = 0
    for n in lens:
        out.append(((real_frames - start) / n).clamp(0.0, 1.0))
        start += n
    return out
