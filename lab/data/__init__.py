"""The lab's own spoken corpus, its tokenizer and a torch Dataset over it.

The corpus ships with the package (``lab/data/corpus``: FLAC audio, ``manifest.csv``,
``VERSION``), synthesized once by ``python -m lab.data.synth`` with espeak-ng, so nothing is
downloaded at run time. Splits are by voice: the test split's voices are never heard in train.
Real human recordings with transcripts (from Debian packages) are listed by :mod:`.real`.

Examples
--------
>>> from lab.data import Corpus, collate
>>> batch = collate([Corpus("valid")[i] for i in range(2)])
>>> batch.features.shape[0], batch.features.shape[2]
(2, 26)
"""

from lab.data.dataset import FEATURES, Batch, Corpus, Utterance, collate, compute_features
from lab.data.manifest import (
    SPLITS,
    CorpusError,
    ManifestRow,
    corpus_dir,
    corpus_version,
    read_manifest,
)
from lab.data.real import (
    RealDataMissing,
    RealRecording,
    RealRecordings,
    load_recording,
    real_recordings,
)
from lab.data.tokenizer import ALPHABET, CharTokenizer
from lab.data.vocabulary import DIGITS, KEYWORDS, PHRASE_WORDS, VOCABULARY

__all__ = [
    "ALPHABET",
    "Batch",
    "CharTokenizer",
    "Corpus",
    "CorpusError",
    "DIGITS",
    "FEATURES",
    "KEYWORDS",
    "ManifestRow",
    "PHRASE_WORDS",
    "RealDataMissing",
    "RealRecording",
    "RealRecordings",
    "SPLITS",
    "Utterance",
    "VOCABULARY",
    "collate",
    "compute_features",
    "corpus_dir",
    "corpus_version",
    "load_recording",
    "read_manifest",
    "real_recordings",
]
