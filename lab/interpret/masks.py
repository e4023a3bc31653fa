"""Importance masks: which input entries can be zeroed without changing the transcript.

A binary mask ``M`` (same shape as the features ``X``) is *valid* when the transcript of
``model(M * X)`` equals that of ``model(X)``. Both methods only ever return valid masks:

- ``"greedy"`` (the reference algorithm): visit the entries in a seeded random order, zero one,
  restore it if the transcript changed. ``T * F`` sequential forward passes.
- ``"optimize"``: a sigmoid relaxation ``M = sigmoid(theta)`` trained with a hinge loss that
  keeps the original best path ahead by a margin plus a sparsity penalty (its weight adapts so
  the iterates stay near the boundary); the learned scores order the entries, a batched search
  picks the sparsest valid threshold of that order, a second round restarts from that mask, a
  speculative batched greedy pass (identical decisions to sequential greedy, evaluated many at
  a time) prunes what is left, and a final single-input verification repairs the mask if
  needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

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
            raise ValueError(
                f"model output must have shape (batch, frames, symbols), got {tuple(out.shape)}"
            )
        return out

    def transcripts(self, masks: torch.Tensor) -> list[tuple]:
        out: list[tuple] = []
        with torch.no_grad():
            for start in range(0, masks.shape[0], self.batch_size):
                chunk = masks[start:start + self.batch_size]
                decoded = self.decode(self.scores(chunk * self.x))
                out.extend(tuple(d) if not isinstance(d, str) else d for d in decoded)
        return out

    def valid(self, masks: torch.Tensor, target) -> list[bool]:
        return [t == target for t in self.transcripts(masks)]


def _as_features(features) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"features must be a non-empty 2-D (frames, features) array, got shape "
            f"{tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("features must be finite (no NaN or inf)")
    return x


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def importance_mask(
    model: nn.Module,
    features,
    *,
    method: str = "optimize",
    decode: Decode | None = None,
    seed: int = 0,
    sparsity_weight: float = 20.0,
    steps: int = 20,
    lr: float = 1.0,
    margin: float = 2.0,
    batch_size: int = 128,
    polish: bool = True,
    rounds: int = 2,
    record_every: int | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
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
    steps, lr, margin : optimize's relaxed phase: Adam steps, learning rate and the logit
        margin the original best path must keep.
    batch_size : int
        Masks evaluated per forward pass (optimize only; greedy is sequential by definition).
    rounds : int
        Optimize: relax-and-threshold rounds; each restarts from the last verified mask and
        stops early when it no longer gets sparser.
    polish : bool
        Optimize: prune the thresholded mask with a speculative batched greedy pass.
    record_every : int, optional
        Trajectory spacing (greedy: visited entries; optimize: relaxed steps). Default keeps
        about 40 frames.
    progress : bool
        Show tqdm progress bars.
    should_stop : callable, optional
        Polled regularly; True stops early. Ctrl-C does the same. The mask returned is valid.

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
        raise ValueError(f"method must be 'optimize' or 'greedy', got {method!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x = _as_features(features)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if record_every is not None and (int(record_every) != record_every or record_every < 1):
        raise ValueError(f"record_every must be a positive int, got {record_every!r}")
    if not sparsity_weight >= 0:
        raise ValueError(f"sparsity_weight must be >= 0, got {sparsity_weight!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    param = next(model.parameters(), None)
    x = x.to(param.device if param is not None else "cpu")
    was_training = model.training
    model.eval()
    ev = _Evaluator(model, x, decode or greedy_ctc_transcripts, int(batch_size))
    start = time.perf_counter()
    try:
        target = ev.transcripts(torch.ones(1, *x.shape, device=x.device))[0]
        if method == "greedy":
            result = _greedy(ev, target, seed, record_every, progress, should_stop)
        else:
            result = _optimize(ev, target, seed, sparsity_weight, steps, lr, margin, polish,
                               record_every, progress, should_stop, int(rounds))
    finally:
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


def _greedy(ev: _Evaluator, target, seed, record_every, progress, should_stop) -> MaskResult:
    shape = ev.x.shape
    n = shape[0] * shape[1]
    order = np.random.default_rng(seed).permutation(n)
    every = record_every or max(1, n // 40)
    mask = torch.ones(shape, device=ev.x.device)
    flat = mask.view(-1)
    traj = [mask.cpu().numpy().copy()]
    labels = ["start"]
    interrupted = False
    pending = None
    bar = _progress(n, "greedy mask", progress)
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
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        if pending is not None:  # not verified: undo
            flat[pending] = 1.0
    finally:
        if bar is not None:
            bar.close()
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


def _smallest_valid_k(ev, target, order, shape, n_candidates: int, limit: int | None = None):
    """Smallest ``k`` on a grid (then finer grids) whose top-k mask is valid.

    Sparse masks are the point, so the first grid is geometric (0, 1, 2, 4, ...); the next
    ones refine linearly between the largest invalid and the smallest valid ``k`` found.
    """
    n = order.numel() if limit is None else limit
    grid = np.unique(np.r_[0, 2 ** np.arange(int(np.log2(max(n, 1))) + 1)])
    grid = grid[grid < n]
    lo, hi = -1, n  # hi: the current (verified) mask, or everything
    for _ in range(4):
        if grid.size == 0:
            break
        valid = ev.valid(_top_k_masks(order, grid, shape), target)
        ok = [int(k) for k, v in zip(grid, valid) if v]
        if ok:
            hi = min(ok)
            below = [int(k) for k in grid if k < hi]
            lo = max(below) if below else lo
        else:
            lo = int(grid.max())
        if hi - lo <= 1:
            break
        num = min(n_candidates, hi - lo - 1)
        grid = np.unique(np.linspace(lo + 1, hi - 1, num=num).round()).astype(int)
    return hi


def _optimize(ev: _Evaluator, target, seed, sparsity_weight, steps, lr, margin, polish,
              record_every, progress, should_stop, rounds) -> MaskResult:
    x = ev.x
    shape = x.shape
    n = shape[0] * shape[1]
    every = record_every or max(1, steps // 25)
    traj: list[np.ndarray] = [np.ones(tuple(shape), dtype=np.float32)]
    labels = ["start"]
    interrupted = False
    best = torch.ones(shape, device=x.device)  # last verified mask
    with torch.no_grad():
        clean = ev.scores(x[None])
    path = clean.argmax(dim=-1)
    # Frames that were barely decided may keep their (smaller) original margin.
    wanted = _path_margins(clean, path).clamp(max=margin)
    if ev.valid(torch.zeros(1, *shape, device=x.device), target)[0]:
        best = torch.zeros(shape, device=x.device)
        traj.append(best.cpu().numpy())
        labels.append("all zeros keep the transcript")
        return _finish(best, "optimize", target, traj, labels, False)
    gen = torch.Generator().manual_seed(int(seed))
    # Tiny jitter only breaks ties between entries with identical gradients.
    jitter = 1e-3 * torch.rand(shape, generator=gen).to(x.device)
    scores = 3.0 + jitter
    bar = _progress(int(steps) * rounds, "optimize mask", progress)
    try:
        for round_ in range(rounds):
            # Later rounds restart from the verified mask: zeroed entries stay zero, the
            # kept ones get a fresh relaxation, so each round can only get sparser.
            free = best > 0
            theta = torch.where(free, 3.0 + jitter, torch.full_like(jitter, -30.0))
            theta.requires_grad_(True)
            opt = torch.optim.Adam([theta], lr=lr)
            best_theta, best_soft = None, float("inf")
            weight = float(sparsity_weight)
            for step in range(int(steps)):
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
                # Adam oscillates around the boundary: remember the sparsest iterate that
                # kept every wanted margin as a second candidate order.
                if float(violation.detach()) == 0.0 and float(soft.detach().sum()) < best_soft:
                    best_soft, best_theta = float(soft.detach().sum()), theta.detach().clone()
                ev.backward_passes += 1
                (grad,) = torch.autograd.grad(loss, theta)
                theta.grad = grad * free
                opt.step()
                if (step + 1) % every == 0:
                    traj.append((theta.detach() > 0).float().cpu().numpy())
                    labels.append(f"relaxed step {round_ * int(steps) + step + 1}")
                if bar is not None:
                    bar.update(1)
            if interrupted:
                break
            # Higher score = more worth keeping; the top-k masks are nested and the
            # previous mask is one of them (its zeros score -30), so k never grows.
            candidates = [theta.detach()] + ([best_theta] if best_theta is not None else [])
            found = []
            for cand in candidates:
                cand = torch.where(free, cand, torch.full_like(cand, -30.0))
                order = torch.argsort(cand.view(-1), descending=True, stable=True)
                limit = int(free.sum())
                found.append((_smallest_valid_k(ev, target, order, shape, 16, limit), order,
                              cand))
            k, order, scores = min(found, key=lambda item: item[0])
            shrunk = k < int(best.sum())
            best = _top_k_masks(order, [k], shape)[0]
            traj.append(best.cpu().numpy())
            labels.append(f"threshold: keep {k}/{n}")
            if not shrunk:
                break
        if polish and not interrupted:
            best, interrupted = _speculative_prune(ev, target, best, scores, traj, labels,
                                                   should_stop)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    best = _verify_or_repair(ev, target, best, scores)
    traj.append(best.cpu().numpy())
    labels.append("final")
    return _finish(best, "optimize", target, traj, labels, interrupted)


def _speculative_prune(ev, target, mask, scores, traj, labels, should_stop):
    """Sequential greedy over the kept entries (lowest score first), evaluated in batches.

    A batch holds the cumulative masks "zero c1", "zero c1, c2", ...; everything before the
    first invalid one is exactly what sequential greedy would have accepted, and the first
    invalid candidate is what it would have restored. Entries whose single removal already
    breaks the transcript are skipped up front (they are kept).
    """
    mask = mask.clone()
    flat_scores = scores.view(-1)
    kept = torch.nonzero(mask.view(-1) > 0).view(-1)
    if kept.numel() == 0:
        return mask, False
    kept = kept[torch.argsort(flat_scores[kept], stable=True)]
    singles = mask.view(1, -1).repeat(kept.numel(), 1)
    singles[torch.arange(kept.numel()), kept] = 0.0
    single_ok = ev.valid(singles.view(-1, *mask.shape), target)
    cands = kept[torch.as_tensor(single_ok, dtype=torch.bool, device=kept.device)]
    i, chunk = 0, 16
    while i < cands.numel():
        if should_stop is not None and should_stop():
            return mask, True
        block = cands[i:i + chunk]
        cum = mask.view(1, -1).repeat(block.numel(), 1)
        tri = torch.tril(torch.ones(block.numel(), block.numel(), device=mask.device)) > 0
        cols = block[None, :].expand(block.numel(), -1)
        cum[torch.arange(block.numel())[:, None].expand_as(cols)[tri], cols[tri]] = 0.0
        ok = ev.valid(cum.view(-1, *mask.shape), target)
        accepted = ok.index(False) if False in ok else len(ok)
        if accepted:
            mask = cum[accepted - 1].view(mask.shape).clone()
        i += accepted + (accepted < len(ok))
        chunk = min(2 * chunk, ev.batch_size) if accepted == len(ok) else max(4, accepted + 1)
    traj.append(mask.cpu().numpy())
    labels.append(f"pruned: keep {int(mask.sum())}/{mask.numel()}")
    return mask, False


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
        raise ValueError(f"waveform must be 1-D (mono samples), got shape {y.shape}")
    if m.ndim != 2 or m.shape[0] == 0:
        raise ValueError(f"mask must be a non-empty 2-D (frames, features) array, got {m.shape}")
    if int(hop_length) != hop_length or hop_length < 1:
        raise ValueError(f"hop_length must be a positive int, got {hop_length!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
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
