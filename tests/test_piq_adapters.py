"""PIQ on adapted audio classifiers: a tiny Hugging Face Wav2Vec2ForSequenceClassification
(built from a config, no download) and a plain waveform module adapted with
``kind="classification"``, trained for a few steps on corpus keyword clips.

Masks land on the lab's log-power grid of the clip, the masked audio is what the model
hears (the input phase), checkpoints carry the model's identity, and models PIQ cannot read
are refused naming what applies.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from lab.audio import log_power_spectrogram  # noqa: E402
from lab.data import Corpus  # noqa: E402
from lab.errors import ArgumentError, ArgumentTypeError, CheckpointError  # noqa: E402
from lab.models import adapt  # noqa: E402
from lab.models.adapters import masked_audio  # noqa: E402
from lab.piq import PIQInterpreter, audio_batches  # noqa: E402
from tests.test_adapters import hf_ctc, hf_whisper, tiny_classifier  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(codes_per_class=2, shared_keys=2, decoder_channels=16)


def _call(m, x):  # the whole clip as one (B, 1, n) signal
    return m(x.reshape(len(x), 1, -1))


def plain_classifier(seed: int = 0):
    """A small conv net over the waveform: 25 ms windows, 10 ms hop, pooled over time."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv1d(1, 16, 400, 160), nn.ReLU(), nn.Conv1d(16, 16, 3, 2),
                        nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 4))
    return adapt(net.eval(), kind="classification", labels=["up", "down", "left", "right"],
                 call=_call)


def hf_classifier():
    # a copy: PIQ freezes the model's parameters, and the cached one serves other tests
    return adapt(copy.deepcopy(tiny_classifier()))


MODELS = {"hf": hf_classifier, "plain": plain_classifier}


@pytest.fixture(scope="module")
def clips():
    corpus = Corpus("train", keywords_only=True, cache=False)
    return [corpus.waveform(i) for i in range(6)]


def _trained(make, clips, seed=0):
    torch.manual_seed(seed)
    piq = PIQInterpreter(make(), **SMALL)
    piq.fit(audio_batches(clips, batch_size=3, seed=seed), epochs=2, progress=False)
    return piq


@pytest.fixture(scope="module")
def trained(clips):
    return {name: _trained(make, clips) for name, make in MODELS.items()}


def test_decodes_the_last_time_resolved_layer_by_default(trained):
    hf, plain = trained["hf"], trained["plain"]
    # HF: the projector, the per-frame layer before pooling and the head: (B, T', 256)
    assert hf.config["layer"] == "projector" and hf.config["dim"] == 256
    assert hf.classifier.probe_map_shape == (256, 49, 1)  # one code per 20 ms frame
    # the frames already match the spectrogram's rate: the decoder widens frequency only
    assert (hf.config["n_upsample"], hf.config["time_upsample"]) == (8, 0)
    assert hf.class_names == ["cat", "dog", "bird"]
    # plain: the last ReLU before the pooling, (B, 16, T') channel-first
    assert plain.config["layer"] == "3" and plain.classifier.probe_map_shape == (16, 48, 1)
    assert plain.class_names == ["up", "down", "left", "right"]


def test_a_chosen_layer_and_layers_that_cannot_be_decoded():
    piq = PIQInterpreter(hf_classifier(), layer="wav2vec2.encoder.layers.1", **SMALL)
    assert piq.config["dim"] == 16 and piq.classifier.time_axis == 1  # (B, T', D)
    conv = PIQInterpreter(hf_classifier(), layer="wav2vec2.feature_extractor", **SMALL)
    assert conv.classifier.time_axis == 2  # (B, C, T'): channel-first, found by its length
    base = PIQInterpreter(hf_classifier(), layer="wav2vec2", **SMALL)  # a ModelOutput
    assert base.classifier.probe_map_shape == (16, 49, 1)  # its last_hidden_state
    with pytest.raises(ArgumentError, match=r"layer: 'classifier' gives \(1, 3\).*'projector'"):
        PIQInterpreter(hf_classifier(), layer="classifier")
    with pytest.raises(ArgumentError, match="layer: 'nope' is not a layer"):
        PIQInterpreter(hf_classifier(), layer="nope")


