"""Train and ship the PIQ decoder for the pretrained keyword classifier.

``python -m lab.piq.train`` trains on the keyword utterances of the train split (resuming
from ``--checkpoint`` if it exists; Ctrl-C stops after saving), then writes
``lab/piq/checkpoints/<variant>.pt`` and its SHA-256 to ``<variant>.sha256``. The ``piq``
variant uses the PIQ loss; ``piq_fidelity`` adds the classifier terms (masked-in fidelity,
masked-out faithfulness) on straight-through binary masks. Both train on the classifier's
voice augmentation (``lab.training.augment.other_voices_log_power``) unless ``--no-augment``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from lab.checkpoints import write_sidecar
from lab.piq.interpreter import PRETRAINED_PATH, VARIANTS, PIQInterpreter, pretrained_path

#: What each shipped variant is trained with. ``piq`` is the issue's loss with the
#: interpreter's default codebook and decoder; ``piq_fidelity`` adds the classifier terms and,
#: because they ask the mask to follow each utterance closely, a larger codebook and decoder.
VARIANT_SETTINGS: dict[str, dict] = {
    "piq": dict(epochs=20, fidelity_weight=0.0, faithfulness_weight=0.0, straight_through=False,
                codes_per_class=8, shared_keys=8, decoder_channels=32),
    "piq_fidelity": dict(epochs=40, fidelity_weight=15.0, faithfulness_weight=2.0,
                         straight_through=True, codes_per_class=32, shared_keys=16,
                         decoder_channels=64),
}


def ship(interpreter: PIQInterpreter, path: str | Path = PRETRAINED_PATH) -> str:
    """Write the decoder weights to ``path`` and the digest next to it; returns the digest."""
    interpreter.save(path)
    return write_sidecar(path)


def main(argv: list[str] | None = None) -> PIQInterpreter:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="piq", choices=VARIANTS)
    parser.add_argument("--epochs", type=int, help="default: the variant's (see VARIANT_SETTINGS)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="default relative threshold of interpret()")
    for name in ("fidelity_weight", "faithfulness_weight", "codes_per_class", "shared_keys",
                 "decoder_channels"):
        kind = float if name.endswith("weight") else int
        parser.add_argument("--" + name.replace("_", "-"), type=kind,
                            help="default: the variant's (see VARIANT_SETTINGS)")
    parser.add_argument("--no-augment", action="store_true",
                        help="train on the corpus as it is (no voice augmentation)")
    parser.add_argument("--checkpoint", help="resumable training state (default in the temp dir)")
    parser.add_argument("--out", help="default lab/piq/checkpoints/<variant>.pt")
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint or Path(tempfile.gettempdir()) / f"lab_{args.variant}_train.pt"
    out = args.out or pretrained_path(args.variant)
    settings = dict(VARIANT_SETTINGS[args.variant])
    for name in list(settings):
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
    epochs = settings.pop("epochs")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from lab.models import load_pretrained
    from lab.models.pretrained import checkpoint_info
    from lab.training.augment import other_voices_log_power

    interpreter = PIQInterpreter(load_pretrained("classifier"), threshold=args.threshold,
                                 **settings)
    interpreter.provenance = {"classifier_sha256": checkpoint_info("classifier")["sha256"]}
    history = interpreter.fit(epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                              checkpoint=checkpoint,
                              augment=None if args.no_augment else other_voices_log_power)
    for row in history:
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    digest = ship(interpreter, out)
    print(f"wrote {out} (sha256 {digest})")
    return interpreter


if __name__ == "__main__":
    main()
