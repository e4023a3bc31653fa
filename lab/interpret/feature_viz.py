"""Feature visualization: inputs that excite chosen neurons, and dataset utterances that do.

The learned input solves

    argmax_X  sum_{t, f in J} y_i(X)[t, f] / (T |J|)  -  lambda / (T N) * TV(X)

by gradient ascent from random input, where ``TV`` is the anisotropic L1 total variation
(:func:`total_variation`). Works for any ``torch.nn.Module`` taking a ``(B, T, F)`` input; the
layer is named as in ``model.named_modules()``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.hooks import activations, resolve_layer

__all__ = [
    "FeatureVizResult",
    "TopExample",
    "total_variation",
    "visualize_features",
    "top_examples",
]


def total_variation(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Anisotropic L1 total variation over the last two axes (time, feature).

    ``sum |X[t+1, n] - X[t, n]| + sum |X[t, n+1] - X[t, n]|``, summed over any leading axes.

    Examples
    --------
    >>> import torch
    >>> float(total_variation(torch.tensor([[0.0, 1.0], [3.0, 1.0]])))
    6.0
    """
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ArgumentError(
            f"x must have at least 2 dims (time, feature), got shape {tuple(x.shape)}"
        )
    along_time = (x[..., 1:, :] - x[..., :-1, :]).abs().sum()
    along_feature = (x[..., :, 1:] - x[..., :, :-1]).abs().sum()
    return along_time + along_feature


@dataclass
class FeatureVizResult:
    """What :func:`visualize_features` computed (also when interrupted).

    Attributes
    ----------
    layer, neurons : the optimized target.
    frames : list of (T, F) float32 arrays, the input at ``frame_steps``.
    frame_steps : optimization step of each frame (0 = random start).
    activations : mean activation of the neurons after each step (index 0 = start).
    total_variations : ``TV(X) / (T N)`` after each step (the per-entry variation).
    objectives : ``activation - tv_weight * total_variation`` after each step.
    final_input : (T, F) array, the last input.
    steps_done : number of gradient steps actually taken.
    interrupted : True when stopped early (KeyboardInterrupt or ``should_stop``).
    seconds : wall time.
    """

    layer: str
    neurons: list[int]
    tv_weight: float
    frames: list[np.ndarray] = field(default_factory=list)
    frame_steps: list[int] = field(default_factory=list)
    activations: list[float] = field(default_factory=list)
    total_variations: list[float] = field(default_factory=list)
    objectives: list[float] = field(default_factory=list)
    final_input: np.ndarray | None = None
    steps_done: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def final_activation(self) -> float:
        """Mean activation of the neurons at :attr:`final_input`."""
        return self.activations[-1] if self.activations else math.nan


def _check_shape(shape) -> tuple[int, int]:
    try:
        t, f = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"shape must be a pair (T, F) of positive ints, got {shape!r}"
        ) from None
    if t < 2 or f < 1 or any(int(s) != s for s in shape):
        raise ArgumentError(f"shape must be a pair (T, F) with T >= 2 and F >= 1, got {shape!r}")
    return t, f


def _check_neurons(neurons, width: int, layer: str) -> list[int]:
    if isinstance(neurons, (int, np.integer)):
        neurons = [int(neurons)]
    try:
        out = [int(n) for n in neurons]
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"neurons must be an int or a sequence of ints, got {neurons!r}"
        ) from None
    if not out:
        raise ArgumentError("neurons must name at least one neuron")
    bad = [n for n in out if not 0 <= n < width]
    if bad:
        raise ArgumentError(
            f"neurons: index {bad[0]} out of range for layer {layer!r} with {width} neurons "
            f"(expected 0 <= index < {width})"
        )
    return out


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _forward_activation(model, x, neurons, layer_name):
    try:
        act = activations(model, x, [layer_name])[layer_name]
    except ValueError as exc:
        if "did not run" in str(exc):
            raise ArgumentError(
                f"layer {layer_name!r} was not called during the model's forward pass"
            ) from exc
        raise ArgumentError(
            f"model failed on an input of shape {tuple(x.shape)} (batch, T, F): {exc}"
        ) from exc
    except (RuntimeError, TypeError, IndexError) as exc:  # the model rejects this input shape
        raise ArgumentError(
            f"model failed on an input of shape {tuple(x.shape)} (batch, T, F): {exc}"
        ) from exc
    return act, act[..., neurons]


