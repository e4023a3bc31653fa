"""Layer lookup and output unpacking shared by the interpretation tools."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["resolve_layer", "first_tensor"]


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Find a submodule by name (as in ``model.named_modules()``) or identity."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in modules.items():
            if module is layer:
                return name, module
        raise ValueError("layer: the given module is not a submodule of model")
    if not isinstance(layer, str):
        raise TypeError(
            f"layer must be a module name (str) or a submodule, got {type(layer).__name__}"
        )
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise ValueError(f"layer: unknown layer {layer!r}; expected one of: {shown}")
    return layer, modules[layer]


def first_tensor(output) -> torch.Tensor:
    """The activation tensor of a module output (``nn.LSTM`` returns ``(output, (h, c))``)."""
    while isinstance(output, (tuple, list)):
        if not output:
            raise ValueError("layer output is an empty tuple; nothing to visualize")
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"layer output must be a tensor, got {type(output).__name__}")
    return output
