"""Model shapes, CTC decoding, hooks, streaming == offline, one training step, bad inputs."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from lab.data import Batch
from lab.models import (
    DeepSpeech,
    KeywordClassifier,
    Transducer,
    TransducerStream,
    accuracy,
    activations,
    cer,
    ctc_greedy_collapse,
    ctc_greedy_decode,
    edit_distance,
    wer,
)
from lab.models.deepspeech import context_window
from lab.training.tasks import TASKS
from lab.training.trainer import training_step

torch.set_num_threads(2)


def small_transducer(seed=0):
    torch.manual_seed(seed)
    return Transducer(conv_channels=16, encoder_hidden=24, embed_dim=8, predictor_hidden=16,
                      joint_dim=16).eval()


# -- shapes -----------------------------------------------------------------------------------
def test_deepspeech_shapes_and_layer_names():
    model = DeepSpeech(n_hidden=32, n_context=2).eval()
    assert model(torch.randn(3, 17, 26)).shape == (3, 17, 29)
    acts = activations(model, torch.randn(2, 11, 26),
                       ["layer_1", "layer_2", "layer_3", "rnn_output", "layer_5", "layer_6"])
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "layer_1": (2, 11, 32), "layer_2": (2, 11, 32), "layer_3": (2, 11, 32),
        "rnn_output": (2, 11, 32), "layer_5": (2, 11, 32), "layer_6": (2, 11, 29)}
    # Clipped ReLU: the fully connected activations lie in [0, relu_clip].
    for name in ["layer_1", "layer_2", "layer_3", "layer_5"]:
        assert acts[name].min() >= 0 and acts[name].max() <= 20


def test_deepspeech_padding_does_not_change_valid_frames():
    model = DeepSpeech(n_hidden=32, n_context=0).eval()
    x = torch.randn(1, 12, 26)
    padded = torch.cat([x, torch.zeros(1, 5, 26)], dim=1)
    torch.testing.assert_close(model(padded)[:, :12], model(x))


def test_context_window_orders_neighbours():
    x = torch.arange(8.0).reshape(1, 4, 2)
    out = context_window(x, 1)
    assert out.shape == (1, 4, 6)
    assert out[0, 1].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert out[0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]


def test_transducer_shapes():
    model = small_transducer()
    logits, lengths = model(torch.randn(2, 15, 26), torch.tensor([15, 8]),
                            torch.tensor([[3, 4, 5], [6, 0, 0]]))
    assert logits.shape == (2, 8, 4, 29)
    assert lengths.tolist() == [8, 4]


def test_classifier_embed_classify_compose():
    model = KeywordClassifier(n_classes=24, dim=32, widths=(8, 16)).eval()
    x = torch.rand(2, 41, 257) * 5
    h = model.embed(x)
    assert h.shape == (2, 32, math.ceil(41 / 8), math.ceil(257 / 8))
    torch.testing.assert_close(model(x), model.classify(h))


def test_classifier_mel_front_end_pools_power_into_bands():
    from lab.audio import mel_filterbank

    model = KeywordClassifier(n_classes=5, dim=16, widths=(8, 8), n_mels=40).eval()
    x = torch.rand(2, 30, 257) * 4
    direct = torch.log1p(torch.expm1(x).double() @ torch.from_numpy(mel_filterbank()).double().T)
    torch.testing.assert_close(model.front_end(x).double(), direct, rtol=1e-5, atol=1e-5)
    assert model.embed(x).shape == (2, 16, 4, 5)
    # the filterbank is derived from the config, so checkpoints stay weights + config only
    assert "mel_weights" not in model.state_dict()
    model.fit_normalizer(x.reshape(-1, 257))
    torch.testing.assert_close(model.normalize.mean, model.front_end(x).reshape(-1, 40).mean(0))


# -- decoding ---------------------------------------------------------------------------------
def test_ctc_greedy_collapse_hand_made_posteriors():
    # blank a a blank a b b blank -> "a a b"; the blank separates the two a's.
    posteriors = np.eye(4)[[0, 1, 1, 0, 1, 2, 2, 0]] * 0.7 + 0.1
    assert ctc_greedy_decode(posteriors) == [[1, 1, 2]]
    assert ctc_greedy_collapse([3, 3, 3], blank=0) == [3]
    assert ctc_greedy_collapse([0, 0], blank=0) == []
    # The blank index is a parameter, and lengths cut off padded frames.
    batch = torch.tensor([[[0.9, 0.1], [0.2, 0.8], [0.9, 0.1]]]).repeat(2, 1, 1)
    assert ctc_greedy_decode(batch, torch.tensor([3, 1]), blank=1) == [[0, 0], [0]]


def test_metrics_values():
    assert edit_distance("abc", "abd") == 1
    assert cer(["abcd", "ef"], ["abd", "eff"]) == pytest.approx(2 / 6)
    assert wer(["one two three"], ["one three"]) == pytest.approx(1 / 3)
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5


# -- streaming --------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 50])
def test_stream_equals_offline_random_model(chunk):
    model = small_transducer(seed=chunk)
    x = torch.randn(37, 26) * 3
    offline = model.decode_ids(x[None])[0]
    assert offline, "a random model should emit symbols, or the comparison proves little"
    outputs = list(model.stream(x.split(chunk)))
    assert outputs[-1] == offline
    # Hypotheses only grow: a stream never takes back what it emitted.
    for before, after in zip(outputs, outputs[1:]):
        assert after[: len(before)] == before


def test_batched_offline_decoding_matches_single():
    model = small_transducer()
    x = torch.randn(2, 20, 26)
    batched = model.decode_ids(x, torch.tensor([20, 13]))
    assert batched == [model.decode_ids(x[:1])[0], model.decode_ids(x[1:, :13])[0]]


# -- one training step ------------------------------------------------------------------------
def _synthetic_batch(n_features, frames=30, tokens=6, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Batch(
        features=torch.randn(batch, frames, n_features, generator=g),
        feature_lengths=torch.tensor([frames, frames - 3, frames - 5, frames]),
        tokens=torch.randint(1, 29, (batch, tokens), generator=g),
        token_lengths=torch.tensor([tokens, tokens - 1, tokens - 2, tokens]),
        texts=["x"] * batch,
        labels=torch.tensor([0, 3, 5, 7]),
    )


@pytest.mark.parametrize(
    "name, model",
    [
        ("deepspeech", lambda: DeepSpeech(n_hidden=32, dropout=0.0)),
        ("transducer", lambda: small_transducer()),
        ("classifier", lambda: KeywordClassifier(dim=16, widths=(8, 8), dropout=0.0)),
        ("classifier", lambda: KeywordClassifier(dim=16, widths=(8, 8), dropout=0.0, n_mels=40)),
    ],
)
def test_one_training_step_lowers_the_loss(name, model):
    torch.manual_seed(0)
    task, model = TASKS[name], model()
    batch = _synthetic_batch(257 if name == "classifier" else 26, frames=24)
    if name == "classifier":
        batch.features = batch.features.abs()  # log1p(power) is never negative
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = training_step(task, model, optimizer, batch)
    with torch.no_grad():
        after = float(task.loss(model, batch))
    assert math.isfinite(before) and after < before


# -- hooks ------------------------------------------------------------------------------------
def test_activations_user_model_gradients_and_cleanup():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.GRU(4, 5, batch_first=True))
    x = torch.randn(2, 6, 3, requires_grad=True)
    acts = activations(net, x, ["1", "2"])
    assert acts["2"].shape == (2, 6, 5)  # the GRU's output sequence, not its state
    acts["1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not m._forward_hooks for m in net.modules())


def test_activations_with_call_and_detach():
    model = KeywordClassifier(dim=16, widths=(8, 8)).eval()
    acts = activations(model, torch.rand(1, 16, 257), ["encoder.0"], call=model.embed,
                       detach=True)
    assert acts["encoder.0"].shape == (1, 8, 8, 129)
    assert not acts["encoder.0"].requires_grad


def test_activations_unknown_layer_lists_valid_names():
    model = DeepSpeech(n_hidden=8)
    with pytest.raises(ValueError, match="layer_7.*valid names.*rnn_output"):
        activations(model, torch.randn(1, 5, 26), ["layer_7"])
    with pytest.raises(ValueError, match="did not run"):
        activations(model, torch.randn(1, 5, 26), ["layer_1"], call=lambda x: None)


# -- bad inputs -------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"features must have shape \(B, T, 26\)"):
        DeepSpeech(n_hidden=8)(torch.randn(2, 5, 13))
    with pytest.raises(ValueError, match=r"features must have shape \(B, T, 26\)"):
        small_transducer().decode_ids(torch.randn(5, 26))
    with pytest.raises(ValueError, match=r"chunk must have shape \(n, 26\)"):
        TransducerStream(small_transducer()).accept(np.zeros((4, 40)))
    with pytest.raises(ValueError, match="log-power spectrograms"):
        KeywordClassifier().embed(torch.rand(1, 20, 40))
    with pytest.raises(ValueError, match="h must have shape"):
        KeywordClassifier(dim=16).classify(torch.rand(1, 8, 3, 3))
    with pytest.raises(ValueError, match="scores must have shape"):
        ctc_greedy_decode(torch.rand(5))
    with pytest.raises(ValueError, match="differ in length"):
        cer(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="sequences of strings"):
        wer("abc", "abd")
    with pytest.raises(ValueError, match="undefined"):
        cer([""], ["x"])
    with pytest.raises(ValueError, match="equal in shape"):
        accuracy([1, 2], [1])
