"""The analyses a scan runs per utterance: activations, evaluate, masks, piq.

Each task is a :class:`ScanTask` with three steps:

- ``check(model, options) -> params`` (on the driver): validate the options and fill their
  defaults, so that an explicit default and an omitted option record the same parameters;
- ``prepare(model, params) -> (payload, identity)`` (on the driver): what is shipped to the
  workers once (the model, or a PIQ interpreter around it) and what it adds to the model
  identity (a PIQ decoder's hash);
- ``process(payload, item, params) -> (row, arrays)`` (on a worker): one utterance's table row
  and arrays.

Adapted models (:class:`lab.models.adapters.SpeechModel`: Silero VAD, Hugging Face models)
run ``evaluate`` through :func:`lab.models.predict`, ``activations`` through the adapter's
``layer_names`` / ``activations`` and ``masks`` through :func:`lab.interpret.importance_mask`
(waveform models masked on the log-power spectrogram, feature models on their own features;
the grid is recorded in the parameters). ``piq`` goes through
:func:`lab.models.adapters.piq_classifier`: what PIQ accepts is scanned, anything else gets
PIQ's own refusal.

Everything per utterance goes through the lab's public API: :func:`lab.models.transcribe`,
:func:`lab.models.ctc_posteriors`, :func:`lab.models.activations`,
:func:`lab.interpret.importance_mask`, :class:`lab.piq.PIQInterpreter`.

Examples
--------
>>> sorted(TASKS)
['activations', 'evaluate', 'masks', 'piq']
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["TASKS", "ScanTask", "process_shard", "summarize"]


@dataclass(frozen=True)
class ScanTask:
    """One analysis: ``check`` and ``prepare`` on the driver, ``process`` per utterance.

    ``stacked`` arrays (one fixed-size vector per utterance, e.g. activation statistics) are
    stored stacked per shard; the others (masks, whose shape follows the utterance) one per
    utterance.
    """

    name: str
    check: Callable[[nn.Module, dict], dict]
    prepare: Callable[[nn.Module, dict], tuple[Any, dict]]
    process: Callable[[Any, Any, dict], tuple[dict, dict]]
    stacked: bool = True


def _no_options(task: str, options: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ArgumentError(
            f"{task} takes the options {list(allowed) or 'none'}; unknown: {unknown}"
        )


def _features(model: nn.Module, waveform: np.ndarray) -> torch.Tensor:
    from lab.models import as_features

    return torch.from_numpy(np.ascontiguousarray(as_features(model, waveform)))[None]


def _is_classifier(model: nn.Module) -> bool:
    return hasattr(model, "classify") and hasattr(model, "embed")


def _adapter(model: Any):
    """``model`` when it is an adapter (resolve_model made it one), else None."""
    from lab.models.adapters import SpeechModel

    return model if isinstance(model, SpeechModel) else None


def _plain(model: nn.Module, params: dict) -> tuple[Any, dict]:
    return model, {}


# ------------------------------------------------------------------------------- evaluate
def _check_evaluate(model: nn.Module, options: dict) -> dict:
    _no_options("evaluate", options, ())
    adapter = _adapter(model)
    if adapter is not None:  # its kind says what predict returns
        return {"kind": adapter.kind}
    if _is_classifier(model):
        return {"kind": "classifier"}
    if hasattr(model, "decode_ids"):
        return {"kind": "recognizer"}
    # A plain module: what it returns tells (logits (1, V) or per-frame logits (1, T, V)).
    out = _probe_output(model, "evaluate")
    if isinstance(out, torch.Tensor) and out.ndim in (2, 3):
        return {"kind": "classifier" if out.ndim == 2 else "recognizer"}
    raise ArgumentError(
        f"evaluate needs a recognizer (CTC logits (1, T, V)) or a classifier (logits (1, V)); "
        f"{type(model).__name__} returned "
        f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
    )


@torch.no_grad()
def _evaluate(model: nn.Module, item, params: dict) -> tuple[dict, dict]:
    from lab.data import KEYWORDS, CharTokenizer
    from lab.models import DeepSpeech, ctc_greedy_decode, ctc_posteriors, transcribe

    if _adapter(model) is not None:
        return _evaluate_adapter(model, item, params)
    x = _features(model, item.waveform)
    if params["kind"] == "classifier":
        logits = model(x)
        probs = (logits[0] if isinstance(logits, tuple) else logits).softmax(-1)[0]
        label = int(probs.argmax())
        return {
            "prediction": KEYWORDS[label] if label < len(KEYWORDS) else str(label),
            "predicted_label": label,
            "confidence": float(probs[label]),
            "correct": bool(label == item.label) if item.label >= 0 else None,
        }, {}
    if hasattr(model, "decode_ids") and not isinstance(model, DeepSpeech):
        # its own search (the Transducer's RNN-T greedy) and its CTC head: two passes
        hypothesis = transcribe(model, x[0])
        posteriors = ctc_posteriors(model, x[0])
    else:  # DeepSpeech's decode_ids is greedy CTC over forward: one pass gives both
        logits = model(x)
        if logits.ndim != 3:
            raise ArgumentError(
                f"evaluate needs a recognizer (CTC logits (1, T, V)) or a classifier; "
                f"{type(model).__name__} returned shape {tuple(logits.shape)}"
            )
        hypothesis = CharTokenizer().decode(ctc_greedy_decode(logits, blank=0)[0])
        posteriors = logits.softmax(-1)[0].numpy()
    return _scored(hypothesis, item.text) | {
        # Mean over frames of the best symbol's posterior: how sure the model was.
        "confidence": float(posteriors.max(axis=-1).mean()),
    }, {}


def _scored(hypothesis: str, reference: str) -> dict:
    """Hypothesis, lengths, edit counts and CER/WER against ``reference`` ('' = unscored)."""
    from lab.models import edit_distance

    chars, words = len(reference), len(reference.split())
    # Without a transcript there is nothing to score (a folder scan without a manifest).
    char_errors = edit_distance(reference, hypothesis) if reference else None
    word_errors = edit_distance(reference.split(), hypothesis.split()) if reference else None
    return {
        "hypothesis": hypothesis,
        "chars": chars,
        "char_errors": char_errors,
        "words": words,
        "word_errors": word_errors,
        "cer": char_errors / chars if reference else math.nan,
        "wer": word_errors / words if reference and words else math.nan,
    }


def _evaluate_adapter(adapter, item, params: dict) -> tuple[dict, dict]:
    from lab.data import KEYWORDS
    from lab.models.adapters import confidence

    output = adapter.predict(item.waveform)
    kind = params["kind"]
    if kind in ("ctc", "seq2seq", "transducer"):
        return _scored(str(output), item.text) | {
            "confidence": float(confidence(adapter, item.waveform))}, {}
    if kind == "classification":
        names = list(output)
        label = int(np.argmax([output[name] for name in names]))
        name = names[label]
        # Correct only where the model's class names are the corpus's keywords.
        known = item.label >= 0 and name in KEYWORDS
        return {"prediction": name, "predicted_label": label,
                "confidence": float(output[name]),
                "correct": bool(name == KEYWORDS[item.label]) if known else None}, {}
    # frame_scores: one score per frame (speech probability) or per-frame class scores
    scores = np.asarray(output, dtype=np.float64)
    if scores.ndim == 1:
        on = scores >= adapter.threshold
        sure = np.maximum(scores, 1 - scores)
    else:  # class 0 is "none" (silence); any other class is speech
        on = scores.argmax(-1) != 0
        sure = scores.max(-1)
    return {"frames": int(on.size), "speech_frames": int(on.sum()),
            "speech_fraction": float(on.mean()) if on.size else math.nan,
            "mean_score": float(scores.mean()) if scores.size else math.nan,
            "confidence": float(sure.mean()) if sure.size else math.nan}, {}


# ---------------------------------------------------------------------------- activations
def _probe_input(model: nn.Module) -> torch.Tensor:
    rng = np.random.default_rng(0)
    return _features(model, (0.1 * rng.standard_normal(16000)).astype(np.float32))


def _probe_output(model: nn.Module, task: str) -> Any:
    """What a plain module returns for one second of probe features (the first element of a
    tuple): how ``task`` learns what kind of model it was given."""
    try:
        with torch.no_grad():
            out = model(_probe_input(model))
    except Exception as err:
        raise ArgumentError(
            f"{task} calls model(features (1, T, F)); {type(model).__name__} failed on a "
            f"probe input: {type(err).__name__}: {err}"
        ) from err
    return out[0] if isinstance(out, tuple) else out


def _call(model: nn.Module):
    # The Transducer's forward needs transcripts; its CTC head runs the whole encoder.
    return getattr(model, "ctc_logits", None) if not _is_classifier(model) else None


def default_layers(model: nn.Module) -> list[str]:
    """The top-level layers of ``model`` that run on a plain forward pass (dropout left out).

    Examples
    --------
    >>> from lab.models import load_pretrained
    >>> default_layers(load_pretrained("classifier"))
    ['normalize', 'encoder', 'head']
    """
    from lab.models import activations

    adapter = _adapter(model)
    if adapter is not None:
        return _adapter_default_layers(adapter)

    x = _probe_input(model)
    names = []
    with torch.no_grad():
        for name, module in model.named_children():
            if isinstance(module, nn.Dropout):
                continue
            try:
                activations(model, x, [name], call=_call(model), detach=True)
            except Exception:  # a layer that does not run (or cannot be read) on this path
                continue
            names.append(name)
    return names


def _probe_waveform() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal(16000)).astype(np.float32)


def _adapter_default_layers(adapter) -> list[str]:
    # The wrapped model's top-level layers whose output the adapter's hooks can read and
    # summarize per neuron (HF blocks returning model-output objects are left out).
    wave = _probe_waveform()
    allowed = set(adapter.layer_names())
    names = []
    with torch.no_grad():
        for name, module in adapter.module.named_children():
            if name not in allowed or isinstance(module, nn.Dropout):
                continue
            try:
                value = adapter.activations(wave, [name], detach=True)[name]
                adapter_neuron_statistics(value)
            except Exception:
                continue
            names.append(name)
    return names


def _check_activations(model: nn.Module, options: dict) -> dict:
    from lab.models import layer_names

    _no_options("activations", options, ("layers",))
    adapter = _adapter(model)
    valid = adapter.layer_names() if adapter is not None else layer_names(model)
    owner = type(model.module if adapter is not None else model).__name__
    layers = options.get("layers")
    if layers is None:
        layers = default_layers(model)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers or not all(isinstance(name, str) for name in layers):
        raise ArgumentError(f"layers must be a non-empty list of layer names, got {layers!r}")
    unknown = [name for name in layers if name not in valid]
    if unknown:
        raise ArgumentError(f"layers {unknown} are not layers of {owner}; valid names: {valid}")
    return {"layers": layers}


def neuron_statistics(activation: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron mean and max of one utterance's activation (batch of one).

    Layouts follow the lab's conventions: ``(1, T, C)`` is time-major (neurons last),
    ``(1, C, H, W)`` is a conv map (neurons = channels), ``(1, C)`` has no time axis.

    Examples
    --------
    >>> mean, peak = neuron_statistics(torch.tensor([[[1.0, 2.0], [3.0, 0.0]]]))
    >>> mean.tolist(), peak.tolist()
    ([2.0, 1.0], [3.0, 2.0])
    """
    a = activation.detach().to(torch.float32)[0]
    if a.ndim == 1:
        flat = a[None]
    elif a.ndim == 2:
        flat = a
    elif a.ndim == 3:
        flat = a.reshape(a.shape[0], -1).T
    else:
        raise ArgumentError(f"cannot summarize an activation of shape {tuple(activation.shape)}")
    return flat.mean(0).numpy(), flat.max(0).values.numpy()


