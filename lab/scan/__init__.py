"""Dataset-scale analyses on Dask: local by default, a cluster when given, resumable.

One call runs an analysis over every utterance of a dataset and writes the results as they
finish:

>>> import tempfile
>>> from lab.scan import load, run
>>> folder = tempfile.mkdtemp()
>>> scan = run("evaluate", "test", model="classifier", out=folder, client="inprocess",
...            keywords_only=True, limit=4, progress=False)
>>> scan.complete, len(load(folder))
(True, 4)

- :func:`run` — ``run(task, data, *, model, out, client=None, shard_size=128, resume=True)``;
  the command line is ``python -m lab.scan TASK --model NAME --data DATASET --out DIR
  [--scheduler ADDRESS]``.
- Tasks (:mod:`lab.scan.tasks`): ``activations``, ``evaluate``, ``masks``, ``piq``.
- Datasets (:mod:`lab.scan.sources`): corpus splits, folders of audio files, Hugging Face
  ``datasets`` (optional package).
- Engine (:mod:`lab.scan.engine`): a Dask ``LocalCluster`` sized to the machine unless a
  scheduler address or a client is given; the model is shipped to each worker once.
- Results (:mod:`lab.scan.store`): a manifest plus one Parquet table and one compressed array
  file per shard; :class:`Scan` and :func:`load` read them back as pandas DataFrames.
"""

from lab.scan.engine import INPROCESS, local_cluster, machine_workers, run
from lab.scan.identity import model_identity, state_sha256
from lab.scan.sources import (
    CorpusSource,
    FolderSource,
    HuggingFaceSource,
    ScanSourceError,
    Source,
    as_source,
)
from lab.scan.store import Scan, ScanError, load
from lab.scan.tasks import TASKS, default_layers, neuron_statistics, summarize

__all__ = [
    "INPROCESS",
    "TASKS",
    "CorpusSource",
    "FolderSource",
    "HuggingFaceSource",
    "Scan",
    "ScanError",
    "ScanSourceError",
    "Source",
    "as_source",
    "default_layers",
    "load",
    "local_cluster",
    "machine_workers",
    "model_identity",
    "neuron_statistics",
    "run",
    "state_sha256",
    "summarize",
]