def test_fit_trains_on_the_adapters_predictions(trained, clips):
    for piq in trained.values():
        assert [h["epoch"] for h in piq.history] == [1, 2] and piq.step == 4
        assert piq.history[-1]["bce"] < piq.history[0]["bce"]
    calls = []
    torch.manual_seed(0)
    piq = PIQInterpreter(plain_classifier(), **SMALL)
    piq.fit(audio_batches(clips[:4], batch_size=2), epochs=1, progress=False,
            on_progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1, 2) and calls[-1] == (2, 2)
    # without batches: the corpus's train keyword clips, heard by the model
    default = PIQInterpreter(plain_classifier(), **SMALL)
    default.fit(epochs=1, batch_size=2, max_steps=1, progress=False)
    assert default.step == 1
    with pytest.raises(ArgumentError, match=r"must have 'features'.*audio_batches\(clips\)"):
        default.fit(clips[:2], epochs=2, progress=False)  # clips, not batches
    with pytest.raises(ArgumentError, match="augment"):
        piq.fit(audio_batches(clips[:2]), epochs=2, progress=False, augment=lambda f, n: (f, n))


@pytest.mark.parametrize("name", MODELS)
def test_interpretation_lives_on_the_clips_log_power_grid(trained, clips, name):
    piq, clip = trained[name], clips[0]
    out = piq.interpret(clip)
    assert out.mask.shape == out.soft_mask.shape == log_power_spectrogram(clip)[0].shape
    assert 0.0 <= out.soft_mask.min() and out.soft_mask.max() <= 1.0
    assert out.waveform.shape == clip.shape and out.length == len(clip)
    # unmasked, the model hears its input: the probabilities are its own prediction
    own = piq.model.predict(clip)
    np.testing.assert_allclose(out.probabilities, list(own.values()), atol=1e-5)
    assert out.class_name == max(own, key=own.get) == piq.class_names[out.label]
    # the masked audio is what importance_mask's adapters hear under that mask
    np.testing.assert_allclose(out.waveform, masked_audio(piq.model, clip, out.mask),
                               atol=1e-5)
    np.testing.assert_array_equal(out.interpreted_log_power, out.mask * out.log_power)
    assert out.with_threshold(0.0).mask.all()
    asked = piq.interpret(clip, label=1)
    assert (asked.label, asked.class_name) == (1, piq.class_names[1])


def test_training_and_interpretation_are_deterministic_under_a_seed(trained, clips):
    again = _trained(plain_classifier, clips)
    first = trained["plain"].interpret(clips[1])
    np.testing.assert_array_equal(again.interpret(clips[1]).soft_mask, first.soft_mask)
    np.testing.assert_array_equal(trained["plain"].interpret(clips[1]).soft_mask,
                                  first.soft_mask)


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip_gives_identical_masks(trained, clips, name, tmp_path):
    piq = trained[name]
    path = tmp_path / f"{name}.pt"
    piq.save(path)
    loaded = PIQInterpreter.from_pretrained(piq.model, path)
    assert loaded.config == piq.config and loaded.epoch == 2
    for clip in clips[:2]:
        np.testing.assert_array_equal(loaded.interpret(clip).soft_mask,
                                      piq.interpret(clip).soft_mask)


def test_fit_resumes_from_its_checkpoint(clips, tmp_path):
    ckpt = tmp_path / "run.pt"
    torch.manual_seed(0)
    piq = PIQInterpreter(plain_classifier(), **SMALL)
    piq.fit(audio_batches(clips[:4], batch_size=2), epochs=3, max_steps=3, checkpoint=ckpt,
            progress=False)
    again = PIQInterpreter(plain_classifier(), **SMALL)
    again.fit(audio_batches(clips[:4], batch_size=2), epochs=2, checkpoint=ckpt, progress=False)
    assert (again.epoch, again.step) == (2, 5)
    other = PIQInterpreter(plain_classifier(seed=1), **SMALL)
    with pytest.raises(CheckpointError, match=f"checkpoint {ckpt} is a PIQ decoder for"):
        other.fit(audio_batches(clips[:4], batch_size=2), epochs=2, checkpoint=ckpt,
                  progress=False)


