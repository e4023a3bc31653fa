"""Any ``nn.Module`` or TorchScript model, described by keyword arguments."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.adapters.base import INPUTS, KINDS, SpeechModel

__all__ = ["ModuleModel"]


class ModuleModel(SpeechModel):
    """A plain module: ``call(x)`` maps own input ``(B, T, F)`` to scores.

    Parameters
    ----------
    model : nn.Module
        The model (a ``torch.jit.ScriptModule`` too).
    kind : str
        One of :data:`lab.models.adapters.KINDS` except ``"transducer"`` and ``"seq2seq"``
        (those need their own decoding: use the zoo's Transducer or a Hugging Face adapter).
    input : {"waveform", "features"}
        Waveform models take ``(B, T, input_hop)`` frames of samples; feature models take
        ``(B, T, F)`` features made by ``features(waveform) -> (T, F)``.
    call : callable, optional
        ``call(model, x)`` giving scores; default ``model(x)`` for feature models and
        ``model(x.reshape(B, -1))`` (the whole waveform) for waveform models. Outputs of
        shape ``(B, C)`` become one frame (classification) and ``(B, T)`` one score per
        frame.
    inverse : callable, optional
        Feature models: ``inverse(features (T, F)) -> waveform`` at ``sample_rate``, when the
        features can be turned back into audio; tools that let you listen to a mask on the
        features (the attribution panel) use it, and say why they cannot without it.
    """

    def __init__(self, model: nn.Module, *, kind: str, input: str = "waveform",
                 sample_rate: int = 16000, labels=None, blank: int | None = None,
                 input_hop: int = 320, frame_seconds: float | None = None,
                 features: Callable | None = None, n_features: int | None = None,
                 call: Callable | None = None, threshold: float = 0.5, domain: str = "",
                 inverse: Callable | None = None):
        super().__init__(model)
        if kind not in KINDS:
            raise ArgumentError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind in ("transducer", "seq2seq"):
            raise ArgumentError(
                f"kind={kind!r}: a plain module carries no {kind} decoder; the lab decodes "
                "transducers with its Transducer class and seq2seq models through the "
                "Hugging Face adapter (WhisperForConditionalGeneration)"
            )
        if input not in INPUTS:
            raise ArgumentError(f"input must be one of {INPUTS}, got {input!r}")
        if input == "features" and features is None:
            raise ArgumentError(
                "features: a feature-input model needs features=callable(waveform) -> (T, F) "
                "(e.g. lab.audio.mfcc), so the lab can compute its input"
            )
        if call is not None and not callable(call):
            raise ArgumentTypeError(f"call must be callable, got {type(call).__name__}")
        if inverse is not None and not callable(inverse):
            raise ArgumentTypeError(
                f"inverse must be callable(features (T, F)) -> waveform, got "
                f"{type(inverse).__name__}")
        if inverse is not None and input != "features":
            raise ArgumentError(
                "inverse: only feature-input models need one (a waveform model's masks are "
                "heard through the log-power spectrogram the lab resynthesises)")
        self.kind, self.input = kind, input
        self.sample_rate = int(sample_rate)
        self.labels = None if labels is None else tuple(str(x) for x in labels)
        self.blank = blank if blank is not None else (0 if kind == "ctc" else None)
        self.input_hop = int(input_hop) if input == "waveform" else 1
        self.frame_seconds = float(frame_seconds or self.input_hop / self.sample_rate)
        self.features_fn, self.n_features = features, n_features
        self.call, self.threshold, self.domain = call, float(threshold), domain
        self.inverse = inverse

    def own_input(self, audio) -> torch.Tensor:
        if (torch.is_tensor(audio) or isinstance(audio, np.ndarray)) and audio.ndim == 2:
            return torch.as_tensor(np.asarray(audio, dtype=np.float32))
        wave = self.waveform(audio)
        if self.input == "waveform":
            return self.frame(torch.from_numpy(wave))
        feats = torch.as_tensor(np.asarray(self.features_fn(wave), dtype=np.float32))
        self.n_features = int(feats.shape[-1])
        return feats

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        if self.call is not None:
            out = self.call(self.module, x)
        elif self.input == "waveform":
            out = self.module(x.reshape(x.shape[0], -1))
        else:
            out = self.module(x)
        if isinstance(out, tuple | list):
            out = out[0]
        if out.ndim == 2:
            out = out[:, None] if self.kind == "classification" else out[..., None]
        return out
