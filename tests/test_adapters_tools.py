"""Every model-taking tool on adapters: feature visualization, top examples, masks,
dependency matrices, streamability and PIQ — on tiny Hugging Face models and Silero VAD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from lab.errors import ArgumentError  # noqa: E402
from lab.interpret import importance_mask, top_examples, visualize_features  # noqa: E402
from lab.models import KeywordClassifier, adapt  # noqa: E402
from lab.streaming import assert_streamable, infer_dependency_matrix  # noqa: E402
from tests.test_adapters import (  # noqa: E402
    hf_ctc,
    hf_whisper,
    silero,
    speechlike,
    tiny_classifier,
    tiny_ctc,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("make, layer, shape", [
    (hf_ctc, "wav2vec2.encoder.layers.0", (50, 320)),
    (lambda: tiny_ctc(), "wav2vec2.feature_extractor.conv_layers.1", (50, 320)),  # raw HF
    (lambda: adapt(tiny_classifier()), "classifier", (50, 320)),
    (silero, "encoder.3", (32, 512)),
])
def test_visualize_features_optimises_one_second_of_own_input(make, layer, shape):
    res = visualize_features(make(), layer, [0, 1], steps=4, record_every=2, progress=False,
                             tv_weight=0.0, lr=0.01, init_std=0.1)
    assert res.final_input.shape == shape
    assert res.steps_done == 4 and np.isfinite(res.activations).all()


def test_visualize_features_on_whisper_encoder():
    res = visualize_features(hf_whisper(), "model.encoder.layers.0", [0], steps=2,
                             record_every=1, progress=False)
    assert res.final_input.shape == (100, 80) and res.steps_done == 2


def test_silero_feature_visualization_raises_speech_output():
    res = visualize_features(silero(), "head", [0], steps=15, lr=0.01, tv_weight=0.0,
                             init_std=0.05, record_every=5, progress=False)
    assert res.activations[-1] > res.activations[0]


def test_top_examples_on_waveform_items():
    items = [{"waveform": speechlike(0.5, seed=i) * (0.2 + i / 5), "text": f"clip {i}"}
             for i in range(4)]
    top = top_examples(silero(), "encoder.3", [0, 1], items, k=2, batch_size=1,
                       progress=False)
    assert len(top) == 2 and top[0].value >= top[1].value
    assert all(t.text.startswith("clip") for t in top)


@pytest.mark.parametrize("make", [hf_ctc, lambda: adapt(tiny_classifier()), silero])
def test_importance_mask_on_the_log_power_spectrogram(make):
    y = speechlike(0.5)
    res = importance_mask(make(), y, method="optimize", steps=3, budget=0.0, polish=False,
                          progress=False)
    assert res.preserved
    assert res.mask.shape == (26, 257)  # the lab's log-power picture of the waveform


def test_importance_mask_greedy_on_silero_keeps_the_frame_decisions():
    from lab.models.adapters import masked_audio

    vad = silero()
    y = speechlike(0.1)
    res = importance_mask(vad, y, method="greedy", progress=False)
    assert res.preserved and res.mask.shape == (6, 257)
    heard = masked_audio(vad, y, res.mask)
    expected = vad.decode(torch.from_numpy(vad.predict(y))[None, :, None])
    assert vad.decode(torch.from_numpy(vad.predict(heard))[None, :, None]) == expected


def test_importance_mask_on_whisper_features():
    wh = hf_whisper()
    y = speechlike(0.3)
    res = importance_mask(wh, y, method="optimize", steps=2, budget=0.0, polish=False,
                          progress=False)
    assert res.preserved and res.mask.shape == (30, 80)


def test_importance_mask_refuses_a_feature_matrix_for_a_waveform_model():
    with pytest.raises(ArgumentError, match="pass the waveform"):
        importance_mask(hf_ctc(), np.zeros((20, 257), dtype=np.float32), progress=False)


def test_dependency_matrix_over_the_models_own_hop():
    vad = silero()
    deps = infer_dependency_matrix(vad, vad.probe_shape(0.5), method="perturb")
    assert tuple(deps.shape) == (16, 16)
    # Silero is a streaming model: no output frame looks ahead of its own 32 ms chunk
    assert not torch.tril(deps, diagonal=-1).any()  # deps[k, j]: output j on input k
    assert bool(deps.diagonal().all())
    summary = assert_streamable(vad, vad.probe_shape(0.5))
    assert summary.causal
    ctc = hf_ctc()
    deps = infer_dependency_matrix(ctc, ctc.probe_shape(0.2), method="perturb")
    assert tuple(deps.shape) == (10, 9)  # 400-sample receptive field: one frame fewer out


def test_dependency_matrix_jacobian_on_silero():
    vad = silero()
    perturb = infer_dependency_matrix(vad, vad.probe_shape(0.3), method="perturb")
    # float32: the scripted stages keep float32 buffers (no float64 copy of Silero)
    jac = infer_dependency_matrix(vad, vad.probe_shape(0.3), method="jacobian",
                                  jacobian_dtype=None)
    assert torch.equal(perturb, jac)


@pytest.mark.parametrize("make, kind", [(lambda: adapt(tiny_classifier()), "classification"),
                                        (hf_whisper, "seq2seq")])
def test_dependency_matrix_refuses_models_without_frame_outputs(make, kind):
    with pytest.raises(ArgumentError, match=f"is a {kind} model.*They apply to ctc"):
        infer_dependency_matrix(make(), (1, 10, 320))


def test_piq_takes_the_zoo_classifier_adapter_and_refuses_others():
    from lab.piq import PIQInterpreter

    piq = PIQInterpreter(adapt(KeywordClassifier(n_classes=3)), codes_per_class=2)
    assert piq.config["numclasses"] == 3
    # an adapted audio classifier is read at a layer of its own (tests/test_piq_adapters.py)
    import copy

    piq = PIQInterpreter(copy.deepcopy(tiny_classifier()), codes_per_class=2)
    assert piq.config["layer"] == "projector" and piq.class_names == ["cat", "dog", "bird"]
    with pytest.raises(ArgumentError, match="PIQ needs a classifier with embed"):
        PIQInterpreter(hf_ctc())


def test_dependency_matrix_over_a_chosen_hop():
    vad = silero().with_hop(256)  # two input frames per 32 ms output frame
    deps = infer_dependency_matrix(vad, vad.probe_shape(0.256), method="perturb")
    assert tuple(deps.shape) == (16, 8)
    # output frame j hears input frames 2j and 2j + 1 and nothing after them
    assert bool(deps[2 * 3 + 1, 3]) and not bool(deps[2 * 3 + 2, 3])
    with pytest.raises(ArgumentError, match="takes features"):
        hf_whisper().with_hop(160)


def test_zoo_adapters_take_audio_in_every_tool():
    from lab.models import DeepSpeech, Transducer, predict_keyword

    y = speechlike(0.3)
    items = [{"waveform": speechlike(0.3, seed=i), "text": f"clip {i}"} for i in range(3)]
    ds = adapt(DeepSpeech(n_hidden=8).eval())
    assert len(top_examples(ds, "layer_1", [0], items, k=2, progress=False)) == 2
    kw = adapt(KeywordClassifier(n_classes=24).eval())
    res = importance_mask(kw, y, method="optimize", steps=2, budget=0.0, polish=False,
                          progress=False)
    assert res.preserved and res.mask.shape == (16, 257)  # its own log-power features
    with pytest.raises(ArgumentError, match="Transducer is a speech recognizer"):
        predict_keyword(Transducer().eval(), y)
    with pytest.raises(ArgumentError, match="transducer model; use lab.models.transcribe"):
        predict_keyword(adapt(Transducer().eval()), y)
