"""Where a speech model emits each symbol of its own transcript: the model's alignment.

CTC models (DeepSpeech, or any module returning ``(B, T, V)`` logits with blank 0): the greedy
path, each symbol at the frames of its run. The zoo :class:`~lab.models.Transducer`: the
Viterbi path of :func:`lab.transducer.rnnt_alignment` through the lattice of its own greedy
hypothesis, each symbol at the encoder frame that emits it. Frames are the model's output
frames; ``stride`` feature frames make one of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["Alignment", "align", "model_kind"]

SPACE = 1  # lab.data.CharTokenizer: 0 blank, 1 space, 2-27 letters, 28 apostrophe


def model_kind(model: nn.Module, x: torch.Tensor) -> str:
    """``"transducer"``, ``"ctc"`` (output ``(B, T, V)``) or ``"classifier"`` (``(B, C)``).

    Examples
    --------
    >>> from lab.models import DeepSpeech, KeywordClassifier
    >>> model_kind(DeepSpeech(n_hidden=8).eval(), torch.zeros(1, 9, 26))
    'ctc'
    >>> model_kind(KeywordClassifier(n_classes=3).eval(), torch.zeros(1, 9, 257))
    'classifier'
    """
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if all(hasattr(model, name) for name in ("encode", "predict", "join", "decode_ids")):
        return "transducer"
    with torch.no_grad():
        out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    if torch.is_tensor(out) and out.ndim == 2 and out.shape[0] == x.shape[0]:
        return "classifier"
    if torch.is_tensor(out) and out.ndim == 3 and out.shape[0] == x.shape[0]:
        return "ctc"
    raise ArgumentError(
        f"model must return class scores (B, C) or CTC logits (B, T, V), or be a transducer "
        f"(encode/predict/join/decode_ids); {type(model).__name__} returned "
        f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}"
    )


def ctc_log_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` of a CTC model's output (first element of a tuple)."""
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    return out.log_softmax(-1)


@dataclass(frozen=True)
class Alignment:
    """A model's transcript and where it emits each symbol.

    Attributes
    ----------
    kind : str
        ``"ctc"`` or ``"transducer"``.
    ids : tuple of int
        The transcript's symbol ids (greedy decoding; 1 is the space).
    frames : tuple of tuple of int
        Per symbol, the model frames that emit it (a CTC run, or the transducer's one frame).
    positions : tuple of int
        Transducer only: per symbol, its lattice row ``u`` (0-based label index).
    stride : int
        Feature frames per model frame (1 for CTC, 2 for the zoo Transducer).
    n_frames : int
        Feature frames of the input.
    """

    kind: str
    ids: tuple
    frames: tuple
    positions: tuple
    stride: int
    n_frames: int

    def words(self) -> list[list[int]]:
        """Symbol indices of each word (runs between spaces).

        Examples
        --------
        >>> Alignment("ctc", (8, 16, 1, 22), ((0,), (2,), (4,), (6,)), (), 1, 8).words()
        [[0, 1], [3]]
        """
        out: list[list[int]] = [[]]
        for i, s in enumerate(self.ids):
            if s == SPACE:
                out.append([])
            else:
                out[-1].append(i)
        return [w for w in out if w]

    def feature_span(self, symbols: list[int]) -> tuple[int, int]:
        """Feature frames ``[start, end)`` from the first to the last frame of ``symbols``."""
        first = min(self.frames[symbols[0]]) * self.stride
        last = (max(self.frames[symbols[-1]]) + 1) * self.stride
        return first, min(last, self.n_frames)


def _ctc_alignment(log_probs: torch.Tensor, n_frames: int, stride: int) -> Alignment:
    from lab.models import ctc_greedy_runs

    runs = ctc_greedy_runs(log_probs.argmax(-1), blank=0)
    ids = tuple(s for s, _ in runs)
    return Alignment("ctc", ids, tuple(tuple(f) for _, f in runs), (), stride, n_frames)


def align(model: nn.Module, x: torch.Tensor) -> Alignment:
    """The model's own alignment of one input ``x`` of shape (1, T, F).

    Examples
    --------
    >>> from lab.models import DeepSpeech
    >>> _ = torch.manual_seed(0)
    >>> al = align(DeepSpeech(n_hidden=8).eval(), torch.randn(1, 12, 26))
    >>> al.kind, al.stride, al.n_frames, len(al.ids) == len(al.frames)
    ('ctc', 1, 12, True)
    """
    if not torch.is_tensor(x) or x.ndim != 3 or x.shape[0] != 1:
        raise ArgumentError(f"x must be one input (1, T, F), got {getattr(x, 'shape', x)!r}")
    kind = model_kind(model, x)
    n_frames = x.shape[1]
    with torch.no_grad():
        if kind == "ctc":
            lp = ctc_log_probs(model, x)[0]
            return _ctc_alignment(lp, n_frames, max(1, math.ceil(n_frames / lp.shape[0])))
        if kind != "transducer":
            raise ArgumentError("a classifier has no alignment; use fixed segments")
        from lab.transducer import rnnt_alignment

        tokens = torch.tensor([model.decode_ids(x)[0]], dtype=torch.long)
        encoded, lengths = model.encode(x)
        stride = max(1, math.ceil(n_frames / encoded.shape[1]))
        if tokens.shape[1] == 0:
            return Alignment("transducer", (), (), (), stride, n_frames)
        logits = model.join(encoded, model.predict(tokens))
        al = rnnt_alignment(logits, tokens, lengths, torch.tensor([tokens.shape[1]]), blank=0)
        path = al.best_path[0]
        emitted = {int(u): int(t) for t, u, k in path.tolist() if k == 1}
    ids = tuple(int(s) for s in tokens[0])
    frames = tuple((emitted[u],) for u in range(len(ids)))
    return Alignment("transducer", ids, frames, tuple(range(len(ids))), stride, n_frames)
