"""Run a task over a dataset on Dask: ship the model once, shards of utterances, resume.

Where the work runs (``client=``):

- ``None`` — a :class:`distributed.LocalCluster` sized to this machine (one single-threaded
  worker process per usable core, ``workers=`` to change; see :func:`local_cluster`), closed
  when the scan ends;
- ``"tcp://host:8786"`` — an existing scheduler, used unchanged (the workers need ``lab``
  installed, and the dataset's files at the same paths);
- a :class:`distributed.Client` — used unchanged and left open;
- ``"inprocess"`` — no Dask: the same shards, one after the other, in this process (the
  baseline of ``bench/scan.py``, and handy for debugging a task).

The model (or the task's payload built from it) and the dataset description are shipped to
every worker once, by a worker plugin: a worker that joins later, or replaces a killed one,
gets them on arrival. Each Dask task then names only a shard's utterance indices. Workers
encode each shard's files (Parquet, .npz) and the driver writes them as they arrive
(:mod:`lab.scan.store`); a shard whose worker died is recomputed by Dask on another worker
and written once, so nothing is lost or duplicated.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from distributed.diagnostics.plugin import WorkerPlugin

from lab.errors import ArgumentError, ArgumentTypeError
from lab.runtime import ProgressHook, StopToken, Task, evaluating
from lab.scan import store
from lab.scan.identity import resolve_model
from lab.scan.sources import as_source
from lab.scan.tasks import get_task, process_shard

__all__ = ["INPROCESS", "local_cluster", "machine_workers", "run"]

INPROCESS = "inprocess"

# What the worker plugin unpacked on this (worker) process: scan key -> (payload, source).
_SHIPPED: dict[str, tuple[Any, Any]] = {}


def machine_workers() -> int:
    """Usable CPU cores of this machine (the default number of local workers).

    Examples
    --------
    >>> machine_workers() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _positive(name: str, value: Any, *, optional: bool = False) -> int | None:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    return value


def _ship(payload: Any, source: Any) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps((payload, source))
    except Exception as err:  # e.g. weight norm on a plain module, a closure that won't
        model = getattr(payload, "module", payload)
        raise ArgumentError(
            f"client: {type(model).__name__} cannot be shipped to Dask workers (pickling "
            f"failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            f"scan it with client={INPROCESS!r} (--inprocess)"
        ) from err


class ShipScan(WorkerPlugin):
    """Unpack a scan's model and dataset on each worker, once, and size torch's pool.

    Registered with the scheduler, so a worker that joins later (or replaces a killed one)
    runs :meth:`setup` on arrival too.
    """

    def __init__(self, key: str, blob: bytes, threads: int) -> None:
        self.key, self.blob, self.threads = key, blob, threads
        self.name = f"lab-scan-{key}"

    def setup(self, worker) -> None:
        _unpack(self.key, self.blob, self.threads)

    def teardown(self, worker) -> None:
        _SHIPPED.pop(self.key, None)


def _unpack(key: str, blob: bytes, threads: int) -> None:
    import cloudpickle

    torch.set_num_threads(threads)
    _SHIPPED[key] = cloudpickle.loads(blob)


def _run_shard(key: str, task_name: str, params: dict, indices: list[int]) -> dict:
    """One shard on a worker (the plugin has unpacked the payload there)."""
    if key not in _SHIPPED:
        raise store.ScanError(
            f"this worker has no model for scan {key}: the lab.scan worker plugin did not run "
            "(is lab installed on the workers?)"
        )
    payload, source = _SHIPPED[key]
    # Encoded here, so compression runs on the workers in parallel, not on the driver.
    return store.encode_shard(process_shard(get_task(task_name), payload, source, params,
                                            indices))


