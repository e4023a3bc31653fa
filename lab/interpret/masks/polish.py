"""The budgeted polish: speculative batched greedy over groups of kept entries.

Coarse to fine (groups of 8, pairs, single entries), least important first as judged by one
gradient of the path margins at the thresholded mask.
"""

from __future__ import annotations

import numpy as np
import torch

from lab.interpret.masks.evaluator import Evaluator, path_margins
from lab.runtime import Task

__all__ = ["POLISH_LEVELS", "polish_mask"]

#: Polish levels: (group size, test each group alone first). Big groups of the least important
#: entries usually go at once; single removals are tried up front where conflicts are common.
POLISH_LEVELS = ((8, False), (2, True), (1, True))


class _End(Exception):
    """Raised inside the polish when it must end (budget spent, goal met or asked to stop)."""


class _Polisher:
    """Speculative batched greedy over groups of kept entries, within a mask budget."""

    def __init__(self, ev: Evaluator, target, cap: int | None, goal: int, task: Task):
        self.ev, self.target, self.left, self.task = ev, target, cap, task
        self.goal = goal  # a mask keeping this few entries is done

    def _valid(self, masks: torch.Tensor, shape) -> list[bool]:
        if self.task.stopped:
            raise _End
        if self.left is not None:
            if self.left <= 0:
                raise _End
            self.left -= masks.shape[0]
        return self.ev.valid(masks.view(-1, *shape), self.target)

    def level(self, mask: torch.Tensor, groups: list[torch.Tensor], singles: bool,
              ) -> torch.Tensor:
        """Zero as many ``groups`` (in order) as sequential greedy would; returns the mask.

        A batch holds the cumulative masks "zero g1", "zero g1, g2", ...; everything before
        the first invalid one is exactly what sequential greedy would have accepted, and the
        first invalid group is what it would have restored. On ``_End`` the mask built so
        far is attached to the exception.
        """
        shape = mask.shape
        try:
            if singles:
                groups = self._alone_ok(mask, groups)
            i, chunk = 0, 8
            while i < len(groups):
                block = groups[i:i + chunk]
                if self.left is not None and 0 < self.left < len(block):
                    block = block[:self.left]
                cum = mask.reshape(1, -1).repeat(len(block), 1)
                for j, g in enumerate(block):
                    cum[j:, g] = 0.0
                ok = self._valid(cum, shape)
                accepted = ok.index(False) if False in ok else len(ok)
                if accepted:
                    mask = cum[accepted - 1].view(shape).clone()
                    if int(mask.sum()) <= self.goal:
                        raise _End
                i += accepted + (accepted < len(ok))
                if not accepted and not singles:
                    # Failures right away: the groups left are mostly needed. One batch that
                    # tries each alone drops those for good instead of one per chain batch.
                    groups = groups[:i] + self._alone_ok(mask, groups[i:])
                    singles = True
                # Long runs of accepted groups earn longer chunks; a failure shrinks the chunk
                # to about twice the run it ended, where the next failure is likely to be.
                chunk = (min(2 * chunk, 32) if accepted == len(ok)
                         else max(4, min(32, 2 * (accepted + 1))))
        except _End:
            raise _End(mask) from None
        return mask

    def _alone_ok(self, mask: torch.Tensor, groups: list[torch.Tensor]) -> list[torch.Tensor]:
        """The groups whose removal alone keeps the transcript (all of them when the budget
        cannot pay for the test: the chain then decides them one by one)."""
        if not groups or (self.left is not None and self.left < len(groups)):
            return groups
        trial = mask.reshape(1, -1).repeat(len(groups), 1)
        for j, g in enumerate(groups):
            trial[j, g] = 0.0
        ok = self._valid(trial, mask.shape)
        return [g for g, o in zip(groups, ok) if o]


def impact(ev: Evaluator, mask: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """|d (sum of path margins) / d mask| at ``mask``: what zeroing an entry would cost."""
    m = mask.clone().requires_grad_(True)
    margins = path_margins(ev.scores((m * ev.x)[None]), path)
    if not margins.requires_grad:  # piecewise-constant model: no gradient, order by jitter
        return torch.zeros_like(mask)
    ev.backward_passes += 1
    (grad,) = torch.autograd.grad(margins.sum(), m)
    return grad.abs()


def polish_mask(ev: Evaluator, target, mask: torch.Tensor, path: torch.Tensor,
                jitter: torch.Tensor, cap: int | None, traj: list[np.ndarray],
                labels: list[str], task: Task) -> torch.Tensor:
    """Coarse-to-fine speculative greedy over the kept entries, least important first.

    Appends a trajectory frame per level to ``traj`` / ``labels`` and returns the last valid
    mask (the polish only ever accepts masks it checked).
    """
    # On a budget, a mask keeping one entry per frame on average is sparse enough: short
    # utterances get there early and should not spend their (small) budget on going further.
    goal = mask.shape[0] if cap is not None else 0
    if int(mask.sum()) <= goal:
        return mask
    polisher = _Polisher(ev, target, cap, goal, task)
    # The relaxation's order is noisy near its threshold; the gradient at the thresholded
    # mask ranks what is kept by what zeroing it would actually cost there.
    importance = impact(ev, mask, path) + 1e-6 * jitter
    n = mask.numel()
    for size, singles in POLISH_LEVELS:
        kept = torch.nonzero(mask.view(-1) > 0).view(-1)
        kept = kept[torch.argsort(importance.view(-1)[kept], stable=True)]
        groups = [kept[j:j + size] for j in range(0, kept.numel(), size)]
        ended = False
        try:
            mask = polisher.level(mask, groups, singles)
        except _End as end:
            mask, ended = end.args[0], True
        traj.append(mask.cpu().numpy())
        labels.append(f"pruned ({'single entries' if size == 1 else f'groups of {size}'}): "
                      f"keep {int(mask.sum())}/{n}")
        task.advance()
        if ended:
            break
    return mask
