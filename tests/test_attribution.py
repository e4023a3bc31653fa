"""lab.interpret.attribute: Captum's methods on known answers, the zoo models and lab's own
gradient x input; word segments and word-aligned perturbation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret import AttributionSettings, Word, attribute, word_importance
from lab.interpret.attribution import (
    Segment,
    align,
    fixed_segments,
    make_target,
    perturb,
    top_area_mask,
    word_segments,
)
from lab.interpret.attribution.segments import segment_ids
from lab.models import DeepSpeech, KeywordClassifier, Transducer, as_features


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    torch.set_num_threads(1)


class Linear(nn.Module):
    """Class c scores sum(W_c * x): every additive method's answer is W_c * x."""

    def __init__(self, T=6, F_=5):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(2, T, F_, generator=g))

    def forward(self, x):
        return torch.einsum("btf,ctf->bc", x, self.w)


@pytest.fixture(scope="module")
def linear():
    return Linear().eval()


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient", "occlusion"])
def test_additive_model_gets_weight_times_input(linear, x, method):
    s = AttributionSettings(window=(1, 1), stride=(1, 1), n_steps=16)
    a = attribute(linear, x, method=method, target=1, settings=s)
    expected = (linear.w[1] * torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(a.scores, expected, atol=1e-4)
    assert a.scores.shape == x.shape and a.method == method


def test_saliency_and_smoothgrad_saliency_are_the_weights(linear, x):
    sal = attribute(linear, x, method="saliency", target=0)
    np.testing.assert_allclose(sal.scores, linear.w[0].abs().detach().numpy(), atol=1e-6)
    s = AttributionSettings(inner="saliency", n_samples=4)
    nt = attribute(linear, x, method="noise_tunnel", target=0, settings=s)
    np.testing.assert_allclose(nt.scores, sal.scores, atol=1e-5)  # gradients ignore noise


@pytest.mark.parametrize("method", ["feature_ablation", "shapley_value_sampling"])
def test_segment_methods_sum_the_segment(linear, x, method):
    segments = [Segment(1, 3, "a"), Segment(4, 6, "b")]
    a = attribute(linear, x, method=method, target=1, segments=segments,
                  settings=AttributionSettings(n_samples=3))
    wx = (linear.w[1] * torch.from_numpy(x)).detach().numpy()
    for start, end in [(0, 1), (1, 3), (3, 4), (4, 6)]:  # words and the gaps between
        np.testing.assert_allclose(a.scores[start:end], wx[start:end].sum(), atol=1e-4)
    assert [(s.start, s.end, s.label) for s in a.segments] == [
        (1, 3, "a"), (4, 6, "b"), (0, 1, ""), (3, 4, "")]


def test_input_x_gradient_equals_lab_gradient_times_input():
    from lab.piq.evaluate import saliency_mask

    torch.manual_seed(0)
    clf = KeywordClassifier(n_classes=4, dim=16, widths=(8, 8)).eval()
    x = torch.rand(1, 24, 257) * 5
    a = attribute(clf, x[0], method="input_x_gradient")
    xg = x.clone().requires_grad_(True)
    logits = clf(xg)
    (g,) = torch.autograd.grad(logits[0, logits[0].argmax()], xg)
    np.testing.assert_allclose(a.scores, (g * x)[0].numpy(), rtol=1e-5, atol=1e-7)
    assert np.array_equal(top_area_mask(a.scores, 500), saliency_mask(clf, x, 500)[0].numpy())


def test_integrated_gradients_completeness_on_the_classifier():
    torch.manual_seed(0)
    clf = KeywordClassifier(n_classes=4, dim=16, widths=(8, 8)).eval()
    x = torch.rand(24, 257) * 5
    a = attribute(clf, x, method="integrated_gradients", target=2,
                  settings=AttributionSettings(n_steps=200))
    with torch.no_grad():
        gap = float(clf(x[None])[0, 2] - clf(torch.zeros(1, 24, 257))[0, 2])
    assert a.scores.sum() == pytest.approx(gap, rel=0.05, abs=0.05)


class Identity(nn.Module):
    """A CTC "model" whose logits are its input: the path is whatever the input says."""

    def forward(self, x):
        return x * 10.0


def _ctc_input(path, n_classes=29):
    x = torch.zeros(len(path), n_classes)
    x[torch.arange(len(path)), torch.tensor(path)] = 1.0
    return x.numpy()


def test_ctc_words_split_at_the_space():
    # a a _ space b b _ _ : word "a" then word "b"; ids: a=2, b=3
    features = _ctc_input([2, 2, 0, 1, 3, 3, 0, 0])
    al = align(Identity(), torch.from_numpy(features)[None])
    assert al.ids == (2, 1, 3) and al.frames == ((0, 1), (3,), (4, 5))
    segs = word_segments(Identity(), features)
    assert [(s.start, s.end, s.label, s.word) for s in segs] == [(0, 3, "a", 0), (4, 8, "b", 1)]


def test_ctc_targets_are_log_probabilities():
    features = _ctc_input([2, 2, 0, 1, 3, 3, 0, 0])
    x = torch.from_numpy(features)[None]
    t = make_target(Identity(), x)
    lp = (x * 10).log_softmax(-1)
    direct = -F.ctc_loss(lp.transpose(0, 1), torch.tensor([2, 1, 3]), torch.tensor([8]),
                         torch.tensor([3]), blank=0, reduction="none")
    assert t.kind == "transcript" and t.transcript == "a b"
    assert float(t.forward(x)) == pytest.approx(float(direct), abs=1e-5)
    w = make_target(Identity(), x, Word(1))
    assert float(w.forward(x)) == pytest.approx(float(lp[0, 4, 3] + lp[0, 5, 3]), abs=1e-6)
    with pytest.raises(ArgumentError, match="past the transcript"):
        make_target(Identity(), x, Word(2))
    with pytest.raises(ArgumentTypeError, match="a transcript .str. or a Word"):
        make_target(Identity(), x, 3.5)


def test_word_target_attribution_stays_in_its_word():
    features = _ctc_input([2, 2, 0, 1, 3, 3, 0, 0])
    a = attribute(Identity(), features, method="saliency", target=Word(1))
    assert np.abs(a.scores[:4]).sum() == 0 and np.abs(a.scores[4:6]).sum() > 0


def test_zoo_speech_models_run_every_method():
    torch.manual_seed(0)
    y = np.random.default_rng(0).normal(0, 0.1, 6400).astype(np.float32)
    settings = AttributionSettings(n_steps=4, n_samples=2)
    for model in (DeepSpeech(n_hidden=16).eval(),
                  Transducer(conv_channels=8, encoder_hidden=16, embed_dim=8,
                             predictor_hidden=8, joint_dim=8).eval()):
        for method in ("integrated_gradients", "occlusion", "feature_ablation", "noise_tunnel"):
            a = attribute(model, y, method=method, settings=settings)
            assert a.scores.shape == (21, 26) and np.isfinite(a.scores).all()
            assert "transcript" in a.target


def test_transducer_target_is_minus_the_rnnt_loss():
    from lab.transducer import rnnt_loss

    torch.manual_seed(0)
    model = Transducer(conv_channels=8, encoder_hidden=16, embed_dim=8, predictor_hidden=8,
                       joint_dim=8).eval()
    x = torch.randn(1, 20, 26)
    t = make_target(model, x, "ab")
    with torch.no_grad():
        logits, lengths = model(x, torch.tensor([20]), torch.tensor([[2, 3]]))
        direct = rnnt_loss(logits, torch.tensor([[2, 3]]), lengths, torch.tensor([2]), blank=0,
                           reduction="none")
        assert float(t.forward(x)) == pytest.approx(-float(direct), abs=1e-4)


def test_segment_ids_and_fixed_segments():
    ids, groups = segment_ids([Segment(0, 2, "x")], 5)
    assert ids.tolist() == [0, 0, 1, 1, 1] and groups[1].label == ""
    with pytest.raises(ArgumentError, match="overlaps"):
        segment_ids([Segment(0, 3, "x"), Segment(2, 4, "y")], 5)
    assert len(fixed_segments(25, 10)) == 3


class Energy(nn.Module):
    """Class 0 scores the log-power of frames 10-19: only that span matters."""

    feature_kind = "log_power"

    def forward(self, x):
        return torch.stack([x[:, 10:20].sum((1, 2)), torch.zeros(x.shape[0])], 1)


@pytest.mark.parametrize("kind", ["silence", "noise", "mean_spectrum"])
def test_word_importance_finds_the_span_that_matters(kind):
    rng = np.random.default_rng(0)
    y = (rng.normal(0, 0.05, 9600) + 0.3 * np.sin(np.arange(9600) * 0.3)).astype(np.float32)
    y[3200:6400] *= 3  # frames 10-19 loud: silencing them must cost class 0
    wi = word_importance(Energy(), y, perturbation=kind, target=0,
                         segments=fixed_segments(31, 10))
    # white noise at the span's level spreads its energy over every bin (the log-power
    # sum rises), so for noise only the size of the change is checked
    change = np.abs(wi.drops) if kind == "noise" else wi.drops
    assert int(np.argmax(change)) == 1
    assert change[1] > 10 * max(abs(wi.drops[0]), abs(wi.drops[2]))
    assert len(wi.waveforms) == 4 and wi.waveforms[1].shape == y.shape
    assert "frames" in wi.table()


def test_perturb_touches_only_the_segment():
    y = np.ones(3200, dtype=np.float32)
    for kind in ("silence", "noise", "mean_spectrum"):
        out = perturb(y, Segment(3, 5, "w"), kind=kind)
        assert np.array_equal(out[:800], y[:800]) and np.array_equal(out[1600:], y[1600:])
    assert (perturb(y, Segment(3, 5, "w"))[800:1440] == 0).all()


def test_word_importance_on_speech_models_gives_each_output_word():
    torch.manual_seed(0)
    y = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    model = DeepSpeech(n_hidden=16).eval()
    wi = word_importance(model, y, perturbation="silence")
    words = [s for s in word_segments(model, as_features(model, y)) if s.word is not None]
    assert wi.word_drops.shape == (len(wi.segments), len(words))
    assert "transcript" in wi.target and len(wi.answers) == len(wi.segments)
    with pytest.raises(ArgumentError, match="waveform"):
        word_importance(Identity(), _ctc_input([2, 2, 0, 1]))


def test_bad_arguments_are_named():
    clf = KeywordClassifier(n_classes=3).eval()
    x = np.zeros((12, 257), dtype=np.float32)
    with pytest.raises(ArgumentError, match="method must be one of"):
        attribute(clf, x, method="lime")
    with pytest.raises(ArgumentTypeError, match="settings"):
        attribute(clf, x, method="saliency", settings={"n_steps": 3})
    with pytest.raises(ArgumentError, match="Word targets"):
        attribute(clf, x, method="saliency", target=Word(0))
    with pytest.raises(ArgumentError, match="target"):
        attribute(clf, x, method="saliency", target=7)
    with pytest.raises(ArgumentError, match="inner"):
        AttributionSettings(inner="noise_tunnel")
    with pytest.raises(ArgumentError, match="perturbation"):
        word_importance(clf, np.zeros(3200, np.float32), perturbation="reverse")


@pytest.mark.parametrize("name", ["deepspeech", "transducer"])
def test_word_perturbation_on_corpus_speech_with_the_zoo(name):
    from lab.data import Corpus
    from lab.models import load_pretrained

    corpus = Corpus("test", features="mfcc", cache=False)
    index = next(i for i, r in enumerate(corpus.rows) if r.text == "two three")
    model = load_pretrained(name)
    y = corpus.waveform(index)
    segments = word_segments(model, as_features(model, y))
    assert [s.word for s in segments] == [0, 1]
    assert segments[0].end <= segments[1].start  # in order, not overlapping
    wi = word_importance(model, y, perturbation="silence")
    assert wi.word_drops.shape == (2, 2)
    # both models read left to right: the second word cannot change the first word's score
    assert abs(wi.word_drops[1, 0]) < 1e-3 and wi.word_drops[1, 1] > 1.0
    a = attribute(model, y, method="occlusion", target=Word(0))
    # the first word is emitted before the second is heard: occluding the second word's
    # frames cannot change the first word's log-probability
    assert a.scores.shape == (len(as_features(model, y)), 26)
    assert np.abs(a.scores[segments[1].start:]).max() < 1e-4
    assert np.abs(a.scores[:segments[0].end]).max() > 0.1


@pytest.mark.parametrize("name", ["deepspeech", "transducer"])
def test_word_perturbation_on_a_real_human_recording(name):
    """A LibriVox sentence (pocketsphinx-testdata): real speech the zoo does not know, so its
    words are wrong, but they are the model's own words and perturbing them must behave."""
    from lab.data import RealDataMissing, load_recording, real_recordings
    from lab.models import load_pretrained

    try:
        rec = real_recordings("librivox")[1]  # "he was not an ill disposed young man"
    except RealDataMissing as err:
        pytest.skip(str(err))
    y = load_recording(rec)
    model = load_pretrained(name)
    segments = word_segments(model, as_features(model, y))
    assert len(segments) >= 3, segments  # the model hears several words in 2.7 s of speech
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))  # in order
    wi = word_importance(model, y, perturbation="silence")
    assert wi.word_drops.shape == (len(segments), len(segments))
    assert len(wi.waveforms) == len(segments)
    assert all(len(w) == len(y) for w in wi.waveforms)  # each perturbation can be played
    assert np.isfinite(wi.word_drops).all() and np.diag(wi.word_drops).max() > 1.0
    # left to right: silencing speech that starts 10 frames (200 ms: DeepSpeech's 4 frames of
    # lookahead plus the analysis window) after a word has ended barely changes that word's
    # score (columns are the model's words, rows every segment). Not exactly nothing: the
    # MFCCs floor every frame at 80 dB below the utterance's loudest (librosa's top_db), so
    # silencing the loudest word moves the floor of the quiet frames everywhere.
    words = {s.word: s for s in segments if s.word is not None}
    later = [wi.word_drops[j, k] for k, a in words.items()
             for j, b in enumerate(segments) if b.start >= a.end + 10]
    assert later and np.abs(later).max() < 0.01 * np.abs(wi.word_drops).max()


