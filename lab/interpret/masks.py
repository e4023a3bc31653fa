"""Importance masks: which input entries can be zeroed without changing the transcript.

A binary mask ``M`` (same shape as the features ``X``) is *valid* when the transcript of
``model(M * X)`` equals that of ``model(X)``. Both methods only ever return valid masks:

- ``"greedy"`` (the reference algorithm): visit the entries in a seeded random order, zero one,
  restore it if the transcript changed. ``T * F`` sequential forward passes.
- ``"optimize"``: about ``T / 4`` steps of a sigmoid relaxation ``M = sigmoid(theta)``
  trained with a hinge loss that keeps the original best path ahead by a margin plus a
  sparsity penalty (its weight adapts so the iterates stay near the boundary); one batched
  search picks the sparsest valid threshold of the learned order; while that mask keeps more
  than ``2 T`` entries, 3 more relaxed steps on the kept entries and a second threshold;
  then a budgeted polish zeroes more of the kept entries coarse to fine (groups of 8, pairs,
  single entries, least important first as judged by one gradient of the path margins at the
  thresholded mask) with speculative batched greedy passes; a final single-input
  verification repairs the mask if needed.

Greedy's cost is ``T * F`` model calls of one input each; optimize's work grows with ``T`` too
(the relaxed steps, a polish budget of ``budget * T * F`` batched masks), so its speed-up over
greedy does not shrink with the utterance length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.hooks import first_tensor

__all__ = [
    "MaskResult",
    "greedy_ctc_transcripts",
    "importance_mask",
    "mute_audio",
    "transcribe",
]

Decode = Callable[[torch.Tensor], Sequence[Hashable]]


def greedy_ctc_transcripts(scores: torch.Tensor, *, blank: int = 0) -> list[tuple[int, ...]]:
    """Greedy CTC transcripts (arg-max, merge repeats, drop blanks) of ``(B, T, V)`` scores.

    Examples
    --------
    >>> import torch
    >>> s = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    >>> greedy_ctc_transcripts(s)
    [(1, 1)]
    """
    try:
        from lab.models.ctc import ctc_greedy_decode
    except ImportError:  # pragma: no cover - lab.models ships with lab
        ctc_greedy_decode = None
    if ctc_greedy_decode is not None:
        return [tuple(seq) for seq in ctc_greedy_decode(scores, blank=blank)]
    best = scores.argmax(dim=-1).cpu().numpy()
    out = []
    for row in best:
        keep = np.r_[True, row[1:] != row[:-1]] & (row != blank)
        out.append(tuple(int(s) for s in row[keep]))
    return out


@dataclass
class MaskResult:
    """A verified importance mask and how it was found.

    Attributes
    ----------
    mask : (T, F) float32 array of 0/1.
    method : ``"greedy"`` or ``"optimize"``.
    transcript : the transcript of the unmasked input (and of the masked one).
    preserved : True when ``model(mask * X)`` was checked to give ``transcript`` (always True
        for returned masks; kept explicit for reports).
    sparsity : fraction of zero entries.
    forward_passes : inputs pushed through the model (a batch of 32 counts 32).
    model_calls : calls of ``model`` (a batch counts once).
    backward_passes : gradient evaluations (optimize only).
    seconds : wall time.
    trajectory : list of (T, F) masks for animation; ``trajectory_labels`` describe them.
    interrupted : True when stopped early; the mask is still valid.
    """

    mask: np.ndarray
    method: str
    transcript: tuple
    preserved: bool
    sparsity: float
    forward_passes: int = 0
    model_calls: int = 0
    backward_passes: int = 0
    seconds: float = 0.0
    trajectory: list[np.ndarray] = field(default_factory=list)
    trajectory_labels: list[str] = field(default_factory=list)
    interrupted: bool = False


class _Evaluator:
    """Counts forward passes and compares transcripts of masked inputs with the target."""

    def __init__(self, model: nn.Module, x: torch.Tensor, decode: Decode, batch_size: int):
        self.model = model
        self.x = x  # (T, F)
        self.decode = decode
        self.batch_size = batch_size
        self.forward_passes = 0
        self.model_calls = 0
        self.backward_passes = 0

    def scores(self, inputs: torch.Tensor) -> torch.Tensor:
        self.forward_passes += inputs.shape[0]
        self.model_calls += 1
        out = first_tensor(self.model(inputs))
        if out.ndim != 3 or out.shape[0] != inputs.shape[0]:
            raise ArgumentError(
                f"model output must have shape (batch, frames, symbols), got {tuple(out.shape)}"
            )
        return out

    def _as_key(self, decoded) -> list:
        return [tuple(d) if not isinstance(d, str) else d for d in decoded]

    def decode_one(self, scores: torch.Tensor):
        """Transcript of a single item's ``(1, frames, symbols)`` scores."""
        return self._as_key(self.decode(scores))[0]

    def transcripts(self, masks: torch.Tensor) -> list[tuple]:
        out: list[tuple] = []
        with torch.no_grad():
            for start in range(0, masks.shape[0], self.batch_size):
                chunk = masks[start:start + self.batch_size]
                out.extend(self._as_key(self.decode(self.scores(chunk * self.x))))
        return out

    def valid(self, masks: torch.Tensor, target) -> list[bool]:
        return [t == target for t in self.transcripts(masks)]


