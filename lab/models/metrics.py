"""Recognition and classification scores: edit distance, CER, WER, accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["accuracy", "cer", "edit_distance", "wer"]


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1).

    Examples
    --------
    >>> edit_distance("kitten", "sitting")
    3
    >>> edit_distance(["a", "b"], [])
    2
    """
    if isinstance(reference, bytes) or isinstance(hypothesis, bytes):
        raise ArgumentTypeError("reference and hypothesis must be str or sequences, not bytes")
    try:
        ref, hyp = list(reference), list(hypothesis)
    except TypeError:
        raise ArgumentTypeError(
            f"reference and hypothesis must be sequences, got {type(reference).__name__} and "
            f"{type(hypothesis).__name__}"
        ) from None
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


def _error_rate(references: Sequence[str], hypotheses: Sequence[str], split) -> float:
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise ArgumentTypeError(
            "references and hypotheses must be sequences of strings, not one string"
        )
    try:
        references, hypotheses = list(references), list(hypotheses)
    except TypeError:
        raise ArgumentTypeError("references and hypotheses must be sequences of strings") from None
    bad = [x for x in references + hypotheses if not isinstance(x, str)]
    if bad:
        raise ArgumentTypeError(
            f"references and hypotheses must hold strings, got {type(bad[0]).__name__} {bad[0]!r}"
        )
    if len(references) != len(hypotheses):
        raise ArgumentError(
            f"references and hypotheses differ in length: {len(references)} != {len(hypotheses)}"
        )
    errors = sum(edit_distance(split(r), split(h)) for r, h in zip(references, hypotheses))
    total = sum(len(split(r)) for r in references)
    if total == 0:
        raise ArgumentError("references are all empty; the error rate is undefined")
    return errors / total


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate over a corpus: total edits / total reference characters.

    Examples
    --------
    >>> cer(["hello world"], ["hello word"])
    0.09090909090909091
    """
    return _error_rate(references, hypotheses, list)


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate over a corpus: total word edits / total reference words.

    Examples
    --------
    >>> wer(["the cat sat", "a dog"], ["the cat sat", "the dog"])
    0.2
    """
    return _error_rate(references, hypotheses, str.split)


def accuracy(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """Fraction of predictions equal to their labels.

    Examples
    --------
    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.size == 0:
        raise ArgumentError(
            f"labels and predictions must be non-empty and equal in shape, got {labels.shape} "
            f"and {predictions.shape}"
        )
    return float((labels == predictions).mean())
