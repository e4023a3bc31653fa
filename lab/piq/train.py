"""Train and ship the PIQ decoder for the pretrained keyword classifier.

``python -m lab.piq.train`` trains on the keyword utterances of the train split (resuming
from ``--checkpoint`` if it exists; Ctrl-C stops after saving), then writes
``lab/piq/checkpoints/<variant>.pt`` and its SHA-256 to ``<variant>.sha256``. The ``piq``
variant uses the PIQ loss; ``piq_fidelity`` adds the masked-in classifier term.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from lab.piq.interpreter import PRETRAINED_PATH, VARIANTS, PIQInterpreter, pretrained_path


def ship(interpreter: PIQInterpreter, path: str | Path = PRETRAINED_PATH) -> str:
    """Write the decoder weights to ``path`` and the digest next to it; returns the digest."""
    path = Path(path)
    digest = interpreter.save(path)
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def main(argv: list[str] | None = None) -> PIQInterpreter:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="default relative threshold of interpret()")
    parser.add_argument("--variant", default="piq", choices=VARIANTS)
    parser.add_argument("--fidelity-weight", type=float, default=1.0,
                        help="weight of the masked-in classifier term of piq_fidelity")
    parser.add_argument("--checkpoint", help="resumable training state (default in the temp dir)")
    parser.add_argument("--out", help="default lab/piq/checkpoints/<variant>.pt")
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint or Path(tempfile.gettempdir()) / f"lab_{args.variant}_train.pt"
    out = args.out or pretrained_path(args.variant)
    weight = args.fidelity_weight if args.variant == "piq_fidelity" else 0.0
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from lab.models import load_pretrained
    from lab.models.pretrained import checkpoint_info

    interpreter = PIQInterpreter(load_pretrained("classifier"), threshold=args.threshold,
                                 fidelity_weight=weight)
    interpreter.provenance = {"classifier_sha256": checkpoint_info("classifier")["sha256"]}
    history = interpreter.fit(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              checkpoint=checkpoint)
    for row in history:
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    digest = ship(interpreter, out)
    print(f"wrote {out} (sha256 {digest})")
    return interpreter


if __name__ == "__main__":
    main()
