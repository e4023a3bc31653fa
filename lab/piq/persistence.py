"""PIQ decoder files: what is saved, how it is read back, the shipped variants.

Every read and write goes through :mod:`lab.checkpoints` (atomic saves, sha256 sidecars,
``weights_only`` loading), so every problem with a file — missing, corrupt, a hash mismatch,
a code-carrying pickle, a wrong structure, a decoder that does not fit the classifier — is a
:class:`~lab.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from lab.checkpoints import load_checkpoint, read_sidecar, save_checkpoint, sidecar_path
from lab.errors import ArgumentError, CheckpointError

__all__ = [
    "FORMAT",
    "PRETRAINED_PATH",
    "VARIANTS",
    "apply_state",
    "pretrained_path",
    "read_decoder",
    "state_of",
    "write_decoder",
]

#: Shipped decoder weights (trained on lab's keyword classifier) and their recorded digest.
PRETRAINED_PATH = Path(__file__).with_name("checkpoints") / "piq.pt"
#: Shipped variants: "piq" is trained with the PIQ loss only; "piq_fidelity" adds the
#: masked-in classifier term (``fidelity_weight``), a lab extension.
VARIANTS = ("piq", "piq_fidelity")
#: The ``format`` entry of every decoder file.
FORMAT = "lab.piq/1"
#: Config entries that fix the decoder's shapes: a file must agree with the interpreter.
SHAPE_KEYS = ("dim", "numclasses", "codes_per_class", "shared_keys", "decoder_channels",
              "n_upsample", "n_bins", "time_upsample", "layer")
_REQUIRED = ("format", "config", "class_names", "psi")


def pretrained_path(variant: str = "piq") -> Path:
    """Path of a shipped decoder variant (see :data:`VARIANTS`).

    Examples
    --------
    >>> pretrained_path("piq_fidelity").name
    'piq_fidelity.pt'
    """
    if variant not in VARIANTS:
        raise ArgumentError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return PRETRAINED_PATH.with_name(f"{variant}.pt")


def state_of(interpreter, *, optimizer: bool = False) -> dict:
    """Weights-only-loadable description of the trained decoder (and its optimizer)."""
    state = {
        "format": FORMAT,
        "config": dict(interpreter.config),
        "class_names": list(interpreter.class_names),
        "psi": {k: v.detach().clone() for k, v in interpreter.psi.state_dict().items()},
        "history": [dict(h) for h in interpreter.history],
        "epoch": interpreter.epoch,
        "step": interpreter.step,
        "provenance": dict(interpreter.provenance),
    }
    identity = getattr(interpreter, "model_identity", None)
    if identity is not None:  # adapted classifiers only: the zoo's files keep their keys
        state["model"] = dict(identity)
    if optimizer and interpreter._optimizer is not None:
        state["optimizer"] = interpreter._optimizer.state_dict()
    return state


def write_decoder(interpreter, path: str | os.PathLike, *, optimizer: bool = False) -> str:
    """Save atomically (never a half-written file); returns the file's sha256."""
    return save_checkpoint(state_of(interpreter, optimizer=optimizer), path)


def read_decoder(path: str | os.PathLike, *, verify: bool | None = None) -> dict:
    """The state dict in a decoder file, safely loaded.

    ``verify=True`` requires the sidecar digest (``<name>.sha256``) and checks it; ``None``
    checks it when the sidecar exists; ``False`` skips it.
    """
    path = Path(path)
    digest = None
    if verify or (verify is None and sidecar_path(path).exists()):
        digest = read_sidecar(path)
    return load_checkpoint(path, sha256=digest, keys=_REQUIRED)


def apply_state(interpreter, state: Mapping, source: str = "the state") -> None:
    """Load ``state`` into ``interpreter``; any mismatch is a CheckpointError naming ``source``."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source} must be a dict, got {type(state).__name__}")
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not a lab.piq checkpoint (missing format {FORMAT!r})")
    check_model(interpreter, state.get("model"), source)
    config, names, psi = state.get("config"), state.get("class_names"), state.get("psi")
    if not isinstance(config, Mapping) or not isinstance(psi, Mapping):
        raise CheckpointError(f"{source}: 'config' and 'psi' must be dicts")
    if (not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names)
            or len(names) != interpreter.num_classes):
        raise CheckpointError(
            f"{source}: 'class_names' must be {interpreter.num_classes} strings, one per "
            f"class of the classifier, got {names!r}"
        )
    mismatched = {k: (v, interpreter.config.get(k)) for k, v in config.items()
                  if k in SHAPE_KEYS and interpreter.config.get(k) != v}
    if mismatched:
        raise CheckpointError(
            f"{source} does not fit this classifier/config (file value, interpreter value): "
            f"{mismatched}"
        )
    try:
        interpreter.psi.load_state_dict(dict(psi))
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: the decoder weights do not load: {exc}") from None
    try:
        history = [dict(h) for h in state.get("history", [])]
        epoch, step = int(state.get("epoch", 0)), int(state.get("step", 0))
        provenance = dict(state.get("provenance", {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: malformed history, epoch, step or provenance: "
                              f"{exc}") from None
    interpreter.config.update(config)
    interpreter.class_names = list(names)
    interpreter.history = history
    interpreter.provenance = provenance
    interpreter.epoch, interpreter.step = epoch, step
    interpreter.psi.eval()


def describe_model(identity: Mapping | None) -> str:
    """A model identity in a few words: class, layer and the start of its weights' sha256."""
    if identity is None:
        return "the zoo's KeywordClassifier"
    digest = str(identity.get("state_sha256", "?"))[:12]
    return (f"{identity.get('class', '?')} (layer {identity.get('layer', '?')!r}, weights "
            f"sha256 {digest}...)")


def check_model(interpreter, identity, source: str) -> None:
    """Refuse a decoder trained on another model than ``interpreter``'s (CheckpointError)."""
    own = getattr(interpreter, "model_identity", None)
    if identity is not None and not isinstance(identity, Mapping):
        raise CheckpointError(f"{source}: 'model' must be a dict, got {type(identity).__name__}")
    if identity is None and own is None:
        return
    if identity is not None and own is not None and dict(identity) == dict(own):
        return
    differ = ""
    if identity is not None and own is not None:
        keys = sorted(k for k in set(identity) | set(own) if identity.get(k) != own.get(k))
        differ = f" (they differ in {', '.join(keys)})"
    raise CheckpointError(
        f"{source} is a PIQ decoder for {describe_model(identity)}, not for this model, "
        f"{describe_model(own)}{differ}; train one for this model "
        "(PIQInterpreter(model).fit(...)) or load the file with the model it was trained on")


def optimizer_lr(state: Mapping, source: str) -> float:
    """The learning rate an optimizer state was saved with."""
    try:
        return float(state["optimizer"]["param_groups"][0]["lr"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise CheckpointError(f"{source}: the optimizer state has no learning rate") from None


def load_optimizer(interpreter, state: Mapping, source: str) -> torch.optim.Optimizer:
    """Rebuild the optimizer from ``state["optimizer"]`` with the rate it was saved with."""
    from lab.piq.training import make_optimizer

    optimizer = make_optimizer(interpreter, optimizer_lr(state, source))
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: the optimizer state does not load: {exc}") from None
    return optimizer