@pytest.mark.parametrize("call, error, words", [
    (lambda clf: attribute(clf, np.full((12, 257), np.nan, np.float32), method="saliency"),
     ArgumentError, "NaN"),
    (lambda clf: attribute(clf, np.zeros((2, 3, 4)), method="saliency"), ArgumentError,
     "shape"),
    (lambda clf: attribute(clf, object(), method="saliency"), ArgumentTypeError, "path"),
    (lambda clf: attribute(clf, np.zeros((12, 257), np.float32), method="feature_ablation",
                           segments=[Segment(0, 20, "x")]), ArgumentError, "ends after"),
    (lambda clf: attribute(clf, np.zeros((12, 257), np.float32), method=3),
     ArgumentTypeError, "method"),
    (lambda clf: attribute(clf, np.zeros((12, 257), np.float32), method="saliency",
                           target="not a keyword"), ArgumentError, "keywords"),
    (lambda clf: AttributionSettings(window=(4,)), ArgumentError, "window"),
    (lambda clf: AttributionSettings(n_steps=0), ArgumentError, "n_steps"),
    (lambda clf: Segment(3, 3, "empty"), ArgumentError, "end"),
    (lambda clf: top_area_mask(np.zeros((2, 2)), 1.5), ArgumentError, "area"),
    (lambda clf: perturb(np.zeros(800, np.float32), Segment(0, 1, "w"), kind="reverse"),
     ArgumentError, "kind"),
    (lambda clf: perturb(np.zeros(800, np.float32), "w"), ArgumentTypeError, "Segment"),
])
def test_bad_inputs_are_named_errors(call, error, words):
    clf = KeywordClassifier(n_classes=24, dim=16, widths=(8, 8)).eval()
    with pytest.raises(error, match=words):
        call(clf)
