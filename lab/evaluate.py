"""Score the shipped checkpoints on the test split: ``python -m lab.evaluate``.

Writes ``lab/models/checkpoints/results.json`` and prints a markdown table (for the README).
The test split's voices are never heard in training.
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

__all__ = ["evaluate_all", "markdown_table"]

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
    parser.add_argument("--output", default=str(CHECKPOINT_DIR / "results.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    try:
        results = evaluate_all(args.names or None)
    except LabError as err:  # a bad name or a broken checkpoint: one line, not a traceback
        parser.error(str(err))
    Path(args.output).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
