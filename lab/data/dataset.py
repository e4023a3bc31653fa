"""The shipped corpus as a torch Dataset, and a padding collate function."""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lab import audio
from lab.data.manifest import ManifestRow, check_split, read_manifest, resolve_root
from lab.data.tokenizer import CharTokenizer
from lab.data.vocabulary import KEYWORDS
from lab.errors import ArgumentError, ArgumentTypeError

FEATURES = ("mfcc", "log_mel", "log_power")
_FEATURE_FUNCTIONS = {"mfcc": audio.mfcc, "log_mel": audio.log_mel,
                      "log_power": audio.log_power_spectrogram}


def _check_feature_kwargs(features: str, kwargs: dict[str, Any]) -> None:
    """Unknown keyword arguments are named here, not left to a raw TypeError later."""
    import inspect

    accepted = set(inspect.signature(_FEATURE_FUNCTIONS[features]).parameters) - {"y"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ArgumentError(
            f"feature_kwargs {unknown} are not options of lab.audio's {features}; "
            f"accepted: {sorted(accepted)}"
        )


def compute_features(y: np.ndarray, features: str, **kwargs: Any) -> np.ndarray:
    """Time-major float32 features (T, F) of a 16 kHz waveform, computed by :mod:`lab.audio`.

    ``"log_power"`` keeps only the log-power part of :func:`lab.audio.log_power_spectrogram`.

    Examples
    --------
    >>> compute_features(np.zeros(16000, dtype=np.float32), "log_mel").shape
    (51, 40)
    """
    if not isinstance(features, str) or features not in FEATURES:
        raise ArgumentError(f"features must be one of {list(FEATURES)}, got {features!r}")
    _check_feature_kwargs(features, kwargs)
    if features == "mfcc":
        out = audio.mfcc(y, **kwargs)
    elif features == "log_mel":
        out = audio.log_mel(y, **kwargs)
    elif features == "log_power":
        out = audio.log_power_spectrogram(y, **kwargs)[0]
    else:
        raise ArgumentError(f"features must be one of {list(FEATURES)}, got {features!r}")
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass
class Utterance:
    """One corpus item: features, transcript tokens and labels.

    ``label`` is the index of ``keyword`` in :data:`lab.data.KEYWORDS`, or -1 for
    utterances that are not a single command word.
    """

    features: torch.Tensor  # (T, F) float32
    tokens: torch.Tensor  # (U,) int64
    text: str
    label: int
    path: str
    voice: str


@dataclass
class Batch:
    """Padded minibatch. Features are zero-padded, tokens padded with the blank id 0."""

    features: torch.Tensor  # (B, T_max, F) float32
    feature_lengths: torch.Tensor  # (B,) int64
    tokens: torch.Tensor  # (B, U_max) int64
    token_lengths: torch.Tensor  # (B,) int64
    texts: list[str]
    labels: torch.Tensor  # (B,) int64, -1 where no keyword
    paths: list[str] = field(default_factory=list)

    def to(self, device: str | torch.device) -> Batch:
        """The batch with its tensors on ``device``."""
        return Batch(
            features=self.features.to(device),
            feature_lengths=self.feature_lengths.to(device),
            tokens=self.tokens.to(device),
            token_lengths=self.token_lengths.to(device),
            texts=self.texts,
            labels=self.labels.to(device),
            paths=self.paths,
        )

    def __len__(self) -> int:
        return len(self.texts)


def collate(batch: Sequence[Utterance]) -> Batch:
    """Pad a list of :class:`Utterance` into a :class:`Batch` (use as a DataLoader's
    ``collate_fn``).

    Examples
    --------
    >>> a = Utterance(torch.ones(3, 2), torch.tensor([2, 3]), "ab", -1, "a.flac", "v")
    >>> b = Utterance(torch.ones(1, 2), torch.tensor([4]), "c", 5, "b.flac", "v")
    >>> out = collate([a, b])
    >>> out.features.shape, out.feature_lengths.tolist(), out.tokens.tolist()
    (torch.Size([2, 3, 2]), [3, 1], [[2, 3], [4, 0]])
    """
    if isinstance(batch, Utterance) or not isinstance(batch, Sequence):
        raise ArgumentTypeError(f"batch must be a list of Utterance, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ArgumentError("batch must hold at least one utterance, got an empty sequence")
    for i, item in enumerate(batch):
        if not isinstance(item, Utterance):
            raise ArgumentTypeError(f"batch[{i}] must be an Utterance, got {type(item).__name__}")
        if not torch.is_tensor(item.features) or item.features.ndim != 2:
            raise ArgumentError(f"batch[{i}].features must be a (T, F) tensor")
        if not torch.is_tensor(item.tokens) or item.tokens.ndim != 1:
            raise ArgumentError(f"batch[{i}].tokens must be a 1-D tensor")
    dims = {item.features.shape[1] for item in batch}
    if len(dims) != 1:
        raise ArgumentError(f"all utterances must have the same feature size, got sizes {dims}")
    feature_lengths = torch.tensor([item.features.shape[0] for item in batch], dtype=torch.long)
    token_lengths = torch.tensor([item.tokens.shape[0] for item in batch], dtype=torch.long)
    features = torch.zeros(len(batch), int(feature_lengths.max()), dims.pop())
    tokens = torch.zeros(len(batch), int(token_lengths.max()), dtype=torch.long)
    for i, item in enumerate(batch):
        features[i, : item.features.shape[0]] = item.features
        tokens[i, : item.tokens.shape[0]] = item.tokens
    return Batch(
        features=features,
        feature_lengths=feature_lengths,
        tokens=tokens,
        token_lengths=token_lengths,
        texts=[item.text for item in batch],
        labels=torch.tensor([item.label for item in batch], dtype=torch.long),
        paths=[item.path for item in batch],
    )


class Corpus(Dataset):
    """One split of the shipped spoken corpus as a torch Dataset of :class:`Utterance`.

    Parameters
    ----------
    split : {"train", "valid", "test"}
        Which split; the test split's voices never occur in train or valid.
    features : {"mfcc", "log_mel", "log_power"}
        Feature type, computed by :mod:`lab.audio` with the lab's conventions.
    keywords_only : bool
        Keep only single command words (for the keyword classifier).
    cache : bool
        Keep computed features in memory so later epochs skip the front end.
        (Worker processes of a DataLoader keep their own copies; call :meth:`precompute`
        first or use ``num_workers=0`` to share one cache.)
    root : path, optional
        Corpus directory; defaults to :func:`lab.data.corpus_dir`.
    feature_kwargs : dict, optional
        Extra keyword arguments for the feature function (e.g. ``{"n_mfcc": 13}``).

    Examples
    --------
    >>> test = Corpus("test", features="mfcc", keywords_only=True)
    >>> item = test[0]
    >>> item.features.shape[1], item.features.dtype, item.text == test.rows[0].text
    (26, torch.float32, True)
    >>> KEYWORDS[item.label] == item.text
    True
    """

    def __init__(
        self,
        split: str = "train",
        features: str = "mfcc",
        *,
        keywords_only: bool = False,
        cache: bool = True,
        root: str | os.PathLike[str] | None = None,
        feature_kwargs: dict[str, Any] | None = None,
    ) -> None:
        check_split(split if isinstance(split, str) else repr(split))
        if not isinstance(features, str) or features not in FEATURES:
            raise ArgumentError(f"features must be one of {list(FEATURES)}, got {features!r}")
        for label, flag in (("keywords_only", keywords_only), ("cache", cache)):
            if not isinstance(flag, bool):
                raise ArgumentTypeError(f"{label} must be True or False, got {flag!r}")
        if feature_kwargs is not None and not isinstance(feature_kwargs, dict):
            raise ArgumentTypeError(
                f"feature_kwargs must be a dict or None, got {type(feature_kwargs).__name__}"
            )
        _check_feature_kwargs(features, feature_kwargs or {})
        rows = read_manifest(root, split=split)
        if keywords_only:
            rows = [row for row in rows if row.keyword]
        self.split = split
        self.features = features
        self.root = resolve_root(root)
        self.rows: list[ManifestRow] = rows
        self.tokenizer = CharTokenizer()
        self.feature_kwargs = dict(feature_kwargs or {})
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.rows)

    def waveform(self, index: int) -> np.ndarray:
        """The 16 kHz float32 waveform of utterance ``index``."""
        return audio.load(self.root / self.rows[self._index(index)].path)

    def feature_matrix(self, index: int) -> np.ndarray:
        """Features (T, F) of utterance ``index`` as numpy float32 (cached when enabled)."""
        index = self._index(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        out = compute_features(self.waveform(index), self.features, **self.feature_kwargs)
        if self._cache is not None:
            self._cache[index] = out
        return out

    def precompute(self, progress: bool = True) -> None:
        """Fill the feature cache now (with a progress bar); an interrupt keeps what is done."""
        if self._cache is None:
            raise ArgumentError("precompute needs cache=True")
        from tqdm.auto import tqdm

        for i in tqdm(range(len(self)), desc=f"{self.split} {self.features}", disable=not progress):
            self.feature_matrix(i)

    def _index(self, index: int) -> int:
        """``index`` as a position in ``rows`` (negative counts from the end)."""
        if isinstance(index, bool):
            raise ArgumentTypeError(f"index must be an int, got {index!r}")
        try:
            index = operator.index(index)
        except TypeError:
            raise ArgumentTypeError(
                f"index must be an int, got {index!r} ({type(index).__name__})"
            ) from None
        if not -len(self) <= index < len(self):
            # IndexError, as the sequence protocol expects (it ends a `for` loop)
            raise IndexError(f"index {index} out of range for a corpus of {len(self)} items")
        return index % len(self)

    def __getitem__(self, index: int) -> Utterance:
        index = self._index(index)
        row = self.rows[index]
        return Utterance(
            # A copy, so in-place edits (augmentation) never reach the cache.
            features=torch.from_numpy(self.feature_matrix(index).copy()),
            tokens=torch.tensor(self.tokenizer.encode(row.text), dtype=torch.long),
            text=row.text,
            label=KEYWORDS.index(row.keyword) if row.keyword else -1,
            path=row.path,
            voice=row.voice,
        )

    def __repr__(self) -> str:
        return f"Corpus(split={self.split!r}, features={self.features!r}, n={len(self)})"
