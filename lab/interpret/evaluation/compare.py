"""The one evaluation loop: every method's ranking of the same utterances, masks of matched
area, the metrics of :mod:`.metrics`, time per clip and paired bootstrap intervals."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import flag, integer
from lab.interpret.evaluation.bootstrap import paired_bootstrap
from lab.interpret.evaluation.metrics import curves, mask_metrics
from lab.runtime import ProgressHook, StopToken, Task, model_device

__all__ = ["METRICS", "Explanation", "compare", "summarize", "top_k"]

#: Summary metric → (per-utterance key, scale): fractions are shown in %, as PIQ's table did.
METRICS = {
    "fidelity": ("kept", 1.0),
    "faithfulness": ("faithfulness", 1.0),
    "AI": ("increase", 100.0),
    "AD": ("drop", 100.0),
    "AG": ("gain", 100.0),
    "mask_area": ("area", 1.0),
}


@dataclass
class Explanation:
    """A method's ranking of the bins (``score``, (1, T, F) or (T, F)) and, for methods that
    choose their own area (PIQ's thresholded mask), that ``mask``."""

    score: torch.Tensor
    mask: torch.Tensor | None = None


Explainer = Callable[[torch.Tensor], "Explanation | torch.Tensor"]


def top_k(score: torch.Tensor, k: int) -> torch.Tensor:
    """0/1 mask of the ``k`` highest scores (ties by position, as ``torch.topk``).

    Examples
    --------
    >>> top_k(torch.tensor([[0.1, 0.9, 0.5]]), 2).tolist()
    [[0.0, 1.0, 1.0]]
    """
    mask = torch.zeros(score.numel(), device=score.device)
    if k > 0:
        mask[score.flatten().topk(k).indices] = 1.0
    return mask.view_as(score)


def summarize(rows: list[dict]) -> dict:
    """Means of the per-utterance rows under the table's names (see :data:`METRICS`)."""
    out = {}
    for name, (key, scale) in METRICS.items():
        out[name] = scale * float(np.mean([float(r[key]) for r in rows])) if rows else float(
            "nan")
    return out


def _explain(fn: Explainer, x: torch.Tensor) -> Explanation:
    out = fn(x)
    if not isinstance(out, Explanation):
        out = Explanation(torch.as_tensor(np.asarray(out)) if not torch.is_tensor(out) else out)
    score = out.score.detach().float().to(x.device).reshape(x.shape)
    mask = None if out.mask is None else out.mask.detach().float().to(x.device).reshape(x.shape)
    return Explanation(score, mask)


def _area(spec, x: torch.Tensor, explained: dict[str, Explanation]) -> int:
    if isinstance(spec, str):
        return int(explained[spec].mask.sum())
    return int(round(float(spec) * x.numel()))


def _check(methods, areas, reference) -> None:
    if not isinstance(methods, Mapping) or not methods:
        raise ArgumentTypeError("methods must be a non-empty dict of name -> explainer")
    for name, fn in methods.items():
        if not callable(fn):
            raise ArgumentTypeError(f"method {name!r} must be callable, got {type(fn).__name__}")
    if not isinstance(areas, Mapping) or not areas:
        raise ArgumentTypeError("areas must be a non-empty dict of name -> method or fraction")
    for name, spec in areas.items():
        if isinstance(spec, str):
            if spec not in methods:
                raise ArgumentError(f"area {name!r} takes the mask of {spec!r}, not a method")
        elif isinstance(spec, bool) or not isinstance(spec, float | int) or not 0 <= spec <= 1:
            raise ArgumentError(f"area {name!r} must be a method name or a fraction in [0, 1], "
                                f"got {spec!r}")
    if reference is not None and reference not in methods:
        raise ArgumentError(f"reference must be one of the methods, got {reference!r}")


def compare(
    classifier,
    utterances: Iterable,
    methods: Mapping[str, Explainer],
    *,
    areas: Mapping[str, str | float],
    reference: str | None = None,
    with_curves: bool = True,
    n_resamples: int = 2000,
    seed: int = 0,
    progress: bool = True,
    should_stop: StopToken = None,
    on_progress: ProgressHook | None = None,
    desc: str = "attribution evaluation",
) -> dict:
    """Evaluate every method on every utterance at each matched area.

    Parameters
    ----------
    classifier : nn.Module
        Maps (B, T, F) inputs to class scores (B, C).
    utterances : iterable of (T, F) arrays
        One input each, unpadded.
    methods : dict of name -> callable
        ``fn(x)`` for ``x`` of shape (1, T, F) returns the ranking of the bins (a tensor) or
        an :class:`Explanation` with the method's own mask.
    areas : dict of name -> method name or fraction
        Per area, how many bins every mask keeps on each utterance: as many as the named
        method's own mask (matched areas, as PIQ's evaluation did), or a fraction.
    reference : str, optional
        Every other method is compared with this one: paired bootstrap intervals of the
        per-utterance differences of each metric (and of the curve AUCs).
    with_curves : bool
        Also compute deletion and insertion curves of every ranking.

    Returns
    -------
    dict
        ``n_utterances``, ``areas`` (per area: ``methods`` → summary, and ``intervals``),
        ``curves`` (per method: mean AUCs and mean curves), ``seconds_per_clip`` (median) and
        ``interrupted`` when stopped early.

    Examples
    --------
    >>> from lab.models.classifier import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> clips = [np.random.default_rng(i).random((20, 257), dtype=np.float32) for i in range(3)]
    >>> g = torch.Generator().manual_seed(0)
    >>> r = compare(clf, clips, {"energy": lambda x: x, "random": lambda x: torch.rand(
    ...     x.shape, generator=g)}, areas={"tenth": 0.1}, reference="random",
    ...     progress=False, n_resamples=50)
    >>> r["n_utterances"], sorted(r["areas"]["tenth"]["methods"])
    (3, ['energy', 'random'])
    >>> round(r["areas"]["tenth"]["methods"]["energy"]["mask_area"], 3)
    0.1
    """
    _check(methods, areas, reference)
    with_curves = flag("with_curves", with_curves)
    n_resamples = integer("n_resamples", n_resamples, minimum=1)
    rows = {a: {m: [] for m in methods} for a in areas}
    curve_rows: dict[str, list[dict]] = {m: [] for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    total = len(utterances) if hasattr(utterances, "__len__") else 0
    task = Task(total, desc=desc, progress=progress, on_progress=on_progress,
                should_stop=should_stop)
    done = 0
    with task, task.run_guard():
        for features in utterances:
            if task.stopped:
                break
            x = torch.as_tensor(np.asarray(features, dtype=np.float32))
            x = (x[None] if x.dim() == 2 else x).to(model_device(classifier))
            if x.dim() != 3 or x.shape[0] != 1:
                raise ArgumentError(f"each utterance must be (T, F), got {tuple(x.shape)}")
            explained = {}
            for name, fn in methods.items():
                started = time.perf_counter()
                explained[name] = _explain(fn, x)
                seconds[name].append(time.perf_counter() - started)
            for area, spec in areas.items():
                k = _area(spec, x, explained)
                for name, e in explained.items():
                    own = isinstance(spec, str) and spec == name
                    mask = e.mask if own else top_k(e.score, k)
                    rows[area][name].append(mask_metrics(classifier, x, mask))
            if with_curves:
                for name, e in explained.items():
                    curve_rows[name].append(curves(classifier, x, e.score))
            done += 1
            task.advance()
    out = {"n_utterances": done, "areas": {}}
    for area, by_method in rows.items():
        entry = {"matched_to": areas[area],
                 "methods": {m: summarize(r) for m, r in by_method.items()}}
        if reference is not None and done:
            entry["intervals"] = {
                m: {name: paired_bootstrap([scale * float(v[key]) for v in r],
                                           [scale * float(v[key]) for v in
                                            by_method[reference]],
                                           n_resamples=n_resamples, seed=seed)
                    for name, (key, scale) in METRICS.items() if name != "mask_area"}
                for m, r in by_method.items() if m != reference}
        out["areas"][area] = entry
    if with_curves and done:
        out["curves"] = {
            m: {"deletion_auc": float(np.mean([c["deletion_auc"] for c in r])),
                "insertion_auc": float(np.mean([c["insertion_auc"] for c in r])),
                "deletion": np.mean([c["deletion"] for c in r], 0).tolist(),
                "insertion": np.mean([c["insertion"] for c in r], 0).tolist()}
            for m, r in curve_rows.items()}
        if reference is not None:
            out["curve_intervals"] = {
                m: {key: paired_bootstrap([c[key] for c in r],
                                          [c[key] for c in curve_rows[reference]],
                                          n_resamples=n_resamples, seed=seed)
                    for key in ("deletion_auc", "insertion_auc")}
                for m, r in curve_rows.items() if m != reference}
    # median: one slow clip on a shared machine should not move the column
    out["seconds_per_clip"] = {m: float(np.median(s)) if s else float("nan")
                               for m, s in seconds.items()}
    if task.interrupted:
        out["interrupted"] = True
    return out
