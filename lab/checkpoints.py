"""The one hashing and verification path for every checkpoint file in the lab.

Every ``.pt`` the lab reads (shipped models, PIQ decoders, training runs) goes through
:func:`load_checkpoint`, which

1. checks the file exists and is a regular file,
2. optionally checks its sha256 against an expected digest (from an index or a sidecar file),
   hashing the very bytes it then unpickles, so the file cannot change in between,
3. unpickles with ``torch.load(..., weights_only=True)``, which refuses pickles that would
   run code,
4. checks the top level is a dict holding the keys the caller needs.

Every failure — missing file, hash mismatch, truncated or garbled bytes, a code-carrying
pickle, a wrong top-level structure — is a :class:`~lab.errors.CheckpointError` whose
message names the file. The error never suggests ``weights_only=False``.

Digests
-------
A digest is 64 lowercase hex characters. :func:`sha256_file` computes one,
:func:`verify_sha256` compares a file with one, and a *sidecar* file ``<name>.sha256`` next to
``<name>.pt`` stores one in ``sha256sum`` format (``"<digest>  <name>.pt"``), written by
:func:`write_sidecar` (or ``save_checkpoint(..., sidecar=True)``) and read by
:func:`read_sidecar`.

Examples
--------
>>> import tempfile, torch
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> digest = save_checkpoint({"weights": torch.ones(2)}, folder / "tiny.pt", sidecar=True)
>>> read_sidecar(folder / "tiny.pt") == digest == sha256_file(folder / "tiny.pt")
True
>>> load_checkpoint(folder / "tiny.pt", sha256=digest, keys=("weights",))["weights"]
tensor([1., 1.])
>>> load_checkpoint(folder / "tiny.pt", sha256="0" * 64)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
lab.errors.CheckpointError: checkpoint .../tiny.pt has sha256 ..., expected 000...: the file ...
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from lab.errors import ArgumentTypeError, CheckpointError

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "read_sidecar",
    "save_checkpoint",
    "sha256_file",
    "sidecar_path",
    "verify_sha256",
    "write_sidecar",
]

_DIGEST = re.compile(r"[0-9a-f]{64}")
# The weights_only unpickler names the global it refused in one of these shapes.
_REFUSED_GLOBAL = re.compile(r"(?:GLOBAL|global:?)\s+([A-Za-z_][\w.]*)")


def _as_path(path: object, name: str = "path") -> Path:
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        raise ArgumentTypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise CheckpointError(f"{what} {path} is missing")
    if not path.is_file():
        raise CheckpointError(f"{what} {path} is not a regular file")


def _normalize_digest(expected: object, path: Path) -> str:
    """The expected digest in canonical form; a malformed one is a checkpoint problem."""
    if not isinstance(expected, str) or not _DIGEST.fullmatch(expected.strip().lower()):
        raise CheckpointError(
            f"the expected sha256 for {path} must be 64 hex digits, got {expected!r}"
        )
    return expected.strip().lower()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    CheckpointError
        If the file is missing or not a regular file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> sha256_file(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    path = _as_path(path)
    _require_file(path, "file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> str:
    """Check that a file's sha256 is ``expected``; return the digest.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    expected : str
        64 hex digits (case and surrounding whitespace are ignored).

    Returns
    -------
    str
        The digest (equal to ``expected``, lowercased).

    Raises
    ------
    CheckpointError
        If the file is missing, ``expected`` is not a sha256 digest, or the digests differ.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> verify_sha256(f.name, sha256_file(f.name).upper()) == sha256_file(f.name)
    True
    """
    path = _as_path(path)
    expected = _normalize_digest(expected, path)
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {actual}, expected {expected}: "
            "the file is corrupt or was replaced"
        )
    return actual


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the digest of ``path`` is kept: the same name with the suffix ``.sha256``.

    Examples
    --------
    >>> sidecar_path("lab/piq/checkpoints/piq.pt").as_posix()
    'lab/piq/checkpoints/piq.sha256'
    """
    return _as_path(path).with_suffix(".sha256")


def read_sidecar(path: str | os.PathLike) -> str:
    """The digest recorded for ``path`` in its sidecar file (see :func:`sidecar_path`).

    Raises
    ------
    CheckpointError
        If the sidecar is missing, unreadable, or does not start with a sha256 digest.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.sha256").write_text("ab" * 32 + "  a.pt\\n")
    >>> read_sidecar(folder / "a.pt") == "ab" * 32
    True
    """
    digest_file = sidecar_path(path)
    _require_file(digest_file, "sha256 file")
    try:
        text = digest_file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"sha256 file {digest_file} cannot be read: {err}") from err
    fields = text.split()
    if not fields or not _DIGEST.fullmatch(fields[0].lower()):
        raise CheckpointError(
            f"sha256 file {digest_file} must start with 64 hex digits, got {text[:80]!r}"
        )
    return fields[0].lower()


