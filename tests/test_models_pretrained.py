"""load_pretrained: round trip and every refusal (missing, corrupt, hash, config, code)."""

import json

import pytest
import torch

from lab.models import (
    CheckpointError,
    DeepSpeech,
    KeywordClassifier,
    available,
    export_checkpoint,
    load_pretrained,
)
from lab.models.pretrained import sha256_file


@pytest.fixture
def zoo(tmp_path):
    torch.manual_seed(0)
    model = DeepSpeech(n_hidden=16).eval()
    export_checkpoint(model, "tiny", directory=tmp_path, corpus_version="test", metrics={})
    return tmp_path, model


def _edit_index(directory, **changes):
    index_path = directory / "index.json"
    index = json.loads(index_path.read_text())
    index["tiny"].update(changes)
    index_path.write_text(json.dumps(index))


def test_round_trip_gives_the_same_model(zoo):
    directory, model = zoo
    loaded = load_pretrained("tiny", directory=directory)
    assert isinstance(loaded, DeepSpeech) and not loaded.training
    x = torch.randn(1, 9, 26)
    torch.testing.assert_close(loaded(x), model(x))
    assert available(directory) == ["tiny"]


def test_unknown_name_lists_available(zoo):
    with pytest.raises(CheckpointError, match=r"no checkpoint named 'nope'.*\['tiny'\]"):
        load_pretrained("nope", directory=zoo[0])


def test_missing_file(zoo):
    (zoo[0] / "tiny.pt").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_pretrained("tiny", directory=zoo[0])


def test_hash_mismatch(zoo):
    path = zoo[0] / "tiny.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256.*corrupt or was replaced"):
        load_pretrained("tiny", directory=zoo[0])


def test_corrupt_bytes_with_matching_hash(zoo):
    directory = zoo[0]
    path = directory / "tiny.pt"
    path.write_bytes(path.read_bytes()[:200])  # truncated
    _edit_index(directory, sha256=sha256_file(path))
    with pytest.raises(CheckpointError, match="cannot be read|refused"):
        load_pretrained("tiny", directory=directory)


def test_config_mismatch(zoo):
    directory = zoo[0]
    index = json.loads((directory / "index.json").read_text())
    _edit_index(directory, config={**index["tiny"]["config"], "n_hidden": 32})
    with pytest.raises(CheckpointError, match="does not match the index"):
        load_pretrained("tiny", directory=directory)


def test_architecture_mismatch(zoo):
    _edit_index(zoo[0], architecture="KeywordClassifier")
    with pytest.raises(CheckpointError, match="does not match the index"):
        load_pretrained("tiny", directory=zoo[0])


def test_weights_that_do_not_fit_the_config(tmp_path):
    model = KeywordClassifier(dim=16, widths=(8, 8))
    path = export_checkpoint(model, "tiny", directory=tmp_path, corpus_version="t", metrics={})
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["head.weight"] = torch.zeros(3, 3)
    torch.save(payload, path)
    _edit_index(tmp_path, sha256=sha256_file(path))
    with pytest.raises(CheckpointError, match="do not fit the config"):
        load_pretrained("tiny", directory=tmp_path)


class _Payload:
    """Unpickling this object would run ``mkdir`` — the attack weights_only=True stops."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.mkdir, (str(self.target),))


def test_pickle_carrying_code_is_refused(zoo):
    directory = zoo[0]
    marker = directory / "code-ran"
    path = directory / "tiny.pt"
    torch.save({"architecture": "DeepSpeech", "config": {}, "state_dict": _Payload(marker)}, path)
    _edit_index(directory, sha256=sha256_file(path))  # the hash check alone would pass
    with pytest.raises(CheckpointError, match="refused by the safe loader"):
        load_pretrained("tiny", directory=directory)
    assert not marker.exists()
    # The same bytes with the unsafe loader would have run the code: the test is not vacuous.
    torch.load(path, weights_only=False)
    assert marker.exists()