def adapter_neuron_statistics(activation: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron mean and max of an adapted model's activation: neurons on the last axis.

    Adapted waveform models run frame-major (Silero VAD's layers give ``(1, T, L, C)``,
    Hugging Face transformer layers ``(1, T, C)``), so every axis but the last is a
    position, unlike the zoo's ``(1, C, H, W)`` conv maps.

    Examples
    --------
    >>> mean, peak = adapter_neuron_statistics(torch.arange(8.0).reshape(1, 2, 2, 2))
    >>> mean.tolist(), peak.tolist()
    ([3.0, 4.0], [6.0, 7.0])
    """
    a = activation.detach().to(torch.float32)[0]
    flat = a.reshape(-1, a.shape[-1]) if a.ndim >= 1 else a.reshape(1, 1)
    return flat.mean(0).numpy(), flat.max(0).values.numpy()


@torch.no_grad()
def _activations(model: nn.Module, item, params: dict) -> tuple[dict, dict]:
    from lab.models import activations

    adapter = _adapter(model)
    if adapter is not None:
        x = adapter.own_input(item.waveform)[None]
        acts = adapter.activations(item.waveform, params["layers"], detach=True)
        statistics = adapter_neuron_statistics
    else:
        x = _features(model, item.waveform)
        acts = activations(model, x, params["layers"], call=_call(model), detach=True)
        statistics = neuron_statistics
    arrays = {}
    for name, value in acts.items():
        arrays[f"{name}/mean"], arrays[f"{name}/max"] = statistics(value)
    return {"frames": int(x.shape[1])}, arrays


# ---------------------------------------------------------------------------------- masks
_MASK_OPTIONS = ("method", "seed", "sparsity_weight", "steps", "lr", "margin", "batch_size",
                 "polish", "budget", "rounds")


def _mask_grid(adapter) -> dict:
    """Where an adapter's masks live, for readers of the scan (``Scan.mask``, ScanPanel).

    ``grid``: ``"log_power"`` (waveform models: the lab's log-power spectrogram, 257 bins,
    one row per 20 ms hop) or ``"features"`` (feature models: their own features);
    ``grid_seconds``: seconds per mask row.
    """
    if adapter.input == "waveform":
        from lab.audio.conventions import HOP_LENGTH, SAMPLE_RATE

        return {"grid": "log_power", "grid_seconds": HOP_LENGTH / SAMPLE_RATE}
    return {"grid": "features", "grid_seconds": float(adapter.feature_seconds)}


def _mask_params(options: dict) -> dict:
    from lab.interpret._checks import integer
    from lab.interpret.masks.search import _resolve_settings

    params = {"method": options.get("method", "optimize"),
              "seed": integer("seed", options.get("seed", 0), minimum=0)}
    params.update({k: options[k] for k in _MASK_OPTIONS[2:] if k in options})
    # importance_mask's own checks, once on the driver: a bad option is one ArgumentError
    # naming it, not the same error for every utterance of the scan
    _resolve_settings(params["method"], None, {k: params[k] for k in _MASK_OPTIONS[2:]
                                               if k in params})
    return params


def _zoo_without_frame_scores(model: nn.Module) -> bool:
    """The zoo's classifier and Transducer: ``model(features)`` gives no per-frame scores, so
    their masks go through their adapter (one decision frame; the Transducer's CTC head), as
    :func:`lab.interpret.importance_mask` reads them. DeepSpeech keeps the plain path, so its
    earlier masks scans still resume."""
    from lab.models import DeepSpeech
    from lab.models.adapters.zoo import is_zoo_model

    return is_zoo_model(model) and not isinstance(model, DeepSpeech)


def _check_masks(model: nn.Module, options: dict) -> dict:
    from lab.models import adapt

    _no_options("masks", options, _MASK_OPTIONS)
    adapter = adapt(model) if _zoo_without_frame_scores(model) else _adapter(model)
    if adapter is not None:
        # importance_mask takes every adapter kind (its decode is the decision kept); the
        # grid joins the parameters so a scan's masks are read on the right axes.
        return _mask_params(options) | _mask_grid(adapter)
    out = _probe_output(model, "masks")
    if not isinstance(out, torch.Tensor) or out.ndim != 3:
        raise ArgumentError(
            f"masks needs per-frame scores (1, T, V) from the model (a CTC recognizer such "
            f"as 'deepspeech'), or a model described by lab.models.adapt(model, kind=..., "
            f"input=...); {type(model).__name__} returned "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
        )
    # the zoo's parameters stay as they were, so earlier masks scans still resume
    return _mask_params(options)


def _prepare_masks(model: nn.Module, params: dict) -> tuple[Any, dict]:
    from lab.models import adapt

    return (adapt(model) if _zoo_without_frame_scores(model) else model), {}


def _decision_text(adapter, target) -> str:
    """The decision a mask keeps, as text: transcript, class name or speech frames."""
    ids = [int(t) for t in target]
    if adapter.kind == "seq2seq":
        # Whisper's masks force the clean greedy tokens: the argmax of every forced step is
        # the next token, and the last step's is the end-of-text test, not a token
        return adapter.text(ids[:-1])
    if adapter.kind in ("ctc", "transducer"):
        return adapter.text(ids)
    if adapter.kind == "classification":
        return adapter.labels[ids[0]] if adapter.labels and ids[0] < len(adapter.labels) \
            else str(ids[0])
    # frame_scores: one character per frame, "1" where the frame is on (speech)
    if all(isinstance(t, bool | np.bool_) for t in target):
        return "".join("1" if t else "0" for t in target)
    return " ".join(str(t) for t in ids)


def _masks(model: nn.Module, item, params: dict) -> tuple[dict, dict]:
    from lab.data import CharTokenizer
    from lab.interpret import importance_mask

    options = {k: v for k, v in params.items() if k in _MASK_OPTIONS}
    adapter = _adapter(model)
    if adapter is not None:  # it masks its own grid (see _mask_grid) of the waveform
        result = importance_mask(adapter, item.waveform, progress=False, **options)
        text = _decision_text(adapter, result.transcript)
    else:
        x = _features(model, item.waveform)[0]
        result = importance_mask(model, x, progress=False, **options)
        target = result.transcript
        text = (CharTokenizer().decode(list(target))
                if all(isinstance(t, int | np.integer) for t in target) else str(target))
    mask = np.asarray(result.mask, dtype=np.uint8)
    return {
        "transcript": text,
        "frames": int(mask.shape[0]),
        "bins": int(mask.shape[1]),
        "sparsity": float(result.sparsity),
        "kept": int(mask.sum()),
        "preserved": bool(result.preserved),
        "forward_passes": int(result.forward_passes),
    }, {"mask": mask}


# ------------------------------------------------------------------------------------ piq
def _check_piq(model: nn.Module, options: dict) -> dict:
    from lab.models.adapters import piq_classifier

    _no_options("piq", options, ("variant", "path", "threshold"))
    adapter = _adapter(model)
    try:
        # PIQ's own gate (what PIQInterpreter itself calls): the classifier it interprets,
        # or its refusal naming what applies to this model
        classifier = piq_classifier(model)
    except ArgumentError as err:
        raise ArgumentError(
            f"{str(err).rstrip('. ')}. A scan of it can run task='masks' (importance masks), "
            "'evaluate' or 'activations'") from err
    if adapter is None and not _is_classifier(classifier):
        raise ArgumentError(
            f"piq interprets a keyword classifier (embed/classify, e.g. 'classifier'), "
            f"got {type(model).__name__}"
        )
    threshold = options.get("threshold")
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ArgumentError(f"threshold must be in [0, 1], got {threshold!r}")
    path = options.get("path")
    if adapter is not None and path is None:
        raise ArgumentError(
            f"path: a piq scan of {type(adapter.module).__name__} needs the PIQ decoder "
            "trained for it (lab.piq.PIQInterpreter(model).fit(...), then .save(path)); the "
            "shipped decoders are for the zoo's keyword classifier")
    return {"variant": options.get("variant", "piq"),
            "path": None if path is None else str(path),
            "threshold": None if threshold is None else float(threshold)}


class _PIQOnWorkers:
    """A PIQ interpreter of an adapted classifier, as shipped to Dask workers.

    The interpreter holds the wrapped model as a submodule, which does not pickle for
    Hugging Face models (weight norm); the adapter does (its module travels as a recipe).
    So the adapter, the decoder file and its variant travel, and each worker loads the
    interpreter again with :meth:`PIQInterpreter.from_pretrained`, as the driver did (the
    file must be at the same path there, like the dataset's files); the decoder's hash is
    checked against the manifest's, so a file changed meanwhile is an error, not other
    numbers.
    """

    def __init__(self, interpreter, adapter, path: str, variant: str, sha256: str) -> None:
        self.interpreter, self.adapter = interpreter, adapter
        self.path, self.variant, self.sha256 = path, variant, sha256

    def __getstate__(self) -> dict:
        return {**self.__dict__, "interpreter": None}

    def get(self):
        """The interpreter (loaded on first use in a worker)."""
        if self.interpreter is None:
            from lab.piq import PIQInterpreter
            from lab.scan.identity import state_sha256

            interpreter = PIQInterpreter.from_pretrained(self.adapter, self.path,
                                                         variant=self.variant)
            if state_sha256(interpreter.psi) != self.sha256:
                from lab.scan.store import ScanError

                raise ScanError(f"the PIQ decoder {self.path} changed since the scan started "
                                "(its weights' hash differs from the manifest's)")
            self.interpreter = interpreter
        return self.interpreter


class _Heard(nn.Module):
    """An adapted classifier's PIQ view hearing one clip: log-power ``(B, T, F)`` → logits.

    :func:`mask_metrics` calls a classifier on ``x``, ``mask * x`` and ``(1 - mask) * x``;
    an adapted waveform classifier hears each resynthesised with the clip's own phase.
    """

    def __init__(self, view: nn.Module, phase: torch.Tensor, samples: torch.Tensor) -> None:
        super().__init__()
        self.view = view
        self.phase, self.samples = phase, samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = x.shape[0]
        return self.view(x, self.phase.expand(k, -1, -1), self.samples.expand(k))


def _prepare_piq(model: nn.Module, params: dict) -> tuple[Any, dict]:
    from lab.piq import PIQInterpreter
    from lab.scan.identity import state_sha256

    interpreter = PIQInterpreter.from_pretrained(model, params["path"], variant=params["variant"])
    sha256 = state_sha256(interpreter.psi)
    adapter = _adapter(model)
    payload = interpreter if adapter is None else _PIQOnWorkers(
        interpreter, adapter, params["path"], params["variant"], sha256)
    return payload, {"piq_decoder_sha256": sha256}


def _piq(payload, item, params: dict) -> tuple[dict, dict]:
    from lab.interpret.evaluation.metrics import mask_metrics

    interpreter = payload.get() if isinstance(payload, _PIQOnWorkers) else payload
    interpretation = interpreter.interpret(item.waveform, threshold=params["threshold"])
    x = torch.from_numpy(interpretation.log_power)[None]
    m = torch.from_numpy(interpretation.mask.astype(np.float32))[None]
    classifier, heard = interpreter.classifier, {}
    if getattr(interpreter, "hears_audio", False):  # an adapted waveform classifier
        heard = {"phase": torch.from_numpy(interpretation.phase)[None],
                 "samples": torch.tensor([int(interpretation.length)])}
        classifier = _Heard(interpreter.classifier, **heard)
    # The per-utterance metrics of the one interpretation evaluation (lab.interpret.evaluate,
    # which lab.piq.evaluate also runs), so a scan's numbers are that table's, per clip.
    metrics = mask_metrics(classifier, x, m)
    codes = interpreter.codes(x, **heard)[0].flatten().numpy()
    used = np.unique(codes)
    return {
        "prediction": interpretation.class_name,
        "predicted_label": metrics["label"],
        "p_x": metrics["p_x"],
        "p_in": metrics["p_in"],
        "p_out": metrics["p_out"],
        "kept": bool(metrics["kept"]),
        "faithfulness": metrics["faithfulness"],
        "area": metrics["area"],
        "codes": [int(code) for code in used],
        "n_codes": int(used.size),
    }, {}


TASKS: dict[str, ScanTask] = {
    "activations": ScanTask("activations", _check_activations, _plain, _activations),
    "evaluate": ScanTask("evaluate", _check_evaluate, _plain, _evaluate),
    "masks": ScanTask("masks", _check_masks, _prepare_masks, _masks, stacked=False),
    "piq": ScanTask("piq", _check_piq, _prepare_piq, _piq),
}


def get_task(name: str) -> ScanTask:
    """The task called ``name``; a clear error listing the tasks otherwise."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"task must be a str, got {type(name).__name__}")
    if name not in TASKS:
        raise ArgumentError(f"task must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def process_shard(task: ScanTask, payload: Any, source, params: dict,
                  indices: list[int]) -> dict:
    """Run ``task`` on the utterances ``indices`` of ``source``: rows, arrays, errors.

    An utterance that cannot be read or processed becomes an entry of ``errors`` (its index,
    id, stage and message); the others are unaffected.
    """
    start, cpu = time.perf_counter(), time.thread_time()
    rows, errors, kept = [], [], []
    arrays: dict[str, list] = {}
    for index in indices:
        row = source.rows[index]
        try:
            item = source.item(index)
        except Exception as err:  # a corrupt or missing file: report it, keep scanning
            errors.append({"index": index, "id": row["id"], "stage": "load",
                           "error": _describe(err)})
            continue
        try:
            values, utterance_arrays = task.process(payload, item, params)
        except Exception as err:
            errors.append({"index": index, "id": row["id"], "stage": task.name,
                           "error": _describe(err)})
            continue
        rows.append({"index": index, "id": item.id, "text": item.text, "label": item.label,
                     "duration": round(len(item.waveform) / 16000, 4), **values})
        kept.append(index)
        for name, value in utterance_arrays.items():
            if task.stacked:
                arrays.setdefault(name, []).append(value)
            else:
                arrays[f"{name}:{index}"] = value
    stored = {}
    if arrays:
        stored = ({name: np.stack(values) for name, values in arrays.items()}
                  if task.stacked else dict(arrays))
        stored["index"] = np.asarray(kept, dtype=np.int64)
    return {"indices": list(indices), "rows": rows, "arrays": stored, "errors": errors,
            "seconds": time.perf_counter() - start, "cpu_seconds": time.thread_time() - cpu}


def _mean(frame, column: str) -> float:
    values = frame[column].dropna()
    return float(values.mean()) if len(values) else math.nan


def summarize(task: str, table, *, n_errors: int = 0) -> dict:
    """Dataset-level numbers of a scan's table.

    ``evaluate``: corpus CER/WER (total edits over total reference length, as
    :func:`lab.models.cer`) and mean confidence, or accuracy over the labelled utterances,
    or (frame-score models such as a VAD) the mean fraction of speech frames;
    ``masks``: mean sparsity and masks that kept the transcript; ``piq``: fidelity,
    faithfulness and mask area as in :mod:`lab.piq.evaluate`.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"chars": [10, 10], "char_errors": [1, 0], "words": [2, 2],
    ...                       "word_errors": [1, 0], "confidence": [0.5, 0.7]})
    >>> summarize("evaluate", table)["cer"]
    0.05
    """
    out: dict[str, Any] = {"n": int(len(table)), "failed": int(n_errors)}
    if len(table) == 0:
        return out
    if task == "evaluate" and "chars" in table:
        out["confidence"] = _mean(table, "confidence")
        table = table[table["chars"] > 0]
        out["scored"] = int(len(table))
        chars, words = int(table["chars"].sum()), int(table["words"].sum())
        out["cer"] = float(table["char_errors"].sum() / chars) if chars else math.nan
        out["wer"] = float(table["word_errors"].sum() / words) if words else math.nan
    elif task == "evaluate" and "speech_fraction" in table:  # frame_scores (a VAD)
        out["speech_fraction"] = _mean(table, "speech_fraction")
        out["confidence"] = _mean(table, "confidence")
    elif task == "evaluate":
        # Labelled utterances whose prediction can be judged (an adapted classifier's
        # classes need not be the corpus's keywords: those rows have no "correct").
        labelled = table[table["label"] >= 0] if "label" in table else table.iloc[:0]
        if "correct" in labelled:
            labelled = labelled[labelled["correct"].notna()]
        out["accuracy"] = float(labelled["correct"].astype(bool).mean()) if len(labelled) \
            else math.nan
        out["labelled"] = int(len(labelled))
        out["confidence"] = _mean(table, "confidence")
    elif task == "masks":
        out["sparsity"] = _mean(table, "sparsity")
        out["preserved"] = int(table["preserved"].sum())
    elif task == "piq":
        out["fidelity"] = float(table["kept"].astype(float).mean())
        out["faithfulness"] = _mean(table, "faithfulness")
        out["area"] = _mean(table, "area")
    return out
