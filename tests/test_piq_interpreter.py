"""PIQInterpreter: targets, thresholds, training, checkpoints, interpretation, bad inputs."""

import numpy as np
import pytest
import torch

from lab.errors import CheckpointError
from lab.models.classifier import KeywordClassifier
from lab.piq.interpreter import PIQInterpreter, oracle_mask, threshold_mask


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return KeywordClassifier(n_classes=4, dim=16, widths=(8, 8)).eval()


@pytest.fixture
def piq(classifier):
    torch.manual_seed(1)
    return PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(seed=0, b=4, t=24):
    g = torch.Generator().manual_seed(seed)
    # a few loud harmonics over a quiet floor, at different overall levels per utterance
    x = torch.rand(b, t, 257, generator=g)
    for i in range(b):
        bins = torch.randint(5, 200, (4,), generator=g)
        x[i, 4:18, bins] += 8.0 * (i + 1)
    lengths = torch.tensor([t, t - 4, t, t - 8][:b])
    for i, n in enumerate(lengths.tolist()):
        x[i, n:] = 0.0
    return x, lengths


def test_oracle_mask_uses_each_utterances_own_max():
    x, lengths = _batch()
    target = oracle_mask(x, lengths, ratio=0.35)
    for i, n in enumerate(lengths.tolist()):
        expected = x[i, :n] > 0.35 * x[i, :n].max()
        assert torch.equal(target[i, :n], expected)
        assert not target[i, n:].any()
    # a batch-wide maximum would empty the quietest utterance's mask; ours keeps it
    assert target[0].sum() > 0


def test_threshold_mask_is_relative_to_the_utterance():
    soft = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert threshold_mask(soft, 0.6).tolist() == [[False, False], [True, True]]
    assert threshold_mask(soft * 0.1, 0.6).tolist() == [[False, False], [True, True]]
    with pytest.raises(ValueError, match="threshold"):
        threshold_mask(soft, 1.5)


def test_decode_labels_none_uses_prediction(piq):
    x, _ = _batch()
    logits, labels, probs = piq.decode(x)
    assert logits.shape == x.shape
    assert torch.equal(labels, probs.argmax(-1))
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    _, given, _ = piq.decode(x, torch.tensor([3, 2, 1, 0]))
    assert given.tolist() == [3, 2, 1, 0]


def test_codes_stay_in_the_predicted_class_block(piq):
    x, _ = _batch()
    _, labels, _ = piq.decode(x)
    codes = piq.codes(x)
    shared = range(piq.psi.codebook.K - 2, piq.psi.codebook.K)
    for item, c in enumerate(labels.tolist()):
        allowed = set(piq.class_block(c)) | set(shared)
        assert set(codes[item].flatten().tolist()) <= allowed
    forced = piq.codes(x, torch.tensor([1, 1, 1, 1]))
    assert set(forced.flatten().tolist()) <= set(piq.class_block(1)) | set(shared)


def test_training_steps_lower_the_loss(piq):
    x, lengths = _batch()
    before = piq.loss(x, lengths)["total"].item()
    for _ in range(25):
        piq.train_step(x, lengths, lr=5e-3)
    piq.psi.eval()
    after = piq.loss(x, lengths)["total"].item()
    assert after < 0.8 * before


def test_loss_terms_add_up(classifier):
    x, lengths = _batch()
    torch.manual_seed(3)
    plain = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    losses = plain.loss(x, lengths)
    assert set(losses) == {"total", "bce", "vq", "commitment"}
    torch.testing.assert_close(
        losses["total"], losses["bce"] + losses["vq"] + 0.25 * losses["commitment"]
    )
    torch.manual_seed(3)
    extended = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16,
                              fidelity_weight=0.5)
    more = extended.loss(x, lengths)
    torch.testing.assert_close(more["total"], losses["total"] + 0.5 * more["fidelity"])
    torch.manual_seed(3)
    both = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16,
                          fidelity_weight=0.5, faithfulness_weight=2.0)
    terms = both.loss(x, lengths)
    torch.testing.assert_close(
        terms["total"], losses["total"] + 0.5 * terms["fidelity"] + 2.0 * terms["faithfulness"]
    )


