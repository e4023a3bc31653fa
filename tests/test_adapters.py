"""adapt / SpeechModel / predict / probe_shape and every model-taking tool on each model kind.

Tiny randomly initialised Hugging Face models are built from configs (no download): a
Wav2Vec2ForCTC, a WhisperForConditionalGeneration and a Wav2Vec2ForSequenceClassification;
next to them the zoo's models (random weights) and the real Silero VAD the wheel ships.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from lab.errors import ArgumentError, ArgumentTypeError, LabError  # noqa: E402
from lab.models import (  # noqa: E402
    DeepSpeech,
    KeywordClassifier,
    SpeechModel,
    activations,
    adapt,
    ctc_posteriors,
    layer_names,
    predict,
    predict_keyword,
    transcribe,
)
from lab.models.adapters import (  # noqa: E402
    SpectrogramView,
    frame_waveform,
    masked_audio,
    module_for,
)

torch.set_num_threads(1)

LABELS = ["<pad>", "|", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]


def _w2v_config(**extra):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, pad_token_id=0, **extra)


@functools.cache
def tiny_ctc():
    from transformers import Wav2Vec2ForCTC

    torch.manual_seed(0)
    return Wav2Vec2ForCTC(_w2v_config()).eval()


@functools.cache
def tiny_classifier():
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    cfg = _w2v_config(num_labels=3, id2label={0: "cat", 1: "dog", 2: "bird"},
                      label2id={"cat": 0, "dog": 1, "bird": 2})
    return Wav2Vec2ForSequenceClassification(cfg).eval()


@functools.cache
def tiny_whisper():
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    cfg = WhisperConfig(
        vocab_size=40, num_mel_bins=80, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
        decoder_ffn_dim=16, d_model=16, max_source_positions=1500, max_target_positions=64,
        decoder_start_token_id=1, eos_token_id=2, pad_token_id=2, bos_token_id=2)
    return WhisperForConditionalGeneration(cfg).eval()


WHISPER_LABELS = ["<s>", "<start>", "<end>"] + [chr(97 + i % 26) for i in range(37)]


@functools.cache
def silero():
    pytest.importorskip("silero_vad")
    from lab.models import load_pretrained

    return load_pretrained("silero_vad")


def speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated tone with noise: enough to move random models."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 700, 1200), 1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def hf_ctc():
    return adapt(tiny_ctc(), labels=LABELS)


def hf_whisper():
    return adapt(tiny_whisper(), labels=WHISPER_LABELS, max_new_tokens=4)


# ---- adapt / SpeechModel ---------------------------------------------------------------

def test_adapt_describes_each_kind():
    ctc, cls, wh = hf_ctc(), adapt(tiny_classifier()), hf_whisper()
    assert (ctc.kind, ctc.input, ctc.blank, ctc.input_hop, ctc.frame_seconds) == (
        "ctc", "waveform", 0, 320, 0.02)
    assert ctc.labels == tuple(LABELS)
    assert (cls.kind, cls.labels) == ("classification", ("cat", "dog", "bird"))
    assert (wh.kind, wh.input, wh.n_features) == ("seq2seq", "features", 80)
    assert all(isinstance(a, SpeechModel) for a in (ctc, cls, wh))
    assert adapt(ctc) is ctc  # an adapter is returned as it is


def test_zoo_adapter_is_a_no_op():
    model = DeepSpeech(n_hidden=8).eval()
    adapter = adapt(model)
    assert adapter.kind == "ctc" and adapter.module is model
    assert module_for(adapter) is model
    y = speechlike(0.5)
    assert transcribe(adapter, y) == transcribe(model, y)
    assert predict(adapter, y) == transcribe(model, y)
    assert adapter.probe_shape(1.0) == (1, 50, 26)
    assert "synthetic" in adapter.domain
    kw = KeywordClassifier(n_classes=24).eval()
    assert predict_keyword(adapt(kw), y) == predict_keyword(kw, y)
    probs = predict(kw, y)
    assert len(probs) == 24 and abs(sum(probs.values()) - 1) < 1e-5


def test_predict_gives_each_kinds_decision():
    y = speechlike()
    text = predict(tiny_ctc(), y)  # a raw HF model is adapted (labels unknown: token ids)
    assert isinstance(text, str)
    assert isinstance(predict(hf_ctc(), y), str)
    probs = predict(tiny_classifier(), y)
    assert set(probs) == {"cat", "dog", "bird"} and abs(sum(probs.values()) - 1) < 1e-5
    assert isinstance(predict(hf_whisper(), y), str)


def test_ctc_functions_on_hf_ctc():
    y = speechlike()
    adapter = hf_ctc()
    post = ctc_posteriors(adapter, y)
    assert post.shape == (49, 12) and np.allclose(post.sum(-1), 1, atol=1e-5)
    assert transcribe(adapter, y) == predict(adapter, y)
    # the greedy path decodes the argmax of the posteriors over the model's own vocabulary
    ids = [int(i) for i in post.argmax(-1)]
    collapsed = [a for k, a in enumerate(ids) if a != 0 and (k == 0 or ids[k - 1] != a)]
    assert transcribe(adapter, y) == adapter.text(collapsed)


def test_functions_refuse_a_kind_they_cannot_apply_to():
    y = speechlike(0.5)
    with pytest.raises(ArgumentError, match="classification model; use lab.models.predict"):
        transcribe(tiny_classifier(), y)
    with pytest.raises(ArgumentError, match="predict_keyword needs a classification"):
        predict_keyword(hf_ctc(), y)
    with pytest.raises(ArgumentError, match="seq2seq model"):
        ctc_posteriors(hf_whisper(), y)
    with pytest.raises(ArgumentError, match="kind: Linear is not a model the lab knows"):
        adapt(torch.nn.Linear(3, 3))
    with pytest.raises(ArgumentError, match="no transducer decoder"):
        adapt(torch.nn.Linear(3, 3), kind="transducer")
    with pytest.raises(ArgumentTypeError, match="model must be a torch.nn.Module"):
        adapt("wav2vec2")
    with pytest.raises(ArgumentError, match="labels: the model has 12 outputs"):
        adapt(tiny_ctc(), labels=["a", "b"])


def test_probe_shape_is_the_models_own_input():
    assert hf_ctc().probe_shape(1.0) == (1, 50, 320)
    assert hf_whisper().probe_shape(1.0) == (1, 100, 80)
    assert hf_ctc().own_input(speechlike()).shape == (50, 320)
    assert hf_whisper().own_input(speechlike()).shape == (100, 80)
    with pytest.raises(ArgumentError, match="seconds must be a positive"):
        hf_ctc().probe_shape(0)


def test_layer_names_and_activations_by_name():
    y = speechlike()
    names = layer_names(hf_ctc())
    assert "wav2vec2.encoder.layers.0" in names
    acts = activations(hf_ctc(), y, ["wav2vec2.encoder.layers.0", "lm_head"])
    assert tuple(acts["wav2vec2.encoder.layers.0"].shape) == (1, 49, 16)
    assert tuple(acts["lm_head"].shape) == (1, 49, 12)
    wh = hf_whisper()
    assert "model.encoder.layers.0" in layer_names(wh)
    enc = activations(wh, y, ["model.encoder.layers.0"])["model.encoder.layers.0"]
    assert tuple(enc.shape) == (1, 1500, 16)  # the encoder's fixed 30 s
    with pytest.raises(ArgumentError, match="not layers of"):
        activations(hf_ctc(), y, ["no.such.layer"])


def test_plain_module_by_keywords():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(320, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    vad = adapt(net, kind="frame_scores", input="waveform", input_hop=320,
                call=lambda m, x: m(x).sigmoid())
    scores = predict(vad, speechlike(0.5))
    assert scores.shape == (25,) and ((scores >= 0) & (scores <= 1)).all()
    feats = adapt(torch.nn.Linear(26, 5), kind="ctc", input="features",
                  features=lambda w: __import__("lab.audio").audio.mfcc(w))
    assert isinstance(predict(feats, speechlike(0.5)), str)
    with pytest.raises(ArgumentError, match="features=callable"):
        adapt(torch.nn.Linear(26, 5), kind="ctc", input="features")


def test_torchscript_module_by_keywords():
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(320, 3)))
    cls = adapt(net, kind="classification", labels=["a", "b", "c"],
                call=lambda m, x: m(x).mean(1))
    assert set(predict(cls, speechlike(0.5))) == {"a", "b", "c"}


def test_frame_waveform_pads_the_last_frame():
    frames = frame_waveform(torch.arange(7.0), 3)
    assert frames.tolist() == [[0, 1, 2], [3, 4, 5], [6, 0, 0]]


def test_spectrogram_view_hears_the_input_itself_under_a_mask_of_ones():
    adapter = hf_ctc()
    y = speechlike(0.5)
    module, x = adapter.mask_view(y)
    assert isinstance(module, SpectrogramView) and tuple(x.shape) == (26, 257)
    heard = module.waveform(x[None])[0].numpy()
    assert np.allclose(heard, y, atol=1e-3)
    silent = masked_audio(adapter, y, np.zeros(tuple(x.shape)))
    assert float(np.abs(silent).max()) < 1e-4


# ---- silero ------------------------------------------------------------------------------

def test_silero_matches_the_packages_own_forward():
    vad = silero()
    from silero_vad import load_silero_vad

    jit = load_silero_vad()
    y = torch.from_numpy(speechlike(1.0))[None]
    ref = jit.audio_forward(y, 16000)[0]
    ours = torch.from_numpy(predict(vad, y[0].numpy()))
    assert ours.shape == ref.shape == (32,)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert (vad.kind, vad.input_hop, vad.frame_seconds) == ("frame_scores", 512, 0.032)
    assert vad.probe_shape(1.0) == (1, 32, 512)
    assert "encoder.3" in layer_names(vad) and "stft.inner" not in layer_names(vad)


def test_missing_silero_names_the_pip_command(monkeypatch):
    import sys

    from lab.models.adapters import silero as module

    monkeypatch.setitem(sys.modules, "silero_vad", None)
    with pytest.raises(LabError, match="pip install silero-vad"):
        module.load_silero_vad()


def test_domain_hint_names_what_the_model_knows_and_its_confidence():
    from lab.models.adapters import confidence, domain_hint

    y = speechlike(0.5)
    zoo = domain_hint(DeepSpeech(n_hidden=8).eval(), y)
    assert zoo.startswith("DeepSpeech (ctc, 29 labels): trained on the lab's synthetic")
    assert "Confidence on this input:" in zoo
    hint = domain_hint(tiny_classifier(), y)
    assert hint.startswith("Wav2Vec2ForSequenceClassification (classification, 3 labels)")
    # a random 3-class model is near chance: flagged as low confidence
    assert 0.3 < confidence(tiny_classifier(), y) < 0.6 and "low:" in hint
    assert 0.0 <= confidence(hf_whisper(), y) <= 1.0
    assert domain_hint(silero()).endswith("any language")


def test_hf_ctc_with_a_processor_reads_its_tokenizer_and_normalisation(tmp_path):
    import json

    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({t: i for i, t in enumerate(LABELS)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab), unk_token="j", pad_token="<pad>",
                                     word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(do_normalize=True)
    adapter = adapt(tiny_ctc(), processor=Wav2Vec2Processor(extractor, tokenizer))
    assert adapter.labels[:4] == ("<pad>", "|", "a", "b") and adapter.normalize
    y = speechlike(1.0)  # 50 whole frames: no padding enters the statistics
    ours = adapter._samples(adapter.own_input(y)[None])[0].numpy()
    theirs = extractor(y, sampling_rate=16000, return_tensors="np").input_values[0]
    assert np.allclose(ours, theirs, atol=1e-4)
    # the tokenizer's own decoding agrees with the adapter's greedy CTC text
    ids = ctc_posteriors(adapter, y).argmax(-1)
    assert predict(adapter, y) == " ".join(tokenizer.decode(ids).split())


def test_as_features_gives_an_adapted_models_own_input():
    from lab.models import as_features

    y = speechlike(1.0)
    assert as_features(tiny_ctc(), y).shape == (50, 320)  # not the zoo's MFCCs
    assert as_features(hf_whisper(), y).shape == (100, 80)
    assert as_features(adapt(DeepSpeech(n_hidden=8)), y).shape == (51, 26)


def test_feature_input_classifier_with_its_extractor():
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(0)
    cfg = WhisperConfig(num_mel_bins=80, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                        decoder_ffn_dim=16, d_model=16, num_labels=4)
    model = WhisperForAudioClassification(cfg).eval()
    with pytest.raises(ArgumentError, match="pass processor="):
        adapt(model)
    cls = adapt(model, processor=WhisperFeatureExtractor())
    y = speechlike(0.5)
    assert cls.own_input(y).shape == (3000, 80)  # time-major, the extractor's 30 s
    assert (cls.input, cls.frame_seconds) == ("features", 0.01)
    assert len(predict(cls, y)) == 4
