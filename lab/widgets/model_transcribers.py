"""Plug trained models into :class:`lab.widgets.MFCCPanel` as transcribers.

Each transcriber calls :mod:`lab.models`' public inference API; CTC models also return their
per-frame posteriors, which the panel draws as a heatmap under the features (symbols on the
vertical axis, blank at the bottom).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from lab.models import ctc_posteriors, load_pretrained, transcribe
from lab.widgets.mfcc_panel import Transcriber, Transcription

__all__ = ["model_transcriber", "pretrained_transcribers"]


def model_transcriber(model: nn.Module, *, posteriors: bool | None = None) -> Transcriber:
    """A panel transcriber ``fn(waveform, sr) -> Transcription`` for ``model``.

    Parameters
    ----------
    model : nn.Module
        A lab ASR model or a user CTC model (see :func:`lab.models.transcribe`).
    posteriors : bool, optional
        Also return CTC posteriors (see :func:`lab.models.ctc_posteriors`); by default for
        CTC models and for models with an auxiliary CTC head (``ctc_logits``).

    Examples
    --------
    >>> import numpy as np
    >>> from lab.models import DeepSpeech
    >>> fn = model_transcriber(DeepSpeech(n_hidden=8).eval())
    >>> out = fn(np.zeros(3200, dtype=np.float32), 16000)
    >>> out.posteriors.shape
    (11, 29)
    """
    if posteriors is None:
        posteriors = hasattr(model, "ctc_logits") or not hasattr(model, "decode_ids") or (
            not hasattr(model, "stream"))
    with_posteriors = posteriors

    def fn(waveform: np.ndarray, sr: int) -> Transcription:
        text = transcribe(model, waveform, sr=sr)
        post = ctc_posteriors(model, waveform, sr=sr) if with_posteriors else None
        return Transcription(text, post)

    return fn


def pretrained_transcribers(
    names: Sequence[str] = ("deepspeech", "transducer"),
) -> dict[str, Transcriber]:
    """Transcribers for the shipped checkpoints, for ``MFCCPanel(transcribers=...)``."""
    return {name: model_transcriber(load_pretrained(name)) for name in names}