def test_faithfulness_term_is_minus_log_of_losing_the_class(classifier):
    x, lengths = _batch()
    torch.manual_seed(3)
    piq = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16,
                         faithfulness_weight=1.0)
    mask_logits, labels, _ = piq.decode(x)
    valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    m = mask_logits.sigmoid() * valid
    with torch.no_grad():
        p_out = classifier((1 - m) * x).softmax(-1).gather(1, labels[:, None]).squeeze(1)
        got = piq.loss(x, lengths)["faithfulness"]
    torch.testing.assert_close(got, -torch.log(1 - p_out).mean())


def test_straight_through_mask_is_the_evaluated_binary_mask(classifier):
    x, lengths = _batch()
    torch.manual_seed(3)
    piq = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16,
                         fidelity_weight=1.0, straight_through=True, threshold=0.6)
    mask_logits, _, _ = piq.decode(x)
    mask_logits = mask_logits.detach().requires_grad_(True)
    valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    m = piq._training_mask(mask_logits, valid)
    for b in range(x.shape[0]):
        n = int(lengths[b])
        expected = threshold_mask(mask_logits[b, :n].detach().sigmoid().numpy(), 0.6)
        # hard + soft - soft.detach(): equal to the binary mask up to float rounding
        np.testing.assert_allclose(m[b, :n].detach().numpy(), expected, rtol=0, atol=1e-6)
        assert float(m[b, n:].abs().sum()) == 0.0
    # gradients reach the mask logits through the soft mask
    (m * torch.arange(m[0].numel()).view_as(m[0])).sum().backward()
    assert float(mask_logits.grad.abs().sum()) > 0


def test_fit_trains_on_augmented_batches(piq):
    x, lengths = _batch()
    seen = []

    def louder(features, lens):
        seen.append(features.shape)
        return features + 1.0, lens

    before = {k: v.clone() for k, v in piq.psi.state_dict().items()}
    piq.fit([{"features": x, "feature_lengths": lengths}] * 2, epochs=1, progress=False,
            augment=louder)
    assert seen == [x.shape, x.shape]
    assert any(not torch.equal(before[k], v) for k, v in piq.psi.state_dict().items())


def test_fit_checkpoints_and_resumes(piq, classifier, tmp_path):
    x, lengths = _batch()
    batches = [{"features": x, "feature_lengths": lengths}] * 3
    ckpt = tmp_path / "piq_train.pt"
    piq.fit(batches, epochs=5, max_steps=4, checkpoint=ckpt, progress=False)
    assert piq.step == 4 and piq.epoch == 1 and ckpt.exists()
    again = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    history = again.fit(batches, epochs=2, checkpoint=ckpt, progress=False)
    # 3 steps in epoch 1, stopped after step 4; resuming replays epoch 2 (3 steps) from step 4
    assert again.step == 7 and again.epoch == 2
    assert [h["epoch"] for h in history] == [1, 2]
    for k, v in piq.psi.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        assert v.shape == again.psi.state_dict()[k].shape


def test_stop_event_interrupts_and_saves(piq, tmp_path):
    x, lengths = _batch()
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2

    ckpt = tmp_path / "stopped.pt"
    piq.fit([{"features": x, "feature_lengths": lengths}] * 10, epochs=3, stop=stop,
            checkpoint=ckpt, progress=False)
    assert piq.step == 2 and ckpt.exists()


def test_save_load_roundtrip_and_digest_check(piq, classifier, tmp_path):
    x, lengths = _batch()
    piq.train_step(x, lengths)
    path = tmp_path / "piq.pt"
    digest = piq.save(path)
    path.with_suffix(".sha256").write_text(digest + "  piq.pt\n")
    loaded = PIQInterpreter.from_pretrained(classifier, path=path)
    piq.psi.eval()
    torch.testing.assert_close(loaded.soft_masks(x), piq.soft_masks(x))
    path.with_suffix(".sha256").write_text("0" * 64 + "\n")
    with pytest.raises(CheckpointError, match=f"checkpoint {path} has sha256"):
        PIQInterpreter.from_pretrained(classifier, path=path)


