"""Train a lab model: ``python -m lab.train {deepspeech,transducer,classifier} [--export]``.

Runs are kept in ``runs/<name>/`` and resume where they stopped (Ctrl-C saves first).
``--export`` then evaluates the best epoch on the test split and writes the shipped
checkpoint ``lab/models/checkpoints/<name>.pt`` and its entry in ``index.json``.
"""

from __future__ import annotations

import argparse
import sys

from lab.errors import LabError
from lab.training import TASKS, TrainConfig, train
from lab.training.export import export_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.train", description=__doc__)
    parser.add_argument("model", choices=sorted(TASKS))
    parser.add_argument("--epochs", type=int, help="override the task's number of epochs")
    parser.add_argument("--run-dir", help="run directory (default runs/<model>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--fresh", action="store_true", help="ignore a saved run; start over")
    parser.add_argument("--export", action="store_true",
                        help="after training, write the shipped checkpoint")
    args = parser.parse_args(argv)
    config = TrainConfig(task=args.model, run_dir=args.run_dir, epochs=args.epochs,
                         seed=args.seed, threads=args.threads, fresh=args.fresh)
    try:
        state = train(config)
    except LabError as err:  # e.g. --epochs 0: one line, not a traceback
        parser.error(str(err))
    finished = state["epoch"] >= (args.epochs or TASKS[args.model].epochs)
    print(f"{args.model}: {state['epoch']} epochs, {state['seconds']:.0f} s, "
          f"best valid {TASKS[args.model].metric} {state['best']} (epoch {state['best_epoch']})")
    if args.export:
        if not finished:
            print("not exporting: the run was interrupted before its last epoch")
            return 1
        try:
            export_run(args.model, config.resolved_run_dir())
        except LabError as err:  # e.g. a damaged best.pt
            parser.error(str(err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
