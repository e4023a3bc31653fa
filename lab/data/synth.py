"""Generate the shipped spoken corpus with espeak-ng and sox.

Run ``python -m lab.data.synth`` from the repository root. Only maintainers who change the
corpus need espeak-ng and sox; users and CI read the committed audio and manifest.

The whole corpus follows from ``--seed``: a plan (text, voice, speed, pitch, gain, noise) is
drawn first from one seeded generator, then each utterance is synthesized independently, so
the output does not depend on the number of worker processes. Two runs with the same tool
versions give byte-identical files (the shipped corpus: espeak-ng 1.51, SoX 14.4.2).

Splits are defined by voice. A voice is an espeak-ng accent plus a voice variant
("en-us+m3"); the valid and test splits use variants that never occur in train (in any
accent), so their voices are never heard in training. Every accent occurs in every split, and
every split has as many utterances in female as in male voices.

Audio is trimmed of leading/trailing silence (sox), resampled to 16 kHz mono, padded with a
short silence, optionally mixed with light white noise, quantized to 12 significant bits and
stored as 16-bit FLAC. The 4 dropped bits are constant zeros that FLAC's "wasted bits"
detection removes, which shrinks the files by about a third while keeping ~70 dB of dynamic
range, far beyond what MFCC or log-mel features resolve.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from lab.data.manifest import MANIFEST_COLUMNS
from lab.data.vocabulary import DIGITS, KEYWORDS
from lab.errors import ArgumentError, LabError

#: Version written to ``VERSION``; bump it whenever the generated corpus changes.
CORPUS_VERSION = "1.1.0"
SAMPLE_RATE = 16000
DEFAULT_SEED = 20261121

#: espeak-ng English accents; every one of them occurs in every split.
ACCENTS: list[str] = [
    "en", "en-us", "en-gb-scotland", "en-gb-x-gbclan",
    "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
]  # fmt: skip
#: espeak-ng voice variants heard in training: every "ordinary" variant espeak-ng ships
#: (formant and Klatt synthesis), leaving out whispering, croaking, echoing and robotic ones
#: and ``klatt6``, which renders exactly like ``klatt``. Many timbres in training are what
#: lets a small model generalize to voices it never heard.
TRAIN_VARIANTS: list[str] = [
    # male, formant synthesis
    "m1", "m3", "m4", "m5", "m7", "m8", "Alex", "Andy", "AnxiousAndy", "Denis", "Gene",
    "Gene2", "Lee", "Mario", "Michael", "Mike", "antonio", "boris", "ed", "gustave",
    "iven3", "john", "kaukovalta", "marcelo", "max", "michel", "norbert", "pablo", "paul",
    "pedro", "quincy", "rob", "robert", "travis", "victor", "Henrique", "Hugo", "Diogo",
    # female
    "f1", "f2", "f4", "Annie", "aunty", "linda", "steph", "steph2", "steph3", "anika",
    "Alicia", "shelby",
    # Klatt synthesis
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "adam", "benjamin", "edward",
]  # fmt: skip
#: Variants reserved for the valid split.
VALID_VARIANTS: list[str] = ["m2", "f5", "edward2", "Jacky"]
#: Variants reserved for the test split (never heard in train or valid, under any accent).
TEST_VARIANTS: list[str] = ["m6", "f3", "david", "belinda", "miguel", "Andrea"]
#: Female variants; every split gets as many utterances in female as in male voices, although
#: espeak-ng ships far more male variants.
FEMALE_VARIANTS: frozenset[str] = frozenset(
    ["f1", "f2", "f3", "f4", "f5", "Andrea", "Annie", "aunty", "belinda", "linda", "shelby",
     "steph", "steph2", "steph3", "anika", "Alicia"]
)  # fmt: skip

#: Utterances per split and kind; keyword counts are per keyword class.
PLAN_COUNTS: dict[str, dict[str, int]] = {
    "train": {"keyword": 42, "digits": 340, "phrase": 360},
    "valid": {"keyword": 5, "digits": 40, "phrase": 40},
    "test": {"keyword": 10, "digits": 60, "phrase": 60},
}

SPEED_RANGE = (140, 210)  # espeak-ng words per minute (its default is 175)
PITCH_RANGE = (25, 75)  # espeak-ng pitch, 0-99 (its default is 50)
PEAK_RANGE = (0.3, 0.9)
NOISE_PROBABILITY = 0.3
SNR_RANGE_DB = (25.0, 40.0)
PAD_SECONDS = 0.06
QUANTIZATION_BITS = 12


class SynthError(LabError, RuntimeError):
    """Raised when the corpus cannot be synthesized (missing tools, failed synthesis)."""


@dataclass(frozen=True)
class PlannedUtterance:
    """Everything needed to synthesize one utterance, drawn up front from the seed."""

    index: int
    path: str
    text: str
    keyword: str
    split: str
    voice: str
    speed: int
    pitch: int
    peak: float
    snr_db: float | None


def voices(split: str) -> list[str]:
    """Return the voice identities (``accent+variant``) of a split.

    Examples
    --------
    >>> voices("test")[:3]
    ['en+m6', 'en+f3', 'en+david']
    """
    variants = {"train": TRAIN_VARIANTS, "valid": VALID_VARIANTS, "test": TEST_VARIANTS}
    if split not in variants:
        raise ArgumentError(f"split must be one of {sorted(variants)}, got {split!r}")
    return [f"{accent}+{variant}" for accent in ACCENTS for variant in variants[split]]


def _phrase(rng: random.Random) -> str:
    digit = rng.choice(DIGITS)
    templates = [
        lambda: f"{rng.choice(KEYWORDS)} please",
        lambda: f"please {rng.choice(KEYWORDS)}",
        lambda: f"{rng.choice(KEYWORDS)} now",
        lambda: f"go {rng.choice(['up', 'down', 'left', 'right', 'back', 'home'])}",
        lambda: f"go {rng.choice(['up', 'down', 'left', 'right'])} {digit}",
        lambda: f"turn the {rng.choice(['light', 'music', 'volume'])} {rng.choice(['on', 'off'])}",
        lambda: f"turn {rng.choice(['volume', 'music'])} {rng.choice(['up', 'down'])}",
        lambda: f"{rng.choice(['play', 'stop', 'pause', 'start'])} the music",
        lambda: f"{rng.choice(['open', 'close'])} the door",
        lambda: f"{rng.choice(['next', 'back'])} {rng.choice(['track', 'page'])}",
        lambda: f"go to page {digit}",
        lambda: f"set volume to {digit}",
        lambda: f"volume {rng.choice(['up', 'down', 'louder', 'quieter'])}",
        lambda: f"let's {rng.choice(['go', 'play', 'start', 'stop'])}",
        lambda: f"don't {rng.choice(['stop', 'go', 'start', 'close', 'open', 'repeat'])}",
        lambda: f"{rng.choice(['yes', 'no'])} {rng.choice(['please', 'cancel', 'repeat'])}",
        lambda: f"{rng.choice(['louder', 'quieter'])} please",
    ]
    return rng.choice(templates)()


def plan(seed: int = DEFAULT_SEED) -> list[PlannedUtterance]:
    """Draw the whole corpus plan (texts, voices, prosody, noise) from ``seed``.

    Examples
    --------
    >>> p = plan(seed=1)
    >>> len(p) == len(plan(seed=1)) and p[0] == plan(seed=1)[0]
    True
    """
    rng = random.Random(seed)
    utterances: list[PlannedUtterance] = []
    for split, counts in PLAN_COUNTS.items():
        texts: list[tuple[str, str]] = []
        for keyword in KEYWORDS:
            texts += [(keyword, keyword)] * counts["keyword"]
        for _ in range(counts["digits"]):
            n = rng.randint(2, 4)
            texts.append((" ".join(rng.choice(DIGITS) for _ in range(n)), ""))
        texts += [(_phrase(rng), "") for _ in range(counts["phrase"])]
        rng.shuffle(texts)
        # Alternating genders balances them; cycling through a shuffled voice list of each
        # gender spreads utterances evenly over its voices.
        pools = [[], []]
        for voice in voices(split):
            pools[voice.split("+")[1] in FEMALE_VARIANTS].append(voice)
        cycles: list[list[str]] = [[], []]
        for position, (text, keyword) in enumerate(texts):
            gender = position % 2
            if not cycles[gender]:
                cycles[gender] = rng.sample(pools[gender], len(pools[gender]))
            voice = cycles[gender].pop()
            noisy = rng.random() < NOISE_PROBABILITY
            utterances.append(
                PlannedUtterance(
                    index=len(utterances),
                    path=f"audio/{split}/{position:04d}.flac",
                    text=text,
                    keyword=keyword,
                    split=split,
                    voice=voice,
                    speed=rng.randint(*SPEED_RANGE),
                    pitch=rng.randint(*PITCH_RANGE),
                    peak=round(rng.uniform(*PEAK_RANGE), 3),
                    snr_db=round(rng.uniform(*SNR_RANGE_DB), 1) if noisy else None,
                )
            )
    return utterances


def check_tools() -> None:
    """Raise :class:`SynthError` unless espeak-ng and sox are on ``PATH``."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SynthError(
            f"{' and '.join(missing)} not found on PATH. Regenerating the corpus needs "
            "espeak-ng and sox (Debian/Ubuntu: apt-get install espeak-ng sox). Using the "
            "committed corpus needs neither."
        )


