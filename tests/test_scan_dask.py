"""lab.scan on a 2-worker Dask LocalCluster: same results as in-process; a killed worker
loses and duplicates nothing; a scheduler address is used unchanged."""

import json
import os
import signal

import numpy as np
import pytest

from lab.scan import INPROCESS, local_cluster, run

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def client():
    cluster = local_cluster(2, silence_logs=50)
    dask_client = distributed.Client(cluster)
    yield dask_client
    dask_client.close()
    cluster.close()


def _scan(task, out, where, **kw):
    options = dict(data="test", model="deepspeech", limit=24, shard_size=4)
    options.update(kw)
    data = options.pop("data")
    return run(task, data, out=out, client=where, progress=False, **options)


def test_dask_equals_inprocess(tmp_path, client):
    for task, kw in [("evaluate", {}), ("activations", {"layers": ["layer_2", "rnn_output"]})]:
        local = _scan(task, tmp_path / f"{task}-local", INPROCESS, **kw)
        dask = _scan(task, tmp_path / f"{task}-dask", client, **kw)
        assert dask.complete and dask.shards_computed == 6
        assert dask.table().equals(local.table())
        if task == "activations":
            for name in ("layer_2/max", "rnn_output/mean"):
                for a, b in zip(dask.arrays(name), local.arrays(name)):
                    np.testing.assert_array_equal(a, b)
    # The client was used, not replaced: it still has its two workers and is open.
    assert client.status == "running" and len(client.scheduler_info()["workers"]) >= 1


def test_scheduler_address_is_used_unchanged(tmp_path, client):
    workers_before = set(client.scheduler_info()["workers"])
    scan = _scan("evaluate", tmp_path, client.scheduler.address, model="classifier",
                 keywords_only=True, limit=8)
    assert scan.complete and len(scan.table()) == 8
    assert set(client.scheduler_info()["workers"]) == workers_before


def test_killed_worker_loses_and_duplicates_nothing(tmp_path, client):
    client.wait_for_workers(2, timeout=60)
    pids = client.run(os.getpid)
    killed = []

    def kill_a_busy_worker(done, total):
        if killed or done == 0:
            return
        busy = [addr for addr, keys in client.processing().items() if keys and addr in pids]
        victim = busy[0] if busy else next(iter(pids))
        os.kill(pids[victim], signal.SIGKILL)
        killed.append(victim)

    out = tmp_path / "killed"
    scan = _scan("evaluate", out, client, limit=48, on_progress=kill_a_busy_worker)
    assert killed, "no worker was killed"
    assert pids[killed[0]] not in client.run(os.getpid).values()  # it really died
    assert scan.complete and not scan.interrupted
    table = scan.table()
    assert table["index"].tolist() == list(range(48))  # none lost, none twice
    markers = [json.loads(p.read_text()) for p in sorted((out / "shards").glob("*.json"))]
    assert [m["indices"] for m in markers] == [list(range(s, s + 4)) for s in range(0, 48, 4)]
    undisturbed = _scan("evaluate", tmp_path / "undisturbed", INPROCESS, limit=48)
    assert table.equals(undisturbed.table())


def test_local_cluster_leaves_glibc_malloc_adaptive(client):
    # Dask's default MALLOC_TRIM_THRESHOLD_ doubles the CPU time of per-utterance work.
    assert all(v is None for v in client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values())


def _worker_settings() -> dict:
    import dask

    return {key: dask.config.get(key) for key in
            ("distributed.worker.profile.enabled", "distributed.admin.tick.interval")}


def test_local_cluster_workers_run_quiet(client):
    # The profiler's 10 ms stack samples cost a shard about 10 % more CPU; slow ticks too.
    # A worker the nanny starts to replace a killed one must run quiet as well.
    import time

    client.wait_for_workers(2, timeout=60)
    before = client.run(os.getpid)
    victim = next(iter(before.values()))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = client.run(os.getpid, on_error="ignore")  # the dead one may still be listed
        if len(now) == 2 and victim not in now.values():
            break
        time.sleep(0.2)
    assert len(now) == 2 and victim not in now.values(), "the nanny did not replace the worker"
    for settings in client.run(_worker_settings).values():
        assert settings == {"distributed.worker.profile.enabled": False,
                            "distributed.admin.tick.interval": "1s"}
    with (local_cluster(1, profile=True, silence_logs=50) as cluster,
          distributed.Client(cluster) as own):
        (settings,) = own.run(_worker_settings).values()
        assert settings["distributed.worker.profile.enabled"] is True


def test_stop_on_dask_keeps_finished_shards_and_resumes(tmp_path, client):
    import threading

    stop = threading.Event()
    first = _scan("evaluate", tmp_path, client, limit=40,
                  on_progress=lambda done, total: done >= 4 and stop.set(), should_stop=stop)
    assert first.interrupted and 4 <= first.n_done < 40
    assert first.n_done == 4 * len(first.markers()) == len(first.table())
    assert not [p for p in (tmp_path / "shards").iterdir() if p.name.startswith(".")]
    resumed = _scan("evaluate", tmp_path, client, limit=40)
    assert resumed.complete and resumed.shards_computed == 10 - len(first.markers())
    assert resumed.table().equals(_scan("evaluate", tmp_path / "ref", INPROCESS,
                                        limit=40).table())


def test_piq_interpreter_is_shipped_to_the_workers(tmp_path, client):
    kw = dict(model="classifier", keywords_only=True, limit=6)
    dask = _scan("piq", tmp_path / "dask", client, **kw)
    local = _scan("piq", tmp_path / "local", INPROCESS, **kw)
    assert dask.complete and dask.table().equals(local.table())
