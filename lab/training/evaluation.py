"""Test-split metrics: CER/WER for recognizers, accuracy for the keyword classifier."""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

from lab.errors import ArgumentError
from lab.models.metrics import accuracy, cer, wer
from lab.runtime import evaluating

__all__ = ["batches", "evaluate_model", "load_split"]


@cache
def _load_split_cached(split: str, features: str, keywords_only: bool, limit: int | None) -> tuple:
    from lab.data import Corpus

    corpus = Corpus(split, features=features, keywords_only=keywords_only)
    return tuple(corpus[i] for i in range(min(len(corpus), limit or len(corpus))))


def load_split(
    split: str, features: str, *, keywords_only: bool = False, limit: int | None = None
) -> list:
    """The first ``limit`` (default all) items of a corpus split, loaded once per process."""
    from lab.data import FEATURES
    from lab.data.manifest import check_split

    check_split(split if isinstance(split, str) else repr(split))
    if not isinstance(features, str) or features not in FEATURES:
        raise ArgumentError(f"features must be one of {list(FEATURES)}, got {features!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        # 0 used to mean "all" and a negative limit "none": both silently wrong
        raise ArgumentError(f"limit must be a positive int or None, got {limit!r}")
    return list(_load_split_cached(split, features, keywords_only, limit))


def batches(items: list, batch_size: int):
    """Padded batches (``lab.data.collate``) of ``items`` in order."""
    from lab.data import collate

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    for start in range(0, len(items), batch_size):
        yield collate(items[start : start + batch_size])


@torch.no_grad()
def evaluate_model(model: nn.Module, items: list, *, batch_size: int = 32) -> dict:
    """Metrics of ``model`` on ``items``: ``{"cer", "wer"}`` or ``{"accuracy"}`` and ``"n"``.

    Recognizers decode greedily in padded batches (padding never changes a causal model's
    output on the valid frames); the classifier is scored on the items' keyword labels.
    """
    from lab.data import CharTokenizer

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    if not items:
        raise ArgumentError("items must hold at least one utterance, got none")
    with evaluating(model):  # also refuses a model that is not a module
        if hasattr(model, "decode_ids"):
            tokenizer = CharTokenizer()
            references, hypotheses = [], []
            for batch in batches(items, batch_size):
                ids = model.decode_ids(batch.features, batch.feature_lengths)
                hypotheses += [tokenizer.decode(seq) for seq in ids]
                references += list(batch.texts)
            return {"cer": cer(references, hypotheses), "wer": wer(references, hypotheses),
                    "n": len(items)}
        labels, predictions = [], []
        for batch in batches(items, batch_size):
            predictions += model(batch.features).argmax(dim=-1).tolist()
            labels += batch.labels.tolist()
        return {"accuracy": accuracy(labels, predictions), "n": len(items)}
