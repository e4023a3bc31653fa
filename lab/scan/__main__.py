"""``python -m lab.scan TASK --model NAME --data DATASET --out DIR [--scheduler ADDRESS]``.

Runs :func:`lab.scan.run` and prints the scan's summary and the utterances that failed.
Without ``--scheduler`` a local Dask cluster sized to the machine does the work; with an
address (``tcp://host:8786``) the existing cluster is used unchanged. Run the same command
again to resume after an interruption (Ctrl-C keeps every finished shard).

Examples::

    python -m lab.scan evaluate --model deepspeech --data test --out scans/test
    python -m lab.scan activations --model deepspeech --data test --out scans/acts \\
        --layers layer_1 rnn_output --scheduler tcp://10.0.0.5:8786
    python -m lab.scan evaluate --model deepspeech --data ~/my_wavs --out scans/mine \\
        --manifest ~/my_wavs/transcripts.csv
"""

from __future__ import annotations

import argparse
import json
import sys

from lab.errors import LabError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from lab.scan.tasks import TASKS

    parser = argparse.ArgumentParser(
        prog="python -m lab.scan", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--model", required=True,
                        help="zoo name (deepspeech, transducer, classifier) or silero_vad")
    parser.add_argument("--data", required=True,
                        help="corpus split (train/valid/test, or all), a folder of audio files, or "
                             "hf:<folder saved with datasets' save_to_disk>")
    parser.add_argument("--out", required=True, help="scan folder (results, resumable)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None,
                       help="address of an existing Dask scheduler (tcp://host:8786)")
    where.add_argument("--inprocess", action="store_true",
                       help="no Dask: run the shards in this process")
    parser.add_argument("--workers", type=int, default=None,
                        help="local cluster workers (default: usable cores)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--shard-size", type=int, default=128, help="utterances per shard")
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only")
    parser.add_argument("--keywords-only", action="store_true",
                        help="corpus splits: single command words only")
    parser.add_argument("--manifest", default=None,
                        help="folders: transcripts (CSV path,text or path<TAB>text)")
    parser.add_argument("--no-resume", action="store_true",
                        help="delete the old results in --out and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    options = parser.add_argument_group("task options")
    options.add_argument("--layers", nargs="+", default=None, help="activations: layer names")
    options.add_argument("--method", default=None, help="masks: optimize or greedy")
    options.add_argument("--seed", type=int, default=None, help="masks: seed")
    options.add_argument("--steps", type=int, default=None, help="masks: relaxed steps")
    options.add_argument("--variant", default=None, help="piq: shipped decoder variant")
    options.add_argument("--path", default=None,
                         help="piq: a decoder file trained for the model (instead of --variant)")
    options.add_argument("--threshold", type=float, default=None, help="piq: mask threshold")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 error, 130 interrupted)."""
    from lab.scan.engine import INPROCESS, run

    args = _parser().parse_args(argv)
    options = {key: value for key in ("layers", "method", "seed", "steps", "variant", "path",
                                      "threshold")
               if (value := getattr(args, key)) is not None}
    try:
        scan = run(
            args.task, args.data, model=args.model, out=args.out,
            client=INPROCESS if args.inprocess else args.scheduler, workers=args.workers,
            threads=args.threads, shard_size=args.shard_size, limit=args.limit,
            keywords_only=args.keywords_only, manifest=args.manifest,
            resume=not args.no_resume, progress=not args.quiet, **options,
        )
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    state = "complete" if scan.complete else f"stopped at {scan.n_done}/{scan.n_utterances}"
    print(f"{args.task} scan {state}: {scan.out}")
    print(json.dumps(scan.summary(), indent=2, default=float))
    failed = scan.errors()
    for row in failed.itertuples():
        print(f"failed: {row.id} ({row.stage}): {row.error}")
    return 0 if scan.complete else 130


if __name__ == "__main__":
    sys.exit(main())
