"""Score the shipped checkpoints on the test split: ``python -m lab.evaluate``.

Writes ``lab/models/checkpoints/results.json`` and prints a markdown table (for the README).
The test split's voices are never heard in training.

``python -m lab.evaluate --real`` scores them on real human recordings instead
(:mod:`lab.data.real`: pocketsphinx-testdata and alsa-utils), next to their synthetic
test-split metrics from the checkpoint index, and runs Silero VAD on the same clips; it
writes ``lab/models/checkpoints/results_real.json``. The recognisers are scored on every
clip (most words are outside their 48-word vocabulary); the keyword classifier on the clips
whose transcript holds exactly one of its keywords ("go forward ten meters", "front left").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lab.errors import LabError
from lab.models.pretrained import CHECKPOINT_DIR, available, checkpoint_info, load_pretrained
from lab.training.evaluation import evaluate_model
from lab.training.export import split_items

__all__ = ["evaluate_all", "evaluate_real", "markdown_table", "real_table"]

_LABELS = {"deepspeech": "DeepSpeech (CTC)", "transducer": "Transducer (RNN-T, streaming)",
           "classifier": "KeywordClassifier"}


def evaluate_all(names: list[str] | None = None, *, directory: str | Path | None = None) -> dict:
    """Test metrics of each shipped checkpoint, with size and training time from the index."""
    if isinstance(names, str):
        names = [names]
    results = {}
    for name in names or available(directory):
        info = checkpoint_info(name, directory)
        metrics = evaluate_model(load_pretrained(name, directory=directory), split_items(name))
        # index entries written by hand may lack the training record: report what is there
        training = info.get("training") if isinstance(info.get("training"), dict) else {}
        results[name] = {**metrics, "corpus_version": info.get("corpus_version"),
                         "train_seconds": training.get("seconds"),
                         "epochs": training.get("epochs")}
    return results


def evaluate_real(names: list[str] | None = None, *, vad: bool = True) -> dict:
    """Metrics of the shipped checkpoints (and Silero VAD) on the real recordings.

    Returns ``{name: {"cer", "wer", "n"} or {"accuracy", "n"}, "test": <index metrics>}``;
    ``"silero_vad"`` holds the mean fraction of 32 ms frames called speech and the clips
    where some frame is. Raises :class:`lab.data.RealDataMissing` (naming the apt packages)
    when the recordings are not installed.
    """
    import numpy as np

    from lab.data import KEYWORDS
    from lab.data.real import load_recording, real_recordings
    from lab.models.inference import predict_keyword, transcribe
    from lab.models.metrics import accuracy, cer, wer

    recordings = real_recordings()
    waves = [load_recording(r) for r in recordings]
    texts = [r.text for r in recordings]
    results: dict = {}
    for name in names or available():
        model = load_pretrained(name)
        test = checkpoint_info(name).get("metrics")
        if hasattr(model, "decode_ids"):
            hyps = [transcribe(model, w) for w in waves]
            results[name] = {"cer": cer(texts, hyps), "wer": wer(texts, hyps), "n": len(hyps),
                             "test": test, "examples": dict(zip(texts[:3], hyps[:3]))}
        else:
            chosen = [(w, [k for k in t.split() if k in KEYWORDS])
                      for w, t in zip(waves, texts, strict=True)]
            chosen = [(w, ks[0]) for w, ks in chosen if len(ks) == 1]
            preds = [predict_keyword(model, w) for w, _ in chosen]
            results[name] = {"accuracy": accuracy([k for _, k in chosen], preds),
                             "n": len(chosen), "test": test}
    if vad:
        from lab.models.adapters import load_silero_vad, predict

        model = load_silero_vad()
        speech = [predict(model, w) >= model.threshold for w in waves]
        results["silero_vad"] = {"speech_fraction": float(np.mean([s.mean() for s in speech])),
                                 "clips_with_speech": int(sum(bool(s.any()) for s in speech)),
                                 "n": len(speech)}
    return results


def real_table(results: dict) -> str:
    """:func:`evaluate_real`'s results as a markdown table (real next to synthetic test).

    Examples
    --------
    >>> print(real_table({"classifier": {"accuracy": 0.5, "n": 8,
    ...                                  "test": {"accuracy": 0.95, "n": 240}}}))
    | model | real clips | real CER | real WER | real accuracy | synthetic test: CER / WER / acc. |
    |---|---|---|---|---|---|
    | KeywordClassifier | 8 | – | – | 50.0 % | – / – / 95.0 % (240 clips) |
    """
    def pct(r: dict | None, key: str) -> str:
        return f"{100 * r[key]:.1f} %" if r and key in r else "–"

    rows = ["| model | real clips | real CER | real WER | real accuracy | "
            "synthetic test: CER / WER / acc. |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name == "silero_vad":
            rows.append(f"| Silero VAD | {r['n']} | speech in {r['clips_with_speech']} of "
                        f"{r['n']} clips | {100 * r['speech_fraction']:.0f} % of frames | – | – |")
            continue
        t = r.get("test") or {}
        synthetic = (f"{pct(t, 'cer')} / {pct(t, 'wer')} / {pct(t, 'accuracy')} "
                     f"({t.get('n', '?')} clips)")
        rows.append(f"| {_LABELS.get(name, name)} | {r['n']} | {pct(r, 'cer')} | {pct(r, 'wer')} "
                    f"| {pct(r, 'accuracy')} | {synthetic} |")
    return "\n".join(rows)


def markdown_table(results: dict) -> str:
    """Results as a markdown table.

    Examples
    --------
    >>> print(markdown_table({"classifier": {"accuracy": 0.975, "n": 240,
    ...                                      "train_seconds": 61.0, "epochs": 20}}))
    | model | test clips | CER | WER | accuracy | epochs | training time (CPU) |
    |---|---|---|---|---|---|---|
    | KeywordClassifier | 240 | – | – | 97.5 % | 20 | 1.0 min |
    """
    def pct(r: dict, key: str) -> str:
        return f"{100 * r[key]:.1f} %" if key in r else "–"

    def minutes(r: dict) -> str:
        seconds = r.get("train_seconds")
        return f"{seconds / 60:.1f} min" if isinstance(seconds, int | float) else "–"

    header = "| model | test clips | CER | WER | accuracy | epochs | training time (CPU) |"
    rows = [header, "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {_LABELS.get(name, name)} | {r['n']} | {pct(r, 'cer')} | {pct(r, 'wer')} "
                    f"| {pct(r, 'accuracy')} | {r.get('epochs', '–')} | {minutes(r)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.evaluate", description=__doc__)
    parser.add_argument("names", nargs="*", help="checkpoints to score (default: all)")
    parser.add_argument("--output", default=None,
                        help="JSON file (default: lab/models/checkpoints/results.json, or "
                             "results_real.json with --real)")
    parser.add_argument("--real", action="store_true",
                        help="score on the real recordings of pocketsphinx-testdata and "
                             "alsa-utils (apt packages) next to the synthetic test split")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    output = args.output or str(CHECKPOINT_DIR / (
        "results_real.json" if args.real else "results.json"))
    try:
        results = (evaluate_real if args.real else evaluate_all)(args.names or None)
    except LabError as err:  # a bad name or a broken checkpoint: one line, not a traceback
        parser.error(str(err))
    Path(output).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print((real_table if args.real else markdown_table)(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
