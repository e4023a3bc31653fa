"""Argument checks for panel constructors: each failure names the argument and what it expects.

A slider silently clamps a value outside its range, so a panel checks its initial values
against the ranges of its sliders instead of showing something other than what was asked.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from os import PathLike

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["check_choice", "check_int", "check_model", "check_number", "check_sources",
           "foreign_adapter", "zoo_module"]


def check_int(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """An int in ``[low, high]`` (numpy ints too; bools and floats are refused).

    Examples
    --------
    >>> check_int(5, "top_k", 1)
    5
    >>> check_int(2.0, "top_k", 1)
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentTypeError: top_k must be an int, got float
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ArgumentError(f"{name} must be an int {_span(low, high)}, got {value}")
    return value


def check_number(value, name: str, low: float | None = None,
                 high: float | None = None) -> float:
    """A finite real number in ``[low, high]``.

    Examples
    --------
    >>> check_number(0.5, "threshold", 0.0, 1.0)
    0.5
    >>> check_number(float("nan"), "threshold", 0.0, 1.0)
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: threshold must be a finite number in [0.0, 1.0], got nan
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (
        high is not None and value > high
    ):
        raise ArgumentError(f"{name} must be a finite number {_span(low, high)}, got {value}")
    return value


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """One of ``choices``.

    Examples
    --------
    >>> check_choice("greedy", "method", ("optimize", "greedy"))
    'greedy'
    """
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_model(model, name: str = "model"):
    """A ``torch.nn.Module`` or a :class:`lab.models.SpeechModel` adapter, returned as given.

    Panels hand it to the public API, which adapts it (:func:`lab.models.adapt`): the zoo's
    models, Hugging Face models, Silero VAD, or an adapter describing any other module.

    Examples
    --------
    >>> import torch
    >>> check_model(torch.nn.Linear(2, 2)).in_features
    2
    >>> from lab.models import adapt
    >>> check_model(adapt(torch.nn.Linear(320, 1), kind="frame_scores")).kind
    'frame_scores'
    >>> check_model("wav2vec2")
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentTypeError: model must be a torch.nn.Module or a lab.models.SpeechModel \
(see lab.models.adapt), got str
    """
    from torch import nn

    from lab.models import SpeechModel

    if not isinstance(model, nn.Module | SpeechModel):
        raise ArgumentTypeError(f"{name} must be a torch.nn.Module or a lab.models.SpeechModel "
                                f"(see lab.models.adapt), got {type(model).__name__}")
    return model


def foreign_adapter(model):
    """The adapter of a model outside the zoo (Hugging Face, Silero, any adapter), else None.

    Zoo models, their no-op adapters and plain modules give None: panels keep their zoo path.

    Examples
    --------
    >>> import torch
    >>> from lab.models import DeepSpeech, adapt
    >>> foreign_adapter(adapt(DeepSpeech(n_hidden=8))) is None
    True
    >>> foreign_adapter(adapt(torch.nn.Linear(320, 1), kind="frame_scores")).input
    'waveform'
    """
    from lab.models.adapters import ZooModel, adapted

    adapter = adapted(model)
    return None if adapter is None or isinstance(adapter, ZooModel) else adapter


def zoo_module(model):
    """A zoo adapter's own model (the zoo path); anything else unchanged."""
    from lab.models.adapters import ZooModel

    return model.module if isinstance(model, ZooModel) else model


def check_sources(sources, name: str = "sources") -> dict:
    """A non-empty ``{label: path or bytes}`` dict from a mapping.

    Examples
    --------
    >>> check_sources({"a": b"RIFF"})
    {'a': b'RIFF'}
    >>> check_sources(["a.wav"])
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentTypeError: sources must be a mapping of label → path or bytes, got list
    """
    if not isinstance(sources, Mapping):
        raise ArgumentTypeError(
            f"{name} must be a mapping of label → path or bytes, got {type(sources).__name__}"
        )
    out = dict(sources)
    if not out:
        raise ArgumentError(f"{name} is empty; give at least one label → path/bytes")
    for label, source in out.items():
        if not isinstance(label, str):
            raise ArgumentTypeError(
                f"{name} labels must be str, got {type(label).__name__} {label!r}"
            )
        if not isinstance(source, str | bytes | bytearray | memoryview | PathLike):
            raise ArgumentTypeError(
                f"{name}[{label!r}] must be a path or bytes, got {type(source).__name__}"
            )
    return out


def _span(low, high) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""
