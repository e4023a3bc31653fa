"""Shipped checkpoints: ``load_pretrained(name)`` with hash, config and safe-unpickling checks.

Each ``checkpoints/<name>.pt`` holds ``{"architecture", "config", "state_dict"}`` saved with
``torch.save``; ``checkpoints/index.json`` records, per name, the file's sha256, the
architecture and config, the corpus version it was trained on and its test metrics.
Files are read through :func:`lab.checkpoints.load_checkpoint` (the lab's one verification
path): the sha256 of the bytes must match the index, and they are unpickled with
``torch.load(weights_only=True)``, which refuses pickles that would run code. The index entry
and its config are checked value by value — and the model size on the meta device — before
any model is built, so a corrupt index cannot make the lab allocate gigabytes.
:func:`sha256_file` is re-exported from :mod:`lab.checkpoints` for older callers.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.checkpoints import load_checkpoint, save_checkpoint, sha256_file
from lab.errors import ArgumentError, ArgumentTypeError, CheckpointError
from lab.models.classifier import KeywordClassifier
from lab.models.deepspeech import DeepSpeech
from lab.models.transducer import Transducer

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_DIR",
    "MAX_PARAMETERS",
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
#: Largest model a config may describe (200 MB of float32): the shipped ones hold under 1 M,
#: and a config from a corrupt index must not make the lab allocate gigabytes.
MAX_PARAMETERS = 50_000_000

# What each architecture's config may hold: key -> (kind, low, high). Bounds are generous
# sanity limits; MAX_PARAMETERS is the real guard against huge allocations.
_INT, _FLOAT, _BOOL, _WIDTHS, _OPT_INT = "int", "float", "bool", "widths", "int or null"
_SIZE = (_INT, 1, 65_536)
_CONFIG_SCHEMAS: dict[str, dict[str, tuple[str, float, float]]] = {
    "DeepSpeech": {
        "n_features": _SIZE, "n_context": (_INT, 0, 64), "n_hidden": _SIZE,
        "n_classes": (_INT, 2, 65_536), "dropout": (_FLOAT, 0.0, 1.0),
        "relu_clip": (_FLOAT, 1e-6, 1e6),
    },
    "Transducer": {
        "n_features": _SIZE, "n_classes": (_INT, 2, 65_536), "conv_channels": _SIZE,
        "encoder_hidden": _SIZE, "encoder_layers": (_INT, 1, 32), "embed_dim": _SIZE,
        "predictor_hidden": _SIZE, "joint_dim": _SIZE,
        "max_symbols_per_frame": (_INT, 1, 1_000), "predictor_dropout": (_FLOAT, 0.0, 1.0),
        "predictor_context": (_INT, 0, 64),
    },
    "KeywordClassifier": {
        "n_classes": (_INT, 2, 65_536), "n_bins": (_INT, 2, 8_193), "dim": _SIZE,
        "widths": (_WIDTHS, 1, 65_536), "dropout": (_FLOAT, 0.0, 1.0),
        "per_clip_mean": (_BOOL, 0, 1), "n_mels": (_OPT_INT, 1, 1_024),
    },
}


def _check_number(value: Any, kind: str, low: float, high: float) -> str | None:
    """Why ``value`` is not a ``kind`` in [low, high] (None when it is)."""
    if kind == _BOOL:
        return None if isinstance(value, bool) else "must be true or false"
    if kind == _OPT_INT and value is None:
        return None
    if kind in (_INT, _OPT_INT):
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
        value
    ):
        return "must be a finite number"
    if not low <= value <= high:
        return f"must be in [{low:g}, {high:g}]"
    return None


def _validate_config(architecture: str, config: Any, source: Path) -> dict:
    """The config, checked value by value and by model size before any model is built."""
    if architecture not in ARCHITECTURES:
        raise CheckpointError(
            f"{source}: unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}"
        )
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{source}: the config must be a JSON object, got {type(config).__name__}"
        )
    schema = _CONFIG_SCHEMAS[architecture]
    unknown = sorted(map(str, set(config) - set(schema)))
    if unknown:
        raise CheckpointError(
            f"{source}: config keys {unknown} are not {architecture} options; "
            f"known: {sorted(schema)}"
        )
    for key, value in config.items():
        kind, low, high = schema[key]
        if kind == _WIDTHS:
            ok = isinstance(value, list | tuple) and len(value) == 2
            problems = [_check_number(v, _INT, low, high) for v in value] if ok else []
            problem = None if ok and not any(problems) else "must be two positive integers"
        else:
            problem = _check_number(value, kind, low, high)
        if problem:
            raise CheckpointError(f"{source}: config {key} {problem}, got {value!r}")
    try:
        # Build on the meta device first: it allocates nothing, so the size check is free.
        with torch.device("meta"):
            probe = ARCHITECTURES[architecture](**config)
    except Exception as err:  # a combination the constructor refuses
        raise CheckpointError(f"{source}: config {config} cannot build a model: {err}") from err
    size = sum(p.numel() for p in probe.parameters())
    if size > MAX_PARAMETERS:
        raise CheckpointError(
            f"{source}: config {config} describes {size:,} parameters, more than the "
            f"{MAX_PARAMETERS:,} allowed"
        )
    return config


def _as_directory(directory: str | os.PathLike | None) -> Path:
    if directory is None:
        return CHECKPOINT_DIR
    if isinstance(directory, bytes) or not isinstance(directory, str | os.PathLike):
        raise ArgumentTypeError(
            f"directory must be a str or os.PathLike, got {type(directory).__name__}"
        )
    return Path(directory)


def _read_index(directory: Path) -> dict:
    path = directory / INDEX_NAME
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"checkpoint index {path} is not valid JSON: {err}") from err
    if not isinstance(index, dict) or not all(isinstance(v, dict) for v in index.values()):
        raise CheckpointError(
            f"checkpoint index {path} must map checkpoint names to objects, got {index!r:.80}"
        )
    return index


def _check_entry(name: str, entry: dict, index_path: Path) -> dict:
    """An index entry with the fields load_pretrained needs, each of the right shape."""
    file = entry.get("file")
    if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
        # A bare file name only: an index must not point outside its own folder.
        raise CheckpointError(
            f"checkpoint index {index_path}: {name!r} needs 'file', a file name in the same "
            f"folder, got {file!r}"
        )
    for key, kind in (("sha256", str), ("architecture", str), ("config", dict)):
        if not isinstance(entry.get(key), kind):
            raise CheckpointError(
                f"checkpoint index {index_path}: {name!r} needs {key!r} "
                f"({kind.__name__}), got {entry.get(key)!r:.80}"
            )
    return entry


def available(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the checkpoints listed in the index.

    Examples
    --------
    >>> available()
    ['classifier', 'deepspeech', 'transducer']
    """
    return sorted(_read_index(_as_directory(directory)))