def test_a_checkpoint_for_one_model_is_refused_for_another(trained, tmp_path):
    path = tmp_path / "plain.pt"
    trained["plain"].save(path)
    # same class and layer, other weights
    with pytest.raises(CheckpointError, match=rf"checkpoint {path} is a PIQ decoder for "
                                              r".*Sequential.*differ in state_sha256"):
        PIQInterpreter.from_pretrained(plain_classifier(seed=1), path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}"):
        PIQInterpreter.from_pretrained(hf_classifier(), path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}.*pass that model"):
        PIQInterpreter.from_pretrained(path=path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is a PIQ decoder"):
        PIQInterpreter(plain_classifier(seed=1), **SMALL).load_checkpoint(path)
    # the shipped zoo decoder is not a decoder for an adapted model either
    with pytest.raises(CheckpointError, match=r"checkpoint .*piq\.pt"):
        PIQInterpreter.from_pretrained(plain_classifier(), variant="piq")


@pytest.mark.parametrize("make, kind", [
    (hf_ctc, "ctc"),
    (hf_whisper, "seq2seq"),
    (lambda: adapt(nn.Linear(320, 1), kind="frame_scores", input_hop=320), "frame_scores"),
])
def test_models_without_one_decision_per_clip_are_refused_naming_what_applies(make, kind):
    with pytest.raises(ArgumentError, match=rf"is a {kind} model.*importance_mask.*MaskPanel"
                                            r".*AttributionPanel"):
        PIQInterpreter(make())


def test_a_feature_input_classifier_is_refused_naming_importance_mask():
    from lab.audio import mfcc

    model = adapt(nn.Linear(26, 2), kind="classification", input="features", features=mfcc,
                  call=lambda m, x: m(x.mean(1)))
    with pytest.raises(ArgumentError, match="own features.*importance_mask"):
        PIQInterpreter(model)


def test_adapted_classifiers_hear_audio_not_bare_log_power(trained, clips):
    piq = trained["hf"]
    log_power, phase = log_power_spectrogram(clips[0])
    with pytest.raises(ArgumentError, match="hears audio"):
        piq.interpret(log_power)
    with pytest.raises(ArgumentError, match="phase, samples"):
        piq.decode(torch.from_numpy(log_power)[None])
    probs = piq.predict(torch.from_numpy(log_power)[None], phase=torch.from_numpy(phase)[None],
                        samples=[len(clips[0])])
    np.testing.assert_allclose(probs[0].numpy(), piq.interpret(clips[0]).probabilities)
    with pytest.raises(ArgumentError, match="samples must be >= 1 and fit"):
        piq.predict(torch.from_numpy(log_power)[None], phase=torch.from_numpy(phase)[None],
                    samples=[10 * len(clips[0])])


def test_classifier_terms_train_through_the_resynthesised_audio(clips):
    torch.manual_seed(0)
    piq = PIQInterpreter(plain_classifier(), fidelity_weight=1.0, faithfulness_weight=1.0,
                         straight_through=True, **SMALL)
    batch = next(iter(audio_batches(clips[:2], batch_size=2, shuffle=False)))
    losses = piq.train_step(batch["features"], batch["feature_lengths"], phase=batch["phase"],
                            samples=batch["samples"])
    assert {"fidelity", "faithfulness"} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())


def test_piq_panel_on_an_adapted_classifier(trained, tmp_path):
    from lab.widgets.piq_panel import PIQPanel
    from lab.widgets.sources import corpus_sources

    sources = corpus_sources("test", limit=2, keywords_only=True)
    piq = trained["hf"]
    panel = PIQPanel(piq, sources, threshold=0.5)
    result = panel.result
    assert result.mask.shape == log_power_spectrogram(panel.waveform)[0].shape
    assert panel.spectrogram.value[:4] == b"\x89PNG" and panel.mask.value[:4] == b"\x89PNG"
    assert panel.interpreted_audio.value[:4] == b"RIFF"
    assert panel.probabilities.value.count("<tr>") == 3  # the adapter's three labels
    assert all(name in panel.probabilities.value for name in ("cat", "dog", "bird"))
    assert "Wav2Vec2ForSequenceClassification (classification, 3 labels)" in panel.domain.value
    panel.set_threshold(0.0)
    assert panel.result.mask_area == 1.0
    # the model and its decoder file give the same panel
    path = tmp_path / "hf.pt"
    piq.save(path)
    again = PIQPanel(piq.model, sources, threshold=0.5, checkpoint=path)
    np.testing.assert_array_equal(again.result.soft_mask, result.soft_mask)
    with pytest.raises(ArgumentTypeError, match="checkpoint=path"):
        PIQPanel(piq.model, sources)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}"):
        PIQPanel(plain_classifier(), sources, checkpoint=path)


