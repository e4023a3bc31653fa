"""Hostile inputs to lab.audio, lab.data, lab.models, lab.training and lab.checkpoints.

Every case is one row of ``CASES``: a call and what it must give — a ``LabError`` subclass
whose message names the argument (or file), or a result that passes a check. Never a crash
(a raw ``TypeError``/``KeyError``/``RuntimeError``), a hang, a silent wrong answer or an
unbounded allocation. ``IndexError`` from ``Corpus[i]`` is the one builtin allowed: it is what
the sequence protocol expects to end a loop.

New API (``lab.checkpoints``, ``lab.audio.as_waveform``, ``AudioWarning``) is looked up inside
the calls, so each row fails on its own on code that lacks it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

import lab.audio as audio
import lab.data as data
import lab.models as models
from lab.errors import ArgumentError, ArgumentTypeError, CheckpointError, LabError

AudioError = audio.AudioError
CorpusError = data.CorpusError
SR = 16_000
# torch's advice for a refused pickle, which the lab must never pass on
UNSAFE_ADVICE = re.compile(r"weights_only.{0,20}(set to|=)\s*`?False", re.I)


def _ck():
    return importlib.import_module("lab.checkpoints")


def _training():
    return importlib.import_module("lab.training.trainer")


def _wav(y: np.ndarray, sr: int = SR, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Payload:
    """Unpickling this runs ``mkdir``: the attack ``weights_only=True`` must stop."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


class Ctx:
    """Inputs shared by the cases, built once per module in a temporary folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        t = np.arange(SR // 2) / SR
        self.tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        self.wav16 = _wav(self.tone)
        self.wav_truncated = self.wav16[: len(self.wav16) // 2]
        self.wav_float5 = _wav(10 * self.tone, subtype="FLOAT")  # peaks at 5.0
        self.wav_500hz = _wav(self.tone[:500], sr=500)
        torch.manual_seed(0)
        self.ds = models.DeepSpeech(n_hidden=8).eval()
        self.tr = models.Transducer(encoder_hidden=8, predictor_hidden=8, joint_dim=8).eval()
        self.kw = models.KeywordClassifier(dim=8, widths=(4, 4), n_mels=40).eval()
        self._count = 0

    def path(self, name: str, content: bytes | None = None) -> Path:
        self._count += 1
        path = self.tmp / f"{self._count}-{name}"
        if content is not None:
            path.write_bytes(content)
        return path

    def saved(self, obj: Any) -> Path:
        path = self.path("obj.pt")
        torch.save(obj, path)
        return path

    @functools.cached_property
    def bomb(self) -> bytes:
        """20 minutes of silence at 384 kHz: 1.7 MB of FLAC, 460 million samples decoded."""
        buf = io.BytesIO()
        with sf.SoundFile(buf, "w", 384_000, 1, format="FLAC") as f:
            block = np.zeros(384_000 * 20, dtype=np.float32)
            for _ in range(60):
                f.write(block)
        return buf.getvalue()

    @functools.cached_property
    def evil(self) -> tuple[Path, Path]:
        marker = self.path("code-ran")
        return self.saved({"architecture": "DeepSpeech", "x": _Payload(marker)}), marker

    def zoo(self, *, entry: dict | None = None, payload: dict | None = None,
            index: Any = None, file_bytes: bytes | None = None) -> Path:
        """A fresh checkpoint folder holding a tiny DeepSpeech, then edited as asked.

        ``payload`` keys replace those of the saved file (its hash is re-recorded, so only
        the content is wrong); ``entry`` keys replace those of its index entry; ``index``
        replaces the whole index; ``file_bytes`` replaces the file (hash re-recorded).
        """
        directory = self.path("zoo")
        models.export_checkpoint(self.ds, "tiny", directory=directory, metrics={})
        info = json.loads((directory / "index.json").read_text())
        if payload is not None:
            saved = torch.load(directory / "tiny.pt", weights_only=True)
            saved.update(payload)
            torch.save(saved, directory / "tiny.pt")
            info["tiny"]["sha256"] = _sha(directory / "tiny.pt")
            if "config" in payload:
                info["tiny"]["config"] = payload["config"]
        if file_bytes is not None:
            (directory / "tiny.pt").write_bytes(file_bytes)
            info["tiny"]["sha256"] = _sha(directory / "tiny.pt")
        info["tiny"].update(entry or {})
        if index is not None:
            info = index
        (directory / "index.json").write_text(json.dumps(info))
        return directory

    @functools.cached_property
    def utterance(self) -> np.ndarray:
        corpus = data.Corpus("test", cache=False)
        return corpus.waveform(next(i for i, r in enumerate(corpus.rows) if r.text == "two three"))

    @functools.cached_property
    def keyword_clip(self) -> np.ndarray:
        corpus = data.Corpus("test", keywords_only=True, cache=False)
        return corpus.waveform(0)

    @functools.cached_property
    def deepspeech(self) -> torch.nn.Module:
        return models.load_pretrained("deepspeech")

    @functools.cached_property
    def classifier(self) -> torch.nn.Module:
        return models.load_pretrained("classifier")


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Ctx], Any]
    #: an error class (raised, and a LabError) or a predicate on the result
    expect: type[BaseException] | Callable[[Any], bool]
    #: regex the error message must match (the argument or file it names)
    match: str | None = None


def _warned(call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """The call's result and the class names of the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [type(w.message).__name__ for w in caught]