def checkpoint_info(name: str, directory: str | os.PathLike | None = None) -> dict:
    """The index entry of a checkpoint: file, sha256, architecture, config, metrics.

    Raises
    ------
    CheckpointError
        If the name is not in the index or its entry lacks a field or has the wrong type.

    Examples
    --------
    >>> checkpoint_info("classifier")["architecture"]
    'KeywordClassifier'
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, got {type(name).__name__}")
    directory = _as_directory(directory)
    index = _read_index(directory)
    if name not in index:
        raise CheckpointError(
            f"no checkpoint named {name!r} in {directory / INDEX_NAME}; available: {sorted(index)}"
        )
    return _check_entry(name, index[name], directory / INDEX_NAME)


def load_pretrained(name: str, *, directory: str | os.PathLike | None = None) -> nn.Module:
    """Load a shipped model in eval mode after checking its hash and config.

    Parameters
    ----------
    name : str
        Checkpoint name: ``"deepspeech"``, ``"transducer"`` or ``"classifier"``; or
        ``"silero_vad"``: the TorchScript model the ``silero-vad`` package ships (an optional
        dependency), returned adapted (:class:`lab.models.SpeechModel`: 16 kHz waveform →
        speech probability per 32 ms frame).
    directory : str or os.PathLike, optional
        Where ``index.json`` and the ``.pt`` files live (the shipped checkpoints by default).

    Raises
    ------
    CheckpointError
        Naming the file, if the name is unknown, the index entry or config is malformed or
        describes an absurdly large model, the file is missing, its sha256 differs from the
        index, it cannot be read safely (truncated, corrupt, or a pickle that would run code),
        or its architecture, config or weights do not match.

    Examples
    --------
    >>> type(load_pretrained("classifier")).__name__
    'KeywordClassifier'
    """
    if name == "silero_vad" and directory is None:
        from lab.models.adapters import load_silero_vad

        return load_silero_vad()
    directory = _as_directory(directory)
    info = checkpoint_info(name, directory)
    path = directory / info["file"]
    # One verification path (lab.checkpoints): hash, weights_only unpickling, top-level keys.
    payload = load_checkpoint(path, sha256=info["sha256"],
                              keys=("architecture", "config", "state_dict"))
    if payload["architecture"] != info["architecture"] or payload["config"] != info["config"]:
        raise CheckpointError(
            f"checkpoint {path} does not match the index: file has {payload['architecture']} "
            f"{payload['config']}, index has {info['architecture']} {info['config']}"
        )
    # Reading the file is bounded by its size; building the model is not, so the config is
    # checked before that.
    _validate_config(info["architecture"], info["config"], directory / INDEX_NAME)
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path}: state_dict must map names to tensors")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"checkpoint {path}: weights {bad[:5]} hold NaN or inf")
    model = ARCHITECTURES[info["architecture"]](**info["config"])
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as err:
        raise CheckpointError(f"weights in {path} do not fit the config: {err}") from err
    if isinstance(info.get("domain"), dict):  # panels show it (lab.models.adapters.domain_hint)
        model.domain = dict(info["domain"])
    return model.eval()


def default_domain(model: nn.Module) -> dict:
    """What a zoo model trained on the shipped corpus knows (its index entry's ``domain``).

    Examples
    --------
    >>> default_domain(KeywordClassifier())["voices"]
    'espeak-ng (synthetic)'
    """
    from lab.data.vocabulary import KEYWORDS, VOCABULARY

    if isinstance(model, KeywordClassifier):
        return {"description": f"{len(KEYWORDS)} command words, one per clip, read by "
                               "synthetic espeak-ng voices; real human speech and other words "
                               "are out of its domain",
                "labels": list(KEYWORDS), "voices": "espeak-ng (synthetic)"}
    return {"description": f"a {len(VOCABULARY)}-word vocabulary (24 command words, digits, a "
                           "few phrase words) read by synthetic espeak-ng voices; real human "
                           "speech and other words are out of its domain",
            "vocabulary": list(VOCABULARY), "voices": "espeak-ng (synthetic)"}


def export_checkpoint(
    model: nn.Module,
    name: str,
    *,
    directory: str | os.PathLike | None = None,
    **metadata: Any,
) -> Path:
    """Write ``<name>.pt`` and record its hash, config and ``metadata`` in the index.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = export_checkpoint(DeepSpeech(n_hidden=8), "tiny", directory=folder, metrics={})
    >>> type(load_pretrained("tiny", directory=folder)).__name__
    'DeepSpeech'
    """
    directory = _as_directory(directory)
    architecture = type(model).__name__
    if architecture not in ARCHITECTURES:
        raise ArgumentError(f"model must be one of {sorted(ARCHITECTURES)}, got {architecture}")
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise ArgumentError(f"name must be a plain file stem such as 'tiny', got {name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pt"
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    digest = save_checkpoint(
        {"architecture": architecture, "config": model.config, "state_dict": state}, path
    )
    index = _read_index(directory)
    metadata.setdefault("domain", default_domain(model))  # what panels say the model knows
    index[name] = {"file": path.name, "sha256": digest, "architecture": architecture,
                   "config": model.config, **metadata}
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path