def write_sidecar(path: str | os.PathLike) -> str:
    """Record the digest of ``path`` in its sidecar file (``sha256sum`` format); return it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.pt").write_bytes(b"abc")
    >>> write_sidecar(folder / "a.pt") == read_sidecar(folder / "a.pt")
    True
    """
    path = _as_path(path)
    digest = sha256_file(path)
    sidecar_path(path).write_text(f"{digest}  {path.name}\n", encoding="ascii")
    return digest


def save_checkpoint(obj: Any, path: str | os.PathLike, *, sidecar: bool = False) -> str:
    """``torch.save`` through a temporary file, so no half-written checkpoint is ever left.

    Parameters
    ----------
    obj : object
        What to save; keep it to tensors and plain containers so that
        :func:`load_checkpoint` (``weights_only=True``) can read it back.
    path : str or os.PathLike
        Destination; parent folders are created.
    sidecar : bool
        Also write the digest to :func:`sidecar_path` ``(path)``.

    Returns
    -------
    str
        The sha256 of the written file.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "run" / "last.pt"
    >>> save_checkpoint({"step": 3}, path) == sha256_file(path)
    True
    """
    path = _as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return write_sidecar(path) if sidecar else sha256_file(path)


def _refusal_message(path: Path, err: pickle.UnpicklingError) -> str:
    # torch's own text advises weights_only=False, i.e. running the file's code: never pass
    # that on. Name only the refused object, when torch says which one it was.
    found = _REFUSED_GLOBAL.search(str(err))
    what = f" (it refers to {found.group(1)})" if found else ""
    return (
        f"checkpoint {path} was refused by the safe loader{what}: it holds objects other "
        "than tensors and plain containers, which could run code when loaded. Do not load "
        "it; re-create it from a trusted source"
    )


def load_checkpoint(
    path: str | os.PathLike,
    *,
    sha256: str | None = None,
    keys: Iterable[str] = (),
    map_location: str | torch.device = "cpu",
) -> dict:
    """Read a checkpoint safely: existence, optional sha256, ``weights_only`` unpickling, keys.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pt`` file.
    sha256 : str, optional
        Expected digest. When given, the bytes are hashed and then unpickled from memory, so
        what is loaded is exactly what was verified.
    keys : iterable of str
        Keys the top-level dict must hold.
    map_location : str or torch.device
        Passed to ``torch.load``.

    Returns
    -------
    dict
        The unpickled top-level dict.

    Raises
    ------
    CheckpointError
        Naming the file, if it is missing, its digest differs, it is truncated or garbled,
        it holds objects ``weights_only`` refuses (possibly code), its top level is not a
        dict, or it lacks one of ``keys``.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "list.pt"
    >>> _ = save_checkpoint([1, 2], path)
    >>> load_checkpoint(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.CheckpointError: checkpoint .../list.pt must hold a dict at the top level, got list
    """
    path = _as_path(path)
    keys = [keys] if isinstance(keys, str) else list(keys)
    _require_file(path, "checkpoint")
    if sha256 is not None:
        expected = _normalize_digest(sha256, path)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise CheckpointError(f"checkpoint {path} cannot be read: {err}") from err
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise CheckpointError(
                f"checkpoint {path} has sha256 {actual}, expected {expected}: "
                "the file is corrupt or was replaced"
            )
        source: Path | io.BytesIO = io.BytesIO(data)
    else:
        source = path
    try:
        with warnings.catch_warnings():
            # old pickle protocols trigger a UserWarning from the safe unpickler; the outcome
            # (loaded or refused) is what matters here
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" in str(err).lower():
            raise CheckpointError(_refusal_message(path, err)) from None
        raise CheckpointError(f"checkpoint {path} is corrupt: {err}") from err
    except Exception as err:  # truncated zip (RuntimeError), empty (EOFError), garbage (KeyError)
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is truncated or not a torch checkpoint "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'})"
        ) from err
    if not isinstance(payload, Mapping):
        raise CheckpointError(
            f"checkpoint {path} must hold a dict at the top level, got {type(payload).__name__}"
        )
    missing = [k for k in keys if k not in payload]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks the keys {missing}; it holds {sorted(map(str, payload))}"
        )
    return dict(payload)
