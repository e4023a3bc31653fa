"""The training loop: seeded, resumable, interruptible, with tqdm progress."""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from lab.checkpoints import load_checkpoint, save_checkpoint
from lab.errors import ArgumentError, ArgumentTypeError
from lab.training.evaluation import evaluate_model, load_split
from lab.training.tasks import Task, get_task

__all__ = ["TrainConfig", "build_model", "epoch_batches", "train", "training_step"]


@dataclass
class TrainConfig:
    """Where and how long to train; ``None`` fields take the task's defaults."""

    task: str
    run_dir: Path | None = None
    epochs: int | None = None
    seed: int = 0
    threads: int = 2
    fresh: bool = False
    limit: int | None = None  # train on the first ``limit`` items (smoke tests)

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir) if self.run_dir is not None else Path("runs") / self.task


def epoch_batches(lengths: list[int], batch_size: int, *, seed: int, epoch: int) -> list:
    """Index batches for one epoch: shuffled, then grouped by similar length to cut padding.

    The order depends only on ``seed`` and ``epoch``, which is what makes resuming exact.

    Examples
    --------
    >>> b = epoch_batches([5, 1, 4, 2, 3, 6], 2, seed=0, epoch=0)
    >>> sorted(i for batch in b for i in batch)
    [0, 1, 2, 3, 4, 5]
    >>> b == epoch_batches([5, 1, 4, 2, 3, 6], 2, seed=0, epoch=0)
    True
    """
    for label, value, low in (("batch_size", batch_size, 1), ("seed", seed, -(2**62)),
                              ("epoch", epoch, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            # batch_size 0 or negative would give no batches at all, silently
            raise ArgumentError(f"{label} must be an int >= {low}, got {value!r}")
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool = batch_size * 8
    batches = []
    for start in range(0, len(order), pool):
        group = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def build_model(task: Task, train_items: list, *, seed: int) -> nn.Module:
    """A freshly initialized model whose input standardization is fitted on ``train_items``."""
    torch.manual_seed(seed)
    model = task.build()
    frames = torch.cat([torch.as_tensor(item.features) for item in train_items])
    # A model with its own front end (the classifier's mel pooling) fits what it normalizes.
    fit = getattr(model, "fit_normalizer", None) or model.normalize.fit
    fit(frames)
    return model


def training_step(task: Task, model: nn.Module, optimizer, batch: dict) -> float:
    """One optimizer step on one batch; returns the loss before the step."""
    model.train()
    if task.augment is not None:
        batch = task.augment(model, batch)
    optimizer.zero_grad()
    loss = task.loss(model, batch)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), task.grad_clip)
    optimizer.step()
    return loss.detach().item()


def _schedule(optimizer, total_steps: int):
    warmup = max(1, total_steps // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _better(task: Task, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value > best if task.higher_is_better else value < best


def train(config: TrainConfig) -> dict:
    """Train (or resume) ``config.task``; returns the run state summary.

    ``runs/<task>/last.pt`` holds everything needed to resume (weights, optimizer, schedule,
    RNG state, position in the epoch); ``runs/<task>/best.pt`` the weights with the best
    validation metric. Ctrl-C saves ``last.pt`` and returns; running again resumes.
    """
    from lab.data import collate

    if not isinstance(config, TrainConfig):
        raise ArgumentTypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    task = get_task(config.task)
    for label, value, low in (("epochs", config.epochs, 1), ("limit", config.limit, 1),
                              ("threads", config.threads, 1), ("seed", config.seed, -(2**62))):
        if value is None and label in ("epochs", "limit"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ArgumentError(f"config.{label} must be an int >= {low}, got {value!r}")
    _limit_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    run_dir = config.resolved_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    epochs = config.epochs or task.epochs

    train_items, valid_items = (
        load_split(split, task.features, keywords_only=task.keywords_only, limit=config.limit)
        for split in ("train", "valid")
    )
    lengths = [len(item.features) for item in train_items]
    steps_per_epoch = len(epoch_batches(lengths, task.batch_size, seed=config.seed, epoch=0))

    model = build_model(task, train_items, seed=config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=task.learning_rate, weight_decay=1e-4)
    scheduler = _schedule(optimizer, epochs * steps_per_epoch)
    state = {"epoch": 0, "batch": 0, "seconds": 0.0, "history": [], "best": None,
             "best_epoch": None}
    last = run_dir / "last.pt"
    if last.is_file() and not config.fresh:
        saved = load_checkpoint(last, keys=("model", "optimizer", "scheduler", "rng", "state"))
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = saved["state"]
        print(f"resuming {task.name} at epoch {state['epoch'] + 1}, batch {state['batch']}")
    else:
        torch.manual_seed(config.seed + 1)

    def save_last() -> None:
        # through a temporary file: Ctrl-C during the write must not destroy the run
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                         "state": state}, last)

    started = time.perf_counter()
    stop = _StopRequest()
    try:
        while state["epoch"] < epochs:
            epoch = state["epoch"]
            plan = epoch_batches(lengths, task.batch_size, seed=config.seed, epoch=epoch)
            bar = tqdm(plan, desc=f"{task.name} epoch {epoch + 1}/{epochs}",
                       initial=state["batch"], total=len(plan), leave=False)
            losses = []
            for indices in plan[state["batch"] :]:
                batch = collate([train_items[i] for i in indices])
                losses.append(training_step(task, model, optimizer, batch))
                scheduler.step()
                state["batch"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                if stop.requested:
                    raise KeyboardInterrupt
            bar.close()
            metrics = evaluate_model(model, valid_items)
            state["seconds"] += time.perf_counter() - started
            started = time.perf_counter()
            record = {"epoch": epoch + 1, "train_loss": sum(losses) / max(1, len(losses)),
                      "valid": metrics, "seconds": round(state["seconds"], 1)}
            state["history"].append(record)
            value = metrics[task.metric]
            if _better(task, value, state["best"]):
                state["best"], state["best_epoch"] = value, epoch + 1
                save_checkpoint({"config": model.config, "state_dict": model.state_dict(),
                                 "epoch": epoch + 1, "metrics": metrics}, run_dir / "best.pt")
            tqdm.write(f"{task.name} epoch {epoch + 1}: loss {record['train_loss']:.4f} "
                       f"valid {task.metric} {value:.4f} ({state['seconds']:.0f} s)")
            state["epoch"], state["batch"] = epoch + 1, 0
            save_last()
    except KeyboardInterrupt:
        state["seconds"] += time.perf_counter() - started
        save_last()
        print(f"\ninterrupted: saved {last}; run the same command again to resume")
    finally:
        stop.restore()
    return state


def _limit_threads(n: int) -> None:
    """Run torch's and Numba's kernels on ``n`` threads.

    Numba first: its first ``set_num_threads`` launches its OpenMP pool, which calls
    ``omp_set_num_threads(NUMBA_NUM_THREADS)`` and so overwrites the OpenMP thread count torch
    (OpenMP backend) computes with. Torch set before that silently ran the first ``train`` of
    a process on all cores and later ones on ``n`` threads: a different float summation
    order, so a resume (or a second run) in the same process did not reproduce it bit for bit.
    """
    import numba  # the transducer loss runs Numba kernels

    # Numba's worker threads spin while waiting; on a loaded machine more of them than asked
    # for slowed every step (torch included) by 30× in measurements here.
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)


class _StopRequest:
    """Ctrl-C (or SIGTERM) asks the loop to stop after the current step, so the saved state
    is never half an optimizer update; a second Ctrl-C interrupts at once."""

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in self.signals}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("stopping after this step (Ctrl-C again to stop at once)")

    def restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
