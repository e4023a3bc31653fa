"""Plug trained models into :class:`lab.widgets.MFCCPanel` as transcribers.

Each transcriber calls :mod:`lab.models`' public inference API; CTC models also return their
per-frame posteriors, which the panel draws as a heatmap under the features (the tokenizer's
symbols name the rows, blank at the bottom). A transducer's decoded symbols are placed in
time by the Viterbi path of :func:`lab.transducer.rnnt_alignment` through its own lattice for
the hypothesis; a CTC model's at the first frame of each emitted symbol.

Models from outside the zoo (Hugging Face, Silero VAD, any :class:`lab.models.SpeechModel`)
are read through :func:`lab.models.predict` (text, class probabilities or per-frame scores,
written as one line by :func:`decision_text`), and every transcription carries
:func:`lab.models.adapters.domain_hint`: what the model knows and how sure it is on this
input, so the panel says when an utterance is outside its domain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError
from lab.models import as_features, ctc_posteriors, load_pretrained, predict, transcribe
from lab.models.adapters import domain_hint
from lab.widgets.checks import check_model, foreign_adapter, zoo_module
from lab.widgets.mfcc_panel import Transcriber, Transcription
from lab.widgets.views import Token, symbol_names, transducer_tokens

__all__ = ["decision_text", "domain_html", "hint_for", "model_kind", "model_transcriber",
           "pretrained_transcribers", "transducer_model", "transducer_placement"]


def decision_text(model, audio, *, top: int = 3) -> str:
    """The model's decision on ``audio`` as one line (:func:`lab.models.predict`).

    Text for ``ctc`` / ``seq2seq`` / ``transducer`` models, the ``top`` classes with their
    probabilities for classifiers, and for ``frame_scores`` models how many frames are on
    (a score at or above the adapter's threshold) with the share of time.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from lab.models import adapt
    >>> vad = adapt(torch.nn.Linear(320, 1), kind="frame_scores", labels=["speech"],
    ...             call=lambda m, x: torch.full((1, x.shape[1], 1), 0.9))
    >>> decision_text(vad, np.zeros(3200, dtype=np.float32))
    'speech in 10 of 10 frames (100 % of the time, score ≥ 0.5)'
    """
    out = predict(model, audio)
    if isinstance(out, str):
        return out
    if isinstance(out, dict):
        best = sorted(out.items(), key=lambda kv: -kv[1])[:top]
        return " · ".join(f"{name} {p:.2f}" for name, p in best)
    from lab.models import adapt

    adapter = adapt(model)
    scores = np.asarray(out)
    if scores.ndim == 1:
        on = scores >= adapter.threshold
        name = adapter.labels[0] if adapter.labels else "on"
        return (f"{name} in {int(on.sum())} of {len(on)} frames ({100 * on.mean():.0f} % of "
                f"the time, score ≥ {adapter.threshold:g})")
    winners = scores.argmax(-1)
    names = adapter.labels or tuple(str(i) for i in range(scores.shape[-1]))
    counts = np.bincount(winners, minlength=scores.shape[-1])
    return " · ".join(f"{names[i]}: {int(counts[i])} frames"
                      for i in np.argsort(-counts)[:top] if counts[i])


def model_transcriber(model, *, posteriors: bool | None = None,
                      hint: bool = True) -> Transcriber:
    """A panel transcriber ``fn(waveform, sr) -> Transcription`` for ``model``.

    Parameters
    ----------
    model : nn.Module or SpeechModel
        A lab ASR model, a user CTC model (see :func:`lab.models.transcribe`), or any model
        :func:`lab.models.adapt` takes (a Hugging Face model, Silero VAD, an adapter): its
        :func:`decision_text`, with the CTC posteriors of ``ctc`` models over its own
        vocabulary.
    posteriors : bool, optional
        Also return CTC posteriors (see :func:`lab.models.ctc_posteriors`); by default for
        CTC models and for models with an auxiliary CTC head (``ctc_logits``).
    hint : bool
        Add :func:`lab.models.adapters.domain_hint` (what the model knows, its confidence on
        this input, flagged when low) to every transcription.

    Examples
    --------
    >>> import numpy as np
    >>> from lab.models import DeepSpeech
    >>> fn = model_transcriber(DeepSpeech(n_hidden=8).eval())
    >>> out = fn(np.zeros(3200, dtype=np.float32), 16000)
    >>> out.posteriors.shape, out.symbols[:2]
    ((11, 29), ['blank', 'space'])
    >>> out.hint[:38]
    'DeepSpeech (ctc, 29 labels): trained o'
    """
    check_model(model)
    adapter = foreign_adapter(model)
    if adapter is None and model_kind(model) == "classification":
        from lab.models import adapt

        adapter = adapt(model)  # the zoo's classifier: its keyword probabilities
    if adapter is not None:
        return _adapter_transcriber(adapter, posteriors, hint)
    model = zoo_module(model)
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
                             tokens=tokens, n_frames=frames,
                             hint=hint_for(model, waveform) if hint else None)

    return fn


def hint_for(model, waveform: np.ndarray) -> str | None:
    """:func:`lab.models.adapters.domain_hint` on ``waveform``; None for a plain module
    (the lab knows nothing of its domain)."""
    from lab.models.adapters import adapt, adapted

    if adapted(model) is None and not _is_zoo(model):
        return None
    return domain_hint(adapt(model), waveform)


def domain_html(model, waveform: np.ndarray) -> str:
    """:func:`hint_for` as a small HTML line (red when flagged low); empty when the lab
    cannot describe the model (a plain module, or one that fails on this input)."""
    import html

    if model is None:
        return ""
    try:
        hint = hint_for(model, waveform)
    except Exception:  # no line rather than an error: the panel's own output still shows
        return ""
    if not hint:
        return ""
    colour = "#b00020" if "low:" in hint else "#555"
    return f"<small style='color:{colour}'>{html.escape(hint)}</small>"


def model_kind(model) -> str:
    """The adapter's kind of a zoo or adaptable model; ``"ctc"`` for a plain module."""
    from lab.models.adapters import adapt, adapted

    if adapted(model) is None and not _is_zoo(model):
        return "ctc"
    return adapt(model).kind


def _is_zoo(model) -> bool:
    from lab.models.adapters.zoo import is_zoo_model

    return is_zoo_model(model)


def _adapter_transcriber(adapter, posteriors: bool | None, hint: bool) -> Transcriber:
    with_posteriors = adapter.kind == "ctc" if posteriors is None else bool(posteriors)
    if with_posteriors and adapter.kind != "ctc":
        raise ArgumentError(
            f"posteriors: {type(adapter.module).__name__} is a {adapter.kind} model; CTC "
            "posteriors need a ctc model (lab.models.ctc_posteriors)")
    if with_posteriors and adapter.labels:
        names = [("blank" if i == adapter.blank else ("space" if s == "|" else s))
                 for i, s in enumerate(adapter.labels)]
    else:
        names = None

    def fn(waveform: np.ndarray, sr: int) -> Transcription:
        if sr != adapter.sample_rate:
            raise ArgumentError(f"sr: {type(adapter.module).__name__} hears "
                                f"{adapter.sample_rate} Hz audio, got {sr} Hz")
        text = decision_text(adapter, waveform)
        post = ctc_posteriors(adapter, waveform) if with_posteriors else None
        symbols = names or ([str(i) for i in range(post.shape[1])] if post is not None
                            else None)
        return Transcription(text, post, symbols=symbols,
                             hint=domain_hint(adapter, waveform) if hint else None)

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

    model = transducer_model(model)
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


def transducer_model(model):
    """The zoo Transducer (or another encode/predict/join model), or a refusal naming what
    applies to the model's kind.

    Examples
    --------
    >>> from lab.models import DeepSpeech
    >>> transducer_model(DeepSpeech(n_hidden=8))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: model: an RNN-T lattice needs a transducer ...ctc_posteriors...
    """
    model = zoo_module(model)
    if _is_transducer(model):
        return model
    from lab.models.adapters import adapted

    adapter = adapted(model)
    name = type(getattr(adapter, "module", model)).__name__
    kind = adapter.kind if adapter is not None else (
        "ctc" if isinstance(model, nn.Module) else type(model).__name__)
    instead = {"classification": "; for this classifier use lab.models.predict (class "
                                 "probabilities)",
               "frame_scores": "; for its per-frame scores use lab.models.predict",
               "seq2seq": "; a seq2seq model has no frame alignment: use lab.models.predict "
                          "(greedy tokens)"}.get(kind, "")
    raise ArgumentError(
        f"model: an RNN-T lattice needs a transducer (encode, predict, join, decode_ids: the "
        f"zoo's Transducer); {name} is a {kind} model. For a CTC model's frames use "
        f"lab.models.ctc_posteriors(model, audio) (the MFCC panel draws them){instead}")


def pretrained_transcribers(
    names: Sequence[str] = ("deepspeech", "transducer"),
) -> dict[str, Transcriber]:
    """Transcribers for the shipped checkpoints, for ``MFCCPanel(transcribers=...)``."""
    return {name: model_transcriber(load_pretrained(name)) for name in names}
