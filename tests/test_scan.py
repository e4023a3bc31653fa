"""lab.scan in-process: sources, identity, persistence, resume, refusals, per-file errors, CLI."""

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.data import corpus_dir, read_manifest
from lab.errors import ArgumentError, ArgumentTypeError, LabError
from lab.scan import (
    INPROCESS,
    FolderSource,
    Scan,
    ScanSourceError,
    as_source,
    load,
    model_identity,
    run,
    state_sha256,
)
from lab.scan.__main__ import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scan(task, out, *, model="deepspeech", data="test", limit=12, shard_size=4, **kw):
    return run(task, data, model=model, out=out, client=INPROCESS, limit=limit,
               shard_size=shard_size, progress=False, **kw)


@pytest.fixture(scope="module")
def wav_folder(tmp_path_factory):
    """Four corpus utterances in a nested folder, one corrupt file, one empty file."""
    root = tmp_path_factory.mktemp("wavs")
    rows = read_manifest(None, split="test")[:4]
    (root / "nested" / "deeper").mkdir(parents=True)
    names = ["a.flac", "nested/b.flac", "nested/deeper/c.flac", "d.flac"]
    for name, row in zip(names, rows):
        shutil.copy(corpus_dir() / row.path, root / name)
    (root / "nested" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage, not audio")
    (root / "empty.flac").write_bytes(b"")
    (root / "notes.txt").write_text("not audio, not scanned")
    (root / "transcripts.csv").write_text(
        "path,text\n" + "".join(f"{n},{r.text}\n" for n, r in zip(names, rows))
    )
    return root, rows


# ------------------------------------------------------------------------------ sources
def test_corpus_source_ids_text_and_labels():
    source = as_source("test", keywords_only=True, limit=5)
    assert len(source) == 5 and len(set(source.ids)) == 5
    item = source.item(2)
    assert item.text and item.label >= 0 and item.waveform.dtype == np.float32
    assert as_source("test", limit=5).identity() != source.identity()


def test_folder_source_recursive_sorted_with_manifest(wav_folder):
    root, rows = wav_folder
    source = FolderSource(root)
    assert source.ids == sorted(source.ids)
    assert "nested/deeper/c.flac" in source.ids and "notes.txt" not in source.ids
    texts = {r["id"]: r["text"] for r in source.rows}
    assert texts["nested/b.flac"] == rows[1].text and texts["nested/broken.wav"] == ""


def test_folder_source_tsv_manifest(tmp_path, wav_folder):
    root, rows = wav_folder
    manifest = tmp_path / "t.tsv"
    manifest.write_text(f"a.flac\t{rows[0].text}\n")
    texts = {r["id"]: r["text"] for r in FolderSource(root, manifest=manifest).rows}
    assert texts["a.flac"] == rows[0].text and texts["d.flac"] == ""
    manifest.write_text("a.flac has no tab\n")
    with pytest.raises(ScanSourceError, match="line 1"):
        FolderSource(root, manifest=manifest)


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_bad_dataset_paths_are_clear_errors(tmp_path, make):
    path = tmp_path / "data"
    if make == "empty":
        path.mkdir()
    elif make == "file":
        path.write_text("x")
    with pytest.raises(ScanSourceError, match=str(path)):
        as_source(path)
    with pytest.raises(ScanSourceError):
        _scan("evaluate", tmp_path / "out", data=str(path))


def test_bad_arguments_are_named():
    with pytest.raises(ArgumentError, match="task must be one of"):
        _scan("nope", "/tmp/unused")
    with pytest.raises(ArgumentError, match="shard_size"):
        _scan("evaluate", "/tmp/unused", shard_size=0)
    with pytest.raises(ArgumentTypeError, match="data must be"):
        as_source(42)
    with pytest.raises(ArgumentError, match="unknown"):
        _scan("evaluate", "/tmp/unused", layers=["layer_1"])


def test_huggingface_dataset(tmp_path):
    datasets = pytest.importorskip(
        "datasets", reason="the optional 'datasets' package is not installed"
    )
    source = as_source("test", limit=3)
    expected = _scan("evaluate", tmp_path / "corpus", limit=3).table()
    texts = [row["text"] for row in source.rows]
    ds = datasets.Dataset.from_dict({
        "audio": [{"array": source.waveform(i), "sampling_rate": 16000} for i in range(3)],
        "text": texts,
    })
    scan = _scan("evaluate", tmp_path / "hf", data=ds, limit=None)
    assert scan.table()["hypothesis"].tolist() == expected["hypothesis"].tolist()
    # the Audio feature (files by path, one given as bytes) is decoded by lab.audio.load: no
    # torchcodec / FFmpeg needed
    import soundfile as sf

    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.flac"))
        sf.write(paths[-1], source.waveform(i), 16000)
    files = [{"path": paths[0], "bytes": None},
             {"path": None, "bytes": Path(paths[1]).read_bytes()},
             {"path": paths[2], "bytes": None}]
    encoded = datasets.Dataset.from_dict({"audio": files, "text": texts}).cast_column(
        "audio", datasets.Audio())
    scan = _scan("evaluate", tmp_path / "hf-audio", data=encoded, limit=None)
    assert scan.table()["hypothesis"].tolist() == expected["hypothesis"].tolist()
    # saved to disk and named as hf:<folder>; the same rows, the same identity
    encoded.save_to_disk(str(tmp_path / "saved"))
    saved = as_source(f"hf:{tmp_path / 'saved'}")
    assert np.array_equal(saved.waveform(1), as_source(encoded).waveform(1))
    assert [r["text"] for r in saved.rows] == texts
    # a row without audio is reported, the others scanned
    holes = datasets.Dataset.from_dict({"audio": [files[0], {"path": None, "bytes": None}],
                                        "text": texts[:2]}).cast_column("audio", datasets.Audio())
    scan = _scan("evaluate", tmp_path / "hf-holes", data=holes, limit=None)
    assert scan.table()["index"].tolist() == [0]
    assert "no audio" in scan.errors()["error"][0]


# ----------------------------------------------------------------------------- identity
def test_model_identity_zoo_module_and_adapter():
    assert model_identity("deepspeech")["kind"] == "zoo"
    net = torch.nn.Linear(3, 2)
    ident = model_identity(net)
    assert ident["kind"] == "module" and ident["state_sha256"] == state_sha256(net)
    with torch.no_grad():
        net.weight[0, 0] += 1
    assert model_identity(net) != ident
    net.scan_identity = {"hub": "org/model", "revision": "abc"}
    assert model_identity(net) == {"kind": "adapter", "hub": "org/model", "revision": "abc"}
    with pytest.raises(ArgumentTypeError):
        model_identity(3)


# --------------------------------------------------------------------------- persistence
def test_evaluate_writes_shards_manifest_and_loads(tmp_path):
    scan = _scan("evaluate", tmp_path, limit=10)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["task"] == "evaluate" and manifest["n_shards"] == 3
    assert manifest["model"]["sha256"] == model_identity("deepspeech")["sha256"]
    assert manifest["dataset"]["kind"] == "corpus" and manifest["dataset"]["n"] == 10
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        f"0000{s}.{ext}" for s in range(3) for ext in ("json", "parquet")
    ]
    frame = load(tmp_path)
    assert frame["index"].tolist() == list(range(10))
    assert {"hypothesis", "cer", "confidence"} <= set(frame.columns)
    assert frame["confidence"].between(0, 1).all()
    # The summary's CER is the corpus CER (lab.models.cer) of the same transcripts.
    from lab.models import cer

    assert scan.summary()["cer"] == pytest.approx(cer(frame["text"], frame["hypothesis"]))