def visualize_features(
    model: nn.Module,
    layer: str,
    neurons: int | Sequence[int],
    *,
    shape: tuple[int, int] = (50, 26),
    steps: int = 200,
    lr: float = 0.05,
    tv_weight: float = 1.0,
    seed: int = 0,
    record_every: int = 10,
    init_std: float = 1.0,
    init: np.ndarray | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    callback: Callable[[FeatureVizResult], None] | None = None,
) -> FeatureVizResult:
    """Learn an input that maximizes the mean activation of ``neurons`` in ``layer``.

    Parameters
    ----------
    model : torch.nn.Module
        Any model taking a ``(batch, T, F)`` tensor. Its parameters are not changed.
    layer : str
        Submodule name as in ``model.named_modules()`` (``"layer_1"`` ... ``"layer_6"`` on the
        zoo's DeepSpeech). The last axis of its output indexes neurons.
    neurons : int or sequence of int
        The set ``J`` of neurons whose mean activation is maximized.
    shape : (T, F)
        Input size: frames and features.
    steps : int
        Gradient ascent steps (Adam).
    lr : float
        Adam learning rate.
    tv_weight : float
        ``lambda`` in front of the per-entry total variation ``TV(X) / (T F)``.
    seed : int
        Seeds the random starting input.
    record_every : int
        Keep a trajectory frame every this many steps (plus the first and last).
    init_std : float
        Standard deviation of the random start.
    init : array, optional
        Mean of the random start: a (T, F) array or one (F,) frame (e.g. the model's feature
        mean, so the start looks like typical input); zeros by default.
    progress : bool
        Show a tqdm progress bar.
    should_stop : callable, optional
        Polled every step; returning True stops early, keeping what was computed.
    callback : callable, optional
        Called with the partial result whenever a frame is recorded (live plots).

    Returns
    -------
    FeatureVizResult
        Trajectory frames, activation and TV curves, final input. Ctrl-C (KeyboardInterrupt)
        returns the partial result with ``interrupted=True``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    >>> res = visualize_features(net, "1", [0, 3], shape=(5, 4), steps=20, record_every=10,
    ...                          tv_weight=0.0, progress=False)
    >>> res.frame_steps, res.final_input.shape
    ([0, 10, 20], (5, 4))
    >>> res.activations[-1] > res.activations[0]
    True
    """
    layer_name, _ = resolve_layer(model, layer)
    t_len, n_feat = _check_shape(shape)
    if int(steps) != steps or steps < 0:
        raise ArgumentError(f"steps must be a non-negative int, got {steps!r}")
    if int(record_every) != record_every or record_every < 1:
        raise ArgumentError(f"record_every must be a positive int, got {record_every!r}")
    if not lr > 0:
        raise ArgumentError(f"lr must be positive, got {lr!r}")
    if not tv_weight >= 0:
        raise ArgumentError(f"tv_weight must be >= 0, got {tv_weight!r}")

    was_training = model.training
    model.eval()
    device = _device(model)
    gen = torch.Generator().manual_seed(int(seed))
    x0 = torch.randn(1, t_len, n_feat, generator=gen) * float(init_std)
    if init is not None:
        center = np.asarray(init, dtype=np.float32)
        if center.shape not in ((n_feat,), (t_len, n_feat)):
            raise ArgumentError(f"init must have shape ({n_feat},) or {(t_len, n_feat)}, got "
                             f"{center.shape}")
        x0 = x0 + torch.from_numpy(center)
    x = x0.to(device).requires_grad_(True)

    with torch.no_grad():
        act, _ = _forward_activation(model, x, [0], layer_name)
    neuron_list = _check_neurons(neurons, act.shape[-1], layer_name)

    result = FeatureVizResult(layer=layer_name, neurons=neuron_list, tv_weight=float(tv_weight))
    per_entry = 1.0 / (t_len * n_feat)
    optimizer = torch.optim.Adam([x], lr=lr)
    start = time.perf_counter()

    def evaluate():
        _, chosen = _forward_activation(model, x, neuron_list, layer_name)
        activation = chosen.mean()
        tv = total_variation(x[0]) * per_entry
        return activation, tv

    def record(step, activation, tv, frame):
        result.activations.append(float(activation))
        result.total_variations.append(float(tv))
        result.objectives.append(float(activation) - tv_weight * float(tv))
        if frame:
            result.frames.append(x.detach()[0].cpu().numpy().astype(np.float32, copy=True))
            result.frame_steps.append(step)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(steps), desc=f"visualize {layer_name}", leave=False)
    try:
        for step in range(int(steps)):
            activation, tv = evaluate()
            record(step, activation.detach(), tv.detach(), frame=step % record_every == 0)
            if step % record_every == 0 and callback is not None:
                callback(result)
            if should_stop is not None and should_stop():
                result.interrupted = True
                break
            objective = activation - tv_weight * tv
            (grad,) = torch.autograd.grad(-objective, x)
            x.grad = grad
            optimizer.step()
            result.steps_done = step + 1
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        if bar is not None:
            bar.close()
        # The curves end at the returned input, whatever stopped the loop.
        with torch.no_grad():
            activation, tv = evaluate()
        if result.activations and len(result.activations) > result.steps_done:
            del result.activations[result.steps_done:]
            del result.total_variations[result.steps_done:]
            del result.objectives[result.steps_done:]
            if result.frame_steps and result.frame_steps[-1] == result.steps_done:
                result.frames.pop()
                result.frame_steps.pop()
        record(result.steps_done, activation, tv, frame=True)
        result.final_input = result.frames[-1]
        result.seconds = time.perf_counter() - start
        model.train(was_training)
    if callback is not None:
        try:
            callback(result)
        except KeyboardInterrupt:
            result.interrupted = True
    return result


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
) -> list[TopExample]:
    """The ``k`` dataset items with the highest mean activation of ``neurons`` in ``layer``.

    The mean runs over the valid (unpadded) frames and the chosen neurons, as in
    :func:`visualize_features`, so the values are comparable to its activation curve.

    Parameters
    ----------
    model, layer, neurons : as in :func:`visualize_features`.
    dataset : torch Dataset / sequence
        Items collated by ``collate_fn`` into a batch with ``features`` (B, T, F) and
        optionally ``feature_lengths`` and ``texts`` (attributes as in ``lab.data.Batch``, or
        dict keys), or into a ``(B, T, F)`` tensor.
    k : int
        How many items to return.
    batch_size : int
        Items per forward pass.
    collate_fn : callable, optional
        Defaults to ``lab.data.collate`` for corpus items and stacking for plain tensors.
    progress : bool
        Show a tqdm progress bar. Ctrl-C returns the ranking of the items scanned so far.

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
    layer_name, _ = resolve_layer(model, layer)
    if int(k) != k or k < 1:
        raise ArgumentError(f"k must be a positive int, got {k!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    collate_fn = collate_fn or _default_collate
    loader = torch.utils.data.DataLoader(dataset, batch_size=int(batch_size), shuffle=False,
                                         collate_fn=collate_fn)
    was_training = model.training
    model.eval()
    device = _device(model)
    values: list[float] = []
    texts: list[str | None] = []
    neuron_list: list[int] | None = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(loader), desc=f"scan {layer_name}", leave=False)
    try:
        with torch.no_grad():
            for batch in loader:
                feats, lengths, batch_texts = _split_batch(batch)
                feats = feats.to(device=device, dtype=torch.float32)
                act, _ = _forward_activation(model, feats, [0], layer_name)
                if neuron_list is None:
                    neuron_list = _check_neurons(neurons, act.shape[-1], layer_name)
                chosen = act[..., neuron_list].float()
                if lengths is not None and chosen.ndim == 3 and chosen.shape[1] == feats.shape[1]:
                    valid = (torch.arange(chosen.shape[1], device=device)[None, :]
                             < torch.as_tensor(lengths, device=device)[:, None])
                    sums = (chosen * valid[..., None]).sum(dim=(1, 2))
                    means = sums / (valid.sum(dim=1).clamp(min=1) * len(neuron_list))
                else:
                    means = chosen.reshape(chosen.shape[0], -1).mean(dim=1)
                values.extend(means.cpu().tolist())
                texts.extend(batch_texts if batch_texts is not None else [None] * len(means))
                if bar is not None:
                    bar.update(1)
    except KeyboardInterrupt:
        pass
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    order = np.argsort(-np.asarray(values), kind="stable")[: int(k)]
    return [TopExample(index=int(i), value=float(values[i]), text=texts[i]) for i in order]
