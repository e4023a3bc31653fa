"""``importance_mask``: check the inputs, pick the method's settings, run the search."""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import finite, integer, numeric_array
from lab.interpret.decoding import Decode, greedy_ctc_transcripts
from lab.interpret.masks.evaluator import Evaluator
from lab.interpret.masks.greedy import greedy_mask
from lab.interpret.masks.optimize import optimize_mask, optimize_units
from lab.interpret.masks.result import MaskResult
from lab.interpret.masks.settings import SETTINGS, GreedySettings, OptimizeSettings
from lab.runtime import ProgressHook, StopToken, Task, evaluating, model_device

__all__ = ["importance_mask"]

#: The keyword defaults of :func:`importance_mask`; a keyword left at its default is "not set".
_KEYWORD_DEFAULTS = {f.name: f.default for f in fields(OptimizeSettings)}


def _as_features(features) -> torch.Tensor:
    x = torch.from_numpy(np.array(numeric_array("features", features), dtype=np.float32))
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ArgumentError(
            f"features must be a non-empty 2-D (frames, features) array, got shape "
            f"{tuple(x.shape)}"
        )
    finite("features", x)
    return x


def _same(a, b) -> bool:
    return a is b or (a is not None and b is not None and a == b)


def _resolve_settings(method: str | None, settings, keywords: dict):
    """The method and its settings from ``method``, ``settings=`` and the old keywords.

    The keywords fill the settings of the chosen method. One set to something other than
    its default that the method does not take, a settings object of the other method, or
    keywords next to ``settings=`` are errors: they would be silently ignored.
    """
    given = {k: v for k, v in keywords.items() if not _same(v, _KEYWORD_DEFAULTS[k])}
    if settings is not None:
        kinds = {cls: name for name, cls in SETTINGS.items()}
        if type(settings) not in kinds:
            raise ArgumentTypeError(
                f"settings must be a GreedySettings or an OptimizeSettings, got "
                f"{type(settings).__name__}"
            )
        own = kinds[type(settings)]
        if method is not None and method != own:
            raise ArgumentError(
                f"settings is a {type(settings).__name__}, which belongs to method={own!r}, "
                f"but method={method!r}"
            )
        if given:
            raise ArgumentError(
                f"pass the options either in settings= or as keywords, not both "
                f"(got settings and {sorted(given)})"
            )
        return own, settings
    method = "optimize" if method is None else method
    if method not in SETTINGS:
        raise ArgumentError(f"method must be 'optimize' or 'greedy', got {method!r}")
    cls = SETTINGS[method]
    names = {f.name for f in fields(cls)}
    foreign = sorted(set(given) - names)
    if foreign:
        raise ArgumentError(
            f"{', '.join(foreign)} do{'es' if len(foreign) == 1 else ''} not apply to "
            f"method={method!r} (it takes {', '.join(sorted(names))})"
        )
    return method, cls(**{k: v for k, v in keywords.items() if k in names})


def importance_mask(
    model: nn.Module,
    features,
    *,
    method: str | None = None,
    settings: GreedySettings | OptimizeSettings | None = None,
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
    should_stop: StopToken = None,
    on_progress: ProgressHook | None = None,
) -> MaskResult:
    """Find a binary mask with many zeros that keeps the model's transcript.

    A binary mask ``M`` (same shape as the features ``X``) is *valid* when the transcript of
    ``model(M * X)`` equals that of ``model(X)``. Both methods only ever return valid masks.

    Parameters
    ----------
    model : torch.nn.Module or lab.models.SpeechModel
        Maps a ``(batch, T, F)`` input to ``(batch, frames, symbols)`` scores (logits or
        log-probabilities); a tuple output uses its first element. An adapter
        (:func:`lab.models.adapt`; Hugging Face models and Silero VAD are adapted here)
        brings its own decision as ``decode`` (greedy CTC over its vocabulary, argmax class,
        thresholded frames, Whisper's greedy tokens teacher-forced). Waveform models are
        masked on the log-power spectrogram of the waveform (the panels' picture) and hear
        the masked spectrogram resynthesised with the input's phase
        (:class:`lab.models.adapters.SpectrogramView`; listen with
        :func:`lab.models.adapters.masked_audio`); feature models on their own features.
    features : array, shape (T, F)
        One utterance's features, time-major, finite. For an adapter: a waveform or path
        (or, for feature models, their features).
    method : {"optimize", "greedy"}, optional
        ``"greedy"``: the reference, ``T * F`` sequential passes. ``"optimize"`` (the
        default, or the method ``settings`` belongs to): relaxation, batched thresholds,
        budgeted polish (see :mod:`lab.interpret.masks`).
    settings : GreedySettings or OptimizeSettings, optional
        The method's options in one object. Without it the keywords below fill them.
    decode : callable, optional
        Maps ``(batch, frames, symbols)`` scores to one hashable transcript per item. Defaults
        to greedy CTC decoding with blank 0 (:func:`greedy_ctc_transcripts`).
    seed : int
        Seeds greedy's visiting order (and optimize's tie-breaking).
    sparsity_weight, steps, lr, margin, batch_size, polish, budget, rounds
        Optimize only; see :class:`OptimizeSettings`. Setting one of them to a non-default
        value with ``method="greedy"`` is an error, not silently ignored.
    record_every : int, optional
        Trajectory spacing (greedy: visited entries; optimize: relaxed steps). Default keeps
        about 40 frames.
    progress : bool
        Show a tqdm progress bar.
    should_stop : threading.Event or callable, optional
        Polled regularly; when set the search stops early. Ctrl-C does the same. The mask
        returned is valid and ``interrupted`` is True.
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
    >>> importance_mask(net, x, settings=OptimizeSettings(steps=2), progress=False).method
    'optimize'
    >>> importance_mask(net, x, method="greedy", lr=0.5)
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: lr does not apply to method='greedy' (it takes record_every)
    """
    method, settings = _resolve_settings(method, settings, dict(
        sparsity_weight=sparsity_weight, steps=steps, lr=lr, margin=margin,
        batch_size=batch_size, polish=polish, budget=budget, rounds=rounds,
        record_every=record_every,
    ))
    from lab.models.adapters import mask_inputs

    model, features, own_decode = mask_inputs(model, features)
    decode = decode if decode is not None else own_decode
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if decode is not None and not callable(decode):
        raise ArgumentTypeError(f"decode must be a callable or None, got {type(decode).__name__}")
    seed = integer("seed", seed, minimum=0)
    x = _as_features(features).to(model_device(model))
    batch = settings.batch_size if method == "optimize" else 1
    ev = Evaluator(model, x, decode or greedy_ctc_transcripts, batch)
    if method == "greedy":
        task = Task(x.numel(), desc="greedy mask", progress=progress, on_progress=on_progress,
                    should_stop=should_stop)
    else:
        task = Task(optimize_units(settings, x.shape[0]), desc="optimize mask",
                    progress=progress, on_progress=on_progress, should_stop=should_stop)
    start = time.perf_counter()
    with task, evaluating(model):
        with torch.no_grad():
            clean = ev.scores(x[None])
        if not torch.isfinite(clean).all():
            raise ArgumentError(
                "model output on the unmasked features is not finite (NaN or inf): its "
                "transcript means nothing to preserve"
            )
        target = ev.decode_one(clean)
        if method == "greedy":
            result = greedy_mask(ev, target, seed, settings, task)
        else:
            result = optimize_mask(ev, target, clean, seed, settings, task)
    result.seconds = time.perf_counter() - start
    result.forward_passes = ev.forward_passes
    result.model_calls = ev.model_calls
    result.backward_passes = ev.backward_passes
    return result
