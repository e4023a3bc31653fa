"""Training the PSI decoder: the optimizer, one step, and the resumable loop."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import integer, real
from lab.runtime import ProgressHook, StopToken, Task

__all__ = ["fit", "make_optimizer", "train_step"]


def make_optimizer(interpreter, lr: float) -> torch.optim.Optimizer:
    """The interpreter's Adam optimizer, made on first use, running at ``lr`` from now on.

    Adam's moments are kept across calls; only the rate follows the latest request (the old
    optimizer kept the rate of its first call forever).
    """
    if interpreter._optimizer is None:
        interpreter._optimizer = torch.optim.Adam(interpreter.psi.parameters(), lr=lr)
    for group in interpreter._optimizer.param_groups:
        group["lr"] = lr
    return interpreter._optimizer


def train_step(interpreter, x: torch.Tensor, lengths: torch.Tensor | None = None, *,
               lr: float = 2e-3, phase=None, samples=None) -> dict:
    """One optimizer step on a batch; returns the losses as floats.

    ``phase`` and ``samples`` go with the log-power of an adapted classifier (it hears audio).
    """
    lr = real("lr", lr, minimum=0.0, strict=True)
    interpreter.psi.train()
    optimizer = make_optimizer(interpreter, lr)
    heard = {} if phase is None and samples is None else dict(phase=phase, samples=samples)
    losses = interpreter.loss(x, lengths, **heard)
    if not torch.isfinite(losses["total"]):
        # a NaN step would poison every weight; the batch or the rate is at fault
        raise ArgumentError(
            f"the training loss is not finite ({float(losses['total'])}) on this batch; "
            f"check the features and lr={lr}"
        )
    optimizer.zero_grad()
    losses["total"].backward()
    optimizer.step()
    interpreter.step += 1
    return {k: v.item() for k, v in losses.items()}


def _field(batch, name: str, hears_audio: bool = False):
    try:
        return batch[name] if isinstance(batch, dict) else getattr(batch, name)
    except (KeyError, AttributeError, IndexError, TypeError):
        hint = (" (an adapted classifier trains on lab.piq.audio_batches(clips): log-power, "
                "phase and samples of each clip)" if hears_audio else "")
        raise ArgumentError(
            f"training batches must have '{name}' (dict key or attribute), got "
            f"{type(batch).__name__}{hint}"
        ) from None


def _default_batches(interpreter, batch_size: int):
    if getattr(interpreter, "hears_audio", False):
        from lab.data import Corpus
        from lab.piq.batches import audio_batches

        # the classifier's own predictions on the keyword clips are the training targets
        corpus = Corpus("train", features="log_power", keywords_only=True, cache=False)
        return audio_batches(corpus, batch_size=batch_size, shuffle=True,
                             seed=interpreter.epoch)
    from torch.utils.data import DataLoader

    from lab.data import Corpus, collate

    generator = torch.Generator().manual_seed(interpreter.epoch)
    corpus = Corpus("train", features="log_power", keywords_only=True)
    return DataLoader(corpus, batch_size=batch_size, shuffle=True, collate_fn=collate,
                      generator=generator)


def fit(
    interpreter,
    batches: Iterable | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    max_steps: int | None = None,
    should_stop: StopToken = None,
    progress: bool = True,
    on_progress: ProgressHook | None = None,
    augment: Callable | None = None,
) -> list[dict]:
    """Train ``interpreter``'s decoder; see :meth:`PIQInterpreter.fit`."""
    epochs = integer("epochs", epochs, minimum=0)
    batch_size = integer("batch_size", batch_size, minimum=1)
    lr = real("lr", lr, minimum=0.0, strict=True)
    max_steps = integer("max_steps", max_steps, minimum=0, allow_none=True)
    if augment is not None and not callable(augment):
        raise ArgumentTypeError(f"augment must be a callable or None, got {type(augment).__name__}")
    hears_audio = getattr(interpreter, "hears_audio", False)
    if augment is not None and hears_audio:
        raise ArgumentError(
            "augment edits log-power features, but an adapted classifier hears audio (the "
            "log-power with its clip's phase); augment the audio you give audio_batches")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise ArgumentTypeError(
            f"checkpoint must be a path or None, got {type(checkpoint).__name__}"
        )
    if batches is None:
        batches = _default_batches(interpreter, batch_size)
    elif isinstance(batches, str | bytes) or not hasattr(batches, "__iter__"):
        raise ArgumentTypeError(
            f"batches must be a re-iterable of batches, got {type(batches).__name__}"
        )
    if checkpoint is not None and resume and Path(checkpoint).exists():
        interpreter.load_checkpoint(checkpoint)
    make_optimizer(interpreter, lr)  # a resumed run continues at the rate asked for now
    per_epoch = len(batches) if hasattr(batches, "__len__") else 0
    total = max(0, epochs - interpreter.epoch) * per_epoch
    if max_steps is not None and per_epoch:
        total = min(total, max(0, max_steps - interpreter.step))
    task = Task(total, desc="PIQ training", progress=progress, on_progress=on_progress,
                should_stop=should_stop)
    ended = False
    with task, task.run_guard():
        while interpreter.epoch < epochs and not ended:
            sums: dict[str, float] = {}
            count = 0
            for batch in batches:
                if (max_steps is not None and interpreter.step >= max_steps) or task.stopped:
                    ended = True
                    break
                features = _field(batch, "features", hears_audio)
                lengths = _field(batch, "feature_lengths", hears_audio)
                heard = ({"phase": _field(batch, "phase", True),
                          "samples": _field(batch, "samples", True)} if hears_audio else {})
                if augment is not None:
                    features, lengths = augment(features, lengths)
                losses = train_step(interpreter, features, lengths, lr=lr, **heard)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                task.advance()
            if ended:
                break
            interpreter.epoch += 1
            interpreter.history.append(
                {"epoch": interpreter.epoch, "step": interpreter.step,
                 **{k: v / max(count, 1) for k, v in sums.items()}}
            )
            if checkpoint is not None:
                interpreter.save_checkpoint(checkpoint)
    if (ended or task.interrupted) and checkpoint is not None:
        interpreter.save_checkpoint(checkpoint)  # a stopped run resumes from here
    interpreter.psi.eval()
    return interpreter.history
