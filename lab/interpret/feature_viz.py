"""Feature visualization: inputs that excite chosen neurons.

The learned input solves

    argmax_X  sum_{t, f in J} y_i(X)[t, f] / (T |J|)  -  lambda / (T N) * TV(X)

by gradient ascent from random input, where ``TV`` is the anisotropic L1 total variation
(:func:`total_variation`). Works for any ``torch.nn.Module`` taking a ``(B, T, F)`` input; the
layer is named as in ``model.named_modules()``.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import finite, integer, numeric_array, real
from lab.interpret._layers import check_neurons, forward_activation
from lab.models.hooks import resolve_layer
from lab.runtime import ProgressHook, StopToken, Task, evaluating, model_device

__all__ = [
    "FeatureVizResult",
    "total_variation",
    "visualize_features",
]


def total_variation(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Anisotropic L1 total variation over the last two axes (time, feature).

    ``sum |X[t+1, n] - X[t, n]| + sum |X[t, n+1] - X[t, n]|``, summed over any leading axes.
    ``x`` must be numeric and finite (a NaN would make the whole sum NaN); gradients flow
    through a tensor input.

    Examples
    --------
    >>> import torch
    >>> float(total_variation(torch.tensor([[0.0, 1.0], [3.0, 1.0]])))
    6.0
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(numeric_array("x", x, dtype=None))
    if x.dtype == torch.bool or x.is_complex():
        raise ArgumentTypeError(f"x must be a real numeric tensor, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ArgumentError(
            f"x must have at least 2 dims (time, feature), got shape {tuple(x.shape)}"
        )
    finite("x", x.detach())
    return _total_variation(x)


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    # unchecked: the optimization loop calls it on its own (finite) iterate every step
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
        t, f = shape
        t, f = integer("shape[0]", t), integer("shape[1]", f)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"shape must be a pair (T, F) of positive ints, got {shape!r}"
        ) from None
    if t < 2 or f < 1:
        raise ArgumentError(f"shape must be a pair (T, F) with T >= 2 and F >= 1, got {shape!r}")
    return t, f


def _positive_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise ArgumentTypeError(f"lr must be a positive finite number, got {type(lr).__name__}")
    if not (math.isfinite(lr) and lr > 0):
        raise ArgumentError(f"lr must be positive and finite, got {lr!r}")
    return float(lr)


def visualize_features(
    model: nn.Module,
    layer: str,
    neurons: int | Sequence[int],
    *,
    shape: tuple[int, int] | None = None,
    steps: int = 200,
    lr: float = 0.05,
    tv_weight: float = 1.0,
    seed: int = 0,
    record_every: int = 10,
    init_std: float = 1.0,
    init: np.ndarray | None = None,
    progress: bool = True,
    should_stop: StopToken = None,
    callback: Callable[[FeatureVizResult], None] | None = None,
    on_progress: ProgressHook | None = None,
) -> FeatureVizResult:
    """Learn an input that maximizes the mean activation of ``neurons`` in ``layer``.

    Parameters
    ----------
    model : torch.nn.Module or lab.models.SpeechModel
        Any model taking a ``(batch, T, F)`` tensor, or an adapter (:func:`lab.models.adapt`;
        Hugging Face models and Silero VAD are adapted here): the input is then the model's
        own — features, or for waveform models the waveform cut into frames of its hop,
        ``(T, hop)``. Its parameters are not changed.
    layer : str
        Submodule name as in ``model.named_modules()`` (``"layer_1"`` ... ``"layer_6"`` on the
        zoo's DeepSpeech). The last axis of its output indexes neurons.
    neurons : int or sequence of int
        The set ``J`` of neurons whose mean activation is maximized.
    shape : (T, F), optional
        Input size: frames and features. Default: one second of an adapter's own input
        (``adapter.probe_shape(1.0)``), else ``(50, 26)``.
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
    should_stop : threading.Event or callable, optional
        Polled every step; when set the optimization stops early, keeping what was computed.
    callback : callable, optional
        Called with the partial result whenever a frame is recorded (live plots).
    on_progress : callable, optional
        ``on_progress(done, total)`` after every step (and once at the end).

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
    from lab.models.adapters import adapted, module_for

    adapter = adapted(model)
    if shape is None:
        shape = adapter.probe_shape(1.0)[1:] if adapter is not None else (50, 26)
    model = module_for(model)
    layer_name, _ = resolve_layer(model, layer)
    t_len, n_feat = _check_shape(shape)
    steps = integer("steps", steps, minimum=0)
    record_every = integer("record_every", record_every, minimum=1)
    lr = _positive_lr(lr)
    tv_weight = real("tv_weight", tv_weight, minimum=0.0)
    init_std = real("init_std", init_std, minimum=0.0)
    seed = integer("seed", seed, minimum=0)
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(
            f"callback must be a callable or None, got {type(callback).__name__}"
        )

    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(1, t_len, n_feat, generator=gen) * init_std
    if init is not None:
        center = numeric_array("init", init)
        if center.shape not in ((n_feat,), (t_len, n_feat)):
            raise ArgumentError(f"init must have shape ({n_feat},) or {(t_len, n_feat)}, got "
                                f"{center.shape}")
        finite("init", center)
        x0 = x0 + torch.from_numpy(np.array(center))
    x = x0.to(device).requires_grad_(True)
    task = Task(steps, desc=f"visualize {layer_name}", progress=progress,
                on_progress=on_progress, should_stop=should_stop)
    with task, evaluating(model):
        return _ascend(model, layer_name, neurons, x, steps, lr, tv_weight, record_every,
                       callback, task)


def _ascend(model, layer_name, neurons, x, steps, lr, tv_weight, record_every, callback,
            task: Task) -> FeatureVizResult:
    """Gradient ascent on ``x`` (1, T, F); the result ends at the returned input."""
    t_len, n_feat = x.shape[1:]
    with torch.no_grad():
        act, _ = forward_activation(model, x, [0], layer_name)
    neuron_list = check_neurons(neurons, act.shape[-1], layer_name)

    result = FeatureVizResult(layer=layer_name, neurons=neuron_list, tv_weight=tv_weight)
    per_entry = 1.0 / (t_len * n_feat)
    optimizer = torch.optim.Adam([x], lr=lr)
    start = time.perf_counter()

    def evaluate():
        _, chosen = forward_activation(model, x, neuron_list, layer_name)
        activation = chosen.mean()
        tv = _total_variation(x[0]) * per_entry
        return activation, tv

    def record(step, activation, tv, frame):
        result.activations.append(float(activation))
        result.total_variations.append(float(tv))
        result.objectives.append(float(activation) - tv_weight * float(tv))
        if frame:
            result.frames.append(x.detach()[0].cpu().numpy().astype(np.float32, copy=True))
            result.frame_steps.append(step)

    with task.run_guard():
        for step in range(steps):
            activation, tv = evaluate()
            record(step, activation.detach(), tv.detach(), frame=step % record_every == 0)
            if step % record_every == 0 and callback is not None:
                callback(result)
            if task.stopped:
                break
            objective = activation - tv_weight * tv
            (grad,) = torch.autograd.grad(-objective, x)
            x.grad = grad
            optimizer.step()
            result.steps_done = step + 1
            task.advance()
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
    result.interrupted = task.interrupted
    if callback is not None:
        try:
            callback(result)
        except KeyboardInterrupt:
            result.interrupted = True
    return result
