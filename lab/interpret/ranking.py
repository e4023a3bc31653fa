"""Top examples: the dataset utterances that excite chosen neurons most.

The score of an utterance is the mean activation of the neurons over its valid (unpadded)
output frames, as in :func:`lab.interpret.visualize_features`. A layer that subsamples time
(a strided convolution: ``T' < T`` frames) has its own number of valid frames per utterance;
it is measured once per input length by running that utterance alone, so an utterance scores
the same alone and in a padded batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError
from lab.interpret._checks import integer
from lab.interpret._layers import check_neurons, forward_activation
from lab.models.hooks import resolve_layer
from lab.runtime import ProgressHook, StopToken, Task, evaluating, model_device

__all__ = ["TopExample", "top_examples"]


@dataclass
class TopExample:
    """One dataset item ranked by :func:`top_examples`."""

    index: int
    value: float
    text: str | None = None


def _split_batch(batch):
    """Features ``(B, T, F)``, lengths ``(B,)`` or None, texts or None from a batch."""
    if isinstance(batch, dict):
        feats = batch.get("features")
        if feats is None:
            raise ArgumentError(
                "dataset batches must contain a 'features' entry of shape (B, T, F)"
            )
        return torch.as_tensor(feats), batch.get("feature_lengths"), batch.get("texts")
    if hasattr(batch, "features"):  # lab.data.Batch
        return (torch.as_tensor(batch.features), getattr(batch, "feature_lengths", None),
                getattr(batch, "texts", None))
    if isinstance(batch, (tuple, list)):
        return torch.as_tensor(batch[0]), None, None
    return torch.as_tensor(batch), None, None


def _default_collate(items):
    """``lab.data.collate`` for corpus items (padding), torch's default for plain tensors."""
    if hasattr(items[0], "features"):
        from lab.data import collate

        return collate(items)
    return torch.utils.data.default_collate(items)


def _check_batch(feats: torch.Tensor, lengths, first: int) -> torch.Tensor | None:
    """Lengths as a long tensor within ``[1, T]``; features must be finite."""
    if feats.ndim != 3:
        raise ArgumentError(
            f"dataset batches must hold features of shape (B, T, F), got {tuple(feats.shape)}"
        )
    if feats.is_floating_point() and not torch.isfinite(feats).all():
        bad = int((~torch.isfinite(feats)).flatten(1).any(1).nonzero()[0])
        raise ArgumentError(f"dataset item {first + bad} has non-finite features (NaN or inf)")
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if (lengths.ndim != 1 or lengths.numel() != feats.shape[0]
            or lengths.is_floating_point() or lengths.dtype == torch.bool):
        raise ArgumentError(
            f"feature_lengths must be {feats.shape[0]} ints (one per item), got {lengths!r}"
        )
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > feats.shape[1]):
        raise ArgumentError(
            f"feature_lengths must lie in [1, {feats.shape[1]}] (the padded length), got "
            f"{lengths.tolist()}"
        )
    return lengths.long()


