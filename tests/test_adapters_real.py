"""The real recordings (pocketsphinx-testdata, alsa-utils) and the real Silero VAD on them.

``make test`` installs the two Debian packages; where they are missing these tests skip
with the apt command that installs them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.data import RealDataMissing, RealRecordings, load_recording, real_recordings
from lab.data.real import INSTALL_HINT, POCKETSPHINX_DIR

torch.set_num_threads(1)

needs_packages = pytest.mark.skipif(
    not (POCKETSPHINX_DIR / "librivox").is_dir(), reason=f"needs `{INSTALL_HINT}`")


@needs_packages
def test_real_recordings_are_listed_with_transcripts_and_durations():
    recs = real_recordings()
    assert len(recs) == 20
    by_source = {s: [r for r in recs if r.source == s] for s in ("librivox", "cards", "raw",
                                                                  "alsa")}
    assert [len(v) for v in by_source.values()] == [5, 5, 2, 8]
    assert by_source["librivox"][1].text == "he was not an ill disposed young man"
    assert by_source["cards"][0].text == "ten of clubs"
    assert [r.text for r in by_source["raw"]] == ["go forward ten meters",
                                                  "two nine three four zero"]
    assert by_source["alsa"][0].text == "front center"
    assert all(0.5 < r.duration < 10 for r in recs)
    assert {r.sample_rate for r in by_source["alsa"]} == {48000}


@needs_packages
def test_recordings_load_at_16_khz():
    recs = real_recordings(["alsa", "raw"])
    for rec in (recs[0], recs[-1]):
        wave = load_recording(rec)
        assert wave.dtype == np.float32
        assert abs(len(wave) / 16000 - rec.duration) < 0.01
        assert 0.01 < float(np.abs(wave).max()) <= 1.0
    item = RealRecordings("cards")[0]
    assert item["text"] == "ten of clubs" and item["waveform"].ndim == 1


def test_missing_packages_name_the_apt_command(tmp_path):
    with pytest.raises(RealDataMissing, match="apt-get install pocketsphinx-testdata alsa-utils"):
        real_recordings(pocketsphinx_dir=tmp_path, alsa_dir=tmp_path)
    with pytest.raises(ValueError, match="sources: unknown"):
        real_recordings(["youtube"])


@needs_packages
def test_silero_hears_speech_in_every_real_recording_and_none_in_silence():
    pytest.importorskip("silero_vad")
    from lab.models import load_pretrained, predict

    vad = load_pretrained("silero_vad")
    fractions = []
    for rec in real_recordings():
        scores = predict(vad, load_recording(rec))
        assert scores.shape == (int(np.ceil(rec.duration * 16000 / 512)),)
        fractions.append(float((scores >= 0.5).mean()))
    assert min(fractions) > 0.3  # every clip has speech
    assert np.mean(fractions[:5]) > 0.75  # LibriVox sentences are mostly speech
    silence = predict(vad, np.zeros(16000, dtype=np.float32))
    assert float(silence.max()) < 0.1


@needs_packages
def test_zoo_models_read_real_speech_through_the_adapter_too():
    from lab.models import adapt, load_pretrained, predict, transcribe

    ds = load_pretrained("deepspeech")
    wave = load_recording(real_recordings("alsa")[0])
    assert predict(adapt(ds), wave) == transcribe(ds, wave)
    assert "synthetic" in adapt(ds).domain  # what panels show next to the text


@needs_packages
def test_evaluate_real_reports_next_to_the_synthetic_split():
    from lab.evaluate import evaluate_real, real_table

    results = evaluate_real(["classifier"], vad=False)
    r = results["classifier"]
    assert r["n"] == 7  # "go forward ten meters" and the six left/right channel names
    assert 0.0 <= r["accuracy"] <= 1.0 and r["test"]["n"] == 240
    assert "| KeywordClassifier | 7 |" in real_table(results)


def test_evaluate_real_without_the_packages_is_one_parser_line(monkeypatch, capsys):
    import lab.data.real as real
    from lab.evaluate import main

    monkeypatch.setattr(real, "POCKETSPHINX_DIR", real.Path("/nonexistent"))
    with pytest.raises(SystemExit):
        main(["--real", "--output", "/dev/null"])
    assert "apt-get install pocketsphinx-testdata alsa-utils" in capsys.readouterr().err