def _exit_code(call: Callable[[], Any]) -> Any:
    """What a CLI's main exits with (argparse's parser.error exits with 2)."""
    try:
        return call()
    except SystemExit as exit_:
        return exit_.code


def _pcm16(y: np.ndarray) -> np.ndarray:
    return np.round(np.clip(y, -1, 1) * 32767).astype(np.int16)


def _finite(result: Any) -> bool:
    arrays = result if isinstance(result, tuple) else (result,)
    return all(np.isfinite(np.asarray(a)).all() for a in arrays)


def _same_features(feature: Callable) -> Callable[[Ctx], bool]:
    def check(c: Ctx) -> bool:
        scaled = feature(_pcm16(c.tone))
        expected = feature(_pcm16(c.tone).astype(np.float32) / 32768)
        scaled = scaled[0] if isinstance(scaled, tuple) else scaled
        expected = expected[0] if isinstance(expected, tuple) else expected
        return bool(np.allclose(scaled, expected, atol=1e-4))

    return check


HUGE = np.zeros(SR // 10, dtype=np.float32)
HUGE[200:400] = 1e30  # finite, but its float32 power overflows

FEATURES = {
    "mfcc": lambda y, **kw: audio.mfcc(y, **kw),
    "log_mel": lambda y, **kw: audio.log_mel(y, **kw),
    "log_power": lambda y, **kw: audio.log_power_spectrogram(y, **kw),
}

# ---------------------------------------------------------------------------------------
# lab.checkpoints
CHECKPOINT_CASES = [
    Case("sha256_file-missing", lambda c: _ck().sha256_file(c.path("none.pt")), CheckpointError,
         "none.pt"),
    Case("sha256_file-not-a-path", lambda c: _ck().sha256_file(42), ArgumentTypeError, "path"),
    Case("sha256_file-directory", lambda c: _ck().sha256_file(c.tmp), CheckpointError,
         "not a regular file"),
    Case("verify_sha256-mismatch",
         lambda c: _ck().verify_sha256(c.path("a.pt", b"abc"), "0" * 64), CheckpointError,
         r"a\.pt has sha256"),
    Case("verify_sha256-malformed-digest",
         lambda c: _ck().verify_sha256(c.path("a.pt", b"abc"), "xyz"), CheckpointError,
         "64 hex digits"),
    Case("verify_sha256-ok",
         lambda c: _ck().verify_sha256(c.path("a.pt", b"abc"), hashlib.sha256(b"abc")
                                       .hexdigest().upper()),
         lambda r: r == hashlib.sha256(b"abc").hexdigest()),
    Case("load_checkpoint-missing", lambda c: _ck().load_checkpoint(c.path("gone.pt")),
         CheckpointError, "gone.pt is missing"),
    Case("load_checkpoint-truncated",
         lambda c: _ck().load_checkpoint(c.path("t.pt", c.saved({"a": torch.ones(99)})
                                                 .read_bytes()[:300])),
         CheckpointError, r"t\.pt cannot be read"),
    Case("load_checkpoint-empty", lambda c: _ck().load_checkpoint(c.path("e.pt", b"")),
         CheckpointError, r"e\.pt"),
    Case("load_checkpoint-garbage",
         lambda c: _ck().load_checkpoint(c.path("g.pt", b"not a checkpoint" * 9)),
         CheckpointError, r"g\.pt"),
    Case("load_checkpoint-code-pickle", lambda c: _ck().load_checkpoint(c.evil[0]),
         CheckpointError, r"refused by the safe loader"),
    Case("load_checkpoint-list", lambda c: _ck().load_checkpoint(c.saved([1, 2])),
         CheckpointError, "dict at the top level"),
    Case("load_checkpoint-missing-keys",
         lambda c: _ck().load_checkpoint(c.saved({"a": 1}), keys=("state_dict",)),
         CheckpointError, "lacks the keys"),
    Case("load_checkpoint-hash-mismatch",
         lambda c: _ck().load_checkpoint(c.saved({"a": 1}), sha256="f" * 64),
         CheckpointError, "corrupt or was replaced"),
    Case("load_checkpoint-round-trip",
         lambda c: _ck().load_checkpoint(c.saved({"w": torch.ones(2)}), keys=["w"]),
         lambda r: torch.equal(r["w"], torch.ones(2))),
    Case("save_checkpoint-path-not-a-path", lambda c: _ck().save_checkpoint({"a": 1}, 3),
         ArgumentTypeError, "path"),
    Case("save_checkpoint-round-trip",
         lambda c: _ck().load_checkpoint(p := c.path("s.pt"),
                                         sha256=_ck().save_checkpoint({"a": 1}, p)),
         lambda r: r == {"a": 1}),
    Case("write_sidecar-missing-file", lambda c: _ck().write_sidecar(c.path("gone.pt")),
         CheckpointError, r"gone\.pt"),
    Case("sidecar_path-not-a-path", lambda c: _ck().sidecar_path(None), ArgumentTypeError,
         "path"),
    Case("read_sidecar-missing", lambda c: _ck().read_sidecar(c.path("x.pt")), CheckpointError,
         r"x\.sha256"),
    Case("read_sidecar-malformed",
         lambda c: (c.path("s.sha256", b"nonsense  s.pt\n"),
                    _ck().read_sidecar(c.tmp / f"{c._count}-s.pt"))[1],
         CheckpointError, "64 hex digits"),
]

# ---------------------------------------------------------------------------------------
# lab.models.pretrained (through lab.checkpoints)
PRETRAINED_CASES = [
    Case("load_pretrained-code-pickle-no-unsafe-advice",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             file_bytes=c.evil[0].read_bytes())),
         CheckpointError, r"tiny\.pt was refused by the safe loader"),
    Case("load_pretrained-truncated",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(file_bytes=c.saved(
             {"a": torch.ones(50)}).read_bytes()[:200])),
         CheckpointError, r"tiny\.pt cannot be read"),
    Case("load_pretrained-absurd-size",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             payload={"config": {**c.ds.config, "n_hidden": 1_000_000_000}})),
         CheckpointError, r"index\.json.*(parameters|n_hidden)"),
    Case("load_pretrained-config-string",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             payload={"config": {**c.ds.config, "n_hidden": "8"}})),
         CheckpointError, r"index\.json: config n_hidden must be an integer"),
    Case("load_pretrained-config-negative",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             payload={"config": {**c.ds.config, "n_hidden": -8}})),
         CheckpointError, r"index\.json: config n_hidden must be in"),
    Case("load_pretrained-config-nan-dropout",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             payload={"config": {**c.ds.config, "dropout": float("nan")}})),
         CheckpointError, "dropout"),
    Case("load_pretrained-config-unknown-key",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             payload={"config": {**c.ds.config, "n_layers": 3}})),
         CheckpointError, "n_layers"),
    Case("load_pretrained-config-list",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(payload={"config": [8]})),
         CheckpointError, r"index\.json"),
    Case("load_pretrained-entry-without-sha256",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(entry={"sha256": None})),
         CheckpointError, "sha256"),
    Case("load_pretrained-entry-without-file",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(entry={"file": None})),
         CheckpointError, "'file'"),
    Case("load_pretrained-entry-escapes-folder",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(entry={"file": "../x.pt"})),
         CheckpointError, "same folder"),
    Case("load_pretrained-index-list",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(index=["tiny"])),
         CheckpointError, r"index\.json"),
    Case("load_pretrained-index-entry-not-object",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(index={"tiny": "x"})),
         CheckpointError, r"index\.json"),
    Case("load_pretrained-nan-weights",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(payload={"state_dict": {
             k: torch.full_like(v, float("nan")) for k, v in c.ds.state_dict().items()}})),
         CheckpointError, "NaN"),
    Case("load_pretrained-state-dict-not-tensors",
         lambda c: models.load_pretrained("tiny", directory=c.zoo(
             payload={"state_dict": {"layer_1.0.weight": 3}})),
         CheckpointError, "state_dict"),
    Case("load_pretrained-name-not-str", lambda c: models.load_pretrained(5),
         ArgumentTypeError, "name"),
    Case("available-directory-not-path", lambda c: models.available(3), ArgumentTypeError,
         "directory"),
    Case("checkpoint_info-unknown", lambda c: models.checkpoint_info("nope"), CheckpointError,
         "no checkpoint named 'nope'"),
    Case("export_checkpoint-name-escapes",
         lambda c: models.export_checkpoint(c.ds, "../evil", directory=c.path("z")),
         ArgumentError, "name"),
    Case("export_checkpoint-not-a-lab-model",
         lambda c: models.export_checkpoint(torch.nn.Linear(2, 2), "x", directory=c.path("z")),
         ArgumentError, "model"),
    Case("sha256_file-reexported",
         lambda c: importlib.import_module("lab.models.pretrained").sha256_file is
         _ck().sha256_file, lambda r: r is True),
]


