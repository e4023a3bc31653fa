"""The evaluation for speech recognizers: is the transcript kept under masking?

For an ASR model the decision is the transcript, so each method's top bins (a fraction
``area`` of them) are kept (masked-in, the rest zeroed as the importance masks do) or removed
(masked-out), and the greedy transcripts are compared with the model's own transcript of the
whole input:

- kept: the masked-in transcript equals the original (the ASR form of fidelity);
- CER in: character error rate of the masked-in transcript (lower: the kept bins suffice);
- CER out: of the masked-out transcript (higher: the removed bins carried the words).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import numpy as np
import torch

from lab.errors import ArgumentError
from lab.interpret._checks import integer, real
from lab.interpret.evaluation.bootstrap import paired_bootstrap
from lab.interpret.evaluation.compare import Explainer, _explain, top_k
from lab.runtime import ProgressHook, StopToken, Task, model_device

__all__ = ["compare_asr", "transcript_metrics"]


def _transcripts(model, batch: torch.Tensor) -> list[str]:
    from lab.models import transcribe_batch

    return transcribe_batch(model, batch)


def _cer(reference: str, hypothesis: str) -> float:
    from lab.models import edit_distance

    return edit_distance(list(reference), list(hypothesis)) / max(1, len(reference))


def transcript_metrics(model, x: torch.Tensor, mask: torch.Tensor) -> dict:
    """Transcripts of ``x`` (1, T, F), ``mask × x`` and ``(1 − mask) × x`` and their CERs.

    Examples
    --------
    >>> from lab.models import DeepSpeech
    >>> x = torch.randn(1, 15, 26)
    >>> m = transcript_metrics(DeepSpeech(n_hidden=8).eval(), x, torch.ones_like(x))
    >>> m["kept"], m["cer_in"], m["area"]
    (True, 0.0, 1.0)
    """
    mask = mask.to(device=x.device, dtype=x.dtype)
    text, inside, outside = _transcripts(model, torch.cat([x, mask * x, (1 - mask) * x]))
    return dict(transcript=text, kept=inside == text, cer_in=_cer(text, inside),
                cer_out=_cer(text, outside), area=float(mask.mean()))


def compare_asr(
    model,
    utterances: Iterable,
    methods: Mapping[str, Explainer],
    *,
    area: float = 0.3,
    reference: str | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    progress: bool = True,
    should_stop: StopToken = None,
    on_progress: ProgressHook | None = None,
) -> dict:
    """Every method's top ``area`` of the bins, kept and removed, on every utterance.

    Returns per method ``kept``, ``cer_in``, ``cer_out`` (means over utterances) and
    ``seconds_per_clip`` (median), and with ``reference`` the paired bootstrap intervals of
    every other method's differences.

    Examples
    --------
    >>> from lab.models import DeepSpeech
    >>> _ = torch.manual_seed(0)
    >>> clips = [torch.randn(12, 26).numpy() for _ in range(2)]
    >>> r = compare_asr(DeepSpeech(n_hidden=8).eval(), clips, {"energy": lambda x: x.abs()},
    ...                 area=1.0, progress=False)
    >>> r["methods"]["energy"]["kept"], r["n_utterances"]
    (1.0, 2)
    """
    area = real("area", area, minimum=0.0, maximum=1.0)
    n_resamples = integer("n_resamples", n_resamples, minimum=1)
    if reference is not None and reference not in methods:
        raise ArgumentError(f"reference must be one of the methods, got {reference!r}")
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    total = len(utterances) if hasattr(utterances, "__len__") else 0
    task = Task(total, desc="ASR attribution evaluation", progress=progress,
                on_progress=on_progress, should_stop=should_stop)
    with task, task.run_guard():
        for features in utterances:
            if task.stopped:
                break
            x = torch.as_tensor(np.asarray(features, dtype=np.float32))[None].to(
                model_device(model))
            k = int(round(area * x.numel()))
            for name, fn in methods.items():
                started = time.perf_counter()
                e = _explain(fn, x)
                seconds[name].append(time.perf_counter() - started)
                rows[name].append(transcript_metrics(model, x, top_k(e.score, k)))
            task.advance()
    keys = ("kept", "cer_in", "cer_out")
    out = {
        "n_utterances": len(next(iter(rows.values()))),
        "area": area,
        "methods": {m: {key: float(np.mean([float(v[key]) for v in r])) if r else float("nan")
                        for key in keys} for m, r in rows.items()},
        "seconds_per_clip": {m: float(np.median(s)) if s else float("nan")
                             for m, s in seconds.items()},
    }
    if reference is not None and out["n_utterances"]:
        out["intervals"] = {
            m: {key: paired_bootstrap([float(v[key]) for v in r],
                                      [float(v[key]) for v in rows[reference]],
                                      n_resamples=n_resamples, seed=seed) for key in keys}
            for m, r in rows.items() if m != reference}
    if task.interrupted:
        out["interrupted"] = True
    return out
