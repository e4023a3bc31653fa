"""Adapted models in lab.scan: adapters pickle (so they travel to Dask workers) and rebuild
faithfully; Dask scans of them equal in-process ones; the masks task runs on them; piq gives
PIQ's own refusal; what still cannot travel is refused naming client='inprocess'.

Tiny randomly initialised Hugging Face models are built from configs (no download); Silero
VAD is the real model the ``silero-vad`` wheel ships.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from lab.errors import ArgumentError
from lab.scan import INPROCESS, as_source, local_cluster, model_identity, run

transformers = pytest.importorskip("transformers")
cloudpickle = pytest.importorskip("cloudpickle")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# the tiny Hugging Face models every adapter test uses (built from configs, no download)
from tests.test_adapters import LABELS as CTC_LABELS  # noqa: E402
from tests.test_adapters import hf_ctc, hf_whisper, silero, speechlike  # noqa: E402
from tests.test_adapters import tiny_classifier as _classifier_module  # noqa: E402
from tests.test_adapters import tiny_ctc as _ctc_module  # noqa: E402


def hf_classifier():
    from lab.models import adapt

    return adapt(_classifier_module())


def scripted_vad():
    from lab.models import adapt

    torch.manual_seed(0)
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(320, 1), torch.nn.Sigmoid()))
    return adapt(net.eval(), kind="frame_scores", input_hop=320, call=lambda m, x: m(x))


def plain_vad():
    from lab.models import adapt

    torch.manual_seed(0)
    return adapt(torch.nn.Linear(320, 1).eval(), kind="frame_scores", input_hop=320,
                 call=lambda m, x: m(x).sigmoid())


def bfloat16_ctc():
    from lab.models import adapt

    return adapt(copy.deepcopy(_ctc_module()).to(torch.bfloat16), labels=CTC_LABELS)


def _scan(task, out, model, where=INPROCESS, **kw):
    options = dict(limit=4, shard_size=2)
    options.update(kw)
    return run(task, "test", model=model, out=out, client=where, progress=False, **options)


# ------------------------------------------------------------------------------- pickling
KINDS = {"silero": silero, "hf_ctc": hf_ctc, "hf_classifier": hf_classifier,
         "hf_whisper": hf_whisper, "scripted": scripted_vad, "plain": plain_vad}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_adapter_kind_pickles_and_rebuilds_faithfully(name):
    adapter = KINDS[name]()
    # the lambdas of the plain and scripted adapters need cloudpickle (what lab.scan uses)
    dumps = cloudpickle.dumps if name in ("plain", "scripted") else pickle.dumps
    back = pickle.loads(dumps(adapter))
    assert type(back) is type(adapter) and type(back.module) is type(adapter.module)
    assert back.module is not adapter.module
    assert model_identity(back) == model_identity(adapter)  # state_sha256 and framing
    wave = speechlike()
    x = adapter.own_input(wave)[None]
    with torch.no_grad():
        assert torch.equal(back.scores(x), adapter.scores(x))  # bit-identical
    ours, theirs = adapter.predict(wave), back.predict(wave)
    if isinstance(ours, np.ndarray):
        np.testing.assert_array_equal(theirs, ours)
    else:
        assert theirs == ours
    assert ({n: m.training for n, m in back.module.named_modules()}
            == {n: m.training for n, m in adapter.module.named_modules()})


def test_a_half_precision_hf_model_comes_back_in_its_dtype():
    adapter = bfloat16_ctc()
    back = pickle.loads(pickle.dumps(adapter))
    assert model_identity(back) == model_identity(adapter)  # the hash covers dtypes
    assert {v.dtype for v in back.module.state_dict().values()} == {torch.bfloat16}
    x = torch.from_numpy(speechlike())[None].to(torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(back.module(input_values=x).logits,
                           adapter.module(input_values=x).logits)
    # mixed precision (one head kept apart) comes back tensor by tensor
    mixed = hf_ctc()
    mixed.module = copy.deepcopy(mixed.module)
    mixed.module.lm_head.to(torch.bfloat16)
    back = pickle.loads(pickle.dumps(mixed))
    assert ({k: v.dtype for k, v in back.module.state_dict().items()}
            == {k: v.dtype for k, v in mixed.module.state_dict().items()})
    assert model_identity(back) == model_identity(mixed)


def test_tied_weights_stay_tied():
    whisper = hf_whisper()
    tied = whisper.module.proj_out.weight is whisper.module.model.decoder.embed_tokens.weight
    back = pickle.loads(pickle.dumps(whisper)).module
    assert tied and back.proj_out.weight is back.model.decoder.embed_tokens.weight


def test_rebuilding_keeps_flags_and_the_callers_random_stream():
    adapter = hf_ctc()
    adapter.module = copy.deepcopy(adapter.module).train()
    adapter.module.lm_head.eval()  # one submodule apart: its own flag comes back
    blob = pickle.dumps(adapter)
    torch.manual_seed(1)
    back = pickle.loads(blob)  # the rebuild initialises a model at random first
    after = torch.rand(3)
    torch.manual_seed(1)
    assert torch.equal(after, torch.rand(3))
    assert back.module.training and not back.module.lm_head.training
    assert model_identity(back) == model_identity(adapter)


def test_copies_share_or_copy_the_module_as_before():
    vad = silero()
    twin = copy.copy(vad.with_hop(160))
    assert twin.module is vad.module and twin.input_hop == 160  # no pickling round trip
    view = copy.deepcopy(hf_ctc().module_view())  # dependency matrices copy views so
    assert view._adapter.module.lm_head is view.lm_head


# ------------------------------------------------------------------------------------ Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = local_cluster(1, silence_logs=50)
    dask_client = distributed.Client(cluster)
    yield dask_client
    dask_client.close()
    cluster.close()


def test_dask_scans_of_adapters_equal_inprocess(tmp_path, client):
    for name, adapter in (("silero", silero()), ("ctc", hf_ctc())):
        local = _scan("evaluate", tmp_path / f"{name}-local", adapter)
        dask = _scan("evaluate", tmp_path / f"{name}-dask", adapter, client)
        assert dask.complete and dask.shards_computed == 2 and len(dask.errors()) == 0
        assert dask.table().equals(local.table())
        assert dask.manifest["model"] == local.manifest["model"]
    # masks travel too: the same masks, bit for bit
    local = _scan("masks", tmp_path / "masks-local", hf_ctc(), limit=2, steps=2)
    dask = _scan("masks", tmp_path / "masks-dask", hf_ctc(), client, limit=2, steps=2)
    assert dask.table().equals(local.table())
    for i in range(2):
        np.testing.assert_array_equal(dask.mask(i), local.mask(i))


def test_piq_scans_an_adapted_classifier_it_accepts(tmp_path, client):
    from lab.data import Corpus
    from lab.models import adapt
    from lab.piq import PIQInterpreter, audio_batches

    # a copy: PIQ freezes the model's parameters, and the cached one serves other tests
    adapter = adapt(copy.deepcopy(_classifier_module()))
    corpus = Corpus("train", keywords_only=True, cache=False)
    torch.manual_seed(0)
    piq = PIQInterpreter(adapter, codes_per_class=2, shared_keys=2, decoder_channels=16)
    piq.fit(audio_batches([corpus.waveform(i) for i in range(3)], batch_size=3, seed=0),
            epochs=1, progress=False)
    path = str(tmp_path / "decoder.pt")
    piq.save(path)
    options = dict(limit=2, keywords_only=True, path=path)
    local = _scan("piq", tmp_path / "local", adapter, **options)
    table = local.table()
    assert local.complete and len(local.errors()) == 0
    wave = as_source("test", keywords_only=True, limit=2).waveform(1)
    seen = piq.interpret(wave)
    row = table.iloc[1]
    assert row["prediction"] == seen.class_name and row["area"] == pytest.approx(seen.mask.mean())
    x = torch.from_numpy(seen.log_power)[None]
    probs = piq.predict(x, phase=torch.from_numpy(seen.phase)[None],
                        samples=torch.tensor([seen.length]))[0]
    assert row["p_x"] == pytest.approx(float(probs[row["predicted_label"]]), abs=1e-6)
    # on Dask the workers load the same decoder for the rebuilt model: the same numbers
    dask = _scan("piq", tmp_path / "dask", adapter, client, **options)
    assert dask.table().equals(table)
    with pytest.raises(ArgumentError, match="path: a piq scan of"):
        _scan("piq", tmp_path / "nopath", adapter, limit=2)


# ----------------------------------------------------------------------------------- masks
def _check_masks(scan, adapter, *, grid, seconds):
    import lab.audio

    assert scan.complete and len(scan.errors()) == 0
    assert scan.manifest["params"]["grid"] == grid
    assert scan.manifest["params"]["grid_seconds"] == pytest.approx(seconds)
    table = scan.table()
    source = as_source("test", limit=len(table))
    for i, row in table.iterrows():
        wave = source.waveform(i)
        mask = scan.mask(i)
        if grid == "log_power":  # the lab's log-power picture of the clip
            expected = lab.audio.log_power_spectrogram(wave)[0].shape
        else:  # the model's own features
            expected = tuple(adapter.own_input(wave).shape)
        assert mask.shape == expected == (row["frames"], row["bins"])
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert 0.0 <= row["sparsity"] <= 1.0
        assert row["sparsity"] == pytest.approx(1 - mask.mean())
        assert row["preserved"]
        # the mask really keeps the model's decision on this clip
        module, x = adapter.mask_view(wave)
        with torch.no_grad():
            clean = adapter.decode(module(x[None]))[0]
            masked = adapter.decode(module((torch.from_numpy(mask) * x)[None]))[0]
        assert masked == clean
    return table


def test_masks_on_silero_vad(tmp_path):
    from lab.widgets.scan_panel import ScanPanel

    vad = silero()
    scan = _scan("masks", tmp_path / "a", vad, limit=2, steps=2, seed=3)
    table = _check_masks(scan, vad, grid="log_power", seconds=0.02)
    # the decision kept: one character per 32 ms frame, "1" where it is speech
    scores = vad.predict(as_source("test", limit=2).waveform(0))
    assert table.loc[0, "transcript"] == "".join("1" if s >= 0.5 else "0" for s in scores)
    again = _scan("masks", tmp_path / "b", vad, limit=1, steps=2, seed=3)
    np.testing.assert_array_equal(again.mask(0), scan.mask(0))  # reproducible with a seed
    panel = ScanPanel(scan)  # the panel reads the grid the masks live on
    panel.select(1)
    assert panel.mask_view.duration == pytest.approx(table.loc[1, "frames"] * 0.02)
    assert "frequency bin (log-power)" in panel.mask_view.caption.value


def test_masks_on_hf_models(tmp_path):
    ctc = hf_ctc()
    table = _check_masks(_scan("masks", tmp_path / "ctc", ctc, limit=2, steps=2), ctc,
                         grid="log_power", seconds=0.02)
    source = as_source("test", limit=2)
    assert table.loc[0, "transcript"] == ctc.predict(source.waveform(0))
    classifier = hf_classifier()
    table = _check_masks(_scan("masks", tmp_path / "clf", classifier, limit=1, steps=2),
                         classifier, grid="log_power", seconds=0.02)
    assert table.loc[0, "transcript"] in ("cat", "dog", "bird")
    whisper = hf_whisper()  # a feature model: masked on its own 10 ms log-mel frames
    table = _check_masks(_scan("masks", tmp_path / "whisper", whisper, limit=1, steps=2),
                         whisper, grid="features", seconds=0.01)
    assert table.loc[0, "bins"] == 80
    assert table.loc[0, "transcript"] == whisper.predict(source.waveform(0))


# ------------------------------------------------------------------------------- refusals
def test_bad_mask_options_are_refused_once_on_the_driver(tmp_path):
    with pytest.raises(ArgumentError, match="method must be 'optimize' or 'greedy'"):
        _scan("masks", tmp_path / "m", hf_ctc(), method="fast")
    with pytest.raises(ArgumentError, match="lr does not apply to method='greedy'"):
        _scan("masks", tmp_path / "g", hf_ctc(), method="greedy", lr=0.5)
    with pytest.raises(ArgumentError, match="seed must be"):
        _scan("masks", tmp_path / "s", "deepspeech", seed=-1)


def test_piq_gives_piqs_own_refusal_to_what_it_cannot_read(tmp_path):
    from lab.models.adapters import piq_classifier

    for adapter in (silero(), hf_ctc()):
        with pytest.raises(ArgumentError) as own:
            piq_classifier(adapter)
        with pytest.raises(ArgumentError) as refused:
            _scan("piq", tmp_path / "piq", adapter, limit=2)
        message = str(refused.value)
        assert str(own.value).rstrip(". ") in message and "task='masks'" in message


def test_what_still_cannot_travel_is_refused_before_connecting(tmp_path):
    from lab.models import adapt

    # weight norm on a plain module: no config to rebuild it from, so it cannot pickle
    net = torch.nn.Sequential(torch.nn.utils.parametrizations.weight_norm(
        torch.nn.Linear(320, 1)))
    adapter = adapt(net, kind="frame_scores", input_hop=320, call=lambda m, x: m(x))
    # the address is never dialled: the refusal comes first
    with pytest.raises(ArgumentError, match="client='inprocess'") as refused:
        _scan("evaluate", tmp_path, adapter, "tcp://127.0.0.1:9", limit=2)
    assert "Sequential" in str(refused.value)
    # in-process it scans
    assert _scan("evaluate", tmp_path / "here", adapter, limit=2).complete