def _evil_message_check(c: Ctx) -> str:
    try:
        _ck().load_checkpoint(c.evil[0])
    except CheckpointError as err:
        return str(err)
    return ""


# ---------------------------------------------------------------------------------------
# lab.audio
AUDIO_CASES = [
    Case("load-bomb-bytes", lambda c: audio.load(c.bomb), AudioError, "max_seconds"),
    Case("load-bomb-uncapped-seconds", lambda c: audio.load(c.bomb, max_seconds=None),
         AudioError, "max_samples"),
    Case("load-bomb-path", lambda c: audio.load(c.path("bomb.flac", c.bomb)), AudioError,
         r"bomb\.flac: lasts"),
    Case("load-cap-overridable", lambda c: audio.load(c.wav16, max_seconds=0.25), AudioError,
         "max_seconds=0.25"),
    Case("load-max_seconds-nan", lambda c: audio.load(c.wav16, max_seconds=float("nan")),
         ArgumentError, "max_seconds"),
    Case("load-max_seconds-negative", lambda c: audio.load(c.wav16, max_seconds=-1),
         ArgumentError, "max_seconds"),
    Case("load-max_samples-float", lambda c: audio.load(c.wav16, max_samples=1.5),
         ArgumentTypeError, "max_samples"),
    Case("load-truncated-wav-warns",
         lambda c: _warned(lambda: audio.load(c.wav_truncated)),
         lambda r: "AudioWarning" in r[1] and len(r[0]) < SR // 2),
    Case("load-float-wav-beyond-full-scale",
         lambda c: _warned(lambda: audio.load(c.wav_float5)),
         lambda r: "AudioWarning" in r[1] and float(np.abs(r[0]).max()) <= 1.0),
    Case("load-mono-not-bool", lambda c: audio.load(c.wav16, mono="no"), ArgumentTypeError,
         "mono"),
    Case("load-sr-zero", lambda c: audio.load(c.wav16, sr=0), AudioError, "sr=0"),
    Case("load-sr-float", lambda c: audio.load(c.wav16, sr=16000.5), AudioError, "sr="),
    Case("load-sr-bool", lambda c: audio.load(c.wav16, sr=True), AudioError, "sr="),
    Case("load-file-rate-absurd", lambda c: audio.load(c.wav_500hz), AudioError,
         "the file's sample rate=500"),
    Case("load-source-int", lambda c: audio.load(3), ArgumentTypeError, "source"),
    Case("load-garbage-bytes", lambda c: audio.load(b"RIFF" + b"\0" * 40), AudioError,
         "cannot be decoded"),
    Case("load-good", lambda c: audio.load(c.wav16),
         lambda y: y.dtype == np.float32 and abs(float(np.abs(y).max()) - 0.5) < 1e-3),
    Case("as_waveform-int16-scaled",
         lambda c: audio.as_waveform(np.array([16384, -32768], dtype=np.int16)),
         lambda y: y.tolist() == [0.5, -1.0]),
    Case("as_waveform-int32-scaled",
         lambda c: audio.as_waveform(np.array([2**30], dtype=np.int32)),
         lambda y: y.tolist() == [0.5]),
    Case("as_waveform-uint8-scaled",
         lambda c: audio.as_waveform(np.array([0, 128], dtype=np.uint8)),
         lambda y: y.tolist() == [-1.0, 0.0]),
    Case("as_waveform-tensor-int16",
         lambda c: audio.as_waveform(torch.tensor([16384], dtype=torch.int16)),
         lambda y: y.tolist() == [0.5]),
    Case("as_waveform-int64", lambda c: audio.as_waveform(np.zeros(4, dtype=np.int64)),
         AudioError, "dtype int64"),
    Case("as_waveform-bool", lambda c: audio.as_waveform(np.zeros(4, dtype=bool)), AudioError,
         "dtype bool"),
    Case("as_waveform-float64-beyond-float32",
         lambda c: audio.as_waveform(np.array([1e300])), AudioError, "float32"),
    Case("as_waveform-2d", lambda c: audio.as_waveform(np.zeros((2, 4), np.float32), "wave"),
         AudioError, "wave: expected a 1-D"),
    Case("as_waveform-list", lambda c: audio.as_waveform([0.1]), AudioError, "numpy array"),
    *[Case(f"{name}-int16-scaled", _same_features(f), lambda r: r is True)
      for name, f in FEATURES.items()],
    *[Case(f"{name}-huge-finite-samples", lambda c, f=f: f(HUGE), _finite)
      for name, f in FEATURES.items()],
    *[Case(f"{name}-nan-sample", lambda c, f=f: f(np.array([0.0, np.nan] * 400, np.float32)),
           AudioError, "NaN") for name, f in FEATURES.items()],
    *[Case(f"{name}-n_fft-huge", lambda c, f=f: f(c.tone, n_fft=2**20, win_length=2**20),
           ArgumentError, "n_fft") for name, f in FEATURES.items()],
    *[Case(f"{name}-hop-float", lambda c, f=f: f(c.tone, hop_length=160.0), ArgumentError,
           "hop_length") for name, f in FEATURES.items()],
    Case("log_mel-fmin-above-fmax", lambda c: audio.log_mel(c.tone, fmin=4000, fmax=100),
         ArgumentError, "fmin"),
    Case("log_mel-fmin-nan", lambda c: audio.log_mel(c.tone, fmin=float("nan")), ArgumentError,
         "fmin"),
    Case("log_mel-fmax-inf", lambda c: audio.log_mel(c.tone, fmax=float("inf")), ArgumentError,
         "fmax"),
    Case("log_mel-fmax-above-nyquist", lambda c: audio.log_mel(c.tone, fmax=12000),
         ArgumentError, "fmax"),
    Case("log_mel-fmin-negative", lambda c: audio.log_mel(c.tone, fmin=-50), ArgumentError,
         "fmin"),
    Case("log_mel-n_mels-beyond-bins", lambda c: audio.log_mel(c.tone, n_mels=1000),
         ArgumentError, "n_mels"),
    Case("log_mel-n_mels-bool", lambda c: audio.log_mel(c.tone, n_mels=True), ArgumentError,
         "n_mels"),
    Case("mfcc-n_mels-string", lambda c: audio.mfcc(c.tone, n_mels="40"), ArgumentError,
         "n_mels"),
    Case("mfcc-sr-nan", lambda c: audio.mfcc(c.tone, sr=float("nan")), AudioError, "sr="),
    Case("mel_filterbank-n_fft-zero", lambda c: audio.mel_filterbank(n_fft=0), ArgumentError,
         "n_fft"),
    Case("mel_filterbank-band-inverted", lambda c: audio.mel_filterbank(fmin=5000, fmax=100),
         ArgumentError, "fmin"),
    Case("check_sample_rate-nan", lambda c: audio.check_sample_rate(float("nan")), AudioError,
         "sr="),
    Case("waveform_from_log_power-overflowing",
         lambda c: audio.waveform_from_log_power(np.full((5, 257), 1000.0, np.float32), None),
         AudioError, "log_power"),
    Case("waveform_from_log_power-length-negative",
         lambda c: audio.waveform_from_log_power(*audio.log_power_spectrogram(c.tone),
                                                 length=-5),
         ArgumentError, "length"),
    Case("waveform_from_log_power-length-huge",
         lambda c: audio.waveform_from_log_power(*audio.log_power_spectrogram(c.tone),
                                                 length=10**12),
         ArgumentError, "length"),
    Case("waveform_from_log_power-n_iter-zero",
         lambda c: audio.waveform_from_log_power(audio.log_power_spectrogram(c.tone)[0], None,
                                                 n_iter=0),
         ArgumentError, "n_iter"),
]

# ---------------------------------------------------------------------------------------
# lab.models
FEATS = torch.zeros(1, 20, 26)
MODEL_CASES = [
    Case("ctc_greedy_decode-negative-length",
         lambda c: models.ctc_greedy_decode(torch.eye(3)[[1, 2, 1]], [-1]), ArgumentError,
         "lengths"),
    Case("ctc_greedy_decode-too-long-length",
         lambda c: models.ctc_greedy_decode(torch.eye(3)[[1, 2, 1]], [10**9]), ArgumentError,
         "lengths"),
    Case("ctc_greedy_decode-float-length",
         lambda c: models.ctc_greedy_decode(torch.eye(3)[[1, 2, 1]], [2.5]), ArgumentTypeError,
         "lengths"),
    Case("ctc_greedy_decode-lengths-shape",
         lambda c: models.ctc_greedy_decode(torch.eye(3)[[1, 2, 1]], [1, 2]), ArgumentError,
         "lengths"),
    Case("ctc_greedy_decode-blank-out-of-range",
         lambda c: models.ctc_greedy_decode(torch.eye(3)[[1, 2, 1]], blank=5), ArgumentError,
         "blank"),
    Case("ctc_greedy_decode-nan-scores",
         lambda c: models.ctc_greedy_decode(torch.full((4, 3), float("nan"))), ArgumentError,
         "NaN"),
    Case("ctc_greedy_decode-no-symbols", lambda c: models.ctc_greedy_decode(torch.zeros(4, 0)),
         ArgumentError, "V"),
    Case("ctc_greedy_decode-not-numbers", lambda c: models.ctc_greedy_decode("abc"),
         ArgumentTypeError, "scores"),
    Case("ctc_greedy_decode-nested-list",
         lambda c: models.ctc_greedy_decode([[0.1, 0.9], [0.9, 0.1]]), lambda r: r == [[1]]),
    Case("ctc_greedy_collapse-float-symbols",
         lambda c: models.ctc_greedy_collapse([1.5, 2.0]), ArgumentTypeError, "best_path"),
    Case("ctc_greedy_collapse-negative",
         lambda c: models.ctc_greedy_collapse([-1, 2]), ArgumentError, "best_path"),
    Case("ctc_greedy_collapse-blank-float",
         lambda c: models.ctc_greedy_collapse([1, 2], blank=0.0), ArgumentTypeError, "blank"),
    Case("DeepSpeech.decode_ids-negative-length",
         lambda c: c.ds.decode_ids(FEATS, torch.tensor([-1])), ArgumentError, "lengths"),
    Case("DeepSpeech.decode_ids-float-length",
         lambda c: c.ds.decode_ids(FEATS, torch.tensor([2.5])), ArgumentTypeError, "lengths"),
    Case("DeepSpeech.forward-nan", lambda c: c.ds(torch.full((1, 5, 26), float("nan"))),
         ArgumentError, "features"),
    Case("DeepSpeech.forward-no-frames", lambda c: c.ds(torch.zeros(1, 0, 26)), ArgumentError,
         "features"),
    Case("DeepSpeech.forward-empty-batch", lambda c: c.ds(torch.zeros(0, 5, 26)),
         ArgumentError, "features"),
    Case("DeepSpeech.forward-numpy", lambda c: c.ds(np.zeros((1, 5, 26), np.float32)),
         ArgumentTypeError, "features"),
    Case("DeepSpeech.posteriors-3d", lambda c: c.ds.posteriors(np.zeros((1, 5, 26))),
         ArgumentError, "features"),
    Case("Transducer.decode_ids-negative-length",
         lambda c: c.tr.decode_ids(FEATS, torch.tensor([-3])), ArgumentError, "lengths"),
    Case("Transducer.decode_ids-too-long-length",
         lambda c: c.tr.decode_ids(FEATS, torch.tensor([500])), ArgumentError, "lengths"),
    Case("Transducer.decode_ids-no-frames",
         lambda c: c.tr.decode_ids(torch.zeros(1, 0, 26)), ArgumentError, "features"),
    Case("Transducer.predict-token-out-of-range",
         lambda c: c.tr.predict(torch.tensor([[40]])), ArgumentError, "tokens"),
    Case("Transducer.predict-float-tokens",
         lambda c: c.tr.predict(torch.tensor([[2.7]])), ArgumentTypeError, "tokens"),
    Case("TransducerStream.accept-nan",
         lambda c: models.TransducerStream(c.tr).accept(np.full((4, 26), np.nan)),
         ArgumentError, "chunk"),
    Case("TransducerStream.accept-strings",
         lambda c: models.TransducerStream(c.tr).accept(np.array([["a"] * 26])),
         ArgumentTypeError, "chunk"),
    Case("Transducer.stream-not-iterable", lambda c: c.tr.stream(5), ArgumentTypeError,
         "chunks"),
    Case("Transducer.stream-matches-decode_ids",
         lambda c: (list(c.tr.stream(FEATS[0].split(7)))[-1], c.tr.decode_ids(FEATS)[0]),
         lambda r: r[0] == r[1]),
    Case("KeywordClassifier-wrong-bins", lambda c: c.kw(torch.zeros(1, 30, 26)),
         ArgumentError, "x"),
    Case("KeywordClassifier-no-frames", lambda c: c.kw(torch.zeros(1, 0, 257)),
         ArgumentError, "x"),
    Case("KeywordClassifier.fit_normalizer-nan",
         lambda c: models.KeywordClassifier(dim=8, widths=(4, 4)).fit_normalizer(
             torch.full((10, 257), float("nan"))), ArgumentError, "frames"),
    Case("ClippedReLU-nan-ceiling",
         lambda c: importlib.import_module("lab.models.deepspeech").ClippedReLU(float("nan")),
         ArgumentError, "ceiling"),
    Case("context_window-negative",
         lambda c: importlib.import_module("lab.models.deepspeech").context_window(FEATS, -1),
         ArgumentError, "n_context"),
    Case("FeatureNormalizer.fit-nan",
         lambda c: importlib.import_module("lab.models.normalize").FeatureNormalizer(2).fit(
             torch.tensor([[1.0, float("nan")]])), ArgumentError, "frames"),
    Case("FeatureNormalizer.fit-empty",
         lambda c: importlib.import_module("lab.models.normalize").FeatureNormalizer(2).fit(
             torch.zeros(0, 2)), ArgumentError, "frames"),
    Case("transcribe-int16-scaled",
         lambda c: (models.transcribe(c.deepspeech, _pcm16(c.utterance)),
                    models.transcribe(c.deepspeech, c.utterance)),
         lambda r: r[0] == r[1] and r[0] != ""),
    Case("transcribe-int16-tensor-scaled",
         lambda c: (models.transcribe(c.deepspeech, torch.from_numpy(_pcm16(c.utterance))),
                    models.transcribe(c.deepspeech, c.utterance)),
         lambda r: r[0] == r[1]),
    Case("transcribe-wrong-rate", lambda c: models.transcribe(c.ds, c.tone, sr=8000),
         ArgumentError, "sr"),
    Case("transcribe-not-a-model", lambda c: models.transcribe("model", c.tone),
         ArgumentTypeError, "model"),
    Case("transcribe-number", lambda c: models.transcribe(c.ds, 42), ArgumentTypeError,
         "waveform_or_features"),
    Case("transcribe-nan-waveform",
         lambda c: models.transcribe(c.ds, np.full(1600, np.nan, np.float32)), AudioError,
         "NaN"),
    Case("transcribe-nan-features",
         lambda c: models.transcribe(c.ds, np.full((20, 26), np.nan, np.float32)),
         ArgumentError, "features"),
    Case("transcribe-3d", lambda c: models.transcribe(c.ds, np.zeros((1, 2, 3))),
         ArgumentError, "waveform_or_features"),
    Case("transcribe-missing-file", lambda c: models.transcribe(c.ds, str(c.path("no.wav"))),
         AudioError, r"no\.wav"),
    Case("transcribe-keeps-training-mode",
         lambda c: (models.transcribe(c.ds.train(), c.tone), c.ds.training, c.ds.eval())[1],
         lambda r: r is True),
    Case("ctc_posteriors-empty-waveform",
         lambda c: models.ctc_posteriors(c.ds, np.zeros(0, np.float32)), AudioError, "empty"),
    Case("ctc_posteriors-classifier",
         lambda c: models.ctc_posteriors(c.kw, c.tone), ArgumentError, "CTC logits"),
    Case("ctc_posteriors-int16-scaled",
         lambda c: (models.ctc_posteriors(c.ds, _pcm16(c.tone)),
                    models.ctc_posteriors(c.ds, _pcm16(c.tone).astype(np.float32) / 32768)),
         lambda r: np.allclose(r[0], r[1], atol=1e-5)),
    Case("predict_keyword-int16-scaled",
         lambda c: (models.predict_keyword(c.classifier, _pcm16(c.keyword_clip)),
                    models.predict_keyword(c.classifier, c.keyword_clip)),
         lambda r: r[0] == r[1]),
    Case("predict_keyword-asr-model", lambda c: models.predict_keyword(c.ds, c.tone),
         ArgumentError, "keyword classifier"),
    Case("predict_keyword-nan-model",
         lambda c: models.predict_keyword(_NaNClassifier(), c.tone), ArgumentError, "NaN"),
    Case("predict_keyword-not-a-model", lambda c: models.predict_keyword(None, c.tone),
         ArgumentTypeError, "model"),
    Case("as_features-unknown-kind",
         lambda c: models.as_features(_NaNClassifier(kind="cqt"), c.tone), ArgumentError,
         "feature_kind"),
    Case("activations-no-layers", lambda c: models.activations(c.ds, FEATS, []),
         ArgumentError, "layers"),
    Case("activations-layer-not-str", lambda c: models.activations(c.ds, FEATS, [3]),
         ArgumentTypeError, "layers"),
    Case("activations-unknown-layer", lambda c: models.activations(c.ds, FEATS, ["layer_9"]),
         ArgumentError, "layer_9"),
    Case("activations-not-a-model", lambda c: models.activations("m", FEATS, ["a"]),
         ArgumentTypeError, "model"),
    Case("activations-call-not-callable",
         lambda c: models.activations(c.ds, FEATS, ["layer_1"], call=5), ArgumentTypeError,
         "call"),
    Case("activations-repeated-layer",
         lambda c: models.activations(c.ds, FEATS, ["layer_1", "layer_1"], detach=True),
         lambda r: list(r) == ["layer_1"]),
    Case("layer_names-not-a-model", lambda c: models.layer_names("m"), ArgumentTypeError,
         "model"),
    Case("cer-non-string-hypothesis", lambda c: models.cer(["a"], [3]), ArgumentTypeError,
         "strings"),
    Case("wer-one-string", lambda c: models.wer("a b", ["a b"]), ArgumentTypeError,
         "sequences"),
    Case("cer-length-mismatch", lambda c: models.cer(["a"], []), ArgumentError, "length"),
    Case("edit_distance-number", lambda c: models.edit_distance(3, "a"), ArgumentTypeError,
         "sequences"),
    Case("accuracy-empty", lambda c: models.accuracy([], []), ArgumentError, "non-empty"),
]


class _NaNClassifier(torch.nn.Module):
    """A 'classifier' that answers NaN: its argmax is meaningless."""

    def __init__(self, kind: str = "log_power") -> None:
        super().__init__()
        self.feature_kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 24), float("nan"))