class _WaveformKeywordClassifier(nn.Module):
    """The zoo's classifier behind the lab's log-power front end, in torch: waveform in."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.kw = classifier
        self.register_buffer("window", torch.hann_window(512, periodic=True))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, 512, 320, 512, self.window, center=True, pad_mode="constant",
                          return_complex=True)
        return self.kw(torch.log1p(spec.abs() ** 2).transpose(1, 2))


def test_the_adapter_path_reproduces_the_zoo_path_on_a_wrapped_zoo_classifier(clips):
    """Decoding the adapter's ``kw.encoder`` map (= the zoo's ``embed``) with the zoo's own
    decoder gives the zoo's masks bit for bit on what the model hears: the layer's map, its
    arrangement, the time alignment and the resynthesis are the zoo path's."""
    from lab.audio import waveform_from_log_power
    from lab.models import KeywordClassifier

    torch.manual_seed(0)
    kw = KeywordClassifier(n_classes=4, dim=16, widths=(8, 8)).eval()
    zoo = PIQInterpreter(kw, **SMALL)
    model = adapt(_WaveformKeywordClassifier(kw).eval(), kind="classification", input_hop=1,
                  labels=["a", "b", "c", "d"])
    piq = PIQInterpreter(model, **SMALL)
    assert piq.config["layer"] == "kw.encoder" and piq.classifier.time_axis == 2
    piq.psi = copy.deepcopy(zoo.psi)  # the zoo's decoder on the adapter's map
    for clip in clips[:3]:
        heard = waveform_from_log_power(*log_power_spectrogram(clip), length=len(clip))
        ours, theirs = piq.interpret(clip), zoo.interpret(heard)
        np.testing.assert_array_equal(ours.mask, theirs.mask)
        np.testing.assert_allclose(ours.soft_mask, theirs.soft_mask, atol=1e-6)
        np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=1e-5)


def test_the_identity_is_the_model_not_where_it_was_loaded_from():
    from lab.models.adapters.piq_view import model_identity

    model = hf_classifier()
    before = model_identity(model, "projector")
    model.module.config._name_or_path = "/another/folder"
    model.module.config.transformers_version = "0.0.1"
    assert model_identity(model, "projector") == before
    model.module.config.id2label = {0: "x", 1: "y", 2: "z"}  # another reading of the outputs
    assert model_identity(model, "projector")["config_sha256"] != before["config_sha256"]
    assert model_identity(model, "wav2vec2.encoder")["layer"] == "wav2vec2.encoder"


@pytest.mark.parametrize("name", MODELS)
def test_a_clip_in_a_padded_batch_keeps_its_own_time_axis(trained, clips, name):
    """Each clip's part of the decoded map is resized onto its own frames, so in a padded
    batch a clip gets the mask it gets alone, except the last frames, whose decoder
    receptive field (3-frame kernels in time) reaches into the padding."""
    piq = trained[name]
    batch = audio_batches(clips[:4], shuffle=False).batch([0, 1, 2, 3])
    soft = piq.soft_masks(batch["features"], phase=batch["phase"],
                          samples=batch["samples"]).numpy()
    longest = int(batch["feature_lengths"].max())
    for i, frames in enumerate(batch["feature_lengths"].tolist()):
        alone = piq.interpret(clips[i]).soft_mask
        assert len(alone) == frames
        np.testing.assert_allclose(soft[i, : frames - 8], alone[: frames - 8], atol=1e-4)
        np.testing.assert_allclose(soft[i, :frames], alone, atol=0.05)
        assert (soft[i, frames:] == 0.5).all()  # padding: logit 0
        if frames == longest:
            np.testing.assert_allclose(soft[i], alone, atol=1e-4)
