"""One-call inference for panels and notebooks: text, CTC posteriors and keywords."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.ctc import ctc_greedy_decode
from lab.runtime import evaluating

__all__ = ["as_features", "ctc_posteriors", "predict_keyword", "transcribe", "transcribe_batch"]


def _foreign(model: object, wanted: tuple[str, ...], function: str):
    """The adapter of a non-zoo model (Hugging Face, Silero, an adapter) or None.

    A zoo model (or a plain module) returns None and keeps the zoo path unchanged; an
    adapter of another kind than ``wanted`` is refused with the function that applies.
    """
    from lab.models.adapters import adapted
    from lab.models.adapters.zoo import ZooModel

    adapter = adapted(model)
    if adapter is None:
        return None
    if isinstance(adapter, ZooModel) and adapter.kind in wanted:
        return None
    if adapter.kind not in wanted:
        other = {"classification": "lab.models.predict (class probabilities) or predict_keyword",
                 "frame_scores": "lab.models.predict (per-frame scores)",
                 "seq2seq": "lab.models.transcribe or predict (greedy decoding)",
                 "ctc": "lab.models.transcribe or ctc_posteriors",
                 "transducer": "lab.models.transcribe (greedy RNN-T decoding)"}[adapter.kind]
        raise ArgumentError(
            f"model: {function} needs a {' or '.join(wanted)} model; "
            f"{type(adapter.module).__name__} is a {adapter.kind} model; use {other}")
    return adapter


def _zoo_module(model: object) -> object:
    """A zoo adapter's model (adapters of zoo models are no-op wrappers)."""
    from lab.models.adapters.zoo import ZooModel

    return model.module if isinstance(model, ZooModel) else model


def _check_model(model: object) -> nn.Module:
    model = _zoo_module(model)
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def as_features(model: nn.Module, audio, *, sr: int = 16000) -> np.ndarray:
    """Turn a path, a waveform (n,) or a feature matrix (T, F) into the model's features.

    The kind of feature is the model's ``feature_kind`` attribute (``"mfcc"`` when absent;
    ``"log_mel"`` and ``"log_power"`` are the others), computed with :mod:`lab.audio`. An
    adapter, or a model the lab adapts (Hugging Face, Silero VAD), gives its own input
    instead (:meth:`lab.models.SpeechModel.own_input`: its features, or for waveform models
    the waveform in frames of its hop).
    Waveforms pass :func:`lab.audio.as_waveform`, so integer PCM (e.g. int16) is scaled to
    [-1, 1]; they must be 16 kHz (``sr``).

    Raises
    ------
    ArgumentTypeError
        ``model`` is not a module, or ``audio`` is not a path, array or tensor.
    ArgumentError
        ``sr`` is not 16000, the array is neither 1-D nor 2-D, features are empty or
        non-finite, or the model's ``feature_kind`` is unknown.
    lab.audio.AudioError
        The file cannot be loaded, or the waveform is empty, non-finite or of a dtype that
        holds no audio.

    Examples
    --------
    >>> import numpy as np
    >>> from lab.models import DeepSpeech
    >>> pcm16 = (np.sin(np.arange(16000) / 5) * 8000).astype(np.int16)
    >>> as_features(DeepSpeech(n_hidden=8), pcm16).shape
    (51, 26)
    """
    import lab.audio

    adapter = _foreign(model, ("ctc", "transducer", "seq2seq", "classification",
                               "frame_scores"), "as_features")
    if adapter is not None:  # the model's own input, not the zoo's MFCCs
        return adapter.own_input(audio).numpy()
    model = _check_model(model)
    kind = getattr(model, "feature_kind", "mfcc")
    if kind not in ("mfcc", "log_mel", "log_power"):
        raise ArgumentError(
            f"model.feature_kind must be 'mfcc', 'log_mel' or 'log_power', got {kind!r}"
        )
    if isinstance(audio, str | os.PathLike):
        audio = lab.audio.load(audio, sr=16000)
        sr = 16000
    if isinstance(audio, list | tuple):
        audio = np.asarray(audio, dtype=np.float32)
    if torch.is_tensor(audio):
        audio = audio.detach().cpu()
        audio = audio.float().numpy() if audio.dtype == torch.bfloat16 else audio.numpy()
    if not isinstance(audio, np.ndarray):
        raise ArgumentTypeError(
            "waveform_or_features must be a path, a waveform (n,) or features (T, F) as an "
            f"array or tensor, got {type(audio).__name__}"
        )
    if audio.ndim == 2:
        if not np.issubdtype(audio.dtype, np.floating) or audio.size == 0:
            raise ArgumentError(
                f"features must be a non-empty float array (T, F), got dtype {audio.dtype} "
                f"and shape {audio.shape}"
            )
        if not np.isfinite(audio).all():
            raise ArgumentError("features contain NaN or infinite values")
        return np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ArgumentError(
            "waveform_or_features must be a path, a waveform of shape (n,) or features of "
            f"shape (T, F); got an array of shape {audio.shape}"
        )
    if isinstance(sr, bool) or sr != 16000:
        raise ArgumentError(f"sr must be 16000 (resample with lab.audio.load), got {sr!r}")
    array = lab.audio.as_waveform(audio, "waveform_or_features")
    if kind == "mfcc":
        return lab.audio.mfcc(array, sr=16000)
    if kind == "log_mel":
        return lab.audio.log_mel(array, sr=16000)
    return lab.audio.log_power_spectrogram(array)[0]


def _batch(features: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32)).unsqueeze(0)


