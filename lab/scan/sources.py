"""What a scan runs over: corpus splits, folders of audio files, Hugging Face datasets.

A *source* is a small picklable object that lists its utterances (stable ids, in a fixed
order), loads one utterance's waveform, and states its *identity* (what a manifest records so
that a resumed scan never mixes two datasets). Sources are shipped to the Dask workers once,
with the model; each shard of work then names only the indices it covers.

Three kinds ship with the lab:

- :class:`CorpusSource` — a split of the shipped corpus (``"train"``, ``"valid"``,
  ``"test"``) or all of it (``"all"``);
- :class:`FolderSource` — every audio file under a folder (recursively), with an optional
  transcript manifest (CSV with ``path`` and ``text`` columns, or a ``path<TAB>text`` file);
- :class:`HuggingFaceSource` — a ``datasets.Dataset`` with an audio column (needs the optional
  ``datasets`` package).

:func:`as_source` turns what a user types (``"test"``, a folder, ``"hf:/saved/dataset"``)
into one of them.

Examples
--------
>>> test = as_source("test", limit=3)
>>> len(test), test.ids[0], test.identity()["kind"]
(3, 'audio/test/0000.flac', 'corpus')
>>> test.item(0).text == test.rows[0]["text"]
True
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab.errors import ArgumentError, ArgumentTypeError, LabError

__all__ = [
    "AUDIO_EXTENSIONS",
    "CorpusSource",
    "FolderSource",
    "HuggingFaceSource",
    "Item",
    "ScanSourceError",
    "Source",
    "as_source",
]

#: File name endings a folder scan reads (what :func:`lab.audio.load` decodes).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
SAMPLE_RATE = 16000


class ScanSourceError(LabError, ValueError):
    """A dataset cannot be scanned at all (missing folder, no audio files, bad manifest)."""


@dataclass
class Item:
    """One utterance as a task sees it.

    ``label`` is the index in :data:`lab.data.KEYWORDS` of a keyword utterance and -1
    otherwise; ``text`` is ``""`` when no transcript is known.
    """

    index: int
    id: str
    waveform: np.ndarray
    text: str = ""
    label: int = -1


class Source:
    """Base class: ``ids``, ``rows`` (id, text, label per utterance), ``item(i)``, identity.

    Subclasses fill ``self.rows`` (a list of dicts with at least ``id``, ``text`` and
    ``label``) and implement :meth:`waveform` and :meth:`identity`.
    """

    kind = "source"
    rows: list[dict]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        """Stable utterance ids, in scan order."""
        return [row["id"] for row in self.rows]

    def waveform(self, index: int) -> np.ndarray:
        """The 16 kHz mono float32 waveform of utterance ``index``."""
        raise NotImplementedError

    def item(self, index: int) -> Item:
        """Utterance ``index`` with its waveform, transcript and label."""
        row = self.rows[index]
        return Item(index=index, id=row["id"], waveform=self.waveform(index),
                    text=row.get("text", "") or "", label=int(row.get("label", -1)))

    def identity(self) -> dict:
        """What a scan manifest records about this dataset (JSON-serializable)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description (for progress bars and reports)."""
        return f"{self.kind} ({len(self)} utterances)"


def _limit(rows: list, limit: int | None) -> list:
    if limit is None:
        return rows
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ArgumentError(f"limit must be a positive integer or None, got {limit!r}")
    return rows[:limit]


def _keyword_label(text: str) -> int:
    from lab.data import KEYWORDS

    return KEYWORDS.index(text) if text in KEYWORDS else -1


class CorpusSource(Source):
    """One split of the shipped corpus.

    Parameters
    ----------
    split : {"train", "valid", "test", "all"}
        ``"all"`` is the whole corpus (2,268 utterances), in manifest order.
    keywords_only : bool
        Keep only single command words (what the keyword classifier is scored on).
    limit : int, optional
        Keep the first ``limit`` utterances (a quick look, or a notebook-sized scan).
    """

    kind = "corpus"

    def __init__(self, split: str = "test", *, keywords_only: bool = False,
                 limit: int | None = None) -> None:
        from lab.data import corpus_dir, read_manifest

        if split not in ("train", "valid", "test", "all"):
            raise ArgumentError(
                f"split must be 'train', 'valid', 'test' or 'all', got {split!r}"
            )
        self.split = split
        self.keywords_only = bool(keywords_only)
        self.limit = limit
        self.root = corpus_dir()
        manifest = [r for r in read_manifest(None, split=None if split == "all" else split)
                    if r.keyword or not keywords_only]
        self.rows = [
            {"id": r.path, "text": r.text, "label": _keyword_label(r.keyword or ""),
             "voice": r.voice}
            for r in _limit(manifest, limit)
        ]

    def waveform(self, index: int) -> np.ndarray:
        from lab.audio import load

        return load(self.root / self.rows[index]["id"], sr=SAMPLE_RATE)

    def identity(self) -> dict:
        from lab.data import corpus_version

        return {"kind": self.kind, "split": self.split, "keywords_only": self.keywords_only,
                "corpus_version": corpus_version(), "n": len(self),
                "ids_sha256": _digest(self.ids)}

    def describe(self) -> str:
        return f"corpus {self.split} ({len(self)} utterances)"


def _digest(values: list) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def _read_transcripts(manifest: Path) -> dict[str, str]:
    """``{relative path: text}`` from a CSV with ``path``/``text`` columns or a TSV file."""
    try:
        content = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScanSourceError(f"transcript manifest {manifest} cannot be read: {err}") from err
    lines = content.splitlines()
    if lines and "\t" not in lines[0] and "path" in lines[0].split(","):
        reader = csv.DictReader(lines)
        if "text" not in (reader.fieldnames or []):
            raise ScanSourceError(
                f"transcript manifest {manifest}: a CSV manifest needs 'path' and 'text' "
                f"columns, got {reader.fieldnames}"
            )
        return {row["path"]: (row["text"] or "").strip() for row in reader}
    out = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        path, tab, text = line.partition("\t")
        if not tab:
            raise ScanSourceError(
                f"transcript manifest {manifest} line {number}: expected 'path<TAB>text' "
                f"(or a CSV with path,text columns), got {line!r:.80}"
            )
        out[path.strip()] = text.strip()
    return out


class FolderSource(Source):
    """Every audio file under ``root`` (recursively), sorted by relative path.

    Parameters
    ----------
    root : str or os.PathLike
        The folder. Files ending in :data:`AUDIO_EXTENSIONS` are scanned; a file that turns out
        unreadable is reported per file by the scan (it never stops the scan).
    manifest : str or os.PathLike, optional
        Transcripts: a CSV with ``path`` and ``text`` columns or a ``path<TAB>text`` file,
        paths relative to ``root``. Default: ``root/transcripts.csv`` or
        ``root/transcripts.tsv`` when present.
    limit : int, optional
        Keep the first ``limit`` files.

    Raises
    ------
    ScanSourceError
        If ``root`` is not a folder or holds no audio file.
    """

    kind = "folder"

    def __init__(self, root: str | os.PathLike, *, manifest: str | os.PathLike | None = None,
                 limit: int | None = None) -> None:
        if isinstance(root, bytes) or not isinstance(root, str | os.PathLike):
            raise ArgumentTypeError(f"root must be a str or os.PathLike, got {type(root).__name__}")
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ScanSourceError(f"dataset folder {self.root} does not exist or is not a folder")
        files = sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
            if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
        )
        if not files:
            raise ScanSourceError(
                f"dataset folder {self.root} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"
            )
        if manifest is None:
            for name in ("transcripts.csv", "transcripts.tsv"):
                if (self.root / name).is_file():
                    manifest = self.root / name
                    break
        self.manifest = None if manifest is None else Path(manifest).expanduser().resolve()
        if self.manifest is not None and not self.manifest.is_file():
            raise ScanSourceError(f"transcript manifest {self.manifest} does not exist")
        texts = _read_transcripts(self.manifest) if self.manifest else {}
        self.limit = limit
        self.rows = [{"id": f, "text": texts.get(f, ""), "label": _keyword_label(texts.get(f, ""))}
                     for f in _limit(files, limit)]

    def waveform(self, index: int) -> np.ndarray:
        from lab.audio import load

        return load(self.root / self.rows[index]["id"], sr=SAMPLE_RATE)

    def identity(self) -> dict:
        # Names and sizes: cheap for 100 k files, and a replaced or truncated file shows.
        listing = []
        for row in self.rows:
            try:
                size = (self.root / row["id"]).stat().st_size
            except OSError:
                size = -1
            listing.append([row["id"], size, row["text"]])
        return {"kind": self.kind, "root": str(self.root), "n": len(self),
                "files_sha256": _digest(listing)}

    def describe(self) -> str:
        return f"folder {self.root} ({len(self)} files)"


class HuggingFaceSource(Source):
    """A Hugging Face ``datasets.Dataset`` with an audio column.

    Parameters
    ----------
    dataset : datasets.Dataset, or str
        The dataset, or a folder written by ``Dataset.save_to_disk`` (loaded with
        ``datasets.load_from_disk``; nothing is downloaded).
    audio_column : str
        The audio column: a ``datasets.Audio`` feature (its stored file bytes or paths are
        decoded by :func:`lab.audio.load`, so neither torchcodec nor FFmpeg is needed, and
        every clip passes the lab's one audio gate) or ``{"array", "sampling_rate"}`` dicts.
    text_column : str, optional
        The transcript column (default ``"text"`` when present).
    limit : int, optional
        Keep the first ``limit`` rows.
    """

    kind = "huggingface"

    def __init__(self, dataset: Any, *, audio_column: str = "audio",
                 text_column: str | None = None, limit: int | None = None) -> None:
        try:
            import datasets
        except ImportError as err:
            raise ScanSourceError(
                "Hugging Face datasets need the optional 'datasets' package "
                "(pip install datasets)"
            ) from err
        if isinstance(dataset, str | os.PathLike):
            path = Path(dataset).expanduser()
            if not path.exists():
                raise ScanSourceError(f"saved dataset {path} does not exist")
            dataset = datasets.load_from_disk(str(path))
        if isinstance(dataset, datasets.DatasetDict):
            raise ArgumentError(
                f"dataset is a DatasetDict with splits {list(dataset)}; pass one split"
            )
        if not isinstance(dataset, datasets.Dataset):
            raise ArgumentTypeError(
                f"dataset must be a datasets.Dataset or a saved-dataset folder, "
                f"got {type(dataset).__name__}"
            )
        if audio_column not in dataset.column_names:
            raise ArgumentError(
                f"audio_column {audio_column!r} is not a column of the dataset; "
                f"columns: {dataset.column_names}"
            )
        if text_column is None and "text" in dataset.column_names:
            text_column = "text"
        if text_column is not None and text_column not in dataset.column_names:
            raise ArgumentError(
                f"text_column {text_column!r} is not a column; columns: {dataset.column_names}"
            )
        n = len(_limit(range(len(dataset)), limit))
        self.fingerprint = getattr(dataset, "_fingerprint", None)
        self.encoded = isinstance(dataset.features.get(audio_column), datasets.Audio)
        if self.encoded:  # the file as stored: decoded in waveform() with lab.audio.load
            dataset = dataset.cast_column(audio_column, datasets.Audio(decode=False))
        self.dataset = dataset.select(range(n)) if n < len(dataset) else dataset
        self.audio_column, self.text_column, self.limit = audio_column, text_column, limit
        texts = self.dataset[text_column] if text_column else [""] * n
        self.rows = [{"id": str(i), "text": str(t or ""), "label": _keyword_label(str(t or ""))}
                     for i, t in enumerate(texts)]

    def waveform(self, index: int) -> np.ndarray:
        import librosa

        value = self.dataset[index][self.audio_column]
        if self.encoded:
            from lab.audio import load

            data = (value or {}).get("bytes") or (value or {}).get("path")
            if not data:
                raise ScanSourceError(f"row {index}: column {self.audio_column!r} holds no "
                                      "audio bytes or path")
            return load(data, sr=SAMPLE_RATE)
        if isinstance(value, dict) and "array" in value:
            array, sr = np.asarray(value["array"]), int(value["sampling_rate"])
        else:
            raise ScanSourceError(
                f"row {index}: column {self.audio_column!r} holds {type(value).__name__}, not "
                "audio (cast it with datasets.Audio())"
            )
        array = np.asarray(array, dtype=np.float32)
        if array.ndim == 2:  # (channels, samples)
            array = array.mean(axis=0)
        if sr != SAMPLE_RATE:
            array = librosa.resample(array, orig_sr=sr, target_sr=SAMPLE_RATE)
        return np.ascontiguousarray(array, dtype=np.float32)

    def identity(self) -> dict:
        return {"kind": self.kind, "fingerprint": self.fingerprint, "n": len(self),
                "audio_column": self.audio_column, "text_column": self.text_column,
                "ids_sha256": _digest([r["text"] for r in self.rows])}


def as_source(data: Any, *, limit: int | None = None, keywords_only: bool = False,
              manifest: str | os.PathLike | None = None) -> Source:
    """The :class:`Source` for ``data``.

    Parameters
    ----------
    data : str, os.PathLike, Source or datasets.Dataset
        ``"train"`` / ``"valid"`` / ``"test"`` / ``"all"`` (the corpus), a folder of audio files,
        ``"hf:<folder>"`` (a dataset saved with ``save_to_disk``), a ``datasets.Dataset``, or a
        ready :class:`Source` (returned as is).
    limit : int, optional
        Keep the first ``limit`` utterances.
    keywords_only : bool
        Corpus splits only: keep the single command words.
    manifest : path, optional
        Folders only: the transcript manifest.

    Examples
    --------
    >>> as_source("valid", keywords_only=True, limit=2).describe()
    'corpus valid (2 utterances)'
    >>> as_source("/no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.scan.sources.ScanSourceError: dataset folder /no/such/folder does not exist or ...
    """
    if isinstance(data, Source):
        return data
    if isinstance(data, str) and data in ("train", "valid", "test", "all"):
        return CorpusSource(data, keywords_only=keywords_only, limit=limit)
    if isinstance(data, str) and data.startswith("hf:"):
        return HuggingFaceSource(data[3:], limit=limit)
    if isinstance(data, str | os.PathLike):
        return FolderSource(data, manifest=manifest, limit=limit)
    if type(data).__module__.startswith("datasets"):
        return HuggingFaceSource(data, limit=limit)
    raise ArgumentTypeError(
        "data must be a corpus split name, a folder, 'hf:<saved dataset>', a datasets.Dataset "
        f"or a lab.scan Source, got {type(data).__name__}"
    )
