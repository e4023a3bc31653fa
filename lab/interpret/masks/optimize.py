"""The fast search: a sigmoid relaxation, batched threshold searches, then the polish.

About ``T / 4`` Adam steps of ``M = sigmoid(theta)`` with a hinge loss that keeps the original
best path ahead by a margin plus a sparsity penalty (its weight adapts so the iterates stay
near the boundary); one batched search picks the sparsest valid threshold of the learned
order; while that mask keeps more than ``2 T`` entries, 3 more relaxed steps on the kept
entries and a second threshold; then the budgeted polish (:mod:`.polish`); a final
single-input verification repairs the mask if needed.
"""

from __future__ import annotations

import numpy as np
import torch

from lab.interpret.masks.evaluator import Evaluator, path_margins, top_k_masks
from lab.interpret.masks.polish import POLISH_LEVELS, polish_mask
from lab.interpret.masks.result import MaskResult, finish
from lab.interpret.masks.settings import OptimizeSettings
from lab.runtime import Task

__all__ = ["optimize_mask", "optimize_units"]

#: Relaxation of rounds after the first: (initial theta of the kept entries, steps, lr factor).
LATER_ROUND = (1.5, 3, 1.5)


def round_steps(steps: int, round_: int) -> int:
    """Relaxed steps of round ``round_`` (0-based) when the first round has ``steps``.

    Examples
    --------
    >>> round_steps(10, 0), round_steps(10, 1), round_steps(2, 1)
    (10, 3, 2)
    """
    return steps if round_ == 0 else min(steps, LATER_ROUND[1])


def first_round_steps(settings: OptimizeSettings, frames: int) -> int:
    """The first round's steps: the setting, or ``max(4, round(T / 4))``."""
    return settings.steps if settings.steps is not None else max(4, round(frames / 4))


def optimize_units(settings: OptimizeSettings, frames: int) -> int:
    """Progress units of a search: relaxed steps, thresholds, polish levels, final check."""
    steps = first_round_steps(settings, frames)
    relaxed = sum(round_steps(steps, r) for r in range(settings.rounds))
    levels = len(POLISH_LEVELS) if settings.polish else 0
    return relaxed + settings.rounds + levels + 1


def smallest_valid_k(ev: Evaluator, target, order, shape, limit: int, lowest: float,
                     ratio: float = 1.3) -> int:
    """Smallest ``k`` of a geometric grid below ``limit`` whose top-k mask is valid.

    One batch: validity is not monotone in ``k`` (masks can be valid on islands), so a
    bisection would trust neighbours it never checked; the polish refines what the grid
    leaves. The grid stops at ``lowest`` (plus ``k = 0``, all zeros): sparser thresholds are
    rarely valid and the polish gets there anyway. ``limit`` itself is the current verified
    mask, the fallback.
    """
    grid, k = [], float(limit)
    while k >= max(2.0, lowest):
        k /= ratio
        grid.append(int(k))
    grid = sorted({k for k in grid if 0 <= k < limit} | {0})
    valid = ev.valid(top_k_masks(order, grid, shape), target)
    ok = [k for k, v in zip(grid, valid) if v]
    return min(ok) if ok else limit


def verify_or_repair(ev: Evaluator, target, mask: torch.Tensor,
                     scores: torch.Tensor) -> torch.Tensor:
    """Check ``mask`` with a single-input pass; if it fails, add entries back until it holds.

    Batched and single-input passes can differ in the last float bits, so the returned mask is
    always checked exactly as a user would check it. Repair bisects over the zeroed entries,
    highest score first; all-ones is valid, so the search always ends on a valid mask.
    """
    if ev.valid(mask[None], target)[0]:
        return mask
    zeros = torch.nonzero(mask.view(-1) == 0).view(-1)
    zeros = zeros[torch.argsort(scores.view(-1)[zeros], descending=True, stable=True)]

    def restored(count: int) -> torch.Tensor:
        m = mask.clone().view(-1)
        m[zeros[:count]] = 1.0
        return m.view(mask.shape)

    lo, hi = 0, zeros.numel()  # restored(lo) invalid, restored(hi) = all ones = valid
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ev.valid(restored(mid)[None], target)[0]:
            hi = mid
        else:
            lo = mid
    return restored(hi)