@pytest.mark.parametrize("name", ["deepspeech", "transducer"])
def test_recognizer_evaluate_matches_transcribe_and_ctc_posteriors(tmp_path, name):
    # DeepSpeech's row comes from one forward pass, the Transducer's from its RNN-T search
    # and its CTC head: both must equal the public functions' answers
    from lab.models import ctc_posteriors, load_pretrained, transcribe

    frame = _scan("evaluate", tmp_path, model=name, limit=5).table()
    model, source = load_pretrained(name), as_source("test", limit=5)
    for i in range(5):
        wave = source.waveform(i)
        assert frame["hypothesis"][i] == transcribe(model, wave)
        confidence = float(ctc_posteriors(model, wave).max(axis=-1).mean())
        assert frame["confidence"][i] == pytest.approx(confidence, rel=1e-6)


def test_classifier_evaluate_matches_predict_keyword(tmp_path):
    from lab.models import load_pretrained, predict_keyword

    scan = _scan("evaluate", tmp_path, model="classifier", keywords_only=True, limit=6)
    model, source = load_pretrained("classifier"), as_source("test", keywords_only=True)
    expected = [predict_keyword(model, source.waveform(i)) for i in range(6)]
    assert scan.table()["prediction"].tolist() == expected
    assert scan.summary()["labelled"] == 6


