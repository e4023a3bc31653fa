"""Faithfulness metrics of PIQ masks against gradient × input and random masks.

Run ``python -m lab.piq.evaluate`` from the repository root: it interprets every keyword
utterance of the test split with each shipped decoder variant (``piq``: the PIQ loss;
``piq_fidelity``: plus the masked-in classifier term) and the pretrained classifier,
thresholds gradient × input saliency and a random mask to the same area as each PIQ mask, and
writes ``lab/piq/checkpoints/results.json`` plus a markdown table (``results.md``).

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

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import finite, integer, real
from lab.piq.interpreter import (
    PRETRAINED_PATH,
    VARIANTS,
    PIQInterpreter,
    pretrained_path,
    threshold_mask,
)
from lab.runtime import ProgressHook, StopToken, Task, evaluating

__all__ = ["mask_metrics", "saliency_mask", "random_mask", "evaluate", "markdown_table"]

METHODS = ("piq", "grad_x_input", "random")
RESULTS_PATH = PRETRAINED_PATH.with_name("results.json")


def _probs(classifier, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), evaluating(classifier):
        return classifier.classify(classifier.embed(x)).softmax(-1)  # the only softmax


def _check_area(area, x: torch.Tensor) -> int:
    return integer("area", area, minimum=0, maximum=x.numel())


def mask_metrics(classifier, x: torch.Tensor, mask: torch.Tensor) -> dict:
    """Per-utterance quantities for one (1, T, F) input and a same-shaped 0/1 mask.

    Examples
    --------
    >>> from lab.models.classifier import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> clf = KeywordClassifier(n_classes=3).eval()
    >>> x = torch.rand(1, 30, 257)
    >>> m = mask_metrics(clf, x, torch.ones_like(x))
    >>> m["kept"], m["p_in"] == m["p_x"], m["area"]
    (True, True, 1.0)
    """
    if not isinstance(x, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ArgumentTypeError("x and mask must be torch tensors")
    if x.dim() != 3 or x.shape[0] != 1 or mask.shape != x.shape:
        raise ArgumentError(
            f"x must be (1, T, F) and mask the same shape, got {tuple(x.shape)}, "
            f"{tuple(mask.shape)}"
        )
    finite("x", x)
    finite("mask", mask)
    mask = mask.to(x.dtype)
    p = _probs(classifier, torch.cat([x, mask * x, (1 - mask) * x]))
    c = int(p[0].argmax())
    p_x, p_in, p_out = (float(v) for v in p[:, c])
    return dict(
        label=c, p_x=p_x, p_in=p_in, p_out=p_out,
        kept=int(p[1].argmax()) == c,
        faithfulness=p_x - p_out,
        increase=p_in > p_x,
        drop=max(0.0, p_x - p_in) / max(p_x, 1e-12),
        gain=max(0.0, p_in - p_x) / max(1.0 - p_x, 1e-12),
        area=float(mask.mean()),
    )


def _top_k(score: torch.Tensor, k: int) -> torch.Tensor:
    mask = torch.zeros(score.numel())
    if k > 0:
        mask[score.flatten().topk(k).indices] = 1.0
    return mask.view_as(score)


def saliency_mask(classifier, x: torch.Tensor, area: int) -> torch.Tensor:
    """The ``area`` bins with the largest gradient × input for the top-1 class's logit."""
    area = _check_area(area, x)
    finite("x", x)
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad(), evaluating(classifier):
        logits = classifier.classify(classifier.embed(x))
        c = int(logits[0].argmax())
        (grad,) = torch.autograd.grad(logits[0, c], x)
    return _top_k((grad * x).detach(), area)


def random_mask(x: torch.Tensor, area: int, generator: torch.Generator) -> torch.Tensor:
    """``area`` bins chosen uniformly at random."""
    area = _check_area(area, x)
    if not isinstance(generator, torch.Generator):
        raise ArgumentTypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    return _top_k(torch.rand(x.shape, generator=generator), area)


def _summary(rows: list[dict]) -> dict:
    def mean(key):
        return float(np.mean([float(r[key]) for r in rows])) if rows else float("nan")

    return {
        "fidelity": mean("kept"),
        "faithfulness": mean("faithfulness"),
        "AI": 100 * mean("increase"),
        "AD": 100 * mean("drop"),
        "AG": 100 * mean("gain"),
        "mask_area": mean("area"),
    }


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
    early; the metrics then cover the utterances done and ``interrupted`` is True.
    """
    if not isinstance(interpreter, PIQInterpreter):
        raise ArgumentTypeError(
            f"interpreter must be a PIQInterpreter, got {type(interpreter).__name__}"
        )
    threshold = real("threshold", threshold, minimum=0.0, maximum=1.0, allow_none=True)
    threshold = interpreter.config["threshold"] if threshold is None else threshold
    seed = integer("seed", seed, minimum=0)
    classifier = interpreter.classifier
    generator = torch.Generator().manual_seed(seed)
    rows: dict[str, list[dict]] = {m: [] for m in METHODS}
    total = len(utterances) if hasattr(utterances, "__len__") else 0
    task = Task(total, desc="PIQ evaluation", progress=progress, on_progress=on_progress,
                should_stop=should_stop)
    with task, task.run_guard():
        for features in utterances:
            if task.stopped:
                break
            x = interpreter._check_features(features)[:1]
            soft = interpreter.soft_masks(x)[0].cpu().numpy()
            piq = torch.from_numpy(threshold_mask(soft, threshold).astype(np.float32))[None]
            area = int(piq.sum())
            masks = {
                "piq": piq,
                "grad_x_input": saliency_mask(classifier, x, area),
                "random": random_mask(x, area, generator),
            }
            for name, mask in masks.items():
                rows[name].append(mask_metrics(classifier, x, mask))
            task.advance()
    out = {
        "n_utterances": len(rows["piq"]),
        "threshold": threshold,
        "methods": {name: _summary(r) for name, r in rows.items()},
    }
    if task.interrupted:
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
