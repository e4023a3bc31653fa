"""Model identity: what a scan manifest records so results from two models never mix.

- A zoo name (``"deepspeech"``) is identified by its checkpoint's sha256 from
  ``lab/models/checkpoints/index.json`` (the very digest :func:`lab.models.load_pretrained`
  verifies).
- A model that states its own identity — an adapter around a third-party model can set a
  ``scan_identity`` attribute (a JSON-serializable dict, or a method returning one) with, say,
  its hub name, revision and adapter config — is identified by that.
- An adapted model — ``"silero_vad"``, a :class:`~lab.models.adapters.SpeechModel`, or a
  Hugging Face / Silero model :func:`lab.models.adapt` wraps on its own — is identified by
  its adapter (class, kind, input, framing, labels), the wrapped module's class and a stable
  hash of its state_dict, plus any ``scan_identity`` of its own.
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
>>> from lab.models import adapt
>>> vad = adapt(torch.nn.Linear(4, 1), kind="frame_scores", input_hop=4)
>>> ident = model_identity(vad)
>>> ident["kind"], ident["adapter"], ident["model_kind"], ident == model_identity(vad)
('adapter', 'ModuleModel', 'frame_scores', True)
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from lab.errors import ArgumentTypeError

__all__ = ["ADAPTED_NAMES", "model_identity", "resolve_model", "state_sha256"]

# Names load_pretrained resolves to adapted third-party models (not zoo checkpoints).
ADAPTED_NAMES = ("silero_vad",)


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


def _own_identity(owner: Any) -> dict[str, Any] | None:
    own = getattr(owner, "scan_identity", None)
    if own is None:
        return None
    own = own() if callable(own) else own
    if not isinstance(own, dict):
        raise ArgumentTypeError(
            f"{type(owner).__name__}.scan_identity must be a dict (or return one), "
            f"got {type(own).__name__}"
        )
    return own


def adapter_identity(adapter) -> dict[str, Any]:
    """The identity of a :class:`~lab.models.adapters.SpeechModel` (see the module docstring).

    The adapter's description is part of it because the same weights read another way
    (another hop, threshold or vocabulary) give other results; how the model was named
    (``"silero_vad"`` or the loaded object) is not, so either resumes the other's scan.
    """
    cls = type(adapter.module)
    ident: dict[str, Any] = {
        "kind": "adapter", "adapter": type(adapter).__name__,
        "class": f"{cls.__module__}.{cls.__qualname__}", "model_kind": adapter.kind,
        "input": adapter.input, "sample_rate": int(adapter.sample_rate),
        "input_hop": int(adapter.input_hop), "frame_seconds": float(adapter.frame_seconds),
        "threshold": float(adapter.threshold),
        "labels": list(adapter.labels) if adapter.labels else None,
        "blank": adapter.blank, "state_sha256": state_sha256(adapter.module),
    }
    for owner in (adapter.module, adapter):  # the adapter's own statement wins
        own = _own_identity(owner)
        if own is not None:
            ident.update(own)
    ident["kind"] = "adapter"
    return ident


def model_identity(model: Any) -> dict[str, Any]:
    """The identity a manifest records for ``model``: a zoo name, a module or an adapter.

    Raises
    ------
    ArgumentTypeError
        If ``model`` is neither a str, an ``nn.Module`` nor a ``SpeechModel``.
    """
    from lab.models.adapters import SpeechModel, ZooModel, adapted

    if isinstance(model, str):
        if model in ADAPTED_NAMES:
            from lab.models import load_pretrained

            return adapter_identity(load_pretrained(model))
        from lab.models import checkpoint_info

        info = checkpoint_info(model)
        return {"kind": "zoo", "name": model, "architecture": info["architecture"],
                "sha256": info["sha256"]}
    if isinstance(model, ZooModel):  # the zoo adapter is a no-op: its module is the model
        return model_identity(model.module)
    if isinstance(model, SpeechModel):
        return adapter_identity(model)
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(
            f"model must be a zoo name (str), a torch.nn.Module or a lab.models.SpeechModel, "
            f"got {type(model).__name__}"
        )
    own = _own_identity(model)
    if own is not None:
        return {"kind": "adapter", **own}
    adapter = adapted(model)
    if adapter is not None:
        return adapter_identity(adapter)
    cls = type(model)
    return {"kind": "module", "class": f"{cls.__module__}.{cls.__qualname__}",
            "state_sha256": state_sha256(model)}


def resolve_model(model: Any) -> tuple[Any, dict[str, Any]]:
    """``(model, identity)`` for a scan.

    A zoo name is loaded (and verified) with ``load_pretrained``; ``"silero_vad"``, a
    ``SpeechModel`` and a model :func:`lab.models.adapt` wraps on its own come back as their
    :class:`~lab.models.adapters.SpeechModel` (the zoo's adapter as its plain module, so zoo
    scans are unchanged); plain modules come back as they are.
    """
    from lab.models.adapters import SpeechModel, ZooModel, adapted

    if isinstance(model, str) and model in ADAPTED_NAMES:
        from lab.models import load_pretrained

        adapter = load_pretrained(model)
        return adapter, adapter_identity(adapter)
    identity = model_identity(model)
    if isinstance(model, str):
        from lab.models import load_pretrained

        return load_pretrained(model), identity
    if isinstance(model, ZooModel):
        return model.module, identity
    if isinstance(model, SpeechModel):
        return model, identity
    adapter = adapted(model)
    return (model if adapter is None else adapter), identity
