"""One evaluation of every interpretation method of the keyword classifier, PIQ included.

Run ``python -m lab.interpret.evaluate`` from the repository root. On the keyword utterances
of the test split it ranks the bins of each log-power spectrogram with every method — a seeded
random ranking, Captum's InputXGradient (lab's former gradient × input), Saliency,
IntegratedGradients (50 steps, zero baseline), Occlusion (4 × 16 patches, stride 2 × 8),
NoiseTunnel (SmoothGrad over IG, 10 samples), FeatureAblation over 10-frame segments, and the
shipped PIQ decoders (``piq``, ``piq_fidelity``) — then, at each PIQ variant's own mask area
on each clip (matched areas), keeps that many top bins of every ranking and reports fidelity,
faithfulness, AI/AD/AG (:mod:`lab.interpret.evaluation.metrics`), deletion and insertion
AUCs, the median time per clip and 95 % paired bootstrap intervals of every method's
difference from ``piq_fidelity``. It writes ``lab/interpret/results.json`` and
``results.md``. ``--limit N`` evaluates the first N clips.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from lab.interpret.attribution import AttributionSettings
from lab.interpret.evaluation import (
    attribution_explainer,
    compare,
    intervals_table,
    random_explainer,
    results_table,
)

__all__ = ["RESULTS_PATH", "build_methods", "main", "markdown"]

RESULTS_PATH = Path(__file__).with_name("results.json")

#: name in the table -> (lab.interpret.attribute method, settings)
CAPTUM = {
    "grad_x_input": ("input_x_gradient", AttributionSettings()),
    "saliency": ("saliency", AttributionSettings()),
    "integrated_gradients": ("integrated_gradients", AttributionSettings(n_steps=50)),
    "occlusion": ("occlusion", AttributionSettings(window=(4, 16), stride=(2, 8))),
    "smoothgrad_ig": ("noise_tunnel", AttributionSettings(n_samples=10, noise=0.1)),
    "feature_ablation": ("feature_ablation", AttributionSettings(segment_frames=10)),
    "shapley": ("shapley_value_sampling", AttributionSettings(segment_frames=10,
                                                                n_samples=10)),
}
DEFAULT = ("random", "grad_x_input", "saliency", "integrated_gradients", "occlusion",
           "smoothgrad_ig", "feature_ablation", "piq", "piq_fidelity")


def build_methods(classifier, names, *, seed: int = 0) -> dict:
    """Explainers for ``names`` (keys of :data:`CAPTUM`, ``random``, PIQ variants)."""
    from lab.piq.evaluate import piq_explainer
    from lab.piq.interpreter import VARIANTS, PIQInterpreter, pretrained_path

    methods = {}
    for name in names:
        if name == "random":
            methods[name] = random_explainer(torch.Generator().manual_seed(seed))
        elif name in CAPTUM:
            method, settings = CAPTUM[name]
            methods[name] = attribution_explainer(classifier, method, settings, seed=seed)
        elif name in VARIANTS:
            if not pretrained_path(name).exists():
                print(f"skipping {name}: {pretrained_path(name)} not found")
                continue
            methods[name] = piq_explainer(PIQInterpreter.from_pretrained(classifier,
                                                                         variant=name))
        else:
            raise SystemExit(f"unknown method {name!r}")
    return methods


def markdown(results: dict) -> str:
    """Every area's table and its intervals, as written to ``results.md``."""
    parts = []
    for area, entry in results["areas"].items():
        parts.append(f"### Masks of the area of {entry['matched_to']} "
                     f"(mean {next(iter(entry['methods'].values()))['mask_area']:.3f})\n")
        parts.append(results_table(results, area) + "\n")
        if entry.get("intervals"):
            parts.append(intervals_table(results, area, results["reference"]) + "\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT))
    parser.add_argument("--reference", default="piq_fidelity")
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS_PATH))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small model; one thread is fastest on a shared machine
    from lab.models import load_pretrained
    from lab.piq.evaluate import test_utterances

    classifier = load_pretrained("classifier")
    utterances = test_utterances(args.split, args.limit)
    methods = build_methods(classifier, args.methods, seed=args.seed)
    areas = {name: name for name in ("piq", "piq_fidelity") if name in methods}
    if not areas:
        areas = {"10 %": 0.1}
    reference = args.reference if args.reference in methods else None
    results = compare(classifier, utterances, methods, areas=areas, reference=reference,
                      n_resamples=args.n_resamples, seed=args.seed)
    results.update(split=args.split, reference=reference, methods=list(methods))
    table = markdown(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    print(f"{results['n_utterances']} keyword utterances of the {args.split} split")
    print(table)
    return results


if __name__ == "__main__":
    main()