# ---------------------------------------------------------------------------------------
# lab.data and lab.training
def _utterance(features: Any = None) -> data.Utterance:
    return data.Utterance(torch.ones(3, 2) if features is None else features,
                          torch.tensor([2]), "a", -1, "a.flac", "v")


DATA_CASES = [
    Case("CharTokenizer.decode-float-id", lambda c: data.CharTokenizer().decode([2.7]),
         ArgumentTypeError, "ids"),
    Case("CharTokenizer.decode-bool-id", lambda c: data.CharTokenizer().decode([True]),
         ArgumentTypeError, "ids"),
    Case("CharTokenizer.decode-string", lambda c: data.CharTokenizer().decode("abc"),
         ArgumentTypeError, "ids"),
    Case("CharTokenizer.decode-2d", lambda c: data.CharTokenizer().decode(np.ones((2, 2), int)),
         ArgumentError, "ids"),
    Case("CharTokenizer.decode-out-of-range", lambda c: data.CharTokenizer().decode([29]),
         ArgumentError, "ids"),
    Case("CharTokenizer.decode-tensor", lambda c: data.CharTokenizer().decode(torch.tensor(
        [8, 16])), lambda r: r == "go"),
    Case("CharTokenizer.encode-number", lambda c: data.CharTokenizer().encode(5),
         ArgumentTypeError, "text"),
    Case("CharTokenizer.encode-upper-case", lambda c: data.CharTokenizer().encode("Go"),
         ArgumentError, "text"),
    Case("Corpus-index-float", lambda c: data.Corpus("test", cache=False)[1.5],
         ArgumentTypeError, "index"),
    Case("Corpus-index-out-of-range", lambda c: data.Corpus("test", cache=False)[10**9],
         IndexError, "out of range"),
    Case("Corpus.waveform-index-float",
         lambda c: data.Corpus("test", cache=False).waveform(0.5), ArgumentTypeError, "index"),
    Case("Corpus.feature_matrix-index-str",
         lambda c: data.Corpus("test", cache=False).feature_matrix("0"), ArgumentTypeError,
         "index"),
    Case("Corpus-unknown-split", lambda c: data.Corpus("dev"), ArgumentError, "split"),
    Case("Corpus-split-list", lambda c: data.Corpus(["test"]), ArgumentError, "split"),
    Case("Corpus-unknown-features", lambda c: data.Corpus("test", features="fbank"),
         ArgumentError, "features"),
    Case("Corpus-unknown-feature-kwarg",
         lambda c: data.Corpus("test", feature_kwargs={"n_mfc": 13}), ArgumentError, "n_mfc"),
    Case("Corpus-keywords_only-not-bool",
         lambda c: data.Corpus("test", keywords_only="yes"), ArgumentTypeError,
         "keywords_only"),
    Case("Corpus-missing-root", lambda c: data.Corpus("test", root=c.path("none")),
         CorpusError, "manifest"),
    Case("collate-empty", lambda c: data.collate([]), ArgumentError, "batch"),
    Case("collate-not-utterances", lambda c: data.collate([1, 2]), ArgumentTypeError,
         r"batch\[0\]"),
    Case("collate-one-utterance", lambda c: data.collate(_utterance()), ArgumentTypeError,
         "batch"),
    Case("collate-1d-features", lambda c: data.collate([_utterance(torch.ones(3))]),
         ArgumentError, r"batch\[0\]\.features"),
    Case("compute_features-unknown-kwarg",
         lambda c: data.compute_features(c.tone, "mfcc", n_mfc=13), ArgumentError, "n_mfc"),
    Case("compute_features-unknown-kind",
         lambda c: data.compute_features(c.tone, ["mfcc"]), ArgumentError, "features"),
    Case("compute_features-int16-scaled",
         lambda c: np.allclose(data.compute_features(_pcm16(c.tone), "log_mel"),
                               data.compute_features(_pcm16(c.tone) / np.float32(32768),
                                                     "log_mel"), atol=1e-4),
         lambda r: r is True),
    Case("read_manifest-unknown-split", lambda c: data.read_manifest(split="dev"),
         ArgumentError, "split"),
    Case("corpus_version-missing", lambda c: data.corpus_version(c.path("none")), CorpusError,
         "VERSION"),
]

