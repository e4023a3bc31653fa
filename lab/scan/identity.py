"""Model identity: what a scan manifest records so results from two models never mix.

- A zoo name (``"deepspeech"``) is identified by its checkpoint's sha256 from
  ``lab/models/checkpoints/index.json`` (the very digest :func:`lab.models.load_pretrained`
  verifies).
- A model that states its own identity — an adapter around a third-party model can set a
  ``scan_identity`` attribute (a JSON-serializable dict, or a method returning one) with, say,
  its hub name, revision and adapter config — is identified by that.
- Any other ``nn.Module`` is identified by its class and a stable hash of its state_dict
  (names, dtypes, shapes and bytes, in name order), so two equal modules match and a
  retrained one does not.

Examples
--------
>>> import torch
>>> sorted(model_identity(torch.nn.Linear(2, 2)))
['class', 'kind', 'state_sha256']
>>> model_identity("classifier")["sha256"][:12]
'e3c5c1feed11'
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from lab.errors import ArgumentTypeError

__all__ = ["model_identity", "resolve_model", "state_sha256"]


def state_sha256(model: nn.Module) -> str:
    """A stable sha256 of ``model.state_dict()`` (names, dtypes, shapes and values).

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> state_sha256(net) == state_sha256(net)
    True
    >>> before = state_sha256(net)
    >>> _ = net.bias.data.add_(1)
    >>> before == state_sha256(net)
    False
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16: hash its raw 16 bits
            value = value.view(torch.int16)
        digest.update(value.numpy().tobytes())
    return digest.hexdigest()


def model_identity(model: str | nn.Module) -> dict[str, Any]:
    """The identity a manifest records for ``model`` (a zoo name or a module).

    Raises
    ------
    ArgumentTypeError
        If ``model`` is neither a str nor an ``nn.Module``.
    """
    if isinstance(model, str):
        from lab.models import checkpoint_info

        info = checkpoint_info(model)
        return {"kind": "zoo", "name": model, "architecture": info["architecture"],
                "sha256": info["sha256"]}
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(
            f"model must be a zoo name (str) or a torch.nn.Module, got {type(model).__name__}"
        )
    own = getattr(model, "scan_identity", None)
    if own is not None:
        own = own() if callable(own) else own
        if not isinstance(own, dict):
            raise ArgumentTypeError(
                f"{type(model).__name__}.scan_identity must be a dict (or return one), "
                f"got {type(own).__name__}"
            )
        return {"kind": "adapter", **own}
    cls = type(model)
    return {"kind": "module", "class": f"{cls.__module__}.{cls.__qualname__}",
            "state_sha256": state_sha256(model)}


def resolve_model(model: str | nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    """``(module, identity)``: a zoo name is loaded (and verified) with ``load_pretrained``."""
    identity = model_identity(model)
    if isinstance(model, str):
        from lab.models import load_pretrained

        model = load_pretrained(model)
    return model, identity
