"""Reading one layer's activations for the interpreters: neuron lists and a checked forward."""

from __future__ import annotations

import operator

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import integer
from lab.models.hooks import activations

__all__ = ["check_neurons", "forward_activation"]


def _neuron_index(n) -> int:
    if isinstance(n, bool | np.bool_):
        raise ArgumentTypeError(f"neurons must be ints, got the bool {n!r}")
    try:
        return operator.index(n)  # int, numpy and 0-d torch integers
    except TypeError:
        return integer("neurons", n)  # an integral float; NaN or a string is an error


def check_neurons(neurons, width: int, layer: str) -> list[int]:
    """``neurons`` (an int or a sequence of ints) as a list of indices below ``width``."""
    if isinstance(neurons, str | bytes) or not (hasattr(neurons, "__iter__")
                                                or hasattr(neurons, "__index__")):
        raise ArgumentTypeError(f"neurons must be an int or a sequence of ints, got {neurons!r}")
    if isinstance(neurons, torch.Tensor | np.ndarray) and neurons.ndim == 0:
        neurons = [neurons]
    out = [_neuron_index(n) for n in neurons] if hasattr(neurons, "__iter__") else [
        _neuron_index(neurons)]
    if not out:
        raise ArgumentError("neurons must name at least one neuron")
    bad = [n for n in out if not 0 <= n < width]
    if bad:
        raise ArgumentError(
            f"neurons: index {bad[0]} out of range for layer {layer!r} with {width} neurons "
            f"(expected 0 <= index < {width})"
        )
    return out


def forward_activation(model: nn.Module, x: torch.Tensor, neurons: list[int],
                       layer_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's activation on ``x`` and its ``neurons`` (last axis); model errors are
    reported as errors of the input shape."""
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