@torch.no_grad()
def transcribe(model: nn.Module, waveform_or_features, *, sr: int = 16000) -> str:
    """Greedy transcription of one utterance.

    Parameters
    ----------
    model : nn.Module or SpeechModel
        An adapter or Hugging Face ``*ForCTC`` / Whisper model (decoded over its own
        vocabulary, see :func:`lab.models.adapt`), a lab ASR model (anything with
        ``decode_ids``) or a user CTC model whose
        ``model(features (1, T, F))`` returns logits (1, T, V) with blank 0 and the
        alphabet of :class:`lab.data.CharTokenizer`.
    waveform_or_features : str, Path, ndarray or Tensor
        An audio file, a 16 kHz waveform (n,) — float in [-1, 1] or integer PCM, which is
        scaled — or features (T, F).
    sr : int
        Sample rate of a waveform; must be 16000.

    Returns
    -------
    str
        The decoded text.
    """

    adapter = _foreign(model, ("ctc", "transducer", "seq2seq"), "transcribe")
    if adapter is not None:
        return adapter.predict(waveform_or_features)
    model = _zoo_module(model)
    return transcribe_batch(model, _batch(as_features(model, waveform_or_features, sr=sr)))[0]


@torch.no_grad()
def transcribe_batch(model: nn.Module, features: torch.Tensor) -> list[str]:
    """Greedy transcripts of a batch of feature inputs ``(B, T, F)`` of a lab-alphabet model.

    The one batched decoding of the zoo's ASR models (``decode_ids``) and of user CTC models
    over :class:`lab.data.CharTokenizer`'s alphabet with blank 0; what :func:`transcribe`,
    word-aligned perturbation and the ASR interpretation metrics run.

    Examples
    --------
    >>> from lab.models import DeepSpeech
    >>> _ = torch.manual_seed(0)
    >>> texts = transcribe_batch(DeepSpeech(n_hidden=8).eval(), torch.zeros(2, 5, 26))
    >>> len(texts), texts[0] == texts[1]  # one text per input; equal inputs, equal texts
    (2, True)
    """
    from lab.data import CharTokenizer

    if not torch.is_tensor(features) or features.ndim != 3:
        raise ArgumentError(
            f"features must be a (B, T, F) tensor, got {getattr(features, 'shape', features)!r}"
        )
    with evaluating(_check_model(model)):
        if hasattr(model, "decode_ids"):
            ids = model.decode_ids(features)
        else:
            logits = model(features)
            logits = logits[0] if isinstance(logits, tuple) else logits
            if not torch.is_tensor(logits) or logits.ndim != 3:
                raise ArgumentTypeError(
                    f"model must be an ASR model (with decode_ids, or returning CTC logits of "
                    f"shape (B, T, V)); {type(model).__name__} returned "
                    f"{tuple(logits.shape) if torch.is_tensor(logits) else type(logits)} "
                    "(use predict_keyword for a classifier)"
                )
            ids = ctc_greedy_decode(logits, blank=0)
    tokenizer = CharTokenizer()
    return [tokenizer.decode(list(i)) for i in ids]


@torch.no_grad()
def ctc_posteriors(model: nn.Module, waveform_or_features, *, sr: int = 16000) -> np.ndarray:
    """Per-frame output probabilities (T, V) of a CTC model.

    ``model(x)`` must give CTC logits (1, T, V), or the model has a ``ctc_logits(x)`` method
    returning ``(logits, lengths)`` like the Transducer's auxiliary CTC head (T = encoder frames).
    Adapters and Hugging Face ``*ForCTC`` models give their own vocabulary's posteriors.
    """
    adapter = _foreign(model, ("ctc", "transducer"), "ctc_posteriors")
    if adapter is not None:
        x = adapter.own_input(waveform_or_features).to(adapter.device)
        with evaluating(adapter.module):
            return adapter.scores(x[None]).float().softmax(dim=-1)[0].cpu().numpy()
    model = _zoo_module(model)
    with evaluating(_check_model(model)):
        x = _batch(as_features(model, waveform_or_features, sr=sr))
        logits = model.ctc_logits(x)[0] if hasattr(model, "ctc_logits") else model(x)
    if not torch.is_tensor(logits) or logits.ndim != 3:
        raise ArgumentError(
            f"model must return CTC logits of shape (1, T, V), got "
            f"{tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__}"
        )
    return logits.softmax(dim=-1)[0].numpy()


@torch.no_grad()
def predict_keyword(model: nn.Module, waveform_or_features, *, sr: int = 16000) -> str:
    """The keyword a classifier hears in one clip (``lab.data.KEYWORDS[argmax]``).

    An adapted classifier (Hugging Face, or ``adapt(..., kind="classification")``) gives its
    most probable label.
    """
    from lab.data import KEYWORDS

    adapter = _foreign(model, ("classification",), "predict_keyword")
    if adapter is not None:
        probs = adapter.predict(waveform_or_features)
        return max(probs, key=probs.get)
    model = _zoo_module(model)
    from lab.models.transducer import Transducer

    if isinstance(model, Transducer):  # its forward needs tokens: say what applies instead
        raise ArgumentError(
            "model: predict_keyword needs a keyword classifier; Transducer is a speech "
            "recognizer (use lab.models.transcribe)")
    with evaluating(_check_model(model)):
        logits = model(_batch(as_features(model, waveform_or_features, sr=sr)))
    if not torch.is_tensor(logits) or tuple(logits.shape) != (1, len(KEYWORDS)):
        raise ArgumentError(
            f"model must be a keyword classifier returning logits of shape "
            f"(1, {len(KEYWORDS)}), got "
            f"{tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__}"
        )
    if torch.isnan(logits).any():
        raise ArgumentError("the model returned NaN logits; no keyword can be chosen")
    return KEYWORDS[int(logits[0].argmax())]