def test_activations_top_utterances_rank_the_stored_values(tmp_path):
    scan = _scan("activations", tmp_path, layers=["layer_1", "rnn_output"], limit=9)
    indices, values = scan.arrays("layer_1/max")
    assert indices.tolist() == list(range(9)) and values.shape == (9, 256)
    top = scan.top_utterances("layer_1", 5, k=3)
    assert top["value"].tolist() == sorted(values[:, 5], reverse=True)[:3]
    assert top["id"].tolist() == [as_source("test").ids[i] for i in top["index"]]
    # The stored statistics are those of lab.models.activations on the same input.
    from lab.models import activations, as_features, load_pretrained

    model = load_pretrained("deepspeech")
    x = torch.from_numpy(as_features(model, as_source("test").waveform(4)))[None]
    with torch.no_grad():
        act = activations(model, x, ["rnn_output"], detach=True)["rnn_output"][0]
    np.testing.assert_allclose(scan.arrays("rnn_output/mean")[1][4], act.mean(0).numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ArgumentError, match="not scanned"):
        scan.top_utterances("layer_2", 0)


def test_masks_are_stored_compressed_and_valid(tmp_path):
    scan = _scan("masks", tmp_path, limit=3, shard_size=2, steps=4)
    table = scan.table()
    assert table["preserved"].all()
    mask = scan.mask(1)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert 1 - mask.mean() == pytest.approx(table.loc[1, "sparsity"])


@pytest.mark.parametrize("name, grid_bins", [("classifier", 257), ("transducer", None)])
def test_masks_of_the_zoo_classifier_and_transducer(tmp_path, name, grid_bins):
    # importance_mask reads them through their adapter (one decision frame; the Transducer's
    # CTC head) on their own features; the scan stores what it returns, per utterance
    from lab.interpret import importance_mask
    from lab.models import adapt, load_pretrained

    options = dict(method="optimize", steps=3, polish=False, seed=0)
    scan = _scan("masks", tmp_path, model=name, limit=2, keywords_only=name == "classifier",
                 **options)
    assert scan.manifest["params"]["grid"] == "features"
    assert scan.manifest["params"]["grid_seconds"] == pytest.approx(0.02)
    adapter = adapt(load_pretrained(name))
    source = as_source("test", limit=2, keywords_only=name == "classifier")
    table = scan.table()
    for i in range(2):
        direct = importance_mask(adapter, source.waveform(i), progress=False, **options)
        stored = scan.mask(i)
        assert np.array_equal(stored, direct.mask.astype(np.uint8))
        assert stored.shape == adapter.own_input(source.waveform(i)).shape
        assert grid_bins is None or stored.shape[1] == grid_bins
        assert table.loc[i, "sparsity"] == pytest.approx(direct.sparsity)
        assert table.loc[i, "preserved"] == direct.preserved
    if name == "classifier":  # the decision kept is a keyword
        from lab.data import KEYWORDS

        assert set(table["transcript"]) <= set(KEYWORDS)


def test_piq_metrics_per_utterance(tmp_path):
    scan = _scan("piq", tmp_path, model="classifier", keywords_only=True, limit=4)
    table = scan.table()
    assert (table["faithfulness"] == table["p_x"] - table["p_out"]).all()
    assert table["area"].between(0, 1).all() and (table["n_codes"] > 0).all()
    assert len(scan.manifest["model"]["piq_decoder_sha256"]) == 64