class _OutputLengths:
    """Valid output frames of a layer per input length, measured once per length.

    A strided layer's output length is a function of the input length that depends on its
    kernel, stride and padding (``ceil(T / 2)``, ``(T - 3) // 2 + 1``, ...); running one
    utterance of that length alone measures it exactly, whatever the layer is.
    """

    def __init__(self, model: nn.Module, layer_name: str):
        self.model, self.layer_name = model, layer_name
        self.known: dict[int, int] = {}

    def __call__(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = []
        for i, n in enumerate(lengths.tolist()):
            if n not in self.known:
                act, _ = forward_activation(self.model, feats[i:i + 1, :n], [0], self.layer_name)
                self.known[n] = int(act.shape[1])
            out.append(self.known[n])
        return torch.tensor(out, device=feats.device)


def top_examples(
    model: nn.Module,
    layer: str,
    neurons: int | Sequence[int],
    dataset,
    *,
    k: int = 4,
    batch_size: int = 16,
    collate_fn: Callable | None = None,
    progress: bool = True,
    should_stop: StopToken = None,
    on_progress: ProgressHook | None = None,
) -> list[TopExample]:
    """The ``k`` dataset items with the highest mean activation of ``neurons`` in ``layer``.

    The mean runs over the valid (unpadded) frames and the chosen neurons, as in
    :func:`visualize_features`, so the values are comparable to its activation curve. For a
    layer that subsamples time, each item's valid output frames are those the layer gives
    the item alone, so padding never counts and batching never changes a score.

    Parameters
    ----------
    model, layer, neurons : as in :func:`visualize_features` (an adapter ranks items of its
        own input: ``adapter.own_input(audio)`` — frames of samples for waveform models; the
        dataset's items are then waveforms, paths or dicts with ``"waveform"`` and
        ``"text"``, as :class:`lab.data.RealRecordings` gives).
    dataset : torch Dataset / sequence
        Items collated by ``collate_fn`` into a batch with ``features`` (B, T, F) and
        optionally ``feature_lengths`` and ``texts`` (attributes as in ``lab.data.Batch``, or
        dict keys), or into a ``(B, T, F)`` tensor. Features must be finite.
    k : int
        How many items to return (at most the dataset's size).
    batch_size : int
        Items per forward pass.
    collate_fn : callable, optional
        Defaults to ``lab.data.collate`` for corpus items and stacking for plain tensors.
    progress : bool
        Show a tqdm progress bar.
    should_stop : threading.Event or callable, optional
        Polled between batches; when set (or on Ctrl-C) the ranking of the items scanned so
        far is returned.
    on_progress : callable, optional
        ``on_progress(done, total)`` after every batch.

    Returns
    -------
    list of TopExample
        Sorted by decreasing activation.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    >>> data = [torch.full((4, 2), float(i)) for i in range(5)]
    >>> [e.index for e in top_examples(net, "0", 0, data, k=2, progress=False)] in ([4, 3], [0, 1])
    True
    """
    from lab.models.adapters import dataset_for, module_for

    dataset, collate_fn = dataset_for(model, dataset, collate_fn)
    model = module_for(model)
    layer_name, _ = resolve_layer(model, layer)
    k = integer("k", k, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=1)
    if collate_fn is not None and not callable(collate_fn):
        raise ArgumentError(f"collate_fn must be a callable or None, got {collate_fn!r}")
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate_fn or _default_collate)
    device = model_device(model)
    values: list[float] = []
    texts: list[str | None] = []
    neuron_list: list[int] | None = None
    output_lengths = _OutputLengths(model, layer_name)
    task = Task(len(loader), desc=f"scan {layer_name}", progress=progress,
                on_progress=on_progress, should_stop=should_stop)
    with task, evaluating(model), task.run_guard(), torch.no_grad():
        for batch in loader:
            if task.stopped:
                break
            feats, lengths, batch_texts = _split_batch(batch)
            lengths = _check_batch(feats, lengths, len(values))
            feats = feats.to(device=device, dtype=torch.float32)
            act, _ = forward_activation(model, feats, [0], layer_name)
            if neuron_list is None:
                neuron_list = check_neurons(neurons, act.shape[-1], layer_name)
            chosen = act[..., neuron_list].float()
            if lengths is not None and chosen.ndim == 3:
                lengths = lengths.to(device)
                if chosen.shape[1] != feats.shape[1]:
                    lengths = output_lengths(feats, lengths)
                valid = (torch.arange(chosen.shape[1], device=device)[None, :]
                         < lengths[:, None])
                sums = (chosen * valid[..., None]).sum(dim=(1, 2))
                means = sums / (valid.sum(dim=1).clamp(min=1) * len(neuron_list))
            else:
                means = chosen.reshape(chosen.shape[0], -1).mean(dim=1)
            values.extend(means.cpu().tolist())
            texts.extend(batch_texts if batch_texts is not None else [None] * len(means))
            task.advance()
    order = np.argsort(-np.asarray(values), kind="stable")[:k]
    return [TopExample(index=int(i), value=float(values[i]), text=texts[i]) for i in order]
