"""AttributionPanel driven directly: methods side by side, area slider, words, errors."""

import pytest
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models import DeepSpeech, KeywordClassifier
from lab.widgets import AttributionPanel
from lab.widgets.sources import corpus_sources


@pytest.fixture(scope="module")
def sources():
    torch.set_num_threads(1)
    paths = list(corpus_sources("test", keywords_only=True).items())[:2]
    return dict(paths)


@pytest.fixture(scope="module")
def panel(sources):
    torch.manual_seed(0)
    clf = KeywordClassifier(n_classes=24, dim=16, widths=(8, 8)).eval()
    return AttributionPanel(clf, sources, methods=["input_x_gradient", "occlusion"], area=0.2)


def test_every_method_has_a_map_audio_and_metrics(panel):
    assert set(panel.attributions) == {"input_x_gradient", "occlusion"}
    for method in panel.methods:
        assert panel.map_views[method].image.value[:4] == b"\x89PNG"
        assert panel.audios[method].value[:4] == b"RIFF"
        assert "faithfulness" in panel.metrics[method].value
    assert panel.words_image.value[:4] == b"\x89PNG" and panel.words is not None
    assert "lab-attribution-panel" in panel.widget._dom_classes
    assert "logit of class" in panel.info.value


def test_area_and_perturbation_redraw(panel):
    before = panel.map_views["occlusion"].image.value
    audio_before = panel.audios["occlusion"].value
    panel.set_area(0.6)
    assert panel.map_views["occlusion"].image.value != before
    assert panel.audios["occlusion"].value != audio_before
    words = panel.words
    panel.perturbation.value = "noise"
    assert panel.words is not words and panel.words.perturbation == "noise"


def test_switching_utterance_and_bad_upload(panel, sources):
    first = panel.attributions["occlusion"].scores
    panel.source.value = list(sources)[1]
    assert panel.attributions["occlusion"].scores.shape != first.shape or (
        panel.attributions["occlusion"].scores != first).any()
    assert not panel.load(b"not audio", "junk.wav")
    assert "junk.wav" in panel.error.value
    assert panel.load(sources[list(sources)[0]], "ok") and panel.error.value == ""


def test_speech_recognizer_shows_transcript_metrics(sources):
    torch.manual_seed(0)
    panel = AttributionPanel(DeepSpeech(n_hidden=16).eval(), sources, methods=["saliency"])
    assert "transcript kept" in panel.metrics["saliency"].value
    assert "transcript" in panel.info.value


def test_constructor_checks(sources):
    clf = KeywordClassifier(n_classes=24, dim=16, widths=(8, 8)).eval()
    with pytest.raises(ArgumentError, match="methods"):
        AttributionPanel(clf, sources, methods=["lime"])
    with pytest.raises(ArgumentError, match="repeat"):
        AttributionPanel(clf, sources, methods=["saliency", "saliency"])
    with pytest.raises(ArgumentTypeError, match="methods"):
        AttributionPanel(clf, sources, methods="saliency")
    with pytest.raises(ArgumentError, match="perturbation"):
        AttributionPanel(clf, sources, perturbation="reverse")
    with pytest.raises(ArgumentTypeError, match="model"):
        AttributionPanel("classifier", sources)
    with pytest.raises(ArgumentTypeError, match="settings"):
        AttributionPanel(clf, sources, settings={"n_steps": 2})
