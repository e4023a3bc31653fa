"""What an attribution explains: one scalar per input of a batch.

- classifiers: a class's logit (the predicted class by default, or an index or keyword);
- CTC models and the zoo Transducer: the log-probability of the transcript (the model's own
  greedy transcript by default, or a given text): ``-ctc_loss`` / ``-rnnt_loss``;
- ``Word(j)``: the log-probability of word ``j``'s symbols where the model's own path emits
  them (the CTC greedy path's frames, the Transducer's Viterbi nodes), so a word's evidence
  can be separated from its neighbours'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import integer
from lab.interpret.attribution.alignment import align, ctc_log_probs, model_kind

__all__ = ["Target", "Word", "make_target"]


@dataclass(frozen=True)
class Word:
    """Word ``index`` (0-based) of the model's own transcript, as a target.

    Examples
    --------
    >>> Word(1)
    Word(index=1)
    """

    index: int

    def __post_init__(self) -> None:
        integer("index", self.index, minimum=0)


@dataclass(frozen=True)
class Target:
    """A scalar score per batch item, what it means, and the model's answer."""

    kind: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    description: str
    label: int | None = None
    transcript: str | None = None


def _classifier_target(model: nn.Module, x: torch.Tensor, target) -> Target:
    from lab.data import KEYWORDS

    with torch.no_grad():
        logits = model(x)
    n = logits.shape[1]
    if target is None:
        c = int(logits[0].argmax())
    elif isinstance(target, str):
        if n != len(KEYWORDS) or target not in KEYWORDS:
            raise ArgumentError(f"target {target!r} is not one of the model's keywords")
        c = KEYWORDS.index(target)
    elif isinstance(target, Word):
        raise ArgumentError("Word targets need a speech recognizer; a classifier has classes")
    else:
        c = integer("target", target, minimum=0, maximum=n - 1)
    name = f" {KEYWORDS[c]!r}" if n == len(KEYWORDS) else ""
    return Target("class", lambda z: model(z)[:, c], f"logit of class {c}{name}", label=c)


def _tokens(text: str) -> list[int]:
    from lab.data import CharTokenizer

    return CharTokenizer().encode(text)


def _word_symbols(al, index: int) -> list[int]:
    words = al.words()
    if index >= len(words):
        raise ArgumentError(
            f"target Word({index}) is past the transcript's {len(words)} words")
    return words[index]


def _ctc_target(model: nn.Module, x: torch.Tensor, target) -> Target:
    from lab.data import CharTokenizer

    al = align(model, x)
    text = CharTokenizer().decode(list(al.ids))
    if isinstance(target, Word):
        symbols = _word_symbols(al, target.index)
        frames = [t for i in symbols for t in al.frames[i]]
        ids = [al.ids[i] for i in symbols for _ in al.frames[i]]
        t_idx, s_idx = torch.tensor(frames), torch.tensor(ids)

        def word_score(z: torch.Tensor) -> torch.Tensor:
            return ctc_log_probs(model, z)[:, t_idx.to(z.device), s_idx.to(z.device)].sum(-1)

        label = CharTokenizer().decode([al.ids[i] for i in symbols])
        return Target("word", word_score, f"log-probability of word {target.index} "
                      f"{label!r} on the greedy path", transcript=text)
    text = text if target is None else target
    ids = torch.tensor(_tokens(text), dtype=torch.long)

    def transcript_score(z: torch.Tensor) -> torch.Tensor:
        lp = ctc_log_probs(model, z)
        b, t = lp.shape[:2]
        return -F.ctc_loss(lp.transpose(0, 1), ids.to(z.device).repeat(b),
                           torch.full((b,), t, device=z.device),
                           torch.full((b,), len(ids), device=z.device), blank=0,
                           reduction="none")

    return Target("transcript", transcript_score,
                  f"log-probability of the transcript {text!r}", transcript=text)


def _transducer_target(model: nn.Module, x: torch.Tensor, target) -> Target:
    from lab.data import CharTokenizer
    from lab.transducer import rnnt_loss

    al = align(model, x)
    text = CharTokenizer().decode(list(al.ids))
    if isinstance(target, Word):
        symbols = _word_symbols(al, target.index)
        tokens = torch.tensor([al.ids], dtype=torch.long)
        t_idx = torch.tensor([al.frames[i][0] for i in symbols])
        u_idx = torch.tensor([al.positions[i] for i in symbols])
        s_idx = torch.tensor([al.ids[i] for i in symbols])

        def word_score(z: torch.Tensor) -> torch.Tensor:
            encoded, _ = model.encode(z)
            on = tokens.to(z.device)
            logits = model.join(encoded, model.predict(on.expand(z.shape[0], -1)))
            index = (t_idx.to(z.device), u_idx.to(z.device), s_idx.to(z.device))
            return logits.log_softmax(-1)[:, index[0], index[1], index[2]].sum(-1)

        label = CharTokenizer().decode([al.ids[i] for i in symbols])
        return Target("word", word_score, f"log-probability of word {target.index} "
                      f"{label!r} on the Viterbi path", transcript=text)
    text = text if target is None else target
    tokens = torch.tensor([_tokens(text)], dtype=torch.long)

    def transcript_score(z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        on = tokens.to(z.device)
        encoded, lengths = model.encode(z)
        logits = model.join(encoded, model.predict(on.expand(b, -1)))
        if on.shape[1] == 0:  # only blanks: the lattice is one column
            return logits.log_softmax(-1)[:, :, 0, 0].sum(-1)
        return -rnnt_loss(logits, on.expand(b, -1), lengths.to(z.device),
                          torch.full((b,), on.shape[1], device=z.device), blank=0,
                          reduction="none")

    return Target("transcript", transcript_score,
                  f"log-probability of the transcript {text!r}", transcript=text)


def make_target(model: nn.Module, x: torch.Tensor, target=None) -> Target:
    """The score an attribution explains for input ``x`` (1, T, F) of ``model``.

    Parameters
    ----------
    model : nn.Module
        A classifier (``(B, C)`` scores), a CTC model (``(B, T, V)`` logits, blank 0) or the
        zoo Transducer.
    target : None, int, str or Word
        Classifier: None (the predicted class), a class index or a keyword. Speech
        recognizer: None (the model's own transcript), a transcript text, or ``Word(j)``.

    Examples
    --------
    >>> from lab.models import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> t = make_target(clf, torch.rand(1, 20, 257), 2)
    >>> t.kind, t.label, t.forward(torch.rand(4, 20, 257)).shape
    ('class', 2, torch.Size([4]))
    """
    kind = model_kind(model, x)
    if kind == "classifier":
        return _classifier_target(model, x, target)
    if target is not None and not isinstance(target, str | Word):
        raise ArgumentTypeError(
            f"target for a speech recognizer must be None, a transcript (str) or a Word, got "
            f"{type(target).__name__}")
    if kind == "ctc":
        return _ctc_target(model, x, target)
    return _transducer_target(model, x, target)