def optimize_mask(ev: Evaluator, target, clean: torch.Tensor, seed: int,
                  settings: OptimizeSettings, task: Task) -> MaskResult:
    """Relax, threshold and polish; the mask returned is verified (and repaired if needed)."""
    x = ev.x
    shape = x.shape
    n = shape[0] * shape[1]
    steps = first_round_steps(settings, shape[0])
    # Tiny inputs still get a few batches: the floor is what one batch costs anyway.
    cap = None if settings.budget is None else max(int(settings.budget * x.numel()), 32)
    every = settings.record_every or max(1, steps // 25)
    traj: list[np.ndarray] = [np.ones(tuple(shape), dtype=np.float32)]
    labels = ["start"]
    best = torch.ones(shape, device=x.device)  # last verified mask
    path = clean.argmax(dim=-1)
    # Frames that were barely decided may keep their (smaller) original margin.
    wanted = path_margins(clean, path).clamp(max=settings.margin)
    gen = torch.Generator().manual_seed(int(seed))
    # Tiny jitter only breaks ties between entries with identical gradients.
    jitter = 1e-3 * torch.rand(shape, generator=gen).to(x.device)
    scores = 3.0 + jitter
    done_steps = 0
    with task.run_guard():
        for round_ in range(settings.rounds):
            # A later round costs about as much as polishing 2 T kept entries (3 backward
            # passes of T frames vs. batched masks), so a mask that small goes to the polish.
            if round_ > 0 and int(best.sum()) <= 2 * shape[0]:
                break
            # Later rounds restart from the verified mask: zeroed entries stay zero, the
            # kept ones get a fresh relaxation, so each round can only get sparser.
            free = best > 0
            # The first round starts near all-ones; later ones start the kept entries closer to
            # the boundary (the mask is sparse already) and re-rank them in a few larger steps.
            start_at = 3.0 if round_ == 0 else LATER_ROUND[0]
            theta = torch.where(free, start_at + jitter, torch.full_like(jitter, -30.0))
            theta.requires_grad_(True)
            opt = torch.optim.Adam(
                [theta], lr=settings.lr * (1.0 if round_ == 0 else LATER_ROUND[2]))
            weight = float(settings.sparsity_weight)
            for step in range(round_steps(steps, round_)):
                if task.stopped:
                    break
                soft = torch.sigmoid(theta)
                margins = path_margins(ev.scores((soft * x)[None]), path)
                violation = torch.relu(wanted - margins).mean()
                loss = violation + weight * soft.mean()
                # Dual-style update: press harder on sparsity while every wanted margin
                # holds, back off while some do not, so the iterates hug the boundary
                # whatever the model's scale.
                weight = weight * (1.5 if float(violation.detach()) == 0.0 else 0.5)
                ev.backward_passes += 1
                (grad,) = torch.autograd.grad(loss, theta)
                theta.grad = grad * free
                opt.step()
                if (step + 1) % every == 0:
                    traj.append((theta.detach() > 0).float().cpu().numpy())
                    labels.append(f"relaxed step {done_steps + step + 1}")
                task.advance()
            done_steps += round_steps(steps, round_)
            if task.interrupted:
                break
            # Higher score = more worth keeping; the top-k masks are nested and the
            # previous mask is one of them (its zeros score -30), so k never grows.
            scores = torch.where(free, theta.detach(), torch.full_like(jitter, -30.0))
            order = torch.argsort(scores.view(-1), descending=True, stable=True)
            # A first threshold may keep a tiny fraction of the input; a later round re-ranks
            # an already sparse mask and has never been seen to more than quarter it.
            limit = int(free.sum())
            k = smallest_valid_k(ev, target, order, shape, limit,
                                 limit / 64 if round_ == 0 else limit / 4)
            shrunk = k < int(best.sum())
            best = top_k_masks(order, [k], shape)[0]
            traj.append(best.cpu().numpy())
            labels.append(f"threshold: keep {k}/{n}")
            task.advance()
            if not shrunk:
                break
        if settings.polish and not task.interrupted and int(best.sum()) > 0:
            best = polish_mask(ev, target, best, path, jitter, cap, traj, labels, task)
    best = verify_or_repair(ev, target, best, scores)
    traj.append(best.cpu().numpy())
    labels.append("final")
    return finish(best, "optimize", target, traj, labels, task.interrupted)
