"""Read any layer's output by name with forward hooks; works for any ``nn.Module``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["activations", "first_tensor", "layer_names", "resolve_layer"]


def layer_names(model: nn.Module) -> list[str]:
    """Names of every submodule, as accepted by :func:`activations`.

    Examples
    --------
    >>> from torch import nn
    >>> layer_names(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    ['0', '1']

    An adapter (:func:`lab.models.adapt`) gives its wrapped model's names.
    """
    if _is_adapter(model):
        return model.layer_names()
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [name for name, _ in model.named_modules() if name]


def _is_adapter(model) -> bool:
    from lab.models.adapters import SpeechModel

    return isinstance(model, SpeechModel)


def first_tensor(output) -> torch.Tensor:
    """The activation tensor of a module output (``nn.LSTM`` returns ``(output, (h, c))``)."""
    while isinstance(output, (tuple, list)):
        if not output:
            raise ArgumentError("layer output is an empty tuple; nothing to visualize")
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise ArgumentTypeError(f"layer output must be a tensor, got {type(output).__name__}")
    return output


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Find a submodule by name (as in ``model.named_modules()``) or identity."""
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in modules.items():
            if module is layer:
                return name, module
        raise ArgumentError("layer: the given module is not a submodule of model")
    if not isinstance(layer, str):
        raise ArgumentTypeError(
            f"layer must be a module name (str) or a submodule, got {type(layer).__name__}"
        )
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise ArgumentError(f"layer: unknown layer {layer!r}; expected one of: {shown}")
    return layer, modules[layer]


def activations(
    model: nn.Module,
    x,
    layers: Sequence[str],
    *,
    call: Callable | None = None,
    detach: bool = False,
) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``x`` and return the outputs of the named layers.

    Parameters
    ----------
    model : nn.Module
        Any module; layers are addressed by their ``named_modules`` names (``"layer_1"``,
        ``"encoder.0"``).
    x : Tensor or tuple
        The input; a tuple is unpacked into positional arguments.
    layers : sequence of str
        Layer names. For modules returning tuples (LSTM: ``(output, (h, c))``) the first
        element, the output sequence, is recorded.
    call : callable, optional
        What to run instead of ``model(x)``, e.g. ``model.embed`` or a lambda; the hooks are
        on ``model``'s layers either way.
    detach : bool
        Detach the recorded tensors. The default keeps them in the graph so gradients flow
        back to the input (feature visualization).

    Returns
    -------
    dict of str to Tensor
        ``{name: output}`` in the order of ``layers``.

    An adapter (:func:`lab.models.adapt`) takes ``x`` as audio (a path or waveform) or its own
    input ``(B, T, F)`` / ``(T, F)``, and runs its scores (hooks on the wrapped model's layers).

    Raises
    ------
    TypeError
        If ``model`` is not a module, ``layers`` is not a sequence of names, or ``call`` is
        not callable.
    ValueError
        If ``layers`` is empty or a name is not a layer of ``model`` (the
        message lists the valid names).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> acts = activations(net, torch.ones(1, 2), ["0", "1"])
    >>> bool((acts["1"] >= 0).all()), tuple(acts["0"].shape)
    (True, (1, 3))
    """
    if _is_adapter(model):
        if call is None and not (torch.is_tensor(x) and x.ndim == 3):
            x = model.own_input(x)[None].to(model.device)
        model = model.module_view()
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, Sequence) or not all(isinstance(n, str) for n in layers):
        raise ArgumentTypeError(f"layers must be a layer name or a list of names, got {layers!r}")
    if not layers:
        raise ArgumentError(f"layers must name at least one layer; valid: {layer_names(model)}")
    layers = list(dict.fromkeys(layers))  # a repeated name is recorded once
    if call is not None and not callable(call):
        raise ArgumentTypeError(f"call must be callable, got {type(call).__name__}")
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules or not name]
    if unknown:
        raise ArgumentError(
            f"layers {unknown} are not layers of {type(model).__name__}; valid names: "
            f"{layer_names(model)}"
        )
    recorded: dict[str, torch.Tensor] = {}

    def recorder(name):
        def hook(_module, _inputs, output):
            out = first_tensor(output)
            recorded[name] = out.detach() if detach else out

        return hook

    handles = [modules[name].register_forward_hook(recorder(name)) for name in layers]
    try:
        run = call if call is not None else model
        run(*x) if isinstance(x, tuple) else run(x)
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in layers if name not in recorded]
    if missing:
        raise ArgumentError(f"layers {missing} exist but did not run during this call")
    return {name: recorded[name] for name in layers}