def _as_features(features) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ArgumentError(
            f"features must be a non-empty 2-D (frames, features) array, got shape "
            f"{tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise ArgumentError("features must be finite (no NaN or inf)")
    return x


ProgressHook = Callable[[int, int], None]


class _Progress:
    """Reports ``(done, total)`` work units to tqdm and/or an ``on_progress`` hook."""

    def __init__(self, total: int, desc: str, bar: bool, hook: ProgressHook | None):
        self.total, self.done, self.hook = int(total), 0, hook
        self.bar = None
        if bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=desc, leave=False)

    def advance(self, units: int = 1, *, report: bool = True) -> None:
        units = min(int(units), self.total - self.done)
        self.done += units
        if self.bar is not None and units:
            self.bar.update(units)
        if report and self.hook is not None:
            self.hook(self.done, self.total)

    def finish(self) -> None:
        """Jump to ``total``: stopped or shortened work is still finished work."""
        self.advance(self.total - self.done)
        if self.bar is not None:
            self.bar.close()


def importance_mask(
    model: nn.Module,
    features,
    *,
    method: str = "optimize",
    decode: Decode | None = None,
    seed: int = 0,
    sparsity_weight: float = 20.0,
    steps: int | None = None,
    lr: float = 1.0,
    margin: float = 2.0,
    batch_size: int = 128,
    polish: bool = True,
    budget: float | None = 0.06,
    rounds: int = 2,
    record_every: int | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    on_progress: ProgressHook | None = None,
) -> MaskResult:
    """Find a binary mask with many zeros that keeps the model's transcript.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a ``(batch, T, F)`` input to ``(batch, frames, symbols)`` scores (logits or
        log-probabilities); a tuple output uses its first element.
    features : array, shape (T, F)
        One utterance's features, time-major.
    method : {"optimize", "greedy"}
        See the module docstring.
    decode : callable, optional
        Maps ``(batch, frames, symbols)`` scores to one hashable transcript per item. Defaults
        to greedy CTC decoding with blank 0 (:func:`greedy_ctc_transcripts`).
    seed : int
        Seeds greedy's visiting order (and optimize's tie-breaking).
    sparsity_weight : float
        Optimize: initial weight of the mean mask value against the path-margin hinge loss;
        it grows while every margin holds and shrinks while some do not.
    steps : int, optional
        Optimize: Adam steps of the first relaxation. Default ``max(4, round(T / 4))``, so
        the relaxation stays a fixed share of greedy's ``T * F`` passes.
    lr, margin : float
        Optimize: the relaxation's learning rate and the logit margin the original best path
        must keep.
    batch_size : int
        Masks evaluated per forward pass (optimize only; greedy is sequential by definition).
    polish : bool
        Optimize: after the threshold, zero more of the kept entries with speculative batched
        greedy passes over groups of 8, pairs and single entries.
    budget : float or None
        Optimize: the polish evaluates at most ``max(budget * T * F, 32)`` masks and stops
        there with the last valid mask; it also stops once the mask keeps at most ``T``
        entries (one per frame on average). ``None`` polishes to the end, which leaves every
        kept entry one that could not be zeroed when it was tried (slower, sparser).
    rounds : int
        Optimize: relax-and-threshold rounds. Later rounds re-relax only the kept entries
        (3 steps, starting nearer the boundary); they are skipped once the mask keeps at most
        ``2 * T`` entries (polishing those is cheaper) and stop when it no longer gets sparser.
    record_every : int, optional
        Trajectory spacing (greedy: visited entries; optimize: relaxed steps). Default keeps
        about 40 frames.
    progress : bool
        Show a tqdm progress bar.
    should_stop : callable, optional
        Polled regularly; True stops early. Ctrl-C does the same. The mask returned is valid.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` while the search runs: greedy every ~1 % of the
        visited entries, optimize after each relaxed step, each threshold search, each polish
        level and the final check. The last call has ``done == total``, also when stopped.

    Returns
    -------
    MaskResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 4)
    >>> x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    >>> res = importance_mask(net, x, method="greedy", progress=False)
    >>> res.preserved, res.forward_passes
    (True, 19)
    """
    if method not in ("optimize", "greedy"):
        raise ArgumentError(f"method must be 'optimize' or 'greedy', got {method!r}")
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x = _as_features(features)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    if record_every is not None and (int(record_every) != record_every or record_every < 1):
        raise ArgumentError(f"record_every must be a positive int, got {record_every!r}")
    if not sparsity_weight >= 0:
        raise ArgumentError(f"sparsity_weight must be >= 0, got {sparsity_weight!r}")
    if steps is None:
        steps = max(4, round(x.shape[0] / 4))
    if int(steps) != steps or steps < 0:
        raise ArgumentError(f"steps must be a non-negative int, got {steps!r}")
    if int(rounds) != rounds or rounds < 1:
        raise ArgumentError(f"rounds must be a positive int, got {rounds!r}")
    if budget is not None and not budget >= 0:
        raise ArgumentError(f"budget must be >= 0 or None, got {budget!r}")
    param = next(model.parameters(), None)
    x = x.to(param.device if param is not None else "cpu")
    was_training = model.training
    model.eval()
    ev = _Evaluator(model, x, decode or greedy_ctc_transcripts, int(batch_size))
    if method == "greedy":
        bar = _Progress(x.numel(), "greedy mask", progress, on_progress)
    else:
        relaxed = sum(_round_steps(int(steps), r) for r in range(int(rounds)))
        levels = len(_POLISH_LEVELS) if polish else 0
        bar = _Progress(relaxed + int(rounds) + levels + 1, "optimize mask", progress,
                        on_progress)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            clean = ev.scores(x[None])
        target = ev.decode_one(clean)
        if method == "greedy":
            result = _greedy(ev, target, seed, record_every, bar, should_stop)
        else:
            # Tiny inputs still get a few batches: the floor is what one batch costs anyway.
            cap = None if budget is None else max(int(budget * x.numel()), 32)
            result = _optimize(ev, target, clean, seed, sparsity_weight, int(steps), lr, margin,
                               polish, cap, record_every, bar, should_stop, int(rounds))
    finally:
        bar.finish()
        model.train(was_training)
    result.seconds = time.perf_counter() - start
    result.forward_passes = ev.forward_passes
    result.model_calls = ev.model_calls
    result.backward_passes = ev.backward_passes
    return result


