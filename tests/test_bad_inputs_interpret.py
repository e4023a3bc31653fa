"""Bad inputs to lab.interpret and lab.piq: each gets a clear lab error or a correct result.

One table per public function. A row is ``(id, call, expect)``: ``call(ctx)`` runs the
function on the bad input; ``expect`` is either ``(error class, message regex)`` — the error
must also be a :class:`lab.errors.LabError`, i.e. raised on purpose — or a function that
checks the result ``call`` returned (a correct answer, never a silent wrong one).
"""

from __future__ import annotations

import argparse
import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from lab.audio import AudioError
from lab.errors import ArgumentError, ArgumentTypeError, CheckpointError, LabError
from lab.interpret import (
    GreedySettings,
    OptimizeSettings,
    importance_mask,
    mute_audio,
    top_examples,
    total_variation,
    transcribe,
    visualize_features,
)
from lab.models.classifier import KeywordClassifier
from lab.piq import PIQInterpreter, oracle_mask, threshold_mask
from lab.piq.evaluate import evaluate, mask_metrics, random_mask, saliency_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")
NAN, INF = float("nan"), float("inf")


class FrameNet(nn.Module):
    """(B, T, 6) → (B, T, 5) frame classifier with a named hidden layer."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.layer_1 = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
        self.out = nn.Linear(8, 5)

    def forward(self, x):
        return self.out(self.layer_1(x))


class Down(nn.Module):
    """Stride-2 convolution over time, time-major in and out: (B, T, F) → (B, ceil(T/2), 4)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, kernel_size=3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class Subsampler(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.down = Down()

    def forward(self, x):
        return self.down(x)


class NaNModel(nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], x.shape[1], 3), NAN) + 0 * x.sum()


def _pad_collate(items):
    """Zero padding (what a conv's own padding sees alone) plus the true lengths."""
    lengths = torch.tensor([len(it) for it in items])
    feats = torch.zeros(len(items), int(lengths.max()), items[0].shape[1])
    for i, it in enumerate(items):
        feats[i, : len(it)] = it
    return {"features": feats, "feature_lengths": lengths}


