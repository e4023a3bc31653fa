"""Plug trained models into :class:`lab.widgets.MFCCPanel` as transcribers.

Each transcriber calls :mod:`lab.models`' public inference API; CTC models also return their
per-frame posteriors, which the panel draws as a heatmap under the features (the tokenizer's
symbols name the rows, blank at the bottom). A transducer's decoded symbols are placed in
time by the Viterbi path of :func:`lab.transducer.rnnt_alignment` through its own lattice for
the hypothesis; a CTC model's at the first frame of each emitted symbol.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lab.models import as_features, ctc_posteriors, load_pretrained, transcribe
from lab.widgets.mfcc_panel import Transcriber, Transcription
from lab.widgets.views import Token, symbol_names, transducer_tokens

__all__ = ["model_transcriber", "pretrained_transcribers", "transducer_placement"]


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
    >>> out.posteriors.shape, out.symbols[:2]
    ((11, 29), ['blank', 'space'])
    """
    if posteriors is None:
        posteriors = hasattr(model, "ctc_logits") or not hasattr(model, "decode_ids") or (
            not hasattr(model, "stream"))
    with_posteriors = posteriors

    def fn(waveform: np.ndarray, sr: int) -> Transcription:
        text = transcribe(model, waveform, sr=sr)
        post = ctc_posteriors(model, waveform, sr=sr) if with_posteriors else None
        names = symbol_names(post.shape[1]) if post is not None else symbol_names()
        tokens, frames = None, None
        if _is_transducer(model):
            tokens, frames = transducer_placement(model, waveform, sr=sr, names=names)
        return Transcription(text, post, symbols=names if post is not None else None,
                             tokens=tokens, n_frames=frames)

    return fn


def _is_transducer(model: nn.Module) -> bool:
    return all(hasattr(model, a) for a in ("encode", "predict", "join", "decode_ids"))


@torch.no_grad()
def transducer_placement(model: nn.Module, waveform: np.ndarray, *, sr: int = 16000,
                         names: list[str] | None = None) -> tuple[list[Token], int]:
    """A transducer's greedy hypothesis placed in time: the Viterbi path of its own lattice.

    Runs ``model.join(model.encode(x), model.predict(hypothesis))`` and
    :func:`lab.transducer.rnnt_alignment`; returns the tokens (encoder frames) and the number
    of encoder frames.
    """
    from lab.transducer import rnnt_alignment

    names = names or symbol_names()
    x = torch.as_tensor(as_features(model, waveform, sr=sr))[None]
    hyp = model.decode_ids(x)[0]
    encoded, lengths = model.encode(x)
    T = int(lengths[0])
    if not hyp:
        return [], T
    logits = model.join(encoded[:, :T], model.predict(torch.tensor([hyp])))
    al = rnnt_alignment(logits.float(), torch.tensor([hyp], dtype=torch.int32),
                        torch.tensor([T], dtype=torch.int32),
                        torch.tensor([len(hyp)], dtype=torch.int32),
                        blank=int(getattr(model, "blank", 0)))
    return transducer_tokens(al.best_path[0].numpy(), hyp, names), T


def pretrained_transcribers(
    names: Sequence[str] = ("deepspeech", "transducer"),
) -> dict[str, Transcriber]:
    """Transcribers for the shipped checkpoints, for ``MFCCPanel(transcribers=...)``."""
    return {name: model_transcriber(load_pretrained(name)) for name in names}
