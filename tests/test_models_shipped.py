"""The shipped checkpoints: they load, reproduce their recorded metrics, and stream exactly."""

import numpy as np
import pytest
import torch

from lab.data import Corpus, corpus_version
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


def test_shipped_quality_bars_as_recorded():
    # The full-test-split figures (python -m lab.evaluate recomputes them).
    assert checkpoint_info("deepspeech")["metrics"]["cer"] <= 0.10
    assert checkpoint_info("transducer")["metrics"]["cer"] <= 0.10
    assert checkpoint_info("classifier")["metrics"]["accuracy"] >= 0.95


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
    expected = corpus.rows[0].text
    deepspeech, transducer = load_pretrained("deepspeech"), load_pretrained("transducer")
    texts = {transcribe(deepspeech, waveform), transcribe(transducer, waveform)}
    assert all(isinstance(t, str) for t in texts)
    assert expected in texts  # the first test keyword is recognized by at least one model
    assert predict_keyword(load_pretrained("classifier"), waveform) == expected
    # A path works too and gives the same answer as the waveform.
    assert transcribe(deepspeech, corpus.root / corpus.rows[0].path) == transcribe(
        deepspeech, waveform)


def test_transcribe_rejects_bad_input():
    model = load_pretrained("deepspeech")
    with pytest.raises(ValueError, match="waveform_or_features"):
        transcribe(model, np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="sr must be 16000"):
        transcribe(model, np.zeros(800, dtype=np.float32), sr=8000)