def _finish(mask: torch.Tensor, method, target, traj, labels, interrupted) -> MaskResult:
    m = mask.detach().cpu().numpy().astype(np.float32)
    return MaskResult(
        mask=m, method=method, transcript=target, preserved=True,
        sparsity=float(1.0 - m.mean()), trajectory=traj, trajectory_labels=labels,
        interrupted=interrupted,
    )


def _greedy(ev: _Evaluator, target, seed, record_every, bar: _Progress,
            should_stop) -> MaskResult:
    shape = ev.x.shape
    n = shape[0] * shape[1]
    order = np.random.default_rng(seed).permutation(n)
    every = record_every or max(1, n // 40)
    report_every = max(1, n // 100)  # a widget redraw per entry would cost more than the pass
    mask = torch.ones(shape, device=ev.x.device)
    flat = mask.view(-1)
    traj = [mask.cpu().numpy().copy()]
    labels = ["start"]
    interrupted = False
    pending = None
    try:
        for visited, idx in enumerate(order, start=1):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            pending = int(idx)
            flat[pending] = 0.0
            if not ev.valid(mask[None], target)[0]:
                flat[pending] = 1.0
            pending = None
            if visited % every == 0:
                traj.append(mask.cpu().numpy().copy())
                labels.append(f"visited {visited}/{n}")
            bar.advance(report=visited % report_every == 0 or visited == n)
    except KeyboardInterrupt:
        interrupted = True
        if pending is not None:  # not verified: undo
            flat[pending] = 1.0
    if labels[-1] != f"visited {n}/{n}":
        traj.append(mask.cpu().numpy().copy())
        labels.append("final")
    return _finish(mask, "greedy", target, traj, labels, interrupted)


def _path_margins(scores: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """Score of the original best symbol minus the best other symbol, per frame."""
    chosen = scores.gather(-1, path[..., None]).squeeze(-1)
    others = scores.scatter(-1, path[..., None], float("-inf")).amax(dim=-1)
    return chosen - others


def _top_k_masks(order: torch.Tensor, ks: Sequence[int], shape) -> torch.Tensor:
    """Masks keeping the first ``k`` entries of ``order`` (nested as k grows)."""
    n = order.numel()
    rank = torch.empty(n, dtype=torch.long, device=order.device)
    rank[order] = torch.arange(n, device=order.device)
    ks_t = torch.as_tensor(list(ks), device=order.device)
    return (rank[None, :] < ks_t[:, None]).float().view(len(ks), *shape)


def _smallest_valid_k(ev, target, order, shape, limit: int, lowest: float,
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
    valid = ev.valid(_top_k_masks(order, grid, shape), target)
    ok = [k for k, v in zip(grid, valid) if v]
    return min(ok) if ok else limit


#: Relaxation of rounds after the first: (initial theta of the kept entries, steps, lr factor).
_LATER_ROUND = (1.5, 3, 1.5)


def _round_steps(steps: int, round_: int) -> int:
    """Relaxed steps of round ``round_`` (0-based) when the first round has ``steps``."""
    return steps if round_ == 0 else min(steps, _LATER_ROUND[1])


#: Polish levels: (group size, test each group alone first). Big groups of the least important
#: entries usually go at once; single removals are tried up front where conflicts are common.
_POLISH_LEVELS = ((8, False), (2, True), (1, True))


class _Stop(Exception):
    """Raised inside the polish when it must end (budget spent or asked to stop)."""


class _Polisher:
    """Speculative batched greedy over groups of kept entries, within a mask budget."""

    def __init__(self, ev: _Evaluator, target, cap: int | None, goal: int, should_stop):
        self.ev, self.target, self.left, self.should_stop = ev, target, cap, should_stop
        self.goal = goal  # a mask keeping this few entries is done
        self.interrupted = False

    def _valid(self, masks: torch.Tensor, shape) -> list[bool]:
        if self.should_stop is not None and self.should_stop():
            self.interrupted = True
            raise _Stop
        if self.left is not None:
            if self.left <= 0:
                raise _Stop
            self.left -= masks.shape[0]
        return self.ev.valid(masks.view(-1, *shape), self.target)

    def level(self, mask: torch.Tensor, groups: list[torch.Tensor], singles: bool,
              ) -> torch.Tensor:
        """Zero as many ``groups`` (in order) as sequential greedy would; returns the mask.

        A batch holds the cumulative masks "zero g1", "zero g1, g2", ...; everything before
        the first invalid one is exactly what sequential greedy would have accepted, and the
        first invalid group is what it would have restored. On ``_Stop`` the mask built so
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
                        raise _Stop
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
        except _Stop:
            raise _Stop(mask) from None
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


def _impact(ev: _Evaluator, mask: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
    """|d (sum of path margins) / d mask| at ``mask``: what zeroing an entry would cost."""
    m = mask.clone().requires_grad_(True)
    margins = _path_margins(ev.scores((m * ev.x)[None]), path)
    if not margins.requires_grad:  # piecewise-constant model: no gradient, order by jitter
        return torch.zeros_like(mask)
    ev.backward_passes += 1
    (grad,) = torch.autograd.grad(margins.sum(), m)
    return grad.abs()


def _optimize(ev: _Evaluator, target, clean, seed, sparsity_weight, steps, lr, margin, polish,
              cap, record_every, bar: _Progress, should_stop, rounds) -> MaskResult:
    x = ev.x
    shape = x.shape
    n = shape[0] * shape[1]
    every = record_every or max(1, steps // 25)
    traj: list[np.ndarray] = [np.ones(tuple(shape), dtype=np.float32)]
    labels = ["start"]
    interrupted = False
    best = torch.ones(shape, device=x.device)  # last verified mask
    path = clean.argmax(dim=-1)
    # Frames that were barely decided may keep their (smaller) original margin.
    wanted = _path_margins(clean, path).clamp(max=margin)
    gen = torch.Generator().manual_seed(int(seed))
    # Tiny jitter only breaks ties between entries with identical gradients.
    jitter = 1e-3 * torch.rand(shape, generator=gen).to(x.device)
    scores = 3.0 + jitter
    done_steps = 0
    try:
        for round_ in range(rounds):
            # A later round costs about as much as polishing 2 T kept entries (3 backward
            # passes of T frames vs. batched masks), so a mask that small goes to the polish.
            if round_ > 0 and int(best.sum()) <= 2 * shape[0]:
                break
            # Later rounds restart from the verified mask: zeroed entries stay zero, the
            # kept ones get a fresh relaxation, so each round can only get sparser.
            free = best > 0
            # The first round starts near all-ones; later ones start the kept entries closer to
            # the boundary (the mask is sparse already) and re-rank them in a few larger steps.
            start_at = 3.0 if round_ == 0 else _LATER_ROUND[0]
            theta = torch.where(free, start_at + jitter, torch.full_like(jitter, -30.0))
            theta.requires_grad_(True)
            opt = torch.optim.Adam([theta], lr=lr * (1.0 if round_ == 0 else _LATER_ROUND[2]))
            weight = float(sparsity_weight)
            for step in range(_round_steps(steps, round_)):
                if should_stop is not None and should_stop():
                    interrupted = True
                    break
                soft = torch.sigmoid(theta)
                margins = _path_margins(ev.scores((soft * x)[None]), path)
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
                bar.advance()
            done_steps += _round_steps(steps, round_)
            if interrupted:
                break
            # Higher score = more worth keeping; the top-k masks are nested and the
            # previous mask is one of them (its zeros score -30), so k never grows.
            scores = torch.where(free, theta.detach(), torch.full_like(jitter, -30.0))
            order = torch.argsort(scores.view(-1), descending=True, stable=True)
            # A first threshold may keep a tiny fraction of the input; a later round re-ranks
            # an already sparse mask and has never been seen to more than quarter it.
            limit = int(free.sum())
            k = _smallest_valid_k(ev, target, order, shape, limit,
                                  limit / 64 if round_ == 0 else limit / 4)
            shrunk = k < int(best.sum())
            best = _top_k_masks(order, [k], shape)[0]
            traj.append(best.cpu().numpy())
            labels.append(f"threshold: keep {k}/{n}")
            bar.advance()
            if not shrunk:
                break
        if polish and not interrupted and int(best.sum()) > 0:
            best, interrupted = _polish(ev, target, best, path, jitter, cap, traj, labels,
                                        should_stop, bar)
    except KeyboardInterrupt:
        interrupted = True
    best = _verify_or_repair(ev, target, best, scores)
    traj.append(best.cpu().numpy())
    labels.append("final")
    return _finish(best, "optimize", target, traj, labels, interrupted)


def _polish(ev, target, mask, path, jitter, cap, traj, labels, should_stop, bar: _Progress):
    """Coarse-to-fine speculative greedy over the kept entries, least important first."""
    # On a budget, a mask keeping one entry per frame on average is sparse enough: short
    # utterances get there early and should not spend their (small) budget on going further.
    goal = mask.shape[0] if cap is not None else 0
    if int(mask.sum()) <= goal:
        return mask, False
    polisher = _Polisher(ev, target, cap, goal, should_stop)
    # The relaxation's order is noisy near its threshold; the gradient at the thresholded
    # mask ranks what is kept by what zeroing it would actually cost there.
    importance = _impact(ev, mask, path) + 1e-6 * jitter
    n = mask.numel()
    for size, singles in _POLISH_LEVELS:
        kept = torch.nonzero(mask.view(-1) > 0).view(-1)
        kept = kept[torch.argsort(importance.view(-1)[kept], stable=True)]
        groups = [kept[j:j + size] for j in range(0, kept.numel(), size)]
        stopped = False
        try:
            mask = polisher.level(mask, groups, singles)
        except _Stop as stop:
            mask, stopped = stop.args[0], True
        traj.append(mask.cpu().numpy())
        labels.append(f"pruned ({'single entries' if size == 1 else f'groups of {size}'}): "
                      f"keep {int(mask.sum())}/{n}")
        bar.advance()
        if stopped:
            break
    return mask, polisher.interrupted


def _verify_or_repair(ev, target, mask, scores) -> torch.Tensor:
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


def mute_audio(
    waveform: np.ndarray,
    mask: np.ndarray,
    threshold: float,
    *,
    hop_length: int = 320,
) -> np.ndarray:
    """Silence the samples of the frames whose mask mean is below ``threshold``.

    Frame ``t`` of the features is centred on sample ``t * hop_length`` (centred STFT), so
    each sample belongs to the frame whose centre is nearest. Samples past the last frame
    follow the last frame.

    Parameters
    ----------
    waveform : 1-D array
    mask : (T, F) array, an importance mask of the waveform's features.
    threshold : float
        Frames with ``mask[t].mean() < threshold`` are muted.
    hop_length : int
        Samples between frames (320 = 20 ms at 16 kHz).

    Returns
    -------
    ndarray
        A muted copy of ``waveform``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.ones(8, dtype=np.float32)
    >>> mute_audio(y, np.array([[1.0], [0.0], [1.0], [1.0]]), 0.5, hop_length=2)
    array([1., 0., 0., 1., 1., 1., 1., 1.], dtype=float32)
    """
    y = np.asarray(waveform)
    m = np.asarray(mask, dtype=np.float64)
    if y.ndim != 1:
        raise ArgumentError(f"waveform must be 1-D (mono samples), got shape {y.shape}")
    if m.ndim != 2 or m.shape[0] == 0:
        raise ArgumentError(f"mask must be a non-empty 2-D (frames, features) array, got {m.shape}")
    if int(hop_length) != hop_length or hop_length < 1:
        raise ArgumentError(f"hop_length must be a positive int, got {hop_length!r}")
    if not math.isfinite(threshold):
        raise ArgumentError(f"threshold must be a finite number, got {threshold!r}")
    means = m.mean(axis=1)
    frame = np.minimum((np.arange(y.size) + hop_length // 2) // hop_length, m.shape[0] - 1)
    out = y.copy()
    out[means[frame] < threshold] = 0
    return out


def transcribe(model: nn.Module, waveform: np.ndarray, *, sr: int = 16000) -> str:
    """Greedy transcript of a waveform through the model's own front end.

    Uses ``lab.models.transcribe`` (the model zoo's API), so features are computed exactly as
    the model expects.
    """
    from lab import models

    return models.transcribe(model, np.asarray(waveform, dtype=np.float32), sr=sr)
