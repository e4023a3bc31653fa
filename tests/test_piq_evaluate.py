"""Metrics of lab.piq.evaluate against direct computations on a small classifier."""

import pytest
import torch

from lab.models.classifier import KeywordClassifier
from lab.piq import PIQInterpreter
from lab.piq.evaluate import evaluate, mask_metrics, random_mask, saliency_mask


@pytest.fixture(scope="module")
def classifier():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return KeywordClassifier(n_classes=5, dim=16, widths=(8, 8)).eval()


def test_metrics_match_direct_computation(classifier):
    torch.manual_seed(1)
    x = torch.rand(1, 30, 257) * 6
    mask = (torch.rand_like(x) > 0.7).float()
    m = mask_metrics(classifier, x, mask)
    with torch.no_grad():
        p = [classifier(v).softmax(-1)[0] for v in (x, mask * x, (1 - mask) * x)]
    c = int(p[0].argmax())
    assert m["label"] == c
    assert m["p_x"] == pytest.approx(float(p[0][c]), abs=1e-6)
    assert m["faithfulness"] == pytest.approx(float(p[0][c] - p[2][c]), abs=1e-6)
    assert m["kept"] == (int(p[1].argmax()) == c)
    drop = max(0.0, float(p[0][c] - p[1][c])) / float(p[0][c])
    gain = max(0.0, float(p[1][c] - p[0][c])) / (1 - float(p[0][c]))
    assert m["drop"] == pytest.approx(drop, abs=1e-5)
    assert m["gain"] == pytest.approx(gain, abs=1e-5)
    assert m["area"] == pytest.approx(float(mask.mean()))
    # an all-ones mask keeps everything: no drop, no gain, nothing removed
    full = mask_metrics(classifier, x, torch.ones_like(x))
    assert full["kept"] and full["drop"] == 0 and full["gain"] == 0
    with torch.no_grad():
        p_silence = float(classifier(torch.zeros_like(x)).softmax(-1)[0, c])
    assert full["p_out"] == pytest.approx(p_silence, abs=1e-6)


def test_baseline_masks_have_the_requested_area(classifier):
    x = torch.rand(1, 20, 257) * 5
    sal = saliency_mask(classifier, x, 300)
    rnd = random_mask(x, 300, torch.Generator().manual_seed(0))
    assert int(sal.sum()) == 300 and int(rnd.sum()) == 300
    # saliency keeps the bins with the largest gradient x input
    x_ = x.clone().requires_grad_(True)
    logits = classifier(x_)
    (g,) = torch.autograd.grad(logits[0, logits[0].argmax()], x_)
    score = (g * x).flatten()
    kept = score[sal.flatten().bool()]
    dropped = score[~sal.flatten().bool()]
    assert kept.min() >= dropped.max()


def test_evaluate_compares_equal_areas(classifier):
    torch.manual_seed(2)
    piq = PIQInterpreter(classifier, codes_per_class=2, shared_keys=1, decoder_channels=16)
    utterances = [torch.rand(18, 257).numpy() * 5 for _ in range(3)]
    results = evaluate(piq, utterances, threshold=0.5, progress=False)
    areas = {m["mask_area"] for m in results["methods"].values()}
    assert results["n_utterances"] == 3 and len(areas) == 1
    assert set(results["methods"]) == {"piq", "grad_x_input", "random"}
