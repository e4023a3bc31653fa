"""ScanPanel: sortable table, top utterances of a neuron with audio, masks, failed files."""

import shutil

import pytest

from lab.data import corpus_dir, read_manifest
from lab.scan import INPROCESS, run
from lab.widgets import ScanPanel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def activations_scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("acts")
    return run("activations", "test", model="deepspeech", out=out, client=INPROCESS,
               limit=8, shard_size=4, layers=["layer_1", "rnn_output"], progress=False)


def test_table_sorts_both_ways(activations_scan):
    panel = ScanPanel(activations_scan.out, rows=5)
    panel.sort("frames", descending=True)
    assert panel.frame["frames"].is_monotonic_decreasing and len(panel.frame) == 5
    first = panel.grid.value
    panel.descending.value = False  # the checkbox re-sorts too
    assert panel.frame["frames"].is_monotonic_increasing and panel.grid.value != first
    assert "lab-scan-table" in panel.grid._dom_classes
    with pytest.raises(ValueError, match="column must be one of"):
        panel.sort("nope")


def test_top_utterances_for_a_neuron_have_audio(activations_scan):
    panel = ScanPanel(activations_scan)
    ranking = panel.show_neuron("rnn_output", 7, k=3)
    expected = activations_scan.top_utterances("rnn_output", 7, k=3)
    assert ranking["id"].tolist() == expected["id"].tolist()
    assert len(panel.top.children) == 3
    audio = panel.top.children[0].children[1]
    assert audio.value[:4] == b"RIFF" and "lab-scan-audio" in audio._dom_classes
    assert panel.neuron.max == 255
    panel.neuron.value = 8  # the controls re-rank
    assert panel.ranking["value"].tolist() == activations_scan.top_utterances(
        "rnn_output", 8, k=3)["value"].tolist()


def test_masks_panel_shows_a_mask(tmp_path):
    scan = run("masks", "test", model="deepspeech", out=tmp_path, client=INPROCESS, limit=2,
               steps=4, progress=False)
    panel = ScanPanel(scan)
    panel.select(1)
    assert panel.mask_image.value[:4] == b"\x89PNG"
    caption = panel.mask_view.caption.value
    assert "time (s)" in caption and "feature index" in caption, caption  # a labelled view
    assert panel.top.children[0].value[:4] == b"RIFF"


def test_failed_files_are_listed(tmp_path):
    folder = tmp_path / "wavs"
    folder.mkdir()
    row = read_manifest(None, split="test")[0]
    shutil.copy(corpus_dir() / row.path, folder / "good.flac")
    (folder / "bad.wav").write_bytes(b"not audio")
    scan = run("evaluate", str(folder), model="deepspeech", out=tmp_path / "out",
               client=INPROCESS, progress=False)
    panel = ScanPanel(scan)
    assert "1 utterance(s) could not be scanned" in panel.failed.value
    assert "bad.wav" in panel.failed.value and len(panel.frame) == 1
