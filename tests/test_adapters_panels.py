"""Every panel, headless and driven from Python, on every model kind: each works or says why not.

Models: the zoo (random weights: DeepSpeech, Transducer, KeywordClassifier), a tiny random
Hugging Face Wav2Vec2ForCTC, a tiny WhisperForConditionalGeneration, a tiny
Wav2Vec2ForSequenceClassification (built from configs: no download) and the real Silero VAD
the ``silero-vad`` wheel ships, on a real recording when the Debian packages are installed.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("transformers")

from lab.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from lab.interpret import attribute, importance_mask  # noqa: E402
from lab.models import DeepSpeech, KeywordClassifier, Transducer, adapt  # noqa: E402
from lab.models.adapters import masked_audio  # noqa: E402
from lab.widgets import (  # noqa: E402
    AlignmentPanel,
    AttributionPanel,
    DependencyPanel,
    FeatureVizPanel,
    MaskPanel,
    MFCCPanel,
    PIQPanel,
)
from lab.widgets.checks import check_model  # noqa: E402
from lab.widgets.model_transcribers import (  # noqa: E402
    decision_text,
    model_transcriber,
    transducer_placement,
)
from tests.test_adapters import (  # noqa: E402
    hf_ctc,
    hf_whisper,
    silero,
    speechlike,
    tiny_classifier,
)

torch.set_num_threads(1)


def _wav(y: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, y, 16000, format="WAV")
    return out.getvalue()


@functools.cache
def _real_clip() -> np.ndarray:
    """A real recording ("Front Left", alsa-utils) when installed, else a speech-like tone."""
    from lab.data import RealDataMissing, load_recording, real_recordings

    try:
        rec = next(r for r in real_recordings("alsa") if r.id == "alsa/Front_Left")
    except (RealDataMissing, StopIteration):
        return speechlike(0.6)
    return load_recording(rec)


def _decoded(wav: bytes) -> bytes:
    data, _ = sf.read(io.BytesIO(wav), dtype="int16")
    return data.tobytes()


def sources(seconds: float = 0.5) -> dict[str, bytes]:
    return {"one": _wav(speechlike(seconds)), "two": _wav(speechlike(seconds * 0.8, seed=1))}


@functools.cache
def _zoo(name: str):
    torch.manual_seed(0)
    return {"deepspeech": lambda: DeepSpeech(n_hidden=8),
            "transducer": lambda: Transducer(),
            "classifier": lambda: KeywordClassifier(n_classes=24)}[name]().eval()


MODELS = {
    "zoo-deepspeech": lambda: adapt(_zoo("deepspeech")),
    "zoo-transducer": lambda: adapt(_zoo("transducer")),
    "zoo-classifier": lambda: adapt(_zoo("classifier")),
    "hf-ctc": hf_ctc,
    "hf-whisper": hf_whisper,
    "hf-classifier": tiny_classifier,  # a raw Hugging Face model: panels adapt it
    "silero": silero,
}
FOREIGN = ["hf-ctc", "hf-whisper", "hf-classifier", "silero"]


def test_check_model_takes_adapters_and_names_what_it_wants():
    vad = adapt(torch.nn.Linear(320, 1), kind="frame_scores")
    assert check_model(vad) is vad
    with pytest.raises(ArgumentTypeError, match="torch.nn.Module or a lab.models.SpeechModel"):
        check_model("wav2vec2")


# ---- MFCC panel transcribers: predict + the domain line -----------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_mfcc_panel_transcriber_shows_the_decision_and_the_domain(name):
    model = MODELS[name]()
    panel = MFCCPanel(sources(), transcribers={name: model_transcriber(model)})
    assert panel.error.value == ""
    row = panel.transcripts.children[0].children
    text, hint = row[0].value, row[-1]
    assert text.startswith(f"<b>{name}</b>: ")
    assert "lab-mfcc-domain" in hint._dom_classes
    assert "labels)" in hint.value and "Confidence on this input:" in hint.value
    if name.startswith("zoo"):
        assert "synthetic" in hint.value
    kind = adapt(model).kind
    if kind == "ctc":  # posteriors over the model's own vocabulary, blank named
        assert len(panel.views) == 4 and panel.views[-1].labels()["rows"][0] == "blank"
    if kind == "classification" and name != "zoo-classifier":
        assert " · " in text and {"cat", "dog", "bird"} & set(text.replace("</b>:", " ").split())


def test_decision_text_of_frame_scores_counts_frames_on():
    line = decision_text(silero(), _real_clip())
    assert line.startswith("speech in ") and "frames" in line and "score ≥ 0.5" in line


def test_transducer_views_refuse_ctc_models_naming_ctc_posteriors():
    from lab.transducer import rnnt_alignment

    y = speechlike(0.3)
    for model in (_zoo("deepspeech"), hf_ctc()):
        with pytest.raises(ArgumentError, match=r"is a ctc model.*ctc_posteriors"):
            transducer_placement(model, y)
        with pytest.raises(ArgumentError, match=r"is a ctc model.*ctc_posteriors"):
            AlignmentPanel(model=model, corpus=0)
    with pytest.raises(ArgumentTypeError, match=r"Wav2Vec2ForCTC is a ctc model.*ctc_posteriors"):
        rnnt_alignment(hf_ctc(), torch.tensor([[1]]), torch.tensor([2]), torch.tensor([1]))
    for name, other in (("silero", "per-frame scores use lab.models.predict"),
                        ("hf-classifier", "predict \\(class"),
                        ("hf-whisper", "no frame alignment")):
        with pytest.raises(ArgumentError, match=other):
            AlignmentPanel(model=MODELS[name](), corpus=0)


def test_alignment_panel_takes_the_zoo_transducer_adapter():
    panel = AlignmentPanel(model=adapt(_zoo("transducer")), corpus=0)
    assert panel.loss_value > 0 and panel.error.value == ""
    assert panel.upload.layout.display is None  # uploads align on the adapted model
    assert panel.load(_wav(speechlike(0.5)), "tone.wav") or "no symbol" in panel.error.value
    if panel.error.value == "":  # a hypothesis to align: the domain line is shown with it
        assert "Transducer (transducer, 29 labels)" in panel.domain.value


# ---- MaskPanel --------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_mask_panel_on_every_kind(name):
    model = MODELS[name]()
    panel = MaskPanel(model, sources(0.4), method="optimize")
    assert panel.error.value == "" or "frames" in panel.status.value
    assert "Confidence on this input:" in panel.domain.value
    foreign = name in FOREIGN
    on_waveform = name in ("hf-ctc", "hf-classifier", "silero")
    assert panel.on_spectrogram == on_waveform
    if on_waveform:  # the mask covers the log-power picture; the player says so
        assert panel.features.shape[1] == 257
        assert "data-y='frequency bin (31.25 Hz)'" in panel.player.axes.value
    res = importance_mask(model, panel.waveform if foreign else panel.features,
                          method="optimize", steps=2, budget=0.0, polish=False,
                          progress=False)
    assert res.mask.shape == panel.features.shape
    panel.show(res)
    panel.set_threshold(0.0)
    panel.refresh()  # the slider transcribes in a thread; refresh() waits for it
    assert "kept: True" in panel.status.value
    said = "transcript" if adapt(model).kind in ("ctc", "seq2seq", "transducer") else "decision"
    assert panel.transcript.value.startswith(f"{said}: ")
    assert panel.muted_transcript.value.startswith(f"muted {said}: <b>")
    if on_waveform:  # what the model hears: masked_audio, frames under the threshold silent
        panel.set_threshold(0.5)
        panel.refresh()
        kept = res.mask.mean(axis=1) >= 0.5
        expected = masked_audio(model, panel.waveform, res.mask * kept[:, None])
        assert np.allclose(panel.muted, expected, atol=1e-6)


def test_mask_panel_runs_its_search_on_silero_real_speech():
    clip = _real_clip()[:1600]  # 0.1 s: a greedy search of six 32 ms decisions
    panel = MaskPanel(silero(), {"front left": _wav(clip)}, method="greedy")
    assert panel.transcript.value.startswith("decision: <b>speech in ")
    result = panel.run()
    assert result.preserved and result.mask.shape == panel.features.shape == (6, 257)
    panel.set_threshold(0.0)  # every frame kept: the model hears the masked picture
    panel.refresh()
    assert np.allclose(panel.muted, masked_audio(silero(), panel.waveform, result.mask),
                       atol=1e-6)
    assert panel.muted_transcript.value == panel.transcript.value.replace("decision",
                                                                         "muted decision")


def test_mask_panel_without_a_mask_plays_the_input_itself():
    panel = MaskPanel(hf_ctc(), sources(0.4))
    panel.set_threshold(0.0)
    panel.refresh()
    assert np.allclose(panel.muted, panel.waveform, atol=1e-3)


# ---- FeatureVizPanel ----------------------------------------------------------------------

@pytest.mark.parametrize("name, shape, layer", [
    ("zoo-deepspeech", (50, 26), "conv"),
    ("hf-ctc", (50, 320), "wav2vec2.encoder.layers.0"),
    ("hf-whisper", (100, 80), "model.encoder.layers.0"),
    ("hf-classifier", (50, 320), "wav2vec2.encoder.layers.0"),
    ("silero", (32, 512), "encoder.0"),
])
def test_feature_viz_panel_default_shape_is_one_second_of_own_input(name, shape, layer):
    panel = FeatureVizPanel(MODELS[name](), steps=10, record_every=5, lr=0.01, init_std=0.1)
    assert panel.shape == shape
    if layer != "conv":
        assert panel.layer.value == layer
    result = panel.run()
    assert result.steps_done == 10 and result.final_input.shape == shape
    assert panel.status.value.startswith("done after 10 steps")
    if name in ("hf-ctc", "hf-classifier", "silero"):  # drawn as log-power, listenable
        n = shape[0] * shape[1]
        assert panel.player.images()[-1].size[0] > 0  # drawn, with the log-power's axes
        assert "data-y='frequency bin'" in panel.player.axes.value
        assert np.allclose(np.frombuffer(_decoded(panel.learned_audio.value), np.int16).size,
                           n)
        assert panel.learned_audio.layout.display is None and panel.learned_audio.value


def test_feature_viz_panel_waveform_defaults_make_silero_hear_speech():
    panel = FeatureVizPanel(silero(), neurons="0", steps=40, record_every=10)
    assert panel.options["init_std"] == 0.02 and panel.tv_weight.value == pytest.approx(1e-3)
    panel.layer.value = "head"  # the speech probability of every frame
    result = panel.run()
    assert result.activations[0] < 0.2 < 0.8 < result.activations[-1]


def test_feature_viz_panel_top_examples_from_real_waveform_items():
    items = [{"waveform": _real_clip() * g, "text": f"gain {g}"} for g in (0.2, 1.0)]
    panel = FeatureVizPanel(silero(), items, top_k=2)
    panel.layer.value = "encoder.3"
    examples = panel.find_top_examples()
    assert len(examples) == 2 and all(e.text.startswith("gain") for e in examples)


# ---- DependencyPanel ----------------------------------------------------------------------

@pytest.mark.parametrize("name, causal", [("silero", True), ("hf-ctc", False),
                                          ("zoo-deepspeech", None)])
def test_dependency_panel_probes_the_adapters_own_input(name, causal):
    panel = DependencyPanel(MODELS[name](), seq_len=12, background=False)
    assert "color:#b00" not in panel.status.value and panel.deps is not None
    labels = panel.view.labels()
    if name == "zoo-deepspeech":  # the zoo path: frames, as before
        assert (labels["x"], labels["y"]) == ("input frame", "output frame")
        return
    assert (labels["x"], labels["y"]) == ("input time (s)", "output time (s)")
    assert panel.deps.shape[0] == 12  # input frames of the model's own hop
    assert panel.summary.causal is causal
    assert "ms of input" in panel.lookahead_label.value
    panel.model_picker.value = "causal conv"  # the built-in examples keep frame axes
    assert panel.view.labels()["x"] == "input frame"


@pytest.mark.parametrize("name, kind", [("hf-classifier", "classification"),
                                        ("hf-whisper", "seq2seq"),
                                        ("zoo-classifier", "classification")])
def test_dependency_panel_refuses_models_without_frame_outputs(name, kind):
    with pytest.raises(ArgumentError, match=f"is a {kind} model.*They apply to ctc"):
        DependencyPanel(MODELS[name](), background=False)


# ---- PIQ and attribution panels -----------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in FOREIGN if n != "hf-classifier"])
def test_piq_panel_refuses_models_without_one_decision_per_clip(name):
    with pytest.raises(ArgumentError, match="PIQ needs a classifier with embed"):
        PIQPanel(MODELS[name](), sources())


def test_piq_panel_given_an_adapted_classifier_asks_for_its_decoder():
    # PIQ reads adapted audio classifiers (tests/test_piq_adapters.py trains one); the panel
    # needs the decoder trained for this model
    with pytest.raises(ArgumentTypeError, match="checkpoint=path"):
        PIQPanel(MODELS["hf-classifier"](), sources())


def test_piq_panel_given_the_zoo_classifier_asks_for_its_interpreter():
    with pytest.raises(ArgumentTypeError, match="PIQInterpreter.from_pretrained"):
        PIQPanel(MODELS["zoo-classifier"](), sources())


def test_attribution_panel_takes_whisper_on_the_log_power_grid():
    # the whole Whisper path (every method, kept/removed audio, transcripts) is in
    # tests/test_attribution_adapters.py; here only that the panel no longer refuses it
    panel = AttributionPanel(MODELS["hf-whisper"](), sources(), methods=["saliency"])
    assert panel.error.value == "" and panel.kind == "log_power"
    assert panel.attributions["saliency"].scores.shape == panel.features.shape
    assert panel.audios["saliency"].value[:4] == b"RIFF"


@pytest.mark.parametrize("name", ["silero", "hf-ctc", "hf-classifier"])
def test_attribution_panel_on_waveform_models_uses_the_log_power_grid(name):
    model = MODELS[name]()
    clips = sources()
    panel = AttributionPanel(model, clips, methods=["saliency", "occlusion"], area=0.2)
    assert panel.error.value == "" and panel.kind == "log_power"
    assert panel.adapter is not None and panel.words is None
    # the maps are attribute()'s own, on the clip's log-power spectrogram
    wave = panel.waveform
    expected = attribute(model, wave, method="saliency").scores
    np.testing.assert_allclose(panel.attributions["saliency"].scores, expected, rtol=1e-5,
                               atol=1e-7)
    assert panel.features.shape == expected.shape and expected.shape[1] == 257
    # no word bars, and the panel says why
    assert panel.words_image.layout.display == "none" and panel.perturbation.disabled
    assert "no word alignment" in panel.words_note.value
    for method in panel.methods:
        assert panel.map_views[method].image.value[:4] == b"\x89PNG"
        assert panel.audios[method].value[:4] == b"RIFF"
    metrics = panel.metrics["occlusion"].value
    want = {"silero": "frames agree", "hf-ctc": "transcript kept", "hf-classifier": "kept class"}
    assert want[name] in metrics
    before = panel.metrics["occlusion"].value, panel.audios["occlusion"].value
    panel.set_area(0.7)
    assert (panel.metrics["occlusion"].value, panel.audios["occlusion"].value) != before
    panel.source.value = "two"
    assert panel.error.value == "" and panel.waveform.size != wave.size


def test_piq_panel_says_what_its_classifier_knows():
    panel = PIQPanel(sources=sources())
    assert panel.domain.value.startswith("<small")
    assert "KeywordClassifier (classification, 24 labels)" in panel.domain.value
    assert "Confidence on this input:" in panel.domain.value


def test_attribution_panel_takes_a_zoo_adapter():
    panel = AttributionPanel(MODELS["zoo-classifier"](), sources(), methods=["saliency"])
    assert panel.error.value == "" and set(panel.attributions) == {"saliency"}
    assert "KeywordClassifier (classification, 24 labels)" in panel.domain.value


@pytest.mark.parametrize("name, grid, target", [
    ("hf-ctc", 257, "transcript"), ("hf-classifier", 257, "logit of class"),
    ("silero", 257, "sum of the"), ("hf-whisper", 80, "greedy tokens")])
def test_attribute_accepts_adapters_on_their_mask_grid(name, grid, target):
    y = speechlike(0.3)
    for method in ("saliency", "feature_ablation"):
        a = attribute(MODELS[name](), y, method=method)
        assert a.scores.shape[1] == grid and np.isfinite(a.scores).all()
        assert target in a.target
    with pytest.raises(ArgumentError, match="target: .* use target=None"):
        attribute(MODELS[name](), y, method="saliency", target="hello")
