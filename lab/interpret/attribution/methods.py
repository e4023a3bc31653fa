"""``attribute``: Captum's attribution methods on the lab's (T, F) feature grid.

Every method is Captum's own class (none is re-implemented here); this module only builds
the scalar target (:mod:`.targets`), the segment groups (:mod:`.segments`) and the options
(:class:`~.settings.AttributionSettings`), and returns the map on the model's feature grid,
the grid the importance masks and panels use.

Models from outside the zoo (Hugging Face, Silero VAD, any :class:`lab.models.SpeechModel`)
are attributed on the grid :func:`~lab.interpret.attribution.grids.attribution_grid` gives
— by default the one their importance masks use (:meth:`lab.models.SpeechModel.mask_view`):
a waveform model on the log-power spectrogram of its input, which it hears resynthesised
with the input's phase; a feature model on its own features; with ``grid="log_power"``
Whisper on the log-power spectrogram too — and the score explained (:func:`_adapter_goal`)
is the decision's own: the predicted class's logit, the log-probability of the greedy CTC
path over the model's own vocabulary, the teacher-forced log-probability of a seq2seq
model's greedy tokens, or the summed per-frame scores of a ``frame_scores`` model.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import real
from lab.interpret.attribution.grids import attribution_grid
from lab.interpret.attribution.segments import (
    Segment,
    fixed_segments,
    segment_ids,
    word_segments,
)
from lab.interpret.attribution.settings import METHODS, AttributionSettings
from lab.interpret.attribution.targets import Target, make_target
from lab.runtime import evaluating, model_device

__all__ = ["Attribution", "attribute", "top_area_mask"]


def top_area_mask(scores: np.ndarray | torch.Tensor, area: float | int) -> np.ndarray:
    """0/1 mask of the highest-scoring bins: a fraction ``area`` in [0, 1] or a count.

    Ties are broken by position (``torch.topk``), so equal scores give a reproducible mask.

    Examples
    --------
    >>> top_area_mask(np.array([[0.1, 0.9], [0.5, 0.2]]), 0.5).astype(int).tolist()
    [[0, 1], [1, 0]]
    >>> int(top_area_mask(np.zeros((3, 4)), 5).sum())
    5
    """
    s = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    if isinstance(area, int) and not isinstance(area, bool):
        k = area
    else:
        k = int(round(real("area", area, minimum=0.0, maximum=1.0) * s.numel()))
    if not 0 <= k <= s.numel():
        raise ArgumentError(f"area must be at most the {s.numel()} bins, got {k}")
    mask = torch.zeros(s.numel())
    if k:
        mask[s.flatten().topk(k).indices] = 1.0
    return mask.view_as(s).numpy()


@dataclass
class Attribution:
    """An attribution map and how it was made.

    Attributes
    ----------
    scores : ndarray (T, F)
        Attribution of every feature bin (higher: more evidence for the target).
    features : ndarray (T, F)
        The input the map explains.
    method, target : str
        The method and a description of the explained score.
    seconds : float
        Wall time of the method (target included).
    segments : list of Segment
        The groups ablation and Shapley methods perturbed (empty for the others).
    """

    scores: np.ndarray
    features: np.ndarray
    method: str
    target: str
    seconds: float
    segments: list = field(default_factory=list)

    def mask(self, area: float | int) -> np.ndarray:
        """The top ``area`` of :attr:`scores` as a 0/1 mask (see :func:`top_area_mask`)."""
        return top_area_mask(self.scores, area)

    def frame_scores(self) -> np.ndarray:
        """Per frame, the sum of its bins' attributions (T,)."""
        return self.scores.sum(axis=1)

    def __repr__(self) -> str:
        return (f"Attribution(method={self.method!r}, shape={self.scores.shape}, "
                f"target={self.target!r}, seconds={self.seconds:.3f})")


def _captum(method: str, forward, settings: AttributionSettings):
    from captum import attr

    classes = {
        "integrated_gradients": attr.IntegratedGradients,
        "saliency": attr.Saliency,
        "input_x_gradient": attr.InputXGradient,
        "occlusion": attr.Occlusion,
        "feature_ablation": attr.FeatureAblation,
        "shapley_value_sampling": attr.ShapleyValueSampling,
    }
    if method == "noise_tunnel":
        return attr.NoiseTunnel(_captum(settings.inner, forward, settings))
    return classes[method](forward)


