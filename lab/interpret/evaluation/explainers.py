"""Explainers for :func:`~.compare.compare`: Captum attributions and a seeded random ranking."""

from __future__ import annotations

import torch

from lab.errors import ArgumentTypeError
from lab.interpret.attribution import AttributionSettings, attribute

__all__ = ["attribution_explainer", "energy_explainer", "random_explainer"]


def attribution_explainer(classifier, method: str, settings: AttributionSettings | None = None,
                          **options):
    """``x (1, T, F) -> scores`` of :func:`lab.interpret.attribute` for the top-1 class.

    Examples
    --------
    >>> from lab.models.classifier import KeywordClassifier
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> attribution_explainer(clf, "saliency")(torch.rand(1, 12, 257)).shape
    torch.Size([12, 257])
    """
    def explain(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(
            attribute(classifier, x[0].cpu(), method=method, settings=settings, **options).scores)

    return explain


def random_explainer(generator: torch.Generator):
    """A uniformly random ranking drawn from ``generator`` (one draw of x's shape per clip).

    Examples
    --------
    >>> fn = random_explainer(torch.Generator().manual_seed(0))
    >>> fn(torch.zeros(1, 2, 3)).shape
    torch.Size([1, 2, 3])
    """
    if not isinstance(generator, torch.Generator):
        raise ArgumentTypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}")

    def explain(x: torch.Tensor) -> torch.Tensor:
        return torch.rand(x.shape, generator=generator)

    return explain


def energy_explainer():
    """The loudest bins first: the input itself as the ranking, no model involved.

    A sanity baseline: a metric on which this ranking matches an attribution method does not
    tell that method's explanation from the input's loudness.

    Examples
    --------
    >>> energy_explainer()(torch.tensor([[[0.0, 2.0, 1.0]]])).tolist()
    [[[0.0, 2.0, 1.0]]]
    """
    def explain(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    return explain
