"""Faithfulness metrics of PIQ masks against gradient × input and random masks.

Run ``python -m lab.piq.evaluate`` from the repository root: it interprets every keyword
utterance of the test split with each shipped decoder variant (``piq``: the PIQ loss;
``piq_fidelity``: plus the masked-in classifier term) and the pretrained classifier,
thresholds gradient × input saliency and a random mask to the same area as each PIQ mask, and
writes ``lab/piq/checkpoints/results.json`` plus a markdown table (``results.md``). The
metrics and the loop are :mod:`lab.interpret.evaluation`'s (one code path for every method);
``python -m lab.interpret.evaluate`` adds Captum's methods, curves and bootstrap intervals.

Metrics (``c`` is the classifier's top-1 class on the input ``x``; softmax is applied once):

- fidelity: fraction of utterances whose top-1 class on the masked-in input ``m × x`` is ``c``;
- faithfulness: mean of ``p(c|x) − p(c|(1 − m) × x)`` (higher: the mask removed the evidence);
- AI (average increase): % of utterances with ``p(c|m × x) > p(c|x)``;
- AD (average drop): mean of ``max(0, p(c|x) − p(c|m × x)) / p(c|x)`` in % (lower is better);
- AG (average gain): mean of ``max(0, p(c|m × x) − p(c|x)) / (1 − p(c|x))`` in %.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from lab.errors import ArgumentTypeError
from lab.interpret._checks import finite, integer, real
from lab.interpret.evaluation import (
    Explanation,
    attribution_explainer,
    compare,
    mask_metrics,
    random_explainer,
    top_k,
)
from lab.piq.interpreter import (
    PRETRAINED_PATH,
    VARIANTS,
    PIQInterpreter,
    pretrained_path,
    threshold_mask,
)
from lab.runtime import ProgressHook, StopToken

__all__ = ["mask_metrics", "saliency_mask", "random_mask", "piq_explainer", "evaluate",
           "markdown_table"]

METHODS = ("piq", "grad_x_input", "random")
RESULTS_PATH = PRETRAINED_PATH.with_name("results.json")


def _check_area(area, x: torch.Tensor) -> int:
    return integer("area", area, minimum=0, maximum=x.numel())


def saliency_mask(classifier, x: torch.Tensor, area: int) -> torch.Tensor:
    """The ``area`` bins with the largest gradient × input for the top-1 class's logit
    (Captum's InputXGradient through :func:`lab.interpret.attribute`)."""
    area = _check_area(area, x)
    finite("x", x)
    score = attribution_explainer(classifier, "input_x_gradient")(x.detach()[:1])
    return top_k(score.reshape(x.shape), area)


def random_mask(x: torch.Tensor, area: int, generator: torch.Generator) -> torch.Tensor:
    """``area`` bins chosen uniformly at random."""
    area = _check_area(area, x)
    return top_k(random_explainer(generator)(x), area)


def piq_explainer(interpreter: PIQInterpreter, threshold: float | None = None):
    """``x (1, T, F) -> Explanation``: PIQ's soft mask ranks the bins and its thresholded
    mask is the method's own (the area the other methods are matched to)."""
    if not isinstance(interpreter, PIQInterpreter):
        raise ArgumentTypeError(
            f"interpreter must be a PIQInterpreter, got {type(interpreter).__name__}"
        )
    threshold = real("threshold", threshold, minimum=0.0, maximum=1.0, allow_none=True)
    threshold = interpreter.config["threshold"] if threshold is None else threshold

    def explain(x: torch.Tensor) -> Explanation:
        x = interpreter._check_features(x)[:1]
        soft = interpreter.soft_masks(x)[0].cpu()
        mask = torch.from_numpy(threshold_mask(soft.numpy(), threshold).astype(np.float32))
        return Explanation(soft, mask)

    return explain


def evaluate(
    interpreter: PIQInterpreter,
    utterances,
    *,
    threshold: float | None = None,
    seed: int = 0,
    progress: bool = True,
    should_stop: StopToken = None,
    on_progress: ProgressHook | None = None,
) -> dict:
    """Compare PIQ, gradient × input and random masks of equal area on ``utterances``.

    ``utterances`` yields (T, F) log-power spectrograms (one utterance each, unpadded).
    ``should_stop`` (an Event or a callable, polled per utterance) or Ctrl-C ends the run
    early; the metrics then cover the utterances done and ``interrupted`` is True. This is
    :func:`lab.interpret.evaluation.compare` with three methods and PIQ's area.
    """
    if not isinstance(interpreter, PIQInterpreter):
        raise ArgumentTypeError(
            f"interpreter must be a PIQInterpreter, got {type(interpreter).__name__}"
        )
    threshold = real("threshold", threshold, minimum=0.0, maximum=1.0, allow_none=True)
    threshold = interpreter.config["threshold"] if threshold is None else threshold
    seed = integer("seed", seed, minimum=0)
    classifier = interpreter.classifier
    methods = {
        "piq": piq_explainer(interpreter, threshold),
        "grad_x_input": attribution_explainer(classifier, "input_x_gradient"),
        "random": random_explainer(torch.Generator().manual_seed(seed)),
    }
    checked = [interpreter._check_features(f)[:1].cpu() for f in utterances]
    results = compare(classifier, checked, methods, areas={"piq": "piq"}, with_curves=False,
                      progress=progress, should_stop=should_stop, on_progress=on_progress,
                      desc="PIQ evaluation")
    out = {
        "n_utterances": results["n_utterances"],
        "threshold": threshold,
        "methods": results["areas"]["piq"]["methods"],
    }
    if results.get("interrupted"):
        out["interrupted"] = True
    return out


def markdown_table(results: dict) -> str:
    """Render :func:`evaluate`'s results (or ``{"runs": {variant: results}}``) as markdown.

    Examples
    --------
    >>> row = dict(fidelity=1, faithfulness=0.5, AI=10, AD=2, AG=3, mask_area=0.1)
    >>> print(markdown_table({"methods": {"piq": row}}).splitlines()[-1])
    | piq | 1.000 | 0.500 | 10.0 | 2.0 | 3.0 | 0.100 |
    """
    runs = results["runs"] if "runs" in results else {"": results}
    lines = [
        "| method | fidelity ↑ | faithfulness ↑ | AI ↑ | AD ↓ | AG ↑ | mask area |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, run in runs.items():
        for name, m in run["methods"].items():
            if not variant:
                label = name
            else:
                label = variant if name == "piq" else f"{name} (area of {variant})"
            lines.append(
                f"| {label} | {m['fidelity']:.3f} | {m['faithfulness']:.3f} | {m['AI']:.1f} | "
                f"{m['AD']:.1f} | {m['AG']:.1f} | {m['mask_area']:.3f} |"
            )
    return "\n".join(lines)


def test_utterances(split: str = "test", limit: int | None = None):
    """Log-power spectrograms (T, 257) of the keyword utterances of a corpus split."""
    from lab.data import Corpus

    corpus = Corpus(split, features="log_power", keywords_only=True, cache=False)
    n = len(corpus) if limit is None else min(limit, len(corpus))
    return [corpus.feature_matrix(i) for i in range(n)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default=str(RESULTS_PATH))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small models; one thread is fastest on a shared machine
    from lab.models import load_pretrained

    classifier = load_pretrained("classifier")
    utterances = test_utterances(args.split, args.limit)
    runs = {}
    for variant in args.variants:
        if not pretrained_path(variant).exists():
            print(f"skipping {variant}: {pretrained_path(variant)} not found")
            continue
        interpreter = PIQInterpreter.from_pretrained(classifier, variant=variant)
        runs[variant] = evaluate(interpreter, utterances, threshold=args.threshold)
    results = {"split": args.split, "n_utterances": len(utterances), "runs": runs}
    table = markdown_table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table + "\n")
    thresholds = {v: r["threshold"] for v, r in runs.items()}
    print(f"{len(utterances)} keyword utterances of the {args.split} split; "
          f"thresholds {thresholds}")
    print(table)
    return results


if __name__ == "__main__":
    main()