#: Dask settings a local scan cluster starts with (see :func:`local_cluster` for why).
QUIET_WORKERS = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def local_cluster(workers: int | None = None, *, profile: bool = False, **kwargs: Any):
    """A :class:`distributed.LocalCluster` set up the way :func:`run` starts one.

    One single-threaded worker process per usable core (``workers=`` to change), the dashboard
    on a free port, warnings only, and quiet processes (:data:`QUIET_WORKERS`); measured with
    ``bench.scan`` on two cores:

    - Dask's default ``MALLOC_TRIM_THRESHOLD_=65536`` is *not* put into the workers'
      environment: setting it turns off glibc's adaptive mmap threshold, so every tensor
      above 128 kB is mmapped and unmapped again — about 1,200 page faults per utterance and
      up to twice the CPU time of the same work outside Dask. (Workers of a cluster you start
      yourself get Dask's default unless you set
      ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` to null.)
    - The workers' statistical profiler (a stack sample of the task thread every 10 ms) is
      off unless ``profile=True``: it costs a shard about 10 % more CPU time. The dashboard's
      profile page stays empty without it.
    - Event-loop ticks (every 20 ms), system and memory monitors (every 0.5 s and 0.1 s)
      run every 1–2 s: on a machine with as many workers as cores, each wake-up of a
      scheduler, nanny or worker process preempts a worker and costs its caches.

    Parameters
    ----------
    workers : int, optional
        Worker processes (default :func:`machine_workers`).
    profile : bool
        Keep Dask's worker profiler (the dashboard's profile page).
    **kwargs
        Passed on to ``LocalCluster`` (they override the settings above).
    """
    import copy
    import logging

    import dask
    from distributed import LocalCluster

    options = dict(n_workers=workers or machine_workers(), threads_per_worker=1,
                   processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    options.update(kwargs)
    settings = dict(QUIET_WORKERS)
    if profile:
        del settings["distributed.worker.profile.enabled"]
    with dask.config.set(settings):
        # The nannies start workers with the configuration they were given, replacements of
        # killed workers later too: a deep copy, since leaving this block restores dask's
        # nested settings in place.
        options.setdefault("config", copy.deepcopy(dask.config.config))
        return LocalCluster(**options)


def _connect(client: Any, workers: int | None):
    """``(client, cluster_or_None, owns_client)`` for the ``client`` argument."""
    from distributed import Client

    if isinstance(client, Client):
        return client, None, False
    if client is None:
        # A free dashboard port: several labs (or engineers) on one machine must not collide.
        cluster = local_cluster(workers)
        return Client(cluster), cluster, True
    if isinstance(client, str):
        try:
            return Client(client, timeout="20s"), None, True
        except (OSError, TimeoutError) as err:
            raise store.ScanError(f"cannot reach the Dask scheduler at {client}: {err}") from err
    raise ArgumentTypeError(
        f"client must be None (a local cluster), a scheduler address, a distributed.Client "
        f"or {INPROCESS!r}, got {type(client).__name__}"
    )


def run(
    task: str,
    data: Any,
    *,
    model: Any,
    out: str | os.PathLike,
    client: Any = None,
    shard_size: int = 128,
    resume: bool = True,
    workers: int | None = None,
    threads: int = 1,
    limit: int | None = None,
    keywords_only: bool = False,
    manifest: str | os.PathLike | None = None,
    progress: bool = True,
    on_progress: ProgressHook | None = None,
    should_stop: StopToken = None,
    **options: Any,
) -> store.Scan:
    """Run ``task`` over every utterance of ``data`` and write the results to ``out``.

    Parameters
    ----------
    task : {"activations", "evaluate", "masks", "piq"}
        ``activations``: per-utterance mean and max of every neuron of the named layers
        (``layers=``; default the model's top-level layers), ranked dataset-wide by
        :meth:`Scan.top_utterances`. ``evaluate``: transcript, CER/WER and confidence per
        utterance (or keyword, correctness and confidence for a classifier). ``masks``: an
        importance mask per utterance (:func:`lab.interpret.importance_mask`; its keywords such
        as ``method=``, ``seed=``, ``steps=`` pass through). ``piq``: PIQ interpretation metrics
        per utterance (``variant=``, ``path=``, ``threshold=``).
    data : str, os.PathLike, datasets.Dataset or Source
        A corpus split (``"test"``), a folder of audio files (recursively; transcripts from
        ``manifest=``), ``"hf:<saved dataset>"`` or a ``datasets.Dataset``
        (see :func:`lab.scan.sources.as_source`).
    model : str, torch.nn.Module or lab.models.SpeechModel
        A zoo name (``"deepspeech"``, ``"transducer"``, ``"classifier"``; identified by its
        checkpoint's sha256), ``"silero_vad"``, an adapter (:func:`lab.models.adapt`) or a
        model ``adapt`` wraps on its own (Hugging Face, Silero; identified by the adapter's
        description and a hash of the state_dict), or any module (identified by a hash of its
        state_dict, or its own ``scan_identity``). Adapted models run every task, on Dask too
        (an adapter pickles as a recipe that rebuilds its model bit for bit): ``evaluate``
        through :func:`lab.models.predict`, ``activations`` through the adapter's layers,
        ``masks`` through ``importance_mask`` (the grid is recorded in the parameters) and
        ``piq`` when PIQ accepts the model (``path=`` its decoder).
    out : str or os.PathLike
        The scan folder: manifest, one Parquet table (and compressed arrays) per shard.
    client : None, str, distributed.Client or "inprocess"
        Where to run (see :mod:`lab.scan.engine`): ``None`` starts a local cluster sized to
        the machine; an address or a client is used unchanged.
    shard_size : int
        Utterances per shard: the unit of work, of writing and of resuming. Each utterance is
        run on its own (batch of one), so results never depend on padding or sharding. The
        default, 128, keeps Dask's per-shard cost (scheduling, transfer, one Parquet file) small
        against the work (``bench.scan``: one worker as fast as the in-process loop; at 32 it
        was 11 % slower on ``evaluate``) while a stop or a lost worker costs at most one shard.
    resume : bool
        Keep the finished shards of an earlier run with the same task, model, dataset and
        parameters (a different one is refused with an ArgumentError). ``False`` deletes the
        old results in ``out`` first.
    workers : int, optional
        Worker processes of the local cluster (default: usable cores).
    threads : int
        Torch threads per worker (and in-process).
    limit : int, optional
        Scan the first ``limit`` utterances.
    keywords_only : bool
        Corpus splits: only the single command words.
    manifest : path, optional
        Folder datasets: the transcript manifest.
    progress, on_progress, should_stop
        As everywhere in the lab (:mod:`lab.runtime`), counted in utterances. A stop or Ctrl-C
        keeps every finished shard on disk; run again to resume.
    **options
        The task's options (above).

    Returns
    -------
    Scan
        The scan folder read back; ``complete`` is False after a stop.

    Raises
    ------
    ArgumentError
        For a bad option, or an ``out`` that holds another scan's results.
    ScanError
        When a shard fails as a whole (a bug in a task, workers that keep dying); finished
        shards stay on disk.

    Examples
    --------
    >>> import tempfile
    >>> scan = run("evaluate", "test", model="classifier", out=tempfile.mkdtemp(),
    ...            client="inprocess", keywords_only=True, limit=6, shard_size=4,
    ...            progress=False)
    >>> scan.complete, len(scan.table()), sorted(scan.summary())
    (True, 6, ['accuracy', 'confidence', 'failed', 'labelled', 'n'])
    """
    spec = get_task(task)
    shard_size = _positive("shard_size", shard_size)
    workers = _positive("workers", workers, optional=True)
    threads = _positive("threads", threads)
    if not isinstance(resume, bool):
        raise ArgumentTypeError(f"resume must be True or False, got {type(resume).__name__}")
    out = store._as_dir(out)
    source = as_source(data, limit=limit, keywords_only=keywords_only, manifest=manifest)
    module, identity = resolve_model(model)
    # Eval mode for the scan (and for the copies shipped to the workers); the caller's
    # module gets its own mode back afterwards.
    with evaluating(getattr(module, "module", module)):  # an adapter: its wrapped model
        return _scan(spec, source, module, identity, out, client, shard_size, resume, workers,
                     threads, limit, progress, on_progress, should_stop, options)


def _scan(spec, source, module, identity, out, client, shard_size, resume, workers, threads,
          limit, progress, on_progress, should_stop, options) -> store.Scan:
    params = spec.check(module, dict(options))
    payload, extra_identity = spec.prepare(module, params)
    n = len(source)
    shards = [list(range(start, min(n, start + shard_size))) for start in range(0, n, shard_size)]
    record = {
        "format": store.FORMAT, "task": spec.name, "model": {**identity, **extra_identity},
        "dataset": source.identity(), "params": params, "shard_size": shard_size,
        "n_utterances": n, "n_shards": len(shards), "limit": limit,
        "transcripts": str(getattr(source, "manifest", None) or "") or None,
    }
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        store.clear(out)
    existing = store.check_manifest(out, record)
    if existing is None:
        store.write_json(out / store.MANIFEST,
                         {**record, "created": datetime.now(UTC).isoformat(timespec="seconds")})
    done = store.finished_shards(out)
    todo = [(s, idx) for s, idx in enumerate(shards) if s not in done]
    key = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
    key = key[:16]

    bar = Task(n, desc=f"scan {spec.name}", progress=progress, on_progress=on_progress,
               should_stop=should_stop)
    bar.advance(sum(len(shards[s]) for s in done if s < len(shards)))
    start = time.perf_counter()
    written = 0
    dashboard = None

    def write(shard: int, result: dict) -> None:
        nonlocal written
        store.write_shard(out, shard, result)
        written += 1
        bar.advance(len(result["indices"]))

    with bar:
        if todo and client == INPROCESS:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)  # what each worker uses: same numbers either way
            try:
                with bar.run_guard():
                    for shard, indices in todo:
                        if bar.stopped:
                            break
                        write(shard, process_shard(spec, payload, source, params, indices))
            finally:
                torch.set_num_threads(previous)
        elif todo:
            dashboard = _run_on_dask(client, workers, threads, key, spec, payload, source,
                                     params, todo, bar, write, progress)
    scan = store.Scan(out)
    scan.interrupted = bar.interrupted
    scan.dashboard_link = dashboard
    scan.seconds = time.perf_counter() - start
    scan.shards_computed = written
    return scan