def _tone(sr: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    burst = (t > 0.3) & (t < 0.7)
    return (0.3 * np.sin(2 * np.pi * 440 * t) * burst
            + 0.2 * np.sin(2 * np.pi * 1500 * t) * (t > 0.5)).astype(np.float32)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    torch.manual_seed(0)
    classifier = KeywordClassifier(n_classes=4, dim=16, widths=(8, 8)).eval()
    torch.manual_seed(1)
    piq = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    folder = tmp_path_factory.mktemp("piq_files")
    good = folder / "good.pt"
    piq.save(good)
    data = good.read_bytes()
    (folder / "truncated.pt").write_bytes(data[: len(data) // 3])
    (folder / "tampered.pt").write_bytes(data)
    (folder / "tampered.sha256").write_text("0" * 64 + "  tampered.pt\n")
    # an object the safe loader refuses: loading it unsafely would run its reconstruction
    torch.save({"format": "lab.piq/1", "psi": argparse.Namespace(a=1)}, folder / "code.pt")
    torch.save({"format": "lab.piq/1", "config": {}}, folder / "no_psi.pt")
    torch.manual_seed(0)
    # a decoder trained for another classifier (a wider embedding)
    other = PIQInterpreter(KeywordClassifier(n_classes=4, dim=12, widths=(8, 8)),
                           codes_per_class=4, shared_keys=2, decoder_channels=16)
    other.save(folder / "other_config.pt")
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(
        net=FrameNet(), x=torch.randn(6, 6, generator=g) * 3, classifier=classifier, piq=piq,
        folder=folder, spec=torch.rand(20, 257, generator=g) * 5,
        batch=torch.rand(2, 20, 257, generator=g) * 5,
    )


def _viz(c, **kw):
    args = dict(layer="layer_1", neurons=[0], shape=(5, 6), steps=2, progress=False)
    args.update(kw)
    return visualize_features(c.net, args.pop("layer"), args.pop("neurons"), **args)


def _top(c, **kw):
    args = dict(layer="out", neurons=[0], dataset=[torch.zeros(3, 6)] * 3, k=2,
                progress=False, collate_fn=torch.stack)
    args.update(kw)
    return top_examples(c.net, args.pop("layer"), args.pop("neurons"), args.pop("dataset"),
                        **args)


def _mask(c, **kw):
    return importance_mask(kw.pop("model", c.net), kw.pop("features", c.x), progress=False,
                           **kw)


def _alone_equals_batch(c):
    g = torch.Generator().manual_seed(3)
    items = [torch.randn(n, 3, generator=g) for n in (9, 4, 7)]
    model = Subsampler()
    alone = top_examples(model, "down", [0, 2], items, k=3, batch_size=1,
                         collate_fn=_pad_collate, progress=False)
    batched = top_examples(model, "down", [0, 2], items, k=3, batch_size=3,
                           collate_fn=_pad_collate, progress=False)
    return alone, batched


def _check_alone_equals_batch(res):
    alone, batched = res
    assert [e.index for e in alone] == [e.index for e in batched]
    np.testing.assert_allclose([e.value for e in alone], [e.value for e in batched],
                               rtol=1e-5, atol=1e-6)


def _check_stopped_mask(res):
    assert res.interrupted and res.preserved


def _pcm_vs_float(c):
    y = _tone(16000)
    pcm = np.round(y * 32767).astype(np.int16)
    return c.piq.interpret(y), c.piq.interpret(pcm)


def _check_pcm_vs_float(res):
    as_float, as_pcm = res
    assert as_pcm.label == as_float.label
    np.testing.assert_allclose(as_pcm.probabilities, as_float.probabilities, atol=1e-3)
    np.testing.assert_allclose(as_pcm.log_power, as_float.log_power, atol=1e-2)


def _eight_khz(c):
    import librosa

    y16 = _tone(16000)
    y8 = librosa.resample(y16, orig_sr=16000, target_sr=8000, res_type="soxr_hq")
    return c.piq.interpret(y8, sr=8000), c.piq.interpret(y16)


def _check_eight_khz(res):
    at8, at16 = res
    # analysed at 16 kHz: as many frames as the 16 kHz recording, and the same content
    assert at8.log_power.shape == at16.log_power.shape == (51, 257)
    assert at8.length == 16000 and at8.waveform.shape == (16000,)
    hi = at16.log_power > at16.log_power.max() - 30  # the loud bins (the floor is noisier)
    assert np.median(np.abs(at8.log_power[hi] - at16.log_power[hi])) < 1.0


def _mute_int16(c):
    y = np.arange(1, 20, dtype=np.int16)
    mask = np.array([[1.0], [0.0], [1.0], [1.0], [1.0]])
    return mute_audio(y, mask, 0.5, hop_length=4)


def _check_mute_int16(out):
    assert out.dtype == np.int16
    expected = np.arange(1, 20, dtype=np.int16)
    expected[2:6] = 0
    np.testing.assert_array_equal(out, expected)


def _transcribe_pcm(c):
    from lab.data import Corpus
    from lab.models import load_pretrained

    model = load_pretrained("deepspeech")
    y = Corpus("test").waveform(0)
    return transcribe(model, y), transcribe(model, np.round(y * 32767).astype(np.int16))


def _fit(c, **kw):
    torch.manual_seed(2)
    piq = PIQInterpreter(c.classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    batches = kw.pop("batches", [{"features": c.batch, "feature_lengths": torch.tensor([20, 12])}])
    return piq.fit(batches, progress=False, **kw)


def _load(c, name, **kw):
    return PIQInterpreter.from_pretrained(c.classifier, path=c.folder / name, **kw)


def _train_step(c, x=None, lengths=None, **kw):
    torch.manual_seed(2)
    piq = PIQInterpreter(c.classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    return piq.train_step(c.batch if x is None else x, lengths, **kw)


def _nan_batch(c):
    x = c.batch.clone()
    x[1, 3, 7] = NAN
    return x


def _spec_nan(c):
    s = c.spec.clone().numpy()
    s[2, 2] = NAN
    return s


E, T = ArgumentError, ArgumentTypeError
CASES = [
    # --- mute_audio -------------------------------------------------------------------------
    ("mute/transposed mask", lambda c: mute_audio(np.ones(3200, np.float32), np.ones((26, 11)),
                                                  0.5), (E, "looks transposed")),
    ("mute/too few frames", lambda c: mute_audio(np.ones(3200, np.float32), np.ones((5, 26)),
                                                 0.5), (E, "mask has 5 frames .* 11 frames")),
    ("mute/too many frames", lambda c: mute_audio(np.ones(3200, np.float32),
                                                  np.ones((40, 26)), 0.5), (E, "40 frames")),
    ("mute/NaN threshold", lambda c: mute_audio(np.ones(10), np.ones((1, 2)), NAN),
     (E, "threshold")),
    ("mute/str threshold", lambda c: mute_audio(np.ones(10), np.ones((1, 2)), "0.5"),
     (T, "threshold")),
    ("mute/NaN hop", lambda c: mute_audio(np.ones(10), np.ones((1, 2)), 0.5, hop_length=NAN),
     (E, "hop_length")),
    ("mute/NaN waveform", lambda c: mute_audio(np.full(10, NAN), np.ones((1, 2)), 0.5,
                                               hop_length=320), (E, "waveform must be finite")),
    ("mute/NaN mask", lambda c: mute_audio(np.ones(10), np.full((1, 2), NAN), 0.5),
     (E, "mask must be finite")),
    ("mute/2-D waveform", lambda c: mute_audio(np.ones((2, 10)), np.ones((1, 2)), 0.5),
     (E, "1-D")),
    ("mute/int16 keeps dtype", _mute_int16, _check_mute_int16),
    # --- total_variation --------------------------------------------------------------------
    ("tv/NaN", lambda c: total_variation(torch.tensor([[0.0, NAN], [1.0, 2.0]])),
     (E, "finite")),
    ("tv/inf", lambda c: total_variation(np.array([[0.0, INF], [1.0, 2.0]])), (E, "finite")),
    ("tv/1-D", lambda c: total_variation(torch.zeros(3)), (E, "at least 2 dims")),
    ("tv/bool", lambda c: total_variation(torch.ones(2, 2, dtype=torch.bool)), (T, "dtype")),
    ("tv/str", lambda c: total_variation("abc"), (T, "numeric")),
    ("tv/int array", lambda c: float(total_variation(np.array([[0, 1], [3, 1]]))),
     lambda v: v == 6.0),
    # --- visualize_features -----------------------------------------------------------------
    ("viz/NaN lr", lambda c: _viz(c, lr=NAN), (E, "lr must be positive")),
    ("viz/inf lr", lambda c: _viz(c, lr=INF), (E, "lr must be positive")),
    ("viz/NaN tv_weight", lambda c: _viz(c, tv_weight=NAN), (E, "tv_weight")),
    ("viz/inf tv_weight", lambda c: _viz(c, tv_weight=INF), (E, "tv_weight")),
    ("viz/NaN init_std", lambda c: _viz(c, init_std=NAN), (E, "init_std")),
    ("viz/NaN init", lambda c: _viz(c, init=np.full(6, NAN)), (E, "init must be finite")),
    ("viz/NaN steps", lambda c: _viz(c, steps=NAN), (E, "steps")),
    ("viz/NaN seed", lambda c: _viz(c, seed=NAN), (E, "seed")),
    ("viz/NaN shape", lambda c: _viz(c, shape=(NAN, 6)), (E, "shape")),
    ("viz/empty neurons", lambda c: _viz(c, neurons=[]), (E, "at least one neuron")),
    ("viz/bool neuron", lambda c: _viz(c, neurons=[True]), (T, "neurons")),
    ("viz/str neurons", lambda c: _viz(c, neurons="0"), (T, "neurons")),
    ("viz/neuron out of range", lambda c: _viz(c, neurons=[8]), (E, "out of range")),
    ("viz/unknown layer", lambda c: _viz(c, layer="nope"), (E, "unknown layer 'nope'")),
    ("viz/stop Event", lambda c: _viz(c, steps=50, should_stop=_set_event()),
     lambda r: r.interrupted and r.steps_done == 0 and r.final_input.shape == (5, 6)),
    # --- top_examples -----------------------------------------------------------------------
    ("top/subsampling: alone == batch", _alone_equals_batch, _check_alone_equals_batch),
    ("top/k=0", lambda c: _top(c, k=0), (E, "k must be")),
    ("top/NaN k", lambda c: _top(c, k=NAN), (E, "k must be")),
    ("top/NaN batch_size", lambda c: _top(c, batch_size=NAN), (E, "batch_size")),
    ("top/empty neurons", lambda c: _top(c, neurons=[]), (E, "at least one neuron")),
    ("top/unknown layer", lambda c: _top(c, layer="nope"), (E, "unknown layer")),
    ("top/NaN features", lambda c: _top(c, dataset=[torch.zeros(3, 6), torch.full((3, 6), NAN)],
                                        batch_size=1), (E, "item 1 has non-finite")),
    ("top/lengths beyond T", lambda c: _top(c, collate_fn=lambda b: {
        "features": torch.stack(b), "feature_lengths": torch.tensor([9] * len(b))}),
     (E, "feature_lengths must lie in")),
    ("top/stop Event", lambda c: _top(c, should_stop=_set_event()), lambda r: r == []),
    # --- importance_mask --------------------------------------------------------------------
    ("mask/NaN lr", lambda c: _mask(c, lr=NAN), (E, "lr must be")),
    ("mask/NaN margin", lambda c: _mask(c, margin=NAN), (E, "margin must be")),
    ("mask/inf sparsity_weight", lambda c: _mask(c, sparsity_weight=INF),
     (E, "sparsity_weight must be")),
    ("mask/inf budget", lambda c: _mask(c, budget=INF), (E, "budget must be")),
    ("mask/NaN seed", lambda c: _mask(c, seed=NAN), (E, "seed must be")),
    ("mask/str polish", lambda c: _mask(c, polish="no"), (T, "polish must be True or False")),
    ("mask/greedy given lr", lambda c: _mask(c, method="greedy", lr=0.5),
     (E, "lr does not apply to method='greedy'")),
    ("mask/greedy given steps", lambda c: _mask(c, method="greedy", steps=10),
     (E, "steps does not apply")),
    ("mask/settings of the other method", lambda c: _mask(c, method="optimize",
                                                          settings=GreedySettings()),
     (E, "belongs to method='greedy'")),
    ("mask/settings and keywords", lambda c: _mask(c, settings=OptimizeSettings(), lr=0.3),
     (E, "either in settings= or as keywords")),
    ("mask/settings not a settings object", lambda c: _mask(c, settings={"lr": 1.0}),
     (T, "settings must be")),
    ("mask/NaN-emitting model", lambda c: _mask(c, model=NaNModel()), (E, "not finite")),
    ("mask/decode not callable", lambda c: _mask(c, decode=3), (T, "decode must be")),
    ("mask/str features", lambda c: _mask(c, features="abc"), (T, "features")),
    ("mask/3-D features", lambda c: _mask(c, features=np.ones((2, 3, 6))), (E, "2-D")),
    ("mask/stop Event", lambda c: _mask(c, method="greedy", should_stop=_set_event()),
     _check_stopped_mask),
    ("mask/settings= works", lambda c: _mask(c, settings=OptimizeSettings(steps=3, rounds=1)),
     lambda r: r.method == "optimize" and r.preserved),
    # --- transcribe ----------------------------------------------------------------------
    ("transcribe/int16 PCM == float", _transcribe_pcm, lambda r: r[0] == r[1] and r[0]),
    ("transcribe/NaN waveform", lambda c: transcribe(c.net, np.full(800, NAN)),
     (AudioError, "NaN")),
    # --- PIQ construction -------------------------------------------------------------------
    ("piq/NaN ratio", lambda c: PIQInterpreter(c.classifier, ratio=NAN), (E, "ratio")),
    ("piq/NaN beta", lambda c: PIQInterpreter(c.classifier, beta=NAN), (E, "beta")),
    ("piq/threshold 2", lambda c: PIQInterpreter(c.classifier, threshold=2.0), (E, "threshold")),
    ("piq/codes_per_class 0", lambda c: PIQInterpreter(c.classifier, codes_per_class=0),
     (E, "codes_per_class")),
    ("piq/NaN fidelity_weight", lambda c: PIQInterpreter(c.classifier, fidelity_weight=NAN),
     (E, "fidelity_weight")),
    ("piq/inf faithfulness_weight",
     lambda c: PIQInterpreter(c.classifier, faithfulness_weight=INF), (E, "faithfulness")),
    ("piq/class_names count", lambda c: PIQInterpreter(c.classifier, class_names=["a"]),
     (E, "class_names has 1 names")),
    ("piq/not a classifier", lambda c: PIQInterpreter(nn.Linear(2, 2)), (T, "embed")),
    # --- PIQ training -----------------------------------------------------------------------
    ("piq.train_step/NaN lr", lambda c: _train_step(c, lr=NAN), (E, "lr must be")),
    ("piq.train_step/NaN features", lambda c: _train_step(c, x=_nan_batch(c)),
     (E, "features must be finite")),
    ("piq.train_step/lengths beyond T",
     lambda c: _train_step(c, lengths=torch.tensor([20, 30])), (E, "lengths must lie in")),
    ("piq.train_step/float lengths",
     lambda c: _train_step(c, lengths=torch.tensor([20.0, 3.5])), (E, "lengths must be ints")),
    ("piq.fit/NaN epochs", lambda c: _fit(c, epochs=NAN), (E, "epochs")),
    ("piq.fit/zero lr", lambda c: _fit(c, lr=0.0), (E, "lr must be")),
    ("piq.fit/batches without features", lambda c: _fit(c, batches=[{"x": 1}]),
     (E, "must have 'features'")),
    ("piq.fit/stop and should_stop", lambda c: _fit(c, stop=_set_event(),
                                                    should_stop=_set_event()),
     (E, "not both")),
    # --- PIQ interpret ----------------------------------------------------------------------
    ("piq.interpret/int16 PCM == float", _pcm_vs_float, _check_pcm_vs_float),
    ("piq.interpret/8 kHz analysed at 16 kHz", _eight_khz, _check_eight_khz),
    ("piq.interpret/sr 0", lambda c: c.piq.interpret(_tone(16000), sr=0), (AudioError, "sr=0")),
    ("piq.interpret/sr with features", lambda c: c.piq.interpret(c.spec.numpy(), sr=8000),
     (E, "sr=8000 was given with a")),
    ("piq.interpret/NaN waveform", lambda c: c.piq.interpret(np.full(8000, NAN, np.float32)),
     (AudioError, "NaN")),
    ("piq.interpret/NaN features", lambda c: c.piq.interpret(_spec_nan(c)), (E, "finite")),
    ("piq.interpret/NaN threshold", lambda c: c.piq.interpret(c.spec.numpy(), threshold=NAN),
     (E, "threshold")),
    ("piq.interpret/fractional label", lambda c: c.piq.interpret(c.spec.numpy(), label=1.5),
     (E, "label")),
    ("piq.interpret/label out of range", lambda c: c.piq.interpret(c.spec.numpy(), label=9),
     (E, r"\[0, 4\)")),
    ("piq.interpret/3-D input", lambda c: c.piq.interpret(np.zeros((2, 2, 2))),
     (E, "1-D waveform")),
    # --- PIQ checkpoints --------------------------------------------------------------------
    ("piq.ckpt/hash mismatch", lambda c: _load(c, "tampered.pt"),
     (CheckpointError, r"tampered\.pt has sha256")),
    ("piq.ckpt/code-carrying pickle", lambda c: _load(c, "code.pt"),
     (CheckpointError, r"code\.pt was refused by the safe loader")),
    ("piq.ckpt/missing file", lambda c: _load(c, "absent.pt"),
     (CheckpointError, r"absent\.pt is missing")),
    ("piq.ckpt/truncated file", lambda c: _load(c, "truncated.pt"),
     (CheckpointError, r"truncated\.pt")),
    ("piq.ckpt/wrong structure", lambda c: _load(c, "no_psi.pt"),
     (CheckpointError, r"no_psi\.pt lacks the keys")),
    ("piq.ckpt/other config", lambda c: _load(c, "other_config.pt"),
     (CheckpointError, r"other_config\.pt does not fit")),
    ("piq.ckpt/load_checkpoint missing", lambda c: c.piq.load_checkpoint(c.folder / "x.pt"),
     (CheckpointError, r"x\.pt is missing")),
    ("piq.ckpt/load_state not a state", lambda c: c.piq.load_state({"format": "other"}),
     (CheckpointError, "not a lab.piq checkpoint")),
    ("piq.ckpt/shipped variant unknown",
     lambda c: PIQInterpreter.from_pretrained(c.classifier, variant="nope"), (E, "variant")),
    # --- PIQ evaluation and masks -----------------------------------------------------------
    ("piq.evaluate/NaN threshold", lambda c: evaluate(c.piq, [], threshold=NAN, progress=False),
     (E, "threshold")),
    ("piq.evaluate/stop Event", lambda c: evaluate(c.piq, [c.spec], should_stop=_set_event(),
                                                   progress=False),
     lambda r: r["n_utterances"] == 0 and r["interrupted"]),
    ("piq.mask_metrics/batch of 2", lambda c: mask_metrics(c.classifier, c.batch,
                                                           torch.ones_like(c.batch)),
     (E, r"\(1, T, F\)")),
    ("piq.mask_metrics/NaN mask", lambda c: mask_metrics(
        c.classifier, c.batch[:1], torch.full_like(c.batch[:1], NAN)), (E, "mask must be finite")),
    ("piq.saliency_mask/area too large", lambda c: saliency_mask(c.classifier, c.batch[:1],
                                                                 10**9), (E, "area")),
    ("piq.random_mask/negative area", lambda c: random_mask(c.batch[:1], -1,
                                                            torch.Generator()), (E, "area")),
    ("piq.random_mask/no generator", lambda c: random_mask(c.batch[:1], 3, 0),
     (T, "generator")),
    ("piq.threshold_mask/NaN soft mask", lambda c: threshold_mask(np.full((2, 2), NAN), 0.5),
     (E, "soft_mask must be finite")),
    ("piq.threshold_mask/NaN threshold", lambda c: threshold_mask(np.ones((2, 2)), NAN),
     (E, "threshold")),
    ("piq.oracle_mask/NaN ratio", lambda c: oracle_mask(c.batch, ratio=NAN), (E, "ratio")),
    ("piq.oracle_mask/lengths beyond T",
     lambda c: oracle_mask(c.batch, torch.tensor([20, 99])), (E, "lengths must lie in")),
]


def _set_event() -> threading.Event:
    ev = threading.Event()
    ev.set()
    return ev


@pytest.mark.parametrize(("call", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(ctx, call, expect):
    if isinstance(expect, tuple):
        error, pattern = expect
        with pytest.raises(error, match=pattern) as info:
            call(ctx)
        assert isinstance(info.value, LabError), f"{type(info.value).__name__} is no LabError"
        # the safe loader's refusal must never advise running the file's code
        assert not re.search("weights_only=False", str(info.value))
    else:
        result = call(ctx)
        assert expect(result) is not False
