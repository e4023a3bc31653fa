"""The shipped checkpoints: they load, reproduce their recorded metrics, and stream exactly."""

import numpy as np
import pytest
import torch

from lab import audio
from lab.data import KEYWORDS, CharTokenizer, Corpus, corpus_version
from lab.models import (
    checkpoint_info,
    load_pretrained,
    predict_keyword,
    transcribe,
)
from lab.models.pretrained import CHECKPOINT_DIR
from lab.training.evaluation import evaluate_model
from lab.training.export import SUBSET_SIZE, split_items

torch.set_num_threads(2)
NAMES = ["deepspeech", "transducer", "classifier"]


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_reproduces_recorded_subset_metrics(name):
    info = checkpoint_info(name)
    assert (CHECKPOINT_DIR / info["file"]).stat().st_size <= 10_000_000
    recorded = info["subset_metrics"]
    assert recorded["n"] == SUBSET_SIZE
    measured = evaluate_model(load_pretrained(name), split_items(name, subset=True))
    assert measured.keys() == recorded.keys()
    for key, value in recorded.items():
        assert measured[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_was_trained_on_the_shipped_corpus(name):
    assert checkpoint_info(name)["corpus_version"] == corpus_version()


def test_trained_transducer_streams_exactly_like_offline():
    model = load_pretrained("transducer")
    items = split_items("transducer", subset=True)[:8]
    for item, chunk in zip(items, [1, 2, 3, 5, 8, 13, 21, 1000]):
        offline = model.decode_ids(item.features[None])[0]
        assert offline, "the trained model should say something"
        assert list(model.stream(item.features.split(chunk)))[-1] == offline


def test_transcribe_and_predict_keyword_from_waveforms():
    corpus = Corpus("test", keywords_only=True, cache=False)
    waveform = corpus.waveform(0)
    deepspeech, transducer = load_pretrained("deepspeech"), load_pretrained("transducer")
    tokenizer = CharTokenizer()
    mfcc = torch.as_tensor(audio.mfcc(waveform))[None]
    # A waveform, its path and its features all give what decoding the features gives.
    for model in (deepspeech, transducer):
        expected = tokenizer.decode(model.decode_ids(mfcc)[0])
        assert transcribe(model, waveform) == expected
        assert transcribe(model, corpus.root / corpus.rows[0].path) == expected
        assert transcribe(model, mfcc[0].numpy()) == expected
    classifier = load_pretrained("classifier")
    log_power = torch.as_tensor(audio.log_power_spectrogram(waveform)[0])[None]
    assert predict_keyword(classifier, waveform) == KEYWORDS[int(classifier(log_power).argmax())]


def test_transcribe_rejects_bad_input():
    model = load_pretrained("deepspeech")
    with pytest.raises(ValueError, match="waveform_or_features"):
        transcribe(model, np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="sr must be 16000"):
        transcribe(model, np.zeros(800, dtype=np.float32), sr=8000)
    with pytest.raises(TypeError, match="use predict_keyword"):
        transcribe(load_pretrained("classifier"), np.zeros(3200, dtype=np.float32))
