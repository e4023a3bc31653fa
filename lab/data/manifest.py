"""Locate the shipped corpus and read its manifest."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from lab.errors import ArgumentError, LabError

SPLITS = ("train", "valid", "test")
MANIFEST_COLUMNS = ["path", "text", "voice", "speed", "pitch", "duration", "split", "keyword"]


class CorpusError(LabError, ValueError):
    """Raised when a corpus directory or its manifest is missing or malformed."""


@dataclass(frozen=True)
class ManifestRow:
    """One utterance of the corpus, as listed in ``manifest.csv``.

    ``path`` is relative to the corpus directory; ``speed`` is espeak-ng words per minute,
    ``pitch`` espeak-ng's 0-99 pitch, ``duration`` seconds; ``keyword`` is the keyword class of
    a single command word and ``""`` for digit strings and phrases.
    """

    path: str
    text: str
    voice: str
    speed: int
    pitch: int
    duration: float
    split: str
    keyword: str


def corpus_dir() -> Path:
    """Directory of the shipped corpus (``manifest.csv``, ``VERSION``, ``audio/``).

    Examples
    --------
    >>> (corpus_dir() / "manifest.csv").is_file()
    True
    """
    return Path(__file__).resolve().parent / "corpus"


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """``root`` as a Path, or the shipped corpus directory when it is None."""
    return corpus_dir() if root is None else Path(root)


def corpus_version(root: str | os.PathLike[str] | None = None) -> str:
    """Version string of a corpus (its ``VERSION`` file); model checkpoints record it.

    Examples
    --------
    >>> corpus_version()
    '1.1.0'
    """
    path = resolve_root(root) / "VERSION"
    if not path.is_file():
        raise CorpusError(f"corpus VERSION file not found: {path}")
    return path.read_text(encoding="utf-8").strip()


def check_split(split: str) -> str:
    """Return ``split`` if it names a split, else raise a :class:`ValueError`."""
    if split not in SPLITS:
        raise ArgumentError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


def read_manifest(
    root: str | os.PathLike[str] | None = None, *, split: str | None = None
) -> list[ManifestRow]:
    """Rows of ``manifest.csv`` in file order, optionally only those of one split.

    Parameters
    ----------
    root : path, optional
        Corpus directory; defaults to :func:`corpus_dir`.
    split : {"train", "valid", "test"}, optional
        Keep only this split.

    Examples
    --------
    >>> rows = read_manifest(split="test")
    >>> {row.split for row in rows}
    {'test'}
    """
    if split is not None:
        check_split(split)
    path = resolve_root(root) / "manifest.csv"
    if not path.is_file():
        raise CorpusError(
            f"corpus manifest not found: {path}; regenerate it with `python -m lab.data.synth`"
        )
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != MANIFEST_COLUMNS:
            raise CorpusError(
                f"{path} has columns {reader.fieldnames}, expected {MANIFEST_COLUMNS}"
            )
        try:
            rows = [
                ManifestRow(
                    path=r["path"],
                    text=r["text"],
                    voice=r["voice"],
                    speed=int(r["speed"]),
                    pitch=int(r["pitch"]),
                    duration=float(r["duration"]),
                    split=r["split"],
                    keyword=r["keyword"],
                )  # fmt: skip
                for r in reader
            ]
        except (TypeError, ValueError) as error:
            raise CorpusError(f"{path} line {reader.line_num}: {error}") from None
    if split is not None:
        rows = [row for row in rows if row.split == split]
    return rows
