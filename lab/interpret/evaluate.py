"""One evaluation of every interpretation method of the keyword classifier, PIQ included.

Run ``python -m lab.interpret.evaluate`` from the repository root. On the keyword utterances
of the test split it ranks the bins of each log-power spectrogram with every method — a seeded
random ranking, the loudest bins (``energy``: the input itself, no model — a sanity baseline),
Captum's InputXGradient (lab's former gradient × input), Saliency,
IntegratedGradients (50 steps, zero baseline), Occlusion (4 × 16 patches, stride 2 × 8),
NoiseTunnel (SmoothGrad over IG, 10 samples), FeatureAblation over 10-frame segments, and the
shipped PIQ decoders (``piq``, ``piq_fidelity``) — then, at each PIQ variant's own mask area
on each clip (matched areas), keeps that many top bins of every ranking and reports fidelity,
faithfulness, AI/AD/AG (:mod:`lab.interpret.evaluation.metrics`), deletion and insertion
AUCs, the median time per clip and 95 % paired bootstrap intervals of every method's
difference from ``piq_fidelity``. It writes ``lab/interpret/results.json`` and
``results.md``. ``--limit N`` evaluates the first N clips.

``--model deepspeech`` (or ``transducer``) evaluates a speech recognizer instead
(:mod:`lab.interpret.evaluation.asr`): on the first ``--limit`` utterances of the split (40 by
default) every method's top ``--area`` of the MFCC bins is kept or removed, and the table
gives how often the transcript is kept and the CER of the masked-in and masked-out inputs,
with intervals against ``random``; ``lab/interpret/results_<model>.json``.
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
    compare_asr,
    energy_explainer,
    intervals_table,
    random_explainer,
    results_table,
)

__all__ = ["RESULTS_PATH", "asr_markdown", "build_methods", "main", "markdown"]

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
ASR_DEFAULT = ("random", "energy", "grad_x_input", "saliency", "integrated_gradients", "occlusion",
               "feature_ablation")
DEFAULT = ("random", "energy", "grad_x_input", "saliency", "integrated_gradients", "occlusion",
           "smoothgrad_ig", "feature_ablation", "piq", "piq_fidelity")


def build_methods(classifier, names, *, seed: int = 0) -> dict:
    """Explainers for ``names`` (keys of :data:`CAPTUM`, ``random``, PIQ variants)."""
    from lab.piq.evaluate import piq_explainer
    from lab.piq.interpreter import VARIANTS, PIQInterpreter, pretrained_path

    methods = {}
    for name in names:
        if name == "random":
            methods[name] = random_explainer(torch.Generator().manual_seed(seed))
        elif name == "energy":
            methods[name] = energy_explainer()
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


def asr_markdown(results: dict) -> str:
    """The speech-recognizer table: transcript kept and CERs under masking, and intervals."""
    lines = ["| method | transcript kept ↑ | CER masked-in ↓ | CER masked-out ↑ | ms/clip |",
             "|---|---|---|---|---|"]
    for name, m in results["methods"].items():
        ms = 1000 * results["seconds_per_clip"][name]
        lines.append(f"| {name} | {m['kept']:.3f} | {m['cer_in']:.3f} | {m['cer_out']:.3f} | "
                     f"{ms:.1f} |")
    if results.get("intervals"):
        lines += ["", f"| method − {results['reference']} | kept | CER in | CER out |",
                  "|---|---|---|---|"]
        for name, iv in results["intervals"].items():
            cells = " | ".join(f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
                               for r in (iv["kept"], iv["cer_in"], iv["cer_out"]))
            lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def _main_asr(args) -> dict:
    from lab.data import Corpus
    from lab.models import load_pretrained

    model = load_pretrained(args.model)
    corpus = Corpus(args.split, features="mfcc", cache=False)
    n = min(args.limit or 40, len(corpus))
    utterances = [corpus.feature_matrix(i) for i in range(n)]
    names = [m for m in (args.methods or ASR_DEFAULT) if m in CAPTUM or m in ("random",
                                                                             "energy")]
    methods = {}
    for name in names:
        if name == "random":
            methods[name] = random_explainer(torch.Generator().manual_seed(args.seed))
        elif name == "energy":
            methods[name] = energy_explainer()
        else:
            method, settings = CAPTUM[name]
            methods[name] = attribution_explainer(model, method, settings, seed=args.seed)
    reference = args.reference if args.reference in methods else "random"
    results = compare_asr(model, utterances, methods, area=args.area, reference=reference,
                          n_resamples=args.n_resamples, seed=args.seed)
    results.update(split=args.split, model=args.model, reference=reference)
    table = asr_markdown(results)
    out = Path(args.out) if args.out else RESULTS_PATH.with_name(f"results_{args.model}.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    print(f"{n} utterances of the {args.split} split, {args.model}, masks of {args.area:.0%} "
          "of the MFCC bins")
    print(table)
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="classifier",
                        choices=("classifier", "deepspeech", "transducer"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--reference", default="piq_fidelity")
    parser.add_argument("--area", type=float, default=0.3, help="ASR models: mask area")
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small model; one thread is fastest on a shared machine
    if args.model != "classifier":
        return _main_asr(args)
    args.methods = args.methods or list(DEFAULT)
    args.out = args.out or str(RESULTS_PATH)
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