def _options(method: str, x: torch.Tensor, settings: AttributionSettings,
             groups: torch.Tensor | None) -> dict:
    s = settings
    if method == "integrated_gradients":
        return dict(baselines=s.baseline, n_steps=s.n_steps, internal_batch_size=s.batch_size)
    if method == "saliency":
        return dict(abs=s.absolute)
    if method == "input_x_gradient":
        return {}
    if method == "occlusion":
        window = (min(s.window[0], x.shape[1]), min(s.window[1], x.shape[2]))
        return dict(sliding_window_shapes=window, strides=s.stride, baselines=s.baseline,
                    perturbations_per_eval=s.batch_size)
    if method == "feature_ablation":
        return dict(baselines=s.baseline, feature_mask=groups,
                    perturbations_per_eval=s.batch_size)
    if method == "shapley_value_sampling":
        return dict(baselines=s.baseline, feature_mask=groups, n_samples=s.n_samples,
                    perturbations_per_eval=s.batch_size)
    # NoiseTunnel: SmoothGrad over the inner method; Captum's stdev is absolute, so the
    # fraction is taken of this input's spread.
    inner = _options(s.inner, x, s, groups)
    return dict(nt_type="smoothgrad", nt_samples=s.n_samples,
                stdevs=float(s.noise * x.std()), nt_samples_batch_size=s.n_samples, **inner)


def _check_method(method) -> str:
    if not isinstance(method, str):
        raise ArgumentTypeError(f"method must be one of {list(METHODS)}, got "
                                f"{type(method).__name__}")
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {list(METHODS)}, got {method!r}")
    return method


def attribute(
    model: nn.Module,
    audio,
    *,
    method: str,
    target=None,
    settings: AttributionSettings | None = None,
    segments: list[Segment] | None = None,
    seed: int = 0,
    sr: int = 16000,
    grid: str | None = None,
) -> Attribution:
    """Attribute a model's decision to the bins of its (T, F) input features, with Captum.

    Parameters
    ----------
    model : nn.Module or lab.models.SpeechModel
        Any model :mod:`lab.models` loads (``KeywordClassifier``, ``DeepSpeech``,
        ``Transducer``) or adapts: a module mapping (B, T, F) features to class scores
        (B, C) or CTC logits (B, T, V) with blank 0, or a model from outside the zoo
        (Hugging Face, Silero VAD, an adapter; see the module docstring: waveform models are
        attributed on the log-power spectrogram, their target is None or a class index,
        and ablation groups are fixed blocks of frames).
    audio : path, waveform (n,) or features (T, F)
        One utterance; paths and waveforms become the model's features
        (:func:`lab.models.as_features`, through :func:`lab.audio.as_waveform`).
    method : str
        One of ``integrated_gradients``, ``saliency``, ``input_x_gradient``, ``occlusion``
        (time-frequency patches), ``feature_ablation`` and ``shapley_value_sampling`` (over
        ``segments``), ``noise_tunnel`` (SmoothGrad over ``settings.inner``).
    target : None, int, str or Word
        See :func:`~lab.interpret.attribution.targets.make_target`: a class for a
        classifier, the transcript's log-probability (or one ``Word``) for ASR models.
    settings : AttributionSettings, optional
        Steps, baseline, occlusion patch, samples, noise, batch size.
    segments : list of Segment, optional
        Groups for ablation and Shapley; default: the model's words
        (:func:`~lab.interpret.attribution.segments.word_segments`), or fixed blocks of
        ``settings.segment_frames`` for a classifier. Frames outside them form gap groups.
    seed : int
        Seeds the random methods (Shapley permutations, NoiseTunnel noise) without
        touching the global generator.
    sr : int
        Sample rate of a waveform ``audio``.
    grid : None or "log_power"
        None: the grid the model's importance masks use (its features; the log-power
        spectrogram for waveform adapters). ``"log_power"``: the log-power spectrogram for
        Whisper too, heard resynthesised with the input phase
        (:func:`~lab.interpret.attribution.grids.attribution_grid`).

    Returns
    -------
    Attribution

    Examples
    --------
    >>> from lab.models import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> x = np.random.default_rng(0).random((20, 257), dtype=np.float32)
    >>> a = attribute(clf, x, method="input_x_gradient", target=1)
    >>> a.scores.shape, a.target
    ((20, 257), 'logit of class 1')
    >>> int(attribute(clf, x, method="occlusion").mask(0.1).sum())
    514
    """
    method = _check_method(method)
    settings = AttributionSettings() if settings is None else settings
    if not isinstance(settings, AttributionSettings):
        raise ArgumentTypeError(
            f"settings must be an AttributionSettings, got {type(settings).__name__}")
    from lab.models.adapters import ZooModel

    # one dispatch point for every model: the grid it is attributed on and what hears it
    on = attribution_grid(model, audio, grid=grid, sr=sr)
    adapter, features = on.adapter, on.features
    if adapter is None:
        model = model.module if isinstance(model, ZooModel) else model
    else:
        model = on.view
    x = torch.from_numpy(features)[None].to(model_device(model))
    started = time.perf_counter()
    with evaluating(model), torch.random.fork_rng():
        torch.manual_seed(seed)
        goal: Target = (make_target(model, x, target) if adapter is None
                        else _adapter_goal(adapter, model, x, target))
        groups, used = None, []
        needs_groups = method in ("feature_ablation", "shapley_value_sampling") or (
            method == "noise_tunnel" and settings.inner in ("feature_ablation",
                                                            "shapley_value_sampling"))
        if needs_groups:
            if segments is None and adapter is not None:  # no word alignment outside the zoo
                segments = fixed_segments(x.shape[1], settings.segment_frames)
            elif segments is None:
                segments = word_segments(model, features,
                                         fallback_frames=settings.segment_frames)
            ids, used = segment_ids(list(segments), x.shape[1])
            groups = torch.from_numpy(ids).to(x.device)[None, :, None].expand_as(x).contiguous()
        explainer = _captum(method, goal.forward, settings)
        # cuDNN's RNN backward runs only in training mode; the models stay in eval mode
        # (dropout off), so LSTM gradients on a GPU need the native kernels
        rnn_guard = (torch.backends.cudnn.flags(enabled=False) if x.is_cuda
                     else contextlib.nullcontext())
        with torch.enable_grad(), rnn_guard:
            # gradient methods want a leaf that requires grad (Captum warns otherwise)
            leaf = x.clone().requires_grad_(True)
            scores = explainer.attribute(leaf, **_options(method, x, settings, groups))
    seconds = time.perf_counter() - started
    return Attribution(scores[0].detach().cpu().numpy().astype(np.float32), features, method,
                       goal.description, seconds, used)


