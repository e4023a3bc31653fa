"""Shipped checkpoints: ``load_pretrained(name)`` with hash, config and safe-unpickling checks.

Each ``checkpoints/<name>.pt`` holds ``{"architecture", "config", "state_dict"}`` saved with
``torch.save``; ``checkpoints/index.json`` records, per name, the file's sha256, the
architecture and config, the corpus version it was trained on and its test metrics.
Files are read with ``torch.load(weights_only=True)``, which refuses pickles that would run
code, and only after the sha256 of the bytes matches the index.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import torch
from torch import nn

from lab.errors import ArgumentError, CheckpointError
from lab.models.classifier import KeywordClassifier
from lab.models.deepspeech import DeepSpeech
from lab.models.transducer import Transducer

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_DIR",
    "CheckpointError",
    "available",
    "checkpoint_info",
    "export_checkpoint",
    "load_pretrained",
    "sha256_file",
]

CHECKPOINT_DIR = Path(__file__).with_name("checkpoints")
INDEX_NAME = "index.json"
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "DeepSpeech": DeepSpeech,
    "Transducer": Transducer,
    "KeywordClassifier": KeywordClassifier,
}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_index(directory: Path) -> dict:
    path = directory / INDEX_NAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint index {path} is not valid JSON: {err}") from err


def available(directory: str | Path | None = None) -> list[str]:
    """Names of the checkpoints listed in the index."""
    return sorted(_read_index(Path(directory or CHECKPOINT_DIR)))


def checkpoint_info(name: str, directory: str | Path | None = None) -> dict:
    """The index entry of a checkpoint: file, sha256, architecture, config, metrics."""
    directory = Path(directory or CHECKPOINT_DIR)
    index = _read_index(directory)
    if name not in index:
        raise CheckpointError(
            f"no checkpoint named {name!r} in {directory / INDEX_NAME}; available: {sorted(index)}"
        )
    return index[name]


def load_pretrained(name: str, *, directory: str | Path | None = None) -> nn.Module:
    """Load a shipped model in eval mode after checking its hash and config.

    Parameters
    ----------
    name : str
        Checkpoint name: ``"deepspeech"``, ``"transducer"`` or ``"classifier"``.
    directory : str or Path, optional
        Where ``index.json`` and the ``.pt`` files live (the shipped checkpoints by default).

    Raises
    ------
    CheckpointError
        If the name is unknown, the file is missing, its sha256 differs from the index, it
        cannot be read safely (corrupt, or a pickle that would run code), or its architecture,
        config or weights do not match.
    """
    directory = Path(directory or CHECKPOINT_DIR)
    info = checkpoint_info(name, directory)
    path = directory / info["file"]
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} for {name!r} is missing")
    digest = sha256_file(path)
    if digest != info["sha256"]:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, but the index records {info['sha256']}: "
            "the file is corrupt or was replaced"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"checkpoint {path} was refused by the safe loader (weights_only=True): it holds "
            f"objects other than tensors and plain containers, possibly code. {err}"
        ) from err
    except Exception as err:  # torch raises several types for truncated or garbled files
        raise CheckpointError(f"checkpoint {path} cannot be read: {err}") from err
    if not isinstance(payload, dict) or not {"architecture", "config", "state_dict"} <= set(
        payload
    ):
        raise CheckpointError(
            f"checkpoint {path} must be a dict with architecture, config and state_dict"
        )
    if payload["architecture"] != info["architecture"] or payload["config"] != info["config"]:
        raise CheckpointError(
            f"checkpoint {path} does not match the index: file has {payload['architecture']} "
            f"{payload['config']}, index has {info['architecture']} {info['config']}"
        )
    if info["architecture"] not in ARCHITECTURES:
        raise CheckpointError(
            f"unknown architecture {info['architecture']!r}; known: {sorted(ARCHITECTURES)}"
        )
    model = ARCHITECTURES[info["architecture"]](**payload["config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"weights in {path} do not fit the config: {err}") from err
    return model.eval()


def export_checkpoint(
    model: nn.Module,
    name: str,
    *,
    directory: str | Path | None = None,
    **metadata,
) -> Path:
    """Write ``<name>.pt`` and record its hash, config and ``metadata`` in the index."""
    directory = Path(directory or CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    architecture = type(model).__name__
    if architecture not in ARCHITECTURES:
        raise ArgumentError(f"model must be one of {sorted(ARCHITECTURES)}, got {architecture}")
    path = directory / f"{name}.pt"
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"architecture": architecture, "config": model.config, "state_dict": state}, path)
    index = _read_index(directory)
    index[name] = {"file": path.name, "sha256": sha256_file(path), "architecture": architecture,
                   "config": model.config, **metadata}
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path
