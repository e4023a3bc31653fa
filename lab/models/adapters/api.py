"""``adapt`` (any model → :class:`SpeechModel`), ``predict``, and the helpers tools call."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.adapters.base import SpeechModel
from lab.models.adapters.hf import HFAudioClassifier, HFCTCModel, WhisperModel, is_hf_model
from lab.models.adapters.module import ModuleModel
from lab.models.adapters.silero import SileroVAD
from lab.models.adapters.silero import load_silero_vad as _load_silero
from lab.models.adapters.zoo import ZooModel, is_zoo_model

__all__ = [
    "adapt", "adapted", "collate_own_inputs", "confidence", "dataset_for", "domain_hint",
    "load_silero_vad", "mask_inputs", "masked_audio", "module_for", "piq_classifier", "predict",
]

SILERO_DOMAIN = "voice activity: speech probability per 32 ms frame of 16 kHz audio, any language"


def _frames_in(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # SileroVAD takes (B, T, 512) frames; another hop (SpeechModel.with_hop) is re-framed
    if x.shape[-1] != 512:
        from lab.models.adapters.base import frame_waveform

        x = frame_waveform(x.reshape(x.shape[0], -1), 512)
    return module(x)


def adapt(model, *, processor=None, kind: str | None = None, input: str | None = None,
          sample_rate: int | None = None, labels=None, **options) -> SpeechModel:
    """Describe ``model`` once for every tool: a :class:`SpeechModel` adapter.

    Parameters
    ----------
    model : nn.Module, TorchScript module or SpeechModel
        The lab's zoo models (a no-op wrapper), a Hugging Face ``*ForCTC``,
        ``WhisperForConditionalGeneration`` or audio classifier, a
        :class:`~lab.models.adapters.silero.SileroVAD`, or any module described by ``kind``
        and ``input`` (see :class:`~lab.models.adapters.module.ModuleModel`). An adapter is
        returned as it is.
    processor : optional
        A Hugging Face processor or feature extractor (and tokenizer). Without it the
        family's default feature extractor is used and ``labels`` name the outputs.
    kind : {"ctc", "classification", "frame_scores"}, optional
        Plain modules only (Hugging Face and zoo models know their kind).
    input : {"waveform", "features"}, optional
        Plain modules only; default ``"waveform"``.
    sample_rate : int, optional
        Rate the model hears (default: the processor's, else 16000).
    labels : sequence of str, optional
        Vocabulary / class names, instead of a tokenizer or ``config.id2label``.
    **options
        Further :class:`~lab.models.adapters.module.ModuleModel` keywords (``input_hop``,
        ``call``, ``features``, ``inverse``, ``threshold``, ``frame_seconds``,
        ``domain``, ...).

    Returns
    -------
    SpeechModel

    Raises
    ------
    ArgumentTypeError
        ``model`` is not a module.
    ArgumentError
        A plain module without ``kind``, a Hugging Face model of another task (the message
        names the supported heads), or options that contradict the model.

    Examples
    --------
    >>> import torch
    >>> from lab.models import adapt
    >>> net = torch.nn.Sequential(torch.nn.Linear(320, 3))
    >>> vad = adapt(net, kind="frame_scores", input="waveform", input_hop=320,
    ...             call=lambda m, x: m(x).softmax(-1)[..., 1:])
    >>> vad.probe_shape(0.1), vad.frame_seconds
    ((1, 5, 320), 0.02)
    >>> adapt(net)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: kind: Sequential is not a model the lab knows; describe it ...
    """
    if isinstance(model, SpeechModel):
        return model
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(
            f"model must be a torch.nn.Module, a TorchScript module or a SpeechModel, got "
            f"{type(model).__name__}")
    if is_zoo_model(model):
        return ZooModel(model)
    if isinstance(model, SileroVAD):
        return ModuleModel(model, kind="frame_scores", input="waveform", sample_rate=16000,
                           input_hop=512, labels=("speech",), domain=SILERO_DOMAIN,
                           call=_frames_in)
    if is_hf_model(model):
        name = type(model).__name__
        hf = dict(processor=processor, labels=labels, sample_rate=sample_rate)
        if name.endswith("ForCTC"):
            return HFCTCModel(model, **hf)
        if name == "WhisperForConditionalGeneration":
            return WhisperModel(model, **hf, **options)
        if name.endswith(("ForAudioClassification", "ForSequenceClassification")):
            return HFAudioClassifier(model, **hf)
        raise ArgumentError(
            f"model: {name} is a Hugging Face model the lab cannot decode; supported: any "
            "*ForCTC, WhisperForConditionalGeneration and *ForAudioClassification / "
            "*ForSequenceClassification audio models")
    if kind is None:
        raise ArgumentError(
            f"kind: {type(model).__name__} is not a model the lab knows; describe it with "
            "kind= ('ctc', 'classification' or 'frame_scores') and input= ('waveform' or "
            "'features')")
    return ModuleModel(model, kind=kind, input=input or "waveform",
                       sample_rate=sample_rate or 16000, labels=labels, **options)


def adapted(model) -> SpeechModel | None:
    """The adapter of ``model`` when the lab adapts it without being told how, else None.

    Adapters and Hugging Face models are adapted; zoo models and plain modules give None
    (tools keep using them as they always did).
    """
    if isinstance(model, SpeechModel):
        return model
    if isinstance(model, nn.Module) and (is_hf_model(model) or isinstance(model, SileroVAD)):
        return adapt(model)
    return None


def module_for(model, purpose: str = "layers"):
    """What a ``(B, T, F)`` tool (feature visualization, dependency matrices) should call.

    A zoo model or plain module is returned unchanged; an adapter (or a model the lab adapts
    itself) gives its own-input module (:meth:`SpeechModel.module_view`), whose layers carry
    the model's own names. ``purpose="dependency"`` refuses models without per-frame outputs
    (classifiers, seq2seq), naming the kinds that have them.
    """
    adapter = adapted(model)
    if adapter is None:
        return model
    if purpose == "dependency" and adapter.kind in ("classification", "seq2seq"):
        why = ("one output per clip" if adapter.kind == "classification"
               else "tokens not aligned to time")
        raise ArgumentError(
            f"model: dependency matrices need one output per time frame; "
            f"{type(adapter.module).__name__} is a {adapter.kind} model ({why}). "
            "They apply to ctc, transducer and frame_scores models (Silero VAD, *ForCTC, the "
            "zoo's DeepSpeech and Transducer); for this model look at a layer with "
            "visualize_features or at importance_mask")
    if isinstance(adapter, ZooModel) and adapter.kind != "transducer":
        return adapter.module
    return adapter.module_view()


class _OwnInputs(torch.utils.data.Dataset):
    """Items (waveforms, paths, or dicts with ``"waveform"`` and ``"text"``) as own input."""

    def __init__(self, adapter: SpeechModel, dataset):
        self.adapter, self.dataset = adapter, dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        item = self.dataset[i]
        audio, text = item, None
        if isinstance(item, dict):
            audio, text = item.get("waveform", item.get("path")), item.get("text")
        elif hasattr(item, "waveform"):
            audio, text = item.waveform, getattr(item, "text", None)
        return {"features": self.adapter.own_input(audio), "text": text}


def collate_own_inputs(items: list[dict]) -> dict:
    """Pad ``{"features": (T, F), "text"}`` items into ``features``, ``feature_lengths``,
    ``texts`` (what :func:`lab.interpret.top_examples` reads)."""
    lengths = torch.tensor([len(it["features"]) for it in items])
    feats = nn.utils.rnn.pad_sequence([it["features"] for it in items], batch_first=True)
    return {"features": feats, "feature_lengths": lengths, "texts": [it["text"] for it in items]}


def dataset_for(model, dataset, collate_fn=None):
    """``(dataset, collate_fn)`` for tools that scan a dataset with ``model``.

    Zoo models and plain modules keep them as given; an adapter reads each item (a waveform,
    a path, or a dict with ``"waveform"`` / ``"text"`` such as
    :class:`lab.data.RealRecordings` items) as its own input. Waveform models normalise
    each utterance as a whole, so batch with ``batch_size=1`` when padding must not count.
    """
    adapter = adapted(model)
    if adapter is None:
        return dataset, collate_fn
    if isinstance(adapter, ZooModel) and len(dataset) and (
            hasattr(dataset[0], "features") or torch.is_tensor(dataset[0])):
        return dataset, collate_fn  # corpus items or feature tensors: the zoo path
    return _OwnInputs(adapter, dataset), collate_fn or collate_own_inputs


def piq_classifier(model, layer: str | None = None):
    """The classifier :class:`lab.piq.PIQInterpreter` can interpret, or a clear refusal.

    * The zoo's KeywordClassifier (or its adapter): the module itself, read at its
      ``embed`` output (``layer`` must be None).
    * A classification adapter over a 16 kHz waveform (a Hugging Face
      ``*ForAudioClassification``, a plain module adapted with ``kind="classification"``): a
      :class:`~lab.models.adapters.piq_view.PIQView` reading ``layer`` (default: the last
      layer with a time axis before the logits) and hearing the masked log-power
      spectrogram resynthesised with the input phase.
    * A plain module the lab does not adapt on its own passes through (PIQ then asks it for
      ``embed`` / ``classify``).
    * Anything else is refused, naming the tools that apply to it.

    Examples
    --------
    >>> import torch
    >>> from lab.models import adapt
    >>> net = adapt(torch.nn.Linear(320, 2), kind="frame_scores", input_hop=320)
    >>> piq_classifier(net)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: classifier: PIQ needs a classifier with embed(log-power) and ...
    """
    from lab.models.adapters.piq_view import PIQView

    if isinstance(model, PIQView):
        if layer is not None and layer != model.layer:
            return PIQView(model.adapter, layer)
        return model
    adapter = adapted(model) if not isinstance(model, SpeechModel) else model
    if adapter is None:
        if layer is not None:
            raise ArgumentError(
                f"layer: {type(model).__name__} is not adapted; describe it with "
                "lab.models.adapt(model, kind='classification', ...) to choose a layer")
        return model
    name = type(adapter.module).__name__
    if isinstance(adapter, ZooModel) and adapter.kind == "classification":
        if layer is not None:
            raise ArgumentError(
                f"layer: the zoo's KeywordClassifier is read at its embed output (the map "
                f"the shipped decoders were trained on); layer={layer!r} applies to adapted "
                "classifiers")
        return adapter.module
    if adapter.kind != "classification":
        raise ArgumentError(
            f"classifier: PIQ needs a classifier with embed(log-power) and classify(h) (the "
            f"zoo's KeywordClassifier) or an adapted audio classifier (one decision per clip); "
            f"{name} is a {adapter.kind} model over its {adapter.input}. For its masks use "
            "lab.interpret.importance_mask(adapter, audio) (waveform models: on the log-power "
            "spectrogram, resynthesised with the input phase), the MaskPanel, or the "
            "AttributionPanel / lab.interpret.attribute for per-output attributions")
    if adapter.input != "waveform":
        raise ArgumentError(
            f"classifier: PIQ decodes masks onto the log-power spectrogram of 16 kHz audio; "
            f"{name} is a classifier over its own features, which PIQ does not decode onto. "
            "For its masks use lab.interpret.importance_mask(adapter, audio) (on its own "
            "features) or the MaskPanel")
    return PIQView(adapter, layer)


def mask_inputs(model, features) -> tuple[nn.Module, object, Callable | None]:
    """``(module, features, decode)`` for importance masks on ``model``.

    Plain modules pass through (decode None: the tool's default). Adapters of waveform models
    mask the log-power spectrogram of the waveform, resynthesised with the input phase
    (:class:`~lab.models.adapters.base.SpectrogramView`); feature models their own features.
    """
    adapter = adapted(model)
    if adapter is None:
        return model, features, None
    if isinstance(adapter, ZooModel):
        if not (hasattr(features, "ndim") and features.ndim == 2):  # audio: its own features
            features = adapter.own_input(features)
        if adapter.kind == "ctc":
            return adapter.module, features, None  # the zoo path, unchanged
        # classifier: one (B, 1, C) frame and its argmax; transducer: its CTC head
        return adapter.module_view(), features, adapter.decode
    module, x = adapter.mask_view(features)
    return module, x, adapter.decode


def masked_audio(model, audio, mask) -> torch.Tensor:
    """What a waveform model hears under ``mask`` (a mask on the log-power spectrogram).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from lab.models.adapters import adapt, masked_audio
    >>> net = adapt(torch.nn.Linear(320, 1), kind="frame_scores", input_hop=320)
    >>> y = np.sin(np.arange(3200) / 7).astype(np.float32)
    >>> heard = masked_audio(net, y, np.ones((11, 257)))
    >>> bool(np.allclose(heard, y, atol=1e-4))
    True
    """
    adapter = adapt(model)
    if adapter.input != "waveform":
        raise ArgumentError(
            f"model: {type(adapter.module).__name__} takes features, not a waveform; its masks "
            "live on its own features (listen with lab.interpret.mute_audio)")
    module, x = adapter.mask_view(audio)
    mask = torch.as_tensor(mask, dtype=torch.float32)
    if mask.shape != x.shape:
        raise ArgumentError(f"mask must have the spectrogram's shape {tuple(x.shape)}, got "
                            f"{tuple(mask.shape)}")
    with torch.no_grad():
        return module.waveform((mask * x)[None])[0].numpy()


def predict(model, audio):
    """The decision-level output of any model on one utterance.

    Returns text for ``ctc``, ``seq2seq`` and ``transducer`` models, ``{label: probability}``
    for classifiers and a per-frame score array for ``frame_scores`` models. ``model`` is
    adapted with :func:`adapt` (pass an adapter to describe a plain module).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from lab.models import predict, adapt
    >>> net = adapt(torch.nn.Linear(320, 1), kind="frame_scores", input_hop=320,
    ...             call=lambda m, x: m(x).sigmoid())
    >>> predict(net, np.zeros(3200, dtype=np.float32)).shape
    (10,)
    """
    return adapt(model).predict(audio)


def confidence(model, audio) -> float:
    """How sure ``model`` is of its decision on ``audio``, in [0, 1].

    ``ctc`` / ``transducer`` (its CTC head): the mean top posterior over the frames whose
    best symbol is not blank (all frames when every one is blank); ``seq2seq``: the mean top
    probability of the greedy tokens; ``classification``: the top class probability;
    ``frame_scores``: the mean of ``max(p, 1 - p)`` over frames (one score per frame) or the
    mean top probability (several classes).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from lab.models.adapters import adapt, confidence
    >>> vad = adapt(torch.nn.Linear(320, 1), kind="frame_scores", input_hop=320,
    ...             call=lambda m, x: torch.full((x.shape[0], x.shape[1], 1), 0.9))
    >>> confidence(vad, np.zeros(3200, dtype=np.float32))
    0.9
    """
    from lab.runtime import evaluating

    adapter = adapt(model)
    if adapter.kind == "seq2seq":
        module, x = adapter.mask_view(audio)
    else:
        module, x = adapter.module_view(), adapter.own_input(audio)
    with evaluating(adapter.module), torch.no_grad():
        if isinstance(adapter, ZooModel):
            scores = adapter.scores(x[None].to(adapter.device))
        else:
            scores = module(x[None].to(adapter.device))
    scores = scores[0].float()
    if adapter.kind == "frame_scores" and scores.shape[-1] == 1:
        return round(float(torch.maximum(scores, 1 - scores).mean()), 6)
    top = scores.softmax(-1).max(-1)
    if adapter.kind in ("ctc", "transducer"):
        speaking = top.indices != (adapter.blank or 0)
        values = top.values[speaking] if bool(speaking.any()) else top.values
        return round(float(values.mean()), 6)
    return round(float(top.values.mean()), 6)


def domain_hint(model, audio=None, *, low: float = 0.6) -> str:
    """One line for panels: what the model knows, and how sure it is on ``audio``.

    The zoo's models say they know 24 command words and digits from synthetic voices;
    adapted models give their label-set size. With ``audio``, the decision's
    :func:`confidence` follows, flagged when below ``low``. A confident answer can still be
    out of domain — the zoo's classifier is sure of a keyword on a real "front center" — which
    is why the domain line comes first.

    Examples
    --------
    >>> from lab.models import DeepSpeech
    >>> from lab.models.adapters import domain_hint
    >>> domain_hint(DeepSpeech(n_hidden=8))[:38]
    'DeepSpeech (ctc, 29 labels): trained o'
    """
    adapter = adapt(model)
    line = adapter.describe()
    if audio is None:
        return line
    value = confidence(adapter, audio)
    flag = (" — low: this input may be outside what the model knows" if value < low else "")
    return f"{line}. Confidence on this input: {value:.2f}{flag}"


def load_silero_vad() -> SpeechModel:
    """Silero VAD adapted: 16 kHz waveform → speech probability per 32 ms frame."""
    return adapt(_load_silero())