TRAINING_CASES = [
    Case("load_split-negative-limit",
         lambda c: importlib.import_module("lab.training").load_split("test", "mfcc", limit=-1),
         ArgumentError, "limit"),
    Case("load_split-unknown-features",
         lambda c: importlib.import_module("lab.training").load_split("test", ["mfcc"]),
         ArgumentError, "features"),
    Case("evaluate_model-zero-batch",
         lambda c: importlib.import_module("lab.training").evaluate_model(
             c.ds, [data.Corpus("valid", cache=False)[0]], batch_size=0),
         ArgumentError, "batch_size"),
    Case("evaluate_model-not-a-model",
         lambda c: importlib.import_module("lab.training").evaluate_model(
             "m", [data.Corpus("valid", cache=False)[0]]),
         ArgumentTypeError, "model"),
    Case("epoch_batches-zero-batch",
         lambda c: _training().epoch_batches([3, 2, 1], 0, seed=0, epoch=0), ArgumentError,
         "batch_size"),
    Case("epoch_batches-negative-batch",
         lambda c: _training().epoch_batches([3, 2, 1], -2, seed=0, epoch=0), ArgumentError,
         "batch_size"),
    Case("train-unknown-task",
         lambda c: _training().train(_training().TrainConfig(task="wav2vec",
                                                             run_dir=c.path("run"))),
         ArgumentError, "task"),
    Case("train-zero-epochs",
         lambda c: _training().train(_training().TrainConfig(task="classifier", epochs=0,
                                                             run_dir=c.path("run"))),
         ArgumentError, "epochs"),
    Case("export_run-unknown-task",
         lambda c: importlib.import_module("lab.training.export").export_run("x"),
         ArgumentError, "task"),
    Case("evaluate_all-unknown-name",
         lambda c: importlib.import_module("lab.evaluate").evaluate_all(["nope"]),
         CheckpointError, "nope"),
    Case("train-cli-zero-epochs-is-one-line",
         lambda c: _exit_code(lambda: importlib.import_module("lab.train").main(
             ["classifier", "--epochs", "0", "--run-dir", str(c.path("run"))])),
         lambda r: r == 2),
    Case("evaluate-cli-unknown-name-is-one-line",
         lambda c: _exit_code(lambda: importlib.import_module("lab.evaluate").main(
             ["nope", "--output", str(c.path("r.json"))])),
         lambda r: r == 2),
    Case("warp_frequency-warp-too-large",
         lambda c: importlib.import_module("lab.training.augment").warp_frequency(
             torch.rand(1, 4, 8), max_warp=1.5), ArgumentError, "max_warp"),
    Case("random_gain_log_power-nan",
         lambda c: importlib.import_module("lab.training.augment").random_gain_log_power(
             torch.rand(1, 4, 8), max_db=float("nan")), ArgumentError, "max_db"),
    Case("stretch_time-negative-length",
         lambda c: importlib.import_module("lab.training.augment").stretch_time(
             torch.rand(1, 4, 8), torch.tensor([-2])), ArgumentError, "lengths"),
    Case("other_voices_log_power-too-long-length",
         lambda c: importlib.import_module("lab.training.augment").other_voices_log_power(
             torch.rand(1, 4, 8), torch.tensor([40])), ArgumentError, "lengths"),
    Case("mask_bands-wrong-fill",
         lambda c: importlib.import_module("lab.training.augment").mask_bands(
             torch.rand(1, 4, 8), torch.zeros(3)), ArgumentError, "fill"),
    Case("warp_cepstra-too-few-bands",
         lambda c: importlib.import_module("lab.training.augment").warp_cepstra(
             torch.rand(1, 4, 26), n_bands=10), ArgumentError, "n_bands"),
]

CASES = CHECKPOINT_CASES + PRETRAINED_CASES + AUDIO_CASES + MODEL_CASES + DATA_CASES \
    + TRAINING_CASES


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Ctx:
    return Ctx(tmp_path_factory.mktemp("bad-inputs"))


def test_case_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_answered(case: Case, ctx: Ctx, one_torch_thread):
    if isinstance(case.expect, type) and issubclass(case.expect, BaseException):
        with pytest.raises(case.expect) as info:
            case.call(ctx)
        # one error family: every deliberate error is a LabError (IndexError ends iteration)
        assert isinstance(info.value, LabError) or case.expect is IndexError, repr(info.value)
        message = str(info.value)
        assert case.match is None or re.search(case.match, message), message
        assert not UNSAFE_ADVICE.search(message), message
    else:
        result = case.call(ctx)
        assert case.expect(result), f"{case.id}: unexpected result {result!r:.300}"


def test_code_carrying_checkpoint_never_runs_and_never_advises_unsafe_loading(ctx):
    message = _evil_message_check(ctx)
    assert "refused by the safe loader" in message and "posix.mkdir" in message
    assert not UNSAFE_ADVICE.search(message)
    assert not ctx.evil[1].exists()
