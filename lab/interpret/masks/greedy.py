"""The reference search: zero one entry at a time, keep the zero if the transcript holds."""

from __future__ import annotations

import numpy as np
import torch

from lab.interpret.masks.evaluator import Evaluator
from lab.interpret.masks.result import MaskResult, finish
from lab.interpret.masks.settings import GreedySettings
from lab.runtime import Task

__all__ = ["greedy_mask"]


def greedy_mask(ev: Evaluator, target, seed: int, settings: GreedySettings,
                task: Task) -> MaskResult:
    """Visit the entries in a seeded random order; ``T * F`` single-input passes.

    A stop (``task``) or Ctrl-C ends the visit; the entry being tested is restored, so the
    mask returned is always valid.
    """
    shape = ev.x.shape
    n = shape[0] * shape[1]
    order = np.random.default_rng(seed).permutation(n)
    every = settings.record_every or max(1, n // 40)
    report_every = max(1, n // 100)  # a widget redraw per entry would cost more than the pass
    mask = torch.ones(shape, device=ev.x.device)
    flat = mask.view(-1)
    traj = [mask.cpu().numpy().copy()]
    labels = ["start"]
    pending = None
    with task.run_guard():
        for visited, idx in enumerate(order, start=1):
            if task.stopped:
                break
            pending = int(idx)
            flat[pending] = 0.0
            if not ev.valid(mask[None], target)[0]:
                flat[pending] = 1.0
            pending = None
            if visited % every == 0:
                traj.append(mask.cpu().numpy().copy())
                labels.append(f"visited {visited}/{n}")
            task.advance(report=visited % report_every == 0 or visited == n)
    if pending is not None:  # interrupted before its check: not verified, undo
        flat[pending] = 1.0
    if labels[-1] != f"visited {n}/{n}":
        traj.append(mask.cpu().numpy().copy())
        labels.append("final")
    return finish(mask, "greedy", target, traj, labels, task.interrupted)
