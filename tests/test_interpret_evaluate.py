"""lab.interpret.evaluation: matched areas, curves, bootstrap intervals, the CLI, and PIQ's
evaluation as a thin caller of the same loop."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret.evaluation import (
    Explanation,
    compare,
    curves,
    intervals_table,
    paired_bootstrap,
    random_explainer,
    results_table,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    torch.set_num_threads(1)


class Weighted(nn.Module):
    """Class 0 scores sum(w * x) against a constant: the evidence is exactly w * x."""

    def __init__(self, T=8, F=6):
        super().__init__()
        self.w = torch.linspace(-1, 2, T * F).reshape(T, F)

    def forward(self, x):
        s = (x * self.w).sum((1, 2))
        return torch.stack([s, torch.full_like(s, 1.0)], 1)


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return [rng.random((8, 6)).astype(np.float32) + 0.5 for _ in range(6)]


def test_curves_reward_the_true_ranking(clips):
    model = Weighted()
    x = torch.from_numpy(clips[0])[None]
    good = curves(model, x, model.w * x)
    bad = curves(model, x, -model.w * x)
    assert good["deletion_auc"] < bad["deletion_auc"]
    assert good["insertion_auc"] > bad["insertion_auc"]
    with torch.no_grad():
        p = model(torch.cat([x, torch.zeros_like(x)])).softmax(-1)[:, good["label"]]
    # deletion starts at p(c|x) and ends at p(c|0); insertion the other way round
    assert good["deletion"][0] == pytest.approx(float(p[0]))
    assert good["deletion"][-1] == pytest.approx(float(p[1]))
    assert good["insertion"][0] == pytest.approx(float(p[1]))
    assert good["insertion"][-1] == pytest.approx(float(p[0]))


def test_compare_matches_areas_and_uses_own_masks(clips):
    model = Weighted()

    def own(x):  # ranks by w * x but keeps its own mask of the first 5 bins
        mask = torch.zeros_like(x)
        mask.view(-1)[:5] = 1
        return Explanation(model.w * x, mask)

    methods = {"own": own, "true": lambda x: model.w * x, "reverse": lambda x: -model.w * x,
               "random": random_explainer(torch.Generator().manual_seed(0))}
    r = compare(model, clips, methods, areas={"own": "own", "half": 0.5}, reference="random",
                progress=False, n_resamples=100)
    own_area = r["areas"]["own"]["methods"]
    assert {round(m["mask_area"], 6) for m in own_area.values()} == {round(5 / 48, 6)}
    half = r["areas"]["half"]["methods"]
    assert all(m["mask_area"] == pytest.approx(0.5) for m in half.values())
    assert half["true"]["faithfulness"] > half["reverse"]["faithfulness"]
    assert r["curves"]["true"]["deletion_auc"] < r["curves"]["reverse"]["deletion_auc"]
    assert set(r["areas"]["half"]["intervals"]) == {"own", "true", "reverse"}
    iv = r["areas"]["half"]["intervals"]["true"]["faithfulness"]
    assert iv["low"] <= iv["difference"] <= iv["high"]
    assert set(r["seconds_per_clip"]) == set(methods) and r["n_utterances"] == 6
    assert "| true |" in results_table(r, "half")
    assert "| reverse |" in intervals_table(r, "half", "random")


def test_compare_stops_early_and_keeps_what_it_did(clips):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    r = compare(Weighted(), clips, {"a": lambda x: x}, areas={"q": 0.25}, progress=False,
                should_stop=stop, with_curves=False)
    assert r["interrupted"] and 0 < r["n_utterances"] < len(clips)


def test_energy_baseline_ranks_the_loudest_bins(clips):
    from lab.interpret.evaluation import energy_explainer

    x = torch.from_numpy(clips[0])[None]
    r = compare(Weighted(), clips[:2], {"energy": energy_explainer()}, areas={"q": 0.25},
                progress=False, with_curves=False)
    assert torch.equal(energy_explainer()(x), x)
    assert r["areas"]["q"]["methods"]["energy"]["mask_area"] == pytest.approx(0.25)


def test_paired_bootstrap():
    same = paired_bootstrap([0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}
    shifted = paired_bootstrap(np.arange(10.0) + 1, np.arange(10.0))
    assert shifted["low"] == shifted["high"] == 1.0
    with pytest.raises(ArgumentError):
        paired_bootstrap([1.0], [1.0, 2.0])


def test_bad_arguments(clips):
    with pytest.raises(ArgumentTypeError):
        compare(Weighted(), clips, {}, areas={"a": 0.1})
    with pytest.raises(ArgumentError, match="not a method"):
        compare(Weighted(), clips, {"a": lambda x: x}, areas={"b": "piq"})
    with pytest.raises(ArgumentError, match="fraction"):
        compare(Weighted(), clips, {"a": lambda x: x}, areas={"b": 1.5})
    with pytest.raises(ArgumentError, match="reference"):
        compare(Weighted(), clips, {"a": lambda x: x}, areas={"b": 0.1}, reference="c")


def test_piq_evaluate_is_the_same_loop():
    from lab.interpret.evaluation import attribution_explainer
    from lab.models.classifier import KeywordClassifier
    from lab.piq import PIQInterpreter
    from lab.piq.evaluate import evaluate, piq_explainer

    torch.manual_seed(2)
    clf = KeywordClassifier(n_classes=5, dim=16, widths=(8, 8)).eval()
    piq = PIQInterpreter(clf, codes_per_class=2, shared_keys=1, decoder_channels=16)
    utterances = [torch.rand(18, 257).numpy() * 5 for _ in range(3)]
    old_format = evaluate(piq, utterances, threshold=0.5, progress=False)
    direct = compare(clf, utterances, {
        "piq": piq_explainer(piq, 0.5),
        "grad_x_input": attribution_explainer(clf, "input_x_gradient"),
        "random": random_explainer(torch.Generator().manual_seed(0)),
    }, areas={"piq": "piq"}, with_curves=False, progress=False)
    assert old_format["methods"] == direct["areas"]["piq"]["methods"]
    assert old_format["threshold"] == 0.5 and old_format["n_utterances"] == 3


def test_cli_writes_results(tmp_path):
    from lab.interpret.evaluate import main

    out = tmp_path / "r.json"
    results = main(["--limit", "2", "--methods", "random", "grad_x_input", "piq_fidelity",
                    "--n-resamples", "50", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["n_utterances"] == 2 and saved["reference"] == "piq_fidelity"
    assert set(saved["areas"]) == {"piq_fidelity"}
    assert results["areas"]["piq_fidelity"]["methods"]["random"]["mask_area"] == pytest.approx(
        results["areas"]["piq_fidelity"]["methods"]["piq_fidelity"]["mask_area"])
    assert "grad_x_input" in out.with_suffix(".md").read_text()


def test_asr_evaluation_keeps_the_transcript_with_every_bin():
    from lab.interpret.evaluation import compare_asr, transcript_metrics
    from lab.models import DeepSpeech

    torch.manual_seed(0)
    model = DeepSpeech(n_hidden=16).eval()
    x = torch.randn(1, 20, 26)
    full = transcript_metrics(model, x, torch.ones_like(x))
    assert full["kept"] and full["cer_in"] == 0.0
    none = transcript_metrics(model, x, torch.zeros_like(x))
    assert none["cer_out"] == 0.0  # removing nothing keeps the transcript
    clips = [torch.randn(16, 26).numpy() for _ in range(3)]
    r = compare_asr(model, clips, {"all": lambda x: x.abs(), "rand": random_explainer(
        torch.Generator().manual_seed(0))}, area=1.0, reference="rand", progress=False,
        n_resamples=20)
    assert r["methods"]["all"]["kept"] == 1.0 and r["methods"]["rand"]["kept"] == 1.0
    assert r["intervals"]["all"]["cer_in"]["difference"] == 0.0


def test_cli_on_a_speech_recognizer(tmp_path):
    from lab.interpret.evaluate import main

    out = tmp_path / "asr.json"
    r = main(["--model", "deepspeech", "--limit", "2", "--methods", "random", "grad_x_input",
              "--n-resamples", "20", "--out", str(out)])
    assert r["n_utterances"] == 2 and set(r["methods"]) == {"random", "grad_x_input"}
    assert "transcript kept" in out.with_suffix(".md").read_text()
