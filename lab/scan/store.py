"""A scan on disk: the manifest, one Parquet table and one compressed array file per shard.

Layout of a scan folder ``out``::

    out/manifest.json          task, model identity, dataset identity, parameters, shard plan
    out/shards/00000.parquet   one row per utterance of shard 0 (pyarrow)
    out/shards/00000.npz       the shard's arrays (deflated .npz, np.load reads it), if any
    out/shards/00000.json      the shard's marker: written last, so it exists only when the
                               shard's files are complete; lists the utterances that failed

Every file is written to a temporary name and renamed into place, so an interruption (Ctrl-C,
a killed process) never leaves a half-written shard that a resume would trust. A shard is
finished exactly when its marker exists.

:class:`Scan` reads a scan folder back: :meth:`Scan.table` (a pandas DataFrame),
:meth:`Scan.errors`, :meth:`Scan.arrays`, :meth:`Scan.top_utterances` (activations) and
:meth:`Scan.mask` (masks). :func:`load` is the one-call loader.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lab.errors import ArgumentError, ArgumentTypeError, LabError

__all__ = ["FORMAT", "Scan", "ScanError", "check_manifest", "encode_shard", "load",
           "write_shard"]

FORMAT = 1
MANIFEST = "manifest.json"
SHARDS = "shards"


class ScanError(LabError, RuntimeError):
    """A scan could not finish (a task bug, workers that kept dying, an unreadable folder).

    Finished shards stay on disk; run the same scan again to resume.
    """


def _as_dir(out: object) -> Path:
    if isinstance(out, bytes) or not isinstance(out, str | os.PathLike):
        raise ArgumentTypeError(f"out must be a str or os.PathLike, got {type(out).__name__}")
    return Path(out).expanduser()


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    _atomic_write(path, lambda handle: handle.write(text.encode()))


def shard_name(shard: int) -> str:
    """The file stem of shard ``shard`` (``00042``)."""
    return f"{shard:05d}"


#: Manifest fields that must match for a scan to resume into an existing folder.
IDENTITY_FIELDS = ("task", "model", "dataset", "params", "shard_size")


def check_manifest(out: Path, manifest: dict) -> dict | None:
    """The manifest already in ``out`` when it matches ``manifest``; None when there is none.

    Raises
    ------
    ArgumentError
        Naming each field that differs (task, model, dataset, parameters or shard size): the
        folder holds another scan's results, and mixing them would be silently wrong.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> old = {"task": "evaluate", "model": {"sha256": "aa"}, "dataset": {}, "params": {},
    ...        "shard_size": 8}
    >>> write_json(folder / MANIFEST, old)
    >>> check_manifest(folder, old) == old
    True
    >>> check_manifest(folder, {**old, "model": {"sha256": "bb"}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: ... holds a scan with a different model: recorded {'sha256': 'aa'}...
    """
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScanError(f"scan manifest {path} is unreadable: {err}") from err
    # Compare through JSON so tuples and lists, ints and numpy ints compare alike.
    fresh = json.loads(json.dumps(manifest, default=_json_default))
    words = {"task": "a different task", "model": "a different model",
             "dataset": "a different dataset", "params": "different parameters",
             "shard_size": "a different shard size"}
    for key in IDENTITY_FIELDS:
        if existing.get(key) != fresh.get(key):
            raise ArgumentError(
                f"{out} holds a scan with {words[key]}: recorded "
                f"{existing.get(key)!r}, this run {fresh.get(key)!r}. Results of different "
                "scans are never mixed: use another out folder, or resume=False (--no-resume) "
                "to delete the old results and start over"
            )
    return existing


def clear(out: Path) -> None:
    """Remove a scan's manifest and shards from ``out`` (nothing else in the folder)."""
    (out / MANIFEST).unlink(missing_ok=True)
    if (out / SHARDS).is_dir():
        shutil.rmtree(out / SHARDS)


def finished_shards(out: Path) -> set[int]:
    """Indices of the shards whose marker exists."""
    folder = out / SHARDS
    if not folder.is_dir():
        return set()
    return {int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` as the bytes of an ``.npz`` file (what ``np.load`` reads), deflate level 1.

    ``np.savez_compressed`` always deflates at level 6: on a shard of activation statistics
    that is twice the CPU time of level 1 for files 3 % smaller, and the scan pays it per shard.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def encode_shard(result: dict) -> dict:
    """A shard's result with its files already encoded: ``blobs`` holds their bytes.

    Workers call this, so the compression runs in parallel on the workers and the driver only
    writes bytes (:func:`write_shard`). ``result`` is what
    :func:`lab.scan.tasks.process_shard` returns: ``rows`` (list of dicts), ``arrays`` (name →
    array), ``errors`` (list of dicts), ``indices``, ``seconds`` and ``cpu_seconds``.

    Examples
    --------
    >>> result = {"indices": [0], "rows": [{"index": 0, "cer": 0.5}], "errors": [],
    ...           "arrays": {"index": np.array([0])}, "seconds": 0.1, "cpu_seconds": 0.1}
    >>> sorted(encode_shard(result)["blobs"]), encode_shard(result)["rows"]
    (['arrays', 'table'], 1)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    blobs = {}
    if result["rows"]:
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(result["rows"]), sink, compression="zstd")
        blobs["table"] = sink.getvalue()
    if result["arrays"]:
        blobs["arrays"] = _npz_bytes(result["arrays"])
    return {"indices": [int(i) for i in result["indices"]], "rows": len(result["rows"]),
            "errors": result["errors"], "blobs": blobs,
            "seconds": float(result.get("seconds", 0.0)),
            "cpu_seconds": float(result.get("cpu_seconds", 0.0))}


def write_shard(out: Path, shard: int, result: dict) -> dict:
    """Write one shard's table, arrays and (last) its marker; returns the marker.

    ``result`` is a shard's result, encoded (:func:`encode_shard`) or not.
    """
    if "blobs" not in result:
        result = encode_shard(result)
    folder = out / SHARDS
    folder.mkdir(parents=True, exist_ok=True)
    stem = shard_name(shard)
    files = {}
    for kind, suffix in (("table", "parquet"), ("arrays", "npz")):
        if kind in result["blobs"]:
            blob = result["blobs"][kind]
            _atomic_write(folder / f"{stem}.{suffix}", lambda handle, b=blob: handle.write(b))
            files[kind] = f"{stem}.{suffix}"
    marker = {"shard": shard, "indices": result["indices"], "rows": result["rows"],
              "errors": result["errors"], "files": files,
              "seconds": result["seconds"], "cpu_seconds": result["cpu_seconds"]}
    write_json(folder / f"{stem}.json", marker)
    return marker


class Scan:
    """A scan folder read back (finished shards only).

    Parameters
    ----------
    out : str or os.PathLike
        The folder given to :func:`lab.scan.run`.

    Attributes
    ----------
    manifest : dict
        Task, model identity, dataset identity, parameters, shard plan.
    complete : bool
        True when every shard is finished.
    interrupted : bool
        True when the run that returned this object stopped early (Stop, Ctrl-C).
    dashboard_link : str or None
        The Dask dashboard of the run that returned this object.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = _as_dir(out)
        path = self.out / MANIFEST
        if not path.is_file():
            raise ArgumentError(f"{self.out} holds no scan (no {MANIFEST})")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        self.interrupted = False
        self.dashboard_link: str | None = None
        self.seconds: float | None = None
        self.shards_computed = 0
        self._markers: dict[int, dict] | None = None

    # ---------------------------------------------------------------- bookkeeping
    @property
    def task(self) -> str:
        return self.manifest["task"]

    def markers(self) -> dict[int, dict]:
        """``{shard: marker}`` of the finished shards, read once."""
        if self._markers is None:
            folder = self.out / SHARDS
            self._markers = {
                shard: json.loads((folder / f"{shard_name(shard)}.json").read_text())
                for shard in sorted(finished_shards(self.out))
            }
        return self._markers

    @property
    def n_utterances(self) -> int:
        """Utterances in the dataset."""
        return int(self.manifest["n_utterances"])

    @property
    def n_done(self) -> int:
        """Utterances in finished shards (including those that failed)."""
        return sum(len(m["indices"]) for m in self.markers().values())

    @property
    def complete(self) -> bool:
        return len(self.markers()) == int(self.manifest["n_shards"])

    def __repr__(self) -> str:
        state = "complete" if self.complete else f"{self.n_done}/{self.n_utterances} done"
        return f"Scan({self.task!r}, {str(self.out)!r}, {state})"

    # ---------------------------------------------------------------- tables
    def table(self) -> Any:
        """One row per scanned utterance (pandas DataFrame), in dataset order."""
        import pandas as pd

        folder = self.out / SHARDS
        frames = [pd.read_parquet(folder / m["files"]["table"])
                  for m in self.markers().values() if "table" in m["files"]]
        if not frames:
            return pd.DataFrame(columns=["index", "id"])
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values("index", kind="stable").reset_index(drop=True)

    def errors(self) -> Any:
        """The utterances that could not be scanned (index, id, stage, error), a DataFrame."""
        import pandas as pd

        rows = [e for m in self.markers().values() for e in m["errors"]]
        frame = pd.DataFrame(rows, columns=["index", "id", "stage", "error"])
        return frame.sort_values("index", kind="stable").reset_index(drop=True)

    def summary(self) -> dict:
        """Dataset-level numbers of the finished shards (per task; see :func:`summarize`)."""
        from lab.scan.tasks import summarize

        return summarize(self.task, self.table(), n_errors=len(self.errors()))

    # ---------------------------------------------------------------- arrays
    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, stacked)`` of a per-utterance array stored under ``name``.

        For ``activations`` scans the names are ``"<layer>/mean"`` and ``"<layer>/max"``
        (one row of neuron values per utterance).
        """
        indices, parts = [], []
        for marker in self.markers().values():
            if "arrays" not in marker["files"]:
                continue
            with np.load(self.out / SHARDS / marker["files"]["arrays"]) as data:
                if name not in data.files:
                    known = sorted({k.split(":")[0] for k in data.files})
                    raise ArgumentError(f"no array {name!r} in this scan; it holds {known}")
                parts.append(data[name])
                indices.append(data["index"])
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        idx, values = np.concatenate(indices), np.concatenate(parts)
        order = np.argsort(idx, kind="stable")
        return idx[order], values[order]

    def layers(self) -> list[str]:
        """Layers of an ``activations`` scan."""
        return list(self.manifest["params"].get("layers", []))

    def top_utterances(self, layer: str, neuron: int, *, k: int = 10, stat: str = "max") -> Any:
        """The ``k`` utterances that drive ``neuron`` of ``layer`` most, dataset-wide.

        The dataset-wide version of :func:`lab.interpret.top_examples`: ranks every scanned
        utterance by the neuron's per-utterance ``stat`` (``"max"`` or ``"mean"`` over time).

        Returns
        -------
        pandas.DataFrame
            Columns ``index``, ``id``, ``text``, ``value``, highest value first.
        """
        if self.task != "activations":
            raise ArgumentError(f"top_utterances needs an activations scan, this is {self.task!r}")
        if layer not in self.layers():
            raise ArgumentError(f"layer {layer!r} was not scanned; scanned: {self.layers()}")
        if stat not in ("max", "mean"):
            raise ArgumentError(f"stat must be 'max' or 'mean', got {stat!r}")
        indices, values = self.arrays(f"{layer}/{stat}")
        if values.size == 0:
            import pandas as pd

            return pd.DataFrame(columns=["index", "id", "text", "value"])
        if isinstance(neuron, bool) or not isinstance(neuron, int | np.integer) or not (
            0 <= neuron < values.shape[1]
        ):
            raise ArgumentError(f"neuron must be in [0, {values.shape[1]}), got {neuron!r}")
        column = values[:, int(neuron)]
        # Highest first; ties keep dataset order, so the ranking is reproducible.
        order = np.lexsort((indices, -column))[: max(0, int(k))]
        table = self.table().set_index("index")
        picked = indices[order]
        out = table.loc[picked, ["id", "text"]].reset_index()
        out["value"] = column[order]
        return out

    def mask(self, index: int) -> np.ndarray:
        """The importance mask (T, F) of utterance ``index`` from a ``masks`` scan."""
        if self.task != "masks":
            raise ArgumentError(f"mask needs a masks scan, this is {self.task!r}")
        for marker in self.markers().values():
            if index in marker["indices"] and "arrays" in marker["files"]:
                with np.load(self.out / SHARDS / marker["files"]["arrays"]) as data:
                    key = f"mask:{int(index)}"
                    if key in data.files:
                        return data[key].astype(np.float32)
        raise ArgumentError(f"utterance {index} has no mask in this scan (not scanned, or failed)")

    def waveform(self, index: int, *, source: Any = None) -> np.ndarray:
        """The 16 kHz waveform of utterance ``index`` (reopens corpus and folder datasets).

        A Hugging Face dataset cannot be reopened from the manifest: pass it as ``source``.
        """
        if source is None:
            source = self.source()
        return source.waveform(int(index))

    def source(self, **kwargs) -> Any:
        """The dataset this scan ran over, reopened from the manifest (corpus or folder)."""
        from lab.scan.sources import CorpusSource, FolderSource

        data = self.manifest["dataset"]
        limit = self.manifest.get("limit")
        if data["kind"] == "corpus":
            return CorpusSource(data["split"], keywords_only=data["keywords_only"], limit=limit)
        if data["kind"] == "folder":
            return FolderSource(data["root"], manifest=self.manifest.get("transcripts"),
                                limit=limit)
        raise ArgumentError(
            f"a {data['kind']} dataset cannot be reopened from the manifest; pass source="
        )


def load(out: str | os.PathLike, *, errors: bool = False) -> Any:
    """A finished (or partly finished) scan's results as a pandas DataFrame.

    Parameters
    ----------
    out : str or os.PathLike
        The scan folder.
    errors : bool
        Return the utterances that failed instead (index, id, stage, error).

    Examples
    --------
    >>> import tempfile
    >>> from lab.scan import run
    >>> folder = tempfile.mkdtemp()
    >>> _ = run("evaluate", "test", model="classifier", out=folder, client="inprocess",
    ...         keywords_only=True, limit=4, progress=False)
    >>> frame = load(folder)
    >>> len(frame), list(frame.columns[:3])
    (4, ['index', 'id', 'text'])
    """
    scan = Scan(out)
    return scan.errors() if errors else scan.table()

