"""Real human recordings with transcripts, from two Debian packages (nothing downloaded).

* ``pocketsphinx-testdata`` (``/usr/share/pocketsphinx/test/data``, BSD-2): five LibriVox
  sentences of *Sense and Sensibility* (one reader), five card phrases ("ten of clubs"),
  each with the transcript the package ships; and two loose raw files whose text is
  documented: ``goforward.raw`` (the package's ``goforward.gram`` is written for it: "go
  forward ten meters") and ``tidigits/dhd.2934z.raw`` (TIDIGITS names files by their
  digits: "two nine three four zero", as the package's ``tidigits.lsn`` spells ``2934z``).
  All 16 kHz, 16-bit mono.
* ``alsa-utils`` (``/usr/share/sounds/alsa``): the eight channel-name recordings ("Front
  Center", "Front Left", ...), 48 kHz, resampled to 16 kHz on load; ``Noise.wav`` is not
  speech and is left out.

Install both with ``apt-get install pocketsphinx-testdata alsa-utils``.

Examples
--------
>>> from lab.data.real import real_recordings
>>> recs = real_recordings()  # doctest: +SKIP
>>> recs[0].text  # doctest: +SKIP
'and mister john dashwood had then leisure to consider how much there might be ...'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.data.manifest import CorpusError

__all__ = [
    "ALSA_DIR",
    "INSTALL_HINT",
    "POCKETSPHINX_DIR",
    "RealRecording",
    "RealRecordings",
    "RealDataMissing",
    "load_recording",
    "real_recordings",
]

POCKETSPHINX_DIR = Path("/usr/share/pocketsphinx/test/data")
ALSA_DIR = Path("/usr/share/sounds/alsa")
INSTALL_HINT = "apt-get install pocketsphinx-testdata alsa-utils"
SOURCES = ("librivox", "cards", "raw", "alsa")

_RAW_TEXTS = {
    "goforward.raw": "go forward ten meters",
    "tidigits/dhd.2934z.raw": "two nine three four zero",
}
_ALSA_NAMES = ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left",
               "Rear_Right", "Side_Left", "Side_Right")


class RealDataMissing(CorpusError):
    """The Debian packages holding the real recordings are not installed."""


@dataclass(frozen=True)
class RealRecording:
    """One real recording: where it is, what is said, who says it (when known)."""

    id: str
    path: Path
    text: str
    source: str
    speaker: str | None
    duration: float
    sample_rate: int


def _transcripts(path: Path) -> dict[str, str]:
    """``<s> words </s> (id)`` lines → ``{id: words}``."""
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if match:
            out[match.group(2).strip()] = " ".join(match.group(1).split())
    return out


def _wav_info(path: Path) -> tuple[float, int]:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate, int(info.samplerate)


def _root(directory, default: Path) -> Path:
    return Path(directory) if directory is not None else default


def real_recordings(sources=SOURCES, *, pocketsphinx_dir: str | os.PathLike | None = None,
                    alsa_dir: str | os.PathLike | None = None) -> list[RealRecording]:
    """List the real recordings with transcript, source, speaker and duration.

    Parameters
    ----------
    sources : sequence of str
        Any of ``"librivox"``, ``"cards"``, ``"raw"`` (pocketsphinx-testdata) and ``"alsa"``
        (alsa-utils).
    pocketsphinx_dir, alsa_dir : path, optional
        Where the packages put them (the Debian paths by default).

    Raises
    ------
    RealDataMissing
        A requested package's directory is missing; the message says
        ``apt-get install pocketsphinx-testdata alsa-utils``.
    """
    if isinstance(sources, str):
        sources = (sources,)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        from lab.errors import ArgumentError

        raise ArgumentError(f"sources: unknown {unknown}; expected some of {SOURCES}")
    ps, alsa = _root(pocketsphinx_dir, POCKETSPHINX_DIR), _root(alsa_dir, ALSA_DIR)
    missing = []
    if {"librivox", "cards", "raw"} & set(sources) and not (ps / "librivox").is_dir():
        missing.append(f"pocketsphinx-testdata ({ps})")
    if "alsa" in sources and not (alsa / "Front_Center.wav").is_file():
        missing.append(f"alsa-utils ({alsa})")
    if missing:
        raise RealDataMissing(
            f"the real recordings are not installed: {', '.join(missing)} missing; install "
            f"them with `{INSTALL_HINT}` (as root)")
    out: list[RealRecording] = []
    if "librivox" in sources:
        texts = _transcripts(ps / "librivox" / "transcription")
        for key in sorted(texts):
            path = ps / "librivox" / f"{key}.wav"
            out.append(RealRecording(f"librivox/{key[-4:]}", path, texts[key], "librivox",
                                     "librivox-austen-reader", *_wav_info(path)))
    if "cards" in sources:
        texts = _transcripts(ps / "cards" / "cards.transcription")
        for key in sorted(texts):
            path = ps / "cards" / f"{key}.wav"
            out.append(RealRecording(f"cards/{key}", path, texts[key], "cards", None,
                                     *_wav_info(path)))
    if "raw" in sources:
        for name, text in _RAW_TEXTS.items():
            path = ps / name
            speaker = "dhd" if "dhd" in name else None
            out.append(RealRecording(f"raw/{Path(name).stem}", path, text, "raw", speaker,
                                     path.stat().st_size / 2 / 16000, 16000))
    if "alsa" in sources:
        for name in _ALSA_NAMES:
            path = alsa / f"{name}.wav"
            out.append(RealRecording(f"alsa/{name}", path, name.replace("_", " ").lower(),
                                     "alsa", "alsa-utils-voice", *_wav_info(path)))
    return out


def load_recording(recording: RealRecording, sr: int = 16000) -> np.ndarray:
    """The recording as a float32 waveform at ``sr`` (raw files are 16 kHz int16)."""
    import lab.audio

    if recording.path.suffix == ".raw":
        pcm = np.fromfile(recording.path, dtype="<i2")
        wave = lab.audio.as_waveform(pcm, "recording")
        if sr != 16000:
            import librosa

            wave = librosa.resample(wave, orig_sr=16000, target_sr=sr).astype(np.float32)
        return wave
    return lab.audio.load(recording.path, sr=sr)


class RealRecordings:
    """The real recordings as a dataset: ``item = {"id", "waveform", "text", "speaker", ...}``.

    Parameters are those of :func:`real_recordings`; waveforms are 16 kHz and loaded when
    an item is read.
    """

    def __init__(self, sources=SOURCES, **dirs):
        self.recordings = real_recordings(sources, **dirs)

    def __len__(self) -> int:
        return len(self.recordings)

    def __getitem__(self, i: int) -> dict:
        rec = self.recordings[i]
        return {"id": rec.id, "waveform": load_recording(rec), "text": rec.text,
                "speaker": rec.speaker, "source": rec.source, "duration": rec.duration}