def _run(command: list[str], stdin: bytes | None = None) -> bytes:
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise SynthError(f"{command[0]} failed ({result.returncode}): {result.stderr.decode()}")
    return result.stdout


def synthesize(utterance: PlannedUtterance, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Synthesize one planned utterance as 16 kHz float32 samples (before quantization)."""
    wav = _run(
        ["espeak-ng", "-v", utterance.voice, "-s", str(utterance.speed),
         "-p", str(utterance.pitch), "--stdout", utterance.text]
    )  # fmt: skip
    # Trim leading and trailing silence at -66 dB, then resample; -D keeps sox from dithering
    # (dither is random, which would make the output differ between runs).
    raw = _run(
        ["sox", "-D", "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32",
         "-c", "1", "-r", str(SAMPLE_RATE), "-",
         "silence", "1", "0.01", "0.05%", "reverse", "silence", "1", "0.01", "0.05%", "reverse"],
        stdin=wav,
    )  # fmt: skip
    y = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    if y.size == 0:
        raise SynthError(f"espeak-ng produced no audio for {utterance.voice!r}: {utterance.text!r}")
    pad = np.zeros(int(PAD_SECONDS * SAMPLE_RATE))
    y = np.concatenate([pad, y / np.max(np.abs(y)) * utterance.peak, pad])
    if utterance.snr_db is not None:
        noise_rng = np.random.default_rng([seed, utterance.index])
        signal_power = np.mean(y[pad.size : -pad.size] ** 2)
        noise_std = np.sqrt(signal_power / 10 ** (utterance.snr_db / 10))
        y = y + noise_rng.normal(scale=noise_std, size=y.size)
    return y.astype(np.float32)


def quantize(y: np.ndarray, bits: int = QUANTIZATION_BITS) -> np.ndarray:
    """Round float samples to ``bits`` significant bits, returned as int16 with zero low bits.

    Examples
    --------
    >>> quantize(np.array([0.5, -0.25], dtype=np.float32), bits=12).tolist()
    [16384, -8192]
    """
    step = 2 ** (16 - bits)
    levels = np.round(np.asarray(y, dtype=np.float64) * 32768 / step)
    levels = np.clip(levels, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return (levels * step).astype(np.int16)


def _render(job: tuple[PlannedUtterance, int, str]) -> float:
    utterance, seed, out_dir = job
    samples = quantize(synthesize(utterance, seed=seed))
    target = Path(out_dir) / utterance.path
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(target, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=1.0)
    return samples.size / SAMPLE_RATE


def generate(
    out_dir: str | os.PathLike[str], *, seed: int = DEFAULT_SEED, jobs: int = 2,
    limit: int | None = None,
) -> Path:  # fmt: skip
    """Synthesize the corpus into ``out_dir`` (audio/, manifest.csv, VERSION).

    The corpus is built in a temporary directory next to ``out_dir`` and swapped in at the
    end, so an interrupted run leaves the previous corpus untouched.
    """
    check_tools()
    from tqdm.auto import tqdm

    out = Path(out_dir)
    utterances = plan(seed)
    if limit is not None:
        utterances = utterances[:limit]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".corpus-", dir=out.parent))
    try:
        work = [(u, seed, str(staging)) for u in utterances]
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            durations = list(
                tqdm(pool.map(_render, work, chunksize=16), total=len(work), desc="synth")
            )
        with open(staging / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(MANIFEST_COLUMNS)
            for u, duration in zip(utterances, durations, strict=True):
                row = asdict(u)
                row["duration"] = f"{duration:.3f}"
                writer.writerow([row[c] for c in MANIFEST_COLUMNS])
        (staging / "VERSION").write_text(CORPUS_VERSION + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.data.synth", description=__doc__.split("\n")[0]
    )
    default_out = Path(__file__).resolve().parent / "corpus"
    parser.add_argument("--out", type=Path, default=default_out, help="corpus directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    args = parser.parse_args(argv)
    try:
        out = generate(args.out, seed=args.seed, jobs=args.jobs, limit=args.limit)
    except SynthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"corpus written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