# -------------------------------------------------------------------------------- resume
def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}


def test_stop_keeps_finished_shards_and_resume_skips_them(tmp_path):
    stop = threading.Event()

    def after_two_shards(done, total):
        if done >= 8:
            stop.set()

    first = _scan("evaluate", tmp_path, on_progress=after_two_shards, should_stop=stop)
    assert first.interrupted and not first.complete and first.n_done == 8
    before = _mtimes(tmp_path)
    resumed = _scan("evaluate", tmp_path)
    assert resumed.complete and resumed.shards_computed == 1
    after = _mtimes(tmp_path)
    assert all(after[name] == when for name, when in before.items())  # untouched
    fresh = _scan("evaluate", tmp_path / "fresh")
    assert resumed.table().equals(fresh.table())


def test_ctrl_c_keeps_finished_shards(tmp_path):
    pressed = []

    def interrupt(done, total):
        if done >= 4 and not pressed:  # Ctrl-C, once
            pressed.append(done)
            raise KeyboardInterrupt

    scan = _scan("evaluate", tmp_path, on_progress=interrupt)
    assert scan.interrupted and scan.n_done == 4 and len(scan.table()) == 4
    assert not list((tmp_path / "shards").glob("*.tmp")) and not list(
        (tmp_path / "shards").glob(".*")
    )


def test_changed_model_or_parameters_are_refused(tmp_path):
    _scan("activations", tmp_path, layers=["layer_1"], limit=4)
    with pytest.raises(ArgumentError, match="different parameters.*layer_2"):
        _scan("activations", tmp_path, layers=["layer_2"], limit=4)
    with pytest.raises(ArgumentError, match="a different model"):
        _scan("activations", tmp_path, model="transducer", layers=["encoder"], limit=4)
    with pytest.raises(ArgumentError, match="a different dataset"):
        _scan("activations", tmp_path, layers=["layer_1"], limit=5)
    with pytest.raises(ArgumentError, match="a different shard size"):
        _scan("activations", tmp_path, layers=["layer_1"], limit=4, shard_size=2)
    # A raw module whose weights changed is another model too.
    from lab.models import load_pretrained

    net = load_pretrained("deepspeech")
    _scan("evaluate", tmp_path / "raw", model=net, limit=4)
    with torch.no_grad():
        net.layer_1[0].weight.mul_(1.01)  # a retrained model
    with pytest.raises(ArgumentError, match="a different model"):
        _scan("evaluate", tmp_path / "raw", model=net, limit=4)
    # resume=False starts over (and the old results are gone, not mixed).
    scan = _scan("evaluate", tmp_path / "raw", model=net, limit=4, resume=False)
    assert scan.complete and scan.shards_computed == 1


def test_unreadable_files_are_listed_and_the_scan_continues(tmp_path, wav_folder):
    root, rows = wav_folder
    scan = _scan("evaluate", tmp_path, data=str(root), limit=None, shard_size=2)
    assert scan.complete
    errors = scan.errors()
    assert errors["id"].tolist() == ["empty.flac", "nested/broken.wav"]
    assert (errors["stage"] == "load").all() and errors["error"].str.contains("AudioError").all()
    table = scan.table()
    assert sorted(table["id"]) == sorted(["a.flac", "d.flac", "nested/b.flac",
                                          "nested/deeper/c.flac"])
    assert scan.summary()["failed"] == 2 and scan.summary()["scored"] == 4
    assert load(tmp_path, errors=True).equals(errors)


def test_raw_ctc_module_and_reopened_source(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(26, 29))
    scan = _scan("evaluate", tmp_path, model=net, limit=4)
    assert scan.manifest["model"]["kind"] == "module" and len(scan.table()) == 4
    wave = scan.waveform(2)
    np.testing.assert_array_equal(wave, as_source("test").waveform(2))
    with pytest.raises(ArgumentError, match="holds no scan"):
        Scan(tmp_path / "nothing")


