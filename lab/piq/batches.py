"""Training batches of audio for PIQ on an adapted classifier: log-power, phase, lengths.

An adapted waveform classifier hears the log-power spectrogram resynthesised with its
clip's phase, so its batches carry, next to the padded log-power ``features`` (B, T, 257)
and ``feature_lengths`` (B,), the STFT ``phase`` (B, T, 257) and the ``samples`` (B,) of
each clip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import integer

__all__ = ["AudioBatches", "audio_batches"]


def _clip(item, name: str) -> np.ndarray:
    """One item as a 16 kHz float32 waveform (a waveform, a path, bytes or a dict)."""
    from lab.audio import as_waveform, load

    if isinstance(item, dict):
        item = item.get("waveform", item.get("path"))
    elif hasattr(item, "waveform") and not isinstance(item, np.ndarray | torch.Tensor):
        item = item.waveform
    if isinstance(item, str | os.PathLike | bytes | bytearray):
        return load(item, sr=16000)
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().numpy()
    return as_waveform(np.asarray(item), name)


class AudioBatches:
    """Re-iterable PIQ training batches of a list of audio (see :func:`audio_batches`)."""

    def __init__(self, audio, *, batch_size: int = 8, shuffle: bool = True, seed: int = 0,
                 cache: bool = True):
        self.audio = audio
        self.batch_size = integer("batch_size", batch_size, minimum=1)
        self.shuffle = bool(shuffle)
        self.seed = integer("seed", seed)
        self.cache = bool(cache)
        self._epoch = 0
        self._spectra: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    def __len__(self) -> int:
        return -(-len(self.audio) // self.batch_size)

    def spectrogram(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(log_power, phase, samples)`` of item ``i`` (kept after the first pass with
        ``cache``)."""
        from lab.audio import log_power_spectrogram

        if i in self._spectra:
            return self._spectra[i]
        if hasattr(self.audio, "waveform") and hasattr(self.audio, "rows"):
            wave = self.audio.waveform(i)  # a lab.data.Corpus: its audio, not features
        else:
            wave = _clip(self.audio[i], f"audio[{i}]")
        if wave.size == 0:
            raise ArgumentError(f"audio[{i}] is empty; PIQ needs at least one sample")
        log_power, phase = log_power_spectrogram(wave)
        out = (log_power, phase, len(wave))
        if self.cache:
            self._spectra[i] = out
        return out

    def batch(self, indices: Sequence[int]) -> dict:
        """The padded batch of the given items."""
        parts = [self.spectrogram(int(i)) for i in indices]
        frames = max(p[0].shape[0] for p in parts)
        features = torch.zeros(len(parts), frames, parts[0][0].shape[1])
        phase = torch.zeros_like(features)
        for k, (lp, ph, _) in enumerate(parts):
            features[k, : len(lp)] = torch.from_numpy(lp)
            phase[k, : len(ph)] = torch.from_numpy(ph)
        return {"features": features,
                "feature_lengths": torch.tensor([len(p[0]) for p in parts]),
                "phase": phase, "samples": torch.tensor([p[2] for p in parts])}

    def __iter__(self) -> Iterator[dict]:
        order = np.arange(len(self.audio))
        if self.shuffle:  # a new order each pass, the same for the same seed
            order = np.random.default_rng(self.seed + self._epoch).permutation(order)
        self._epoch += 1
        for start in range(0, len(order), self.batch_size):
            yield self.batch(order[start:start + self.batch_size])


def audio_batches(audio, *, batch_size: int = 8, shuffle: bool = True, seed: int = 0,
                  cache: bool = True) -> AudioBatches:
    """PIQ training batches of ``audio`` for :meth:`lab.piq.PIQInterpreter.fit`.

    Parameters
    ----------
    audio : sequence
        16 kHz waveforms, audio paths or bytes, dicts with ``"waveform"`` or ``"path"``
        (e.g. :class:`lab.data.RealRecordings` items), or a :class:`lab.data.Corpus` (its
        audio is read, whatever its features).
    batch_size : int
    shuffle : bool
        A new order on every pass (seeded by ``seed`` and the pass number).
    seed : int
    cache : bool
        Keep every clip's log-power and phase after the first pass (about 100 kB per
        second of audio); False recomputes them on every pass.

    Returns
    -------
    AudioBatches
        Re-iterable; each batch is a dict with ``features`` (log-power, zero-padded),
        ``feature_lengths``, ``phase`` and ``samples``.

    Examples
    --------
    >>> clips = [np.zeros(16000, np.float32), np.ones(8000, np.float32) * 0.1]
    >>> batch = next(iter(audio_batches(clips, batch_size=2, shuffle=False)))
    >>> batch["features"].shape, batch["feature_lengths"].tolist(), batch["samples"].tolist()
    (torch.Size([2, 51, 257]), [51, 26], [16000, 8000])
    """
    if isinstance(audio, str | bytes | os.PathLike) or not hasattr(audio, "__len__"):
        raise ArgumentTypeError(
            f"audio must be a sequence of clips (waveforms, paths, dicts) or a Corpus, got "
            f"{type(audio).__name__}")
    if len(audio) == 0:
        raise ArgumentError("audio holds no clips; PIQ needs at least one to train on")
    return AudioBatches(audio, batch_size=batch_size, shuffle=shuffle, seed=seed, cache=cache)