def _adapter_goal(adapter, view: nn.Module, x: torch.Tensor, target) -> Target:
    """The decision of a model from outside the zoo as one scalar per batch item.

    ``view`` maps the grid ``x`` (1, T, F) to the adapter's scores (B, frames, C).
    """
    from lab.interpret.attribution.targets import Word

    name = type(adapter.module).__name__
    with torch.no_grad():
        scores = view(x)
    if isinstance(target, Word) or isinstance(target, str):
        raise ArgumentError(
            f"target: {name} is read through its adapter, which has no word alignment or "
            f"text encoder; use target=None (its own decision)"
            + (" or a class index" if adapter.kind == "classification" else ""))
    if adapter.kind == "classification":
        n = scores.shape[-1]
        c = int(scores[0, -1].argmax()) if target is None else _index(target, n)
        label = adapter.labels[c] if adapter.labels else str(c)
        return Target("class", lambda z: view(z)[:, -1, c], f"logit of class {c} {label!r}",
                      label=c)
    if target is not None:
        raise ArgumentTypeError(f"target for a {adapter.kind} model must be None (its own "
                                f"decision), got {type(target).__name__}")
    if adapter.kind == "frame_scores":
        on = adapter.decode(scores)[0]
        return Target("frames", lambda z: view(z).sum(dim=(1, 2)),
                      f"sum of the {scores.shape[1]} frame scores "
                      f"({sum(bool(v) for v in on)} frames on)")
    if adapter.kind == "seq2seq":
        # the view scores along the clean greedy tokens (start token first): explain the
        # log-probability of each forced next token
        forced = scores.argmax(-1)[0]
        tokens = forced[:-1]  # the greedy tokens themselves (the last step is end-of-text)
        text = adapter.text(tokens.tolist())

        def forced_score(z: torch.Tensor) -> torch.Tensor:
            lp = view(z).log_softmax(-1)
            return lp[:, torch.arange(len(forced)), forced.to(z.device)].sum(-1)

        return Target("transcript", forced_score,
                      f"log-probability of the greedy tokens {text!r}", transcript=text)
    # ctc: the log-probability of the model's own greedy path's labels (its own vocabulary)
    ids = list(adapter.decode(scores)[0])
    text = adapter.text(ids)
    labels = torch.tensor(ids, dtype=torch.long)
    blank = int(adapter.blank or 0)

    def transcript_score(z: torch.Tensor) -> torch.Tensor:
        lp = view(z).log_softmax(-1)
        b, t = lp.shape[:2]
        if not len(labels):  # only blanks: the path of blanks
            return lp[..., blank].sum(-1)
        return -torch.nn.functional.ctc_loss(
            lp.transpose(0, 1), labels.to(z.device).repeat(b), torch.full((b,), t),
            torch.full((b,), len(labels)), blank=blank, reduction="none")

    return Target("transcript", transcript_score,
                  f"log-probability of the transcript {text!r}", transcript=text)


def _index(target, n: int) -> int:
    from lab.interpret._checks import integer

    return integer("target", target, minimum=0, maximum=n - 1)