def test_cli_evaluate_and_refusal(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["evaluate", "--model", "classifier", "--data", "test", "--out", str(out),
            "--inprocess", "--limit", "5", "--keywords-only", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "evaluate scan complete" in printed and '"accuracy"' in printed
    assert main([*args[:-1], "--shard-size", "2", "--quiet"]) == 1
    assert "a different shard size" in capsys.readouterr().err


def test_cli_piq_takes_a_decoder_file(tmp_path, capsys):
    import lab.piq

    decoder = Path(lab.piq.__file__).parent / "checkpoints" / "piq_fidelity.pt"
    out = tmp_path / "piq"
    args = ["piq", "--model", "classifier", "--data", "test", "--out", str(out), "--inprocess",
            "--limit", "2", "--keywords-only", "--quiet", "--path", str(decoder)]
    assert main(args) == 0
    from_file = Scan(out)
    assert from_file.manifest["params"]["path"] == str(decoder)
    # the file is the shipped piq_fidelity decoder: same decoder identity, same metrics
    shipped = _scan("piq", tmp_path / "shipped", model="classifier", keywords_only=True,
                    limit=2, variant="piq_fidelity")
    other = _scan("piq", tmp_path / "other", model="classifier", keywords_only=True, limit=2)
    sha = from_file.manifest["model"]["piq_decoder_sha256"]
    assert sha == shipped.manifest["model"]["piq_decoder_sha256"]
    assert sha != other.manifest["model"]["piq_decoder_sha256"]
    assert from_file.table().equals(shipped.table())
    assert main([*args[:-1], str(tmp_path / "missing.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err


def test_errors_are_lab_errors():
    from lab.scan import ScanError

    assert issubclass(ScanError, LabError) and issubclass(ScanSourceError, ValueError)
    assert os.fspath(as_source("valid", limit=1).root)


def test_plain_modules_are_probed_and_keep_their_mode(tmp_path):
    class Pool(torch.nn.Module):  # a plain keyword classifier: logits (1, V)
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(26, 24)

        def forward(self, x):
            return self.head(x.mean(1))

    net = Pool().train()
    scan = _scan("evaluate", tmp_path, model=net, limit=3)
    assert net.training  # the caller's mode is restored
    assert scan.manifest["params"] == {"kind": "classifier"}
    assert scan.table()["confidence"].between(0, 1).all()
    with pytest.raises(ArgumentError, match="evaluate needs a recognizer"):
        _scan("evaluate", tmp_path / "bad", model=torch.nn.Flatten(0))
    # a module that cannot take (1, T, F) features is answered by name, for either task
    wrong = torch.nn.Linear(5, 2)
    for task in ("evaluate", "masks"):
        with pytest.raises(ArgumentError, match=rf"{task} calls model\(features \(1, T, F\)\); "
                                                r"Linear failed on a probe input"):
            _scan(task, tmp_path / f"wrong-{task}", model=wrong)
    with pytest.raises(ArgumentError, match="masks needs per-frame scores"):
        _scan("masks", tmp_path / "pool", model=net)


# ------------------------------------------------------------------------ adapted models
@pytest.fixture(scope="module")
def silero_vad():
    pytest.importorskip("silero_vad")
    from lab.models import load_pretrained

    return load_pretrained("silero_vad")


def _tiny_hf_ctc():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, pad_token_id=0)
    return transformers.Wav2Vec2ForCTC(config).eval()


def test_silero_vad_identity_is_its_adapter_and_weights(silero_vad):
    from lab.models import adapt

    ident = model_identity("silero_vad")
    assert ident["kind"] == "adapter" and ident["class"].endswith("silero.SileroVAD")
    assert ident["model_kind"] == "frame_scores" and ident["input_hop"] == 512
    assert ident["state_sha256"] == state_sha256(silero_vad.module)
    # the adapter and the module it wraps are the same model; another framing is not
    assert model_identity(silero_vad) == model_identity(silero_vad.module)
    assert model_identity(silero_vad) == ident
    assert model_identity(silero_vad.with_hop(160))["input_hop"] == 160
    # the zoo's adapter is its module
    from lab.models import load_pretrained

    zoo = load_pretrained("classifier")
    assert model_identity(adapt(zoo)) == model_identity(zoo)


def test_silero_vad_evaluate_is_speech_fraction_of_predict(tmp_path, silero_vad):
    from lab.models import predict

    scan = _scan("evaluate", tmp_path, model="silero_vad", limit=3, shard_size=2)
    assert scan.complete and scan.manifest["model"]["model_kind"] == "frame_scores"
    table = scan.table()
    source = as_source("test", limit=3)
    for i in range(3):
        scores = predict(silero_vad, source.waveform(i))
        row = table.iloc[i]
        assert row["frames"] == len(scores)
        assert row["speech_fraction"] == pytest.approx(float((scores >= 0.5).mean()))
        assert row["mean_score"] == pytest.approx(float(scores.mean()), abs=1e-6)
    summary = scan.summary()
    assert summary["n"] == 3 and 0.0 <= summary["speech_fraction"] <= 1.0
    # the adapter object itself is the same model: the scan resumes, nothing is redone
    assert _scan("evaluate", tmp_path, model=silero_vad.module, limit=3,
                 shard_size=2).complete


def test_silero_vad_activations_through_the_adapter(tmp_path, silero_vad):
    scan = _scan("activations", tmp_path, model=silero_vad, limit=3, shard_size=2)
    assert scan.manifest["params"]["layers"] == ["stft", "encoder", "rnn", "head"]
    indices, mean = scan.arrays("rnn/mean")
    assert indices.tolist() == [0, 1, 2] and mean.shape == (3, 128)
    # the stored statistics are the adapter's activations, neurons on the last axis
    act = silero_vad.activations(as_source("test", limit=3).waveform(1), ["rnn"])["rnn"][0]
    np.testing.assert_allclose(mean[1], act.reshape(-1, 128).mean(0).numpy(), rtol=1e-5,
                               atol=1e-6)
    assert len(scan.top_utterances("rnn", 0, k=3)) == 3
    with pytest.raises(ArgumentError, match="not layers of SileroVAD"):
        _scan("activations", tmp_path / "bad", model=silero_vad, layers=["nope"], limit=2)


def test_piq_on_a_frame_scores_model_names_what_a_scan_can_do(tmp_path, silero_vad):
    # PIQ reads classifiers; a VAD gets PIQ's reason and the tasks that do apply
    with pytest.raises(ArgumentError, match="PIQ needs a classifier.*task='masks'"):
        _scan("piq", tmp_path / "p", model=silero_vad, limit=2)


def test_hf_ctc_evaluate_and_activations(tmp_path):
    from lab.models import adapt, predict

    net = _tiny_hf_ctc()
    labels = ["<pad>", "|", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    adapter = adapt(net, labels=labels)
    scan = _scan("evaluate", tmp_path / "e", model=adapter, limit=2)
    ident = scan.manifest["model"]
    assert ident["adapter"] == "HFCTCModel" and ident["labels"] == labels
    table = scan.table()
    source = as_source("test", limit=2)
    for i in range(2):
        assert table.iloc[i]["hypothesis"] == predict(adapter, source.waveform(i))
        assert table.iloc[i]["chars"] == len(source.rows[i]["text"])
    assert np.isfinite(scan.summary()["cer"]) and 0 <= table["confidence"].max() <= 1
    # the raw model is adapted on its own (its default vocabulary: another identity)
    raw = _scan("evaluate", tmp_path / "raw", model=net, limit=2)
    assert raw.manifest["model"]["labels"] != labels
    assert raw.manifest["model"]["state_sha256"] == ident["state_sha256"]
    acts = _scan("activations", tmp_path / "a", model=adapter, limit=2)
    assert acts.manifest["params"]["layers"] == ["lm_head"] and len(acts.table()) == 2


def test_cli_scans_silero_vad(tmp_path, capsys, silero_vad):
    args = ["evaluate", "--model", "silero_vad", "--data", "test", "--out",
            str(tmp_path / "cli"), "--inprocess", "--limit", "2", "--quiet"]
    assert main(args) == 0
    assert '"speech_fraction"' in capsys.readouterr().out
