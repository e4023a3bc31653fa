"""One-call inference for panels and notebooks: text, CTC posteriors and keywords."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.ctc import ctc_greedy_decode

__all__ = ["as_features", "ctc_posteriors", "predict_keyword", "transcribe"]


def as_features(model: nn.Module, audio, *, sr: int = 16000) -> np.ndarray:
    """Turn a path, a waveform (n,) or a feature matrix (T, F) into the model's features.

    The kind of feature is the model's ``feature_kind`` attribute (``"mfcc"`` when absent;
    ``"log_mel"`` and ``"log_power"`` are the others), computed with :mod:`lab.audio`.
    """
    import lab.audio

    kind = getattr(model, "feature_kind", "mfcc")
    if isinstance(audio, str | Path):
        audio = lab.audio.load(audio, sr=16000)
        sr = 16000
    array = np.asarray(audio.detach().cpu() if torch.is_tensor(audio) else audio, np.float32)
    if array.ndim == 2:
        return array
    if array.ndim != 1:
        raise ArgumentError(
            "waveform_or_features must be a path, a waveform of shape (n,) or features of "
            f"shape (T, F); got an array of shape {array.shape}"
        )
    if sr != 16000:
        raise ArgumentError(f"sr must be 16000 (resample with lab.audio.load), got {sr}")
    if kind == "mfcc":
        return lab.audio.mfcc(array, sr=sr)
    if kind == "log_mel":
        return lab.audio.log_mel(array, sr=sr)
    if kind == "log_power":
        return lab.audio.log_power_spectrogram(array)[0]
    raise ArgumentError(
        f"model.feature_kind must be 'mfcc', 'log_mel' or 'log_power', got {kind!r}"
    )


def _batch(features: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32)).unsqueeze(0)


@torch.no_grad()
def transcribe(model: nn.Module, waveform_or_features, *, sr: int = 16000) -> str:
    """Greedy transcription of one utterance.

    Parameters
    ----------
    model : nn.Module
        A lab ASR model (anything with ``decode_ids``) or a user CTC model whose
        ``model(features (1, T, F))`` returns logits (1, T, V) with blank 0 and the
        alphabet of :class:`lab.data.CharTokenizer`.
    waveform_or_features : str, Path, ndarray or Tensor
        An audio file, a 16 kHz waveform (n,), or features (T, F).
    sr : int
        Sample rate of a waveform.

    Returns
    -------
    str
        The decoded text.
    """
    from lab.data import CharTokenizer

    was_training = model.training
    model.eval()
    try:
        x = _batch(as_features(model, waveform_or_features, sr=sr))
        if hasattr(model, "decode_ids"):
            ids = model.decode_ids(x)[0]
        else:
            logits = model(x)
            if logits.ndim != 3:
                raise ArgumentTypeError(
                    f"model must be an ASR model (with decode_ids, or returning CTC logits of "
                    f"shape (1, T, V)); {type(model).__name__} returned shape "
                    f"{tuple(logits.shape)} (use predict_keyword for a classifier)"
                )
            ids = ctc_greedy_decode(logits, blank=0)[0]
    finally:
        model.train(was_training)
    return CharTokenizer().decode(ids)


@torch.no_grad()
def ctc_posteriors(model: nn.Module, waveform_or_features, *, sr: int = 16000) -> np.ndarray:
    """Per-frame output probabilities (T, V) of a CTC model.

    ``model(x)`` must give CTC logits (1, T, V), or the model has a ``ctc_logits(x)`` method
    returning ``(logits, lengths)`` like the Transducer's auxiliary CTC head (T = encoder frames).
    """
    was_training = model.training
    model.eval()
    try:
        x = _batch(as_features(model, waveform_or_features, sr=sr))
        logits = model.ctc_logits(x)[0] if hasattr(model, "ctc_logits") else model(x)
    finally:
        model.train(was_training)
    if logits.ndim != 3:
        raise ArgumentError(
            f"model must return CTC logits of shape (1, T, V), got {tuple(logits.shape)}"
        )
    return logits.softmax(dim=-1)[0].numpy()


@torch.no_grad()
def predict_keyword(model: nn.Module, waveform_or_features, *, sr: int = 16000) -> str:
    """The keyword a classifier hears in one clip (``lab.data.KEYWORDS[argmax]``)."""
    from lab.data import KEYWORDS

    was_training = model.training
    model.eval()
    try:
        logits = model(_batch(as_features(model, waveform_or_features, sr=sr)))
    finally:
        model.train(was_training)
    return KEYWORDS[int(logits[0].argmax())]