def _run_on_dask(client, workers, threads, key, spec, payload, source, params, todo, bar,
                 write, progress) -> str | None:
    from distributed import as_completed

    blob = _ship(payload, source)  # before any cluster starts: a model that cannot travel
    client, cluster, owns = _connect(client, workers)
    plugin = ShipScan(key, blob, threads)
    dashboard = client.dashboard_link
    if progress and dashboard:
        from tqdm.auto import tqdm

        tqdm.write(f"Dask dashboard: {dashboard}")  # above the progress bar, not inside it
    futures: dict = {}
    written: set[int] = set()

    def collect(future) -> None:
        shard = futures[future]
        if shard in written:
            return
        if future.status == "error":
            error = future.exception()
            raise store.ScanError(
                f"shard {shard} of the {spec.name} scan failed: {type(error).__name__}: "
                f"{error}. Finished shards are on disk; run the scan again to resume"
            ) from error
        write(shard, future.result())
        written.add(shard)
        future.release()

    try:
        client.register_plugin(plugin)
        token = os.urandom(4).hex()  # fresh keys: an old run's cancelled tasks never answer
        for shard, indices in todo:
            future = client.submit(_run_shard, key, spec.name, params, indices, pure=False,
                                   key=f"lab-scan-{spec.name}-{shard:05d}-{token}")
            futures[future] = shard
        pending = as_completed(list(futures))
        with bar.run_guard():
            while not pending.is_empty():
                if bar.stopped:
                    break
                ready = pending.next_batch(block=False) if pending.has_ready() else []
                if not ready:
                    time.sleep(0.05)
                for future in ready:
                    collect(future)
        if bar.interrupted:
            # Shards that finished while we were stopping are finished work: keep them.
            for future in list(futures):
                if future.status == "finished":
                    collect(future)
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
        if owns:
            client.close()
            if cluster is not None:
                cluster.close()
        else:
            try:
                client.unregister_worker_plugin(plugin.name)
            except Exception:  # cleanup only: the scan's results are already written
                pass
    return dashboard


def default_out(task: str, data: str) -> Path:
    """A default scan folder name: ``scans/<task>-<dataset>``."""
    return Path("scans") / f"{task}-{Path(str(data)).name or 'data'}"