def test_interpret_waveform(piq):
    t = np.arange(16000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.3) * (t < 0.7)).astype(np.float32)
    out = piq.interpret(y, threshold=0.0)
    assert out.mask.shape == out.log_power.shape == (51, 257) and out.mask.all()
    # keeping every bin with the input phase gives back the input
    np.testing.assert_allclose(out.waveform[2000:-2000], y[2000:-2000], atol=1e-3)
    strict = out.with_threshold(1.0)
    assert strict.mask.sum() < out.mask.sum()
    np.testing.assert_array_equal(strict.interpreted_log_power, strict.mask * out.log_power)
    direct = piq.interpret(y, threshold=1.0)
    np.testing.assert_array_equal(direct.mask, strict.mask)
    assert abs(out.probabilities.sum() - 1) < 1e-5 and out.label == out.probabilities.argmax()
    assert piq.interpret(y, label=2).label == 2


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: p.decode(torch.zeros(2, 3, 4, 257)), ValueError, r"\(B, T, 257\)"),
        (lambda p: p.decode(torch.zeros(2, 10, 100)), ValueError, r"\(B, T, 257\)"),
        (lambda p: p.decode(torch.zeros(2, 10, 257), torch.tensor([0, 4])), ValueError,
         r"\[0, 4\)"),
        (lambda p: p.decode(torch.zeros(2, 10, 257), torch.tensor([0])), ValueError, "batch"),
        (lambda p: p.interpret(np.zeros((2, 2, 2))), ValueError, "1-D waveform"),
        (lambda p: p.interpret(np.zeros(8000), threshold=2.0), ValueError, "threshold"),
        (lambda p: PIQInterpreter(torch.nn.Linear(2, 2)), TypeError, "embed"),
    ],
)
def test_bad_inputs(piq, call, error, match):
    with pytest.raises(error, match=match):
        call(piq)


def _lr(piq):
    return [g["lr"] for g in piq._optimizer.param_groups]


def test_optimizer_runs_at_the_latest_learning_rate(piq):
    # the optimizer used to keep the rate of its first call forever
    x, lengths = _batch()
    piq.train_step(x, lengths, lr=5e-3)
    piq.train_step(x, lengths, lr=1e-3)
    assert _lr(piq) == [1e-3]
    piq.fit([{"features": x, "feature_lengths": lengths}], epochs=1, lr=3e-4, progress=False)
    assert _lr(piq) == [3e-4]


def test_resume_keeps_the_saved_rate_unless_told_otherwise(piq, classifier, tmp_path):
    # load_checkpoint used to build the optimizer at a hard-coded 2e-3, and a resumed fit kept
    # the checkpoint's rate whatever lr it was given
    x, lengths = _batch()
    batches = [{"features": x, "feature_lengths": lengths}]
    ckpt = tmp_path / "run.pt"
    piq.fit(batches, epochs=1, lr=5e-3, checkpoint=ckpt, progress=False)
    again = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    again.load_checkpoint(ckpt)
    assert _lr(again) == [5e-3]
    again.load_checkpoint(ckpt, lr=7e-4)
    assert _lr(again) == [7e-4]
    third = PIQInterpreter(classifier, codes_per_class=4, shared_keys=2, decoder_channels=16)
    third.fit(batches, epochs=2, lr=1e-3, checkpoint=ckpt, progress=False)
    assert third.epoch == 2 and _lr(third) == [1e-3]


def test_fit_takes_an_event_as_should_stop(piq):
    import threading

    x, lengths = _batch()
    stop = threading.Event()
    stop.set()
    calls = []
    piq.fit([{"features": x, "feature_lengths": lengths}] * 3, epochs=2, should_stop=stop,
            progress=False, on_progress=lambda d, t: calls.append((d, t)))
    assert piq.step == 0 and calls[-1] == (6, 6)
