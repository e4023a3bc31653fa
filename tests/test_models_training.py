"""The trainer: exact resume after interruption; training-time augmentation."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

import lab.training.trainer as trainer
from lab.training import TrainConfig, train


def _final_weights(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=True)["model"]


def test_interrupt_and_resume_is_exact(tmp_path, monkeypatch):
    # 64 keyword clips, batches of 32: two steps per epoch, two epochs.
    config = dict(task="classifier", epochs=2, limit=64, threads=1)
    straight = train(TrainConfig(run_dir=tmp_path / "straight", **config))
    assert straight["epoch"] == 2 and len(straight["history"]) == 2

    real_step, calls = trainer.training_step, []

    def step_then_ctrl_c(*args):
        loss = real_step(*args)
        calls.append(loss)
        if len(calls) == 3:  # Ctrl-C in the middle of the second epoch
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    monkeypatch.setattr(trainer, "training_step", step_then_ctrl_c)
    stopped = train(TrainConfig(run_dir=tmp_path / "resumed", **config))
    assert (stopped["epoch"], stopped["batch"]) == (1, 1)
    monkeypatch.setattr(trainer, "training_step", real_step)
    resumed = train(TrainConfig(run_dir=tmp_path / "resumed", **config))
    assert resumed["epoch"] == 2

    a, b = _final_weights(tmp_path / "straight"), _final_weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert (tmp_path / "resumed" / "best.pt").is_file()


def test_thread_limit_holds_in_the_first_run_of_a_process():
    # Launching Numba's OpenMP pool (its first set_num_threads) resets OpenMP's thread count,
    # which torch computes with; once any torch op has initialized torch's threads (here
    # randperm, as the doctests run before this file in `make test`), only setting torch's
    # count after Numba's keeps the first train() of a process on the threads asked for, and
    # so bit-identical to a resume in the same process.
    code = ("import torch; torch.randperm(6); from lab.training.trainer import _limit_threads; "
            "_limit_threads(1); print(torch.get_num_threads())")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}  # more than asked for, on any machine
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split()[-1] == "1"


def test_stretch_time_resamples_each_utterance_within_its_length():
    from lab.training.augment import stretch_time

    torch.manual_seed(0)
    x = torch.zeros(3, 50, 4)
    lengths = torch.tensor([50, 30, 10])
    for b, n in enumerate(lengths.tolist()):
        x[b, :n] = torch.linspace(1, 2, n)[:, None]  # a ramp; padding stays 0
    out, new = stretch_time(x, lengths, max_rate=0.2)
    assert out.shape[0] == 3 and out.shape[1] == int(new.max())
    for b, (n, m) in enumerate(zip(lengths.tolist(), new.tolist())):
        assert round(n * 0.8) <= m <= round(n * 1.2)
        ramp = out[b, :m, 0]
        assert bool((ramp[1:] >= ramp[:-1]).all())  # order of frames kept
        assert 1.0 <= float(ramp.min()) and float(ramp.max()) <= 2.0  # no new values
        assert bool((out[b, m:] == 0).all())  # re-padded with zeros
