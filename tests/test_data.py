"""Tests of the shipped corpus and lab.data (manifest, tokenizer, Dataset, collate)."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from lab.data import (
    ALPHABET,
    KEYWORDS,
    SPLITS,
    VOCABULARY,
    CharTokenizer,
    Corpus,
    CorpusError,
    Utterance,
    collate,
    corpus_dir,
    corpus_version,
    read_manifest,
    synth,
)


@pytest.fixture(scope="module")
def rows():
    return read_manifest()


def test_every_manifest_row_has_its_file_and_no_file_is_unlisted(rows):
    root = corpus_dir()
    listed = [row.path for row in rows]
    assert len(listed) == len(set(listed)), "duplicate paths in the manifest"
    on_disk = {p.relative_to(root).as_posix() for p in (root / "audio").rglob("*") if p.is_file()}
    assert set(listed) == on_disk
    assert {p.name for p in root.iterdir()} == {"audio", "manifest.csv", "VERSION"}


def test_manifest_durations_match_the_decoded_audio(rows):
    root = corpus_dir()
    for row in rows:
        samples, sr = sf.read(root / row.path, dtype="float32")
        assert sr == 16000 and samples.ndim == 1, row.path
        assert sf.info(root / row.path).format == "FLAC"
        assert abs(samples.size / sr - row.duration) < 0.010, row.path
        # Silence-only or clipped files would mean a broken synthesis run.
        assert 0.1 < np.abs(samples).max() <= 1.0, row.path


def test_corpus_has_at_least_a_thousand_sane_utterances(rows):
    assert len(rows) >= 1000
    tokenizer = CharTokenizer()
    vocabulary = set(VOCABULARY)
    for row in rows:
        assert 0.2 < row.duration < 6.0, row
        assert synth.SPEED_RANGE[0] <= row.speed <= synth.SPEED_RANGE[1], row
        assert re.fullmatch(r"[a-z']+( [a-z']+)*", row.text), row.text
        assert set(row.text.split()) <= vocabulary, row.text
        assert tokenizer.decode(tokenizer.encode(row.text)) == row.text


def test_keyword_column_marks_exactly_the_single_command_words(rows):
    for row in rows:
        if row.keyword:
            assert row.keyword in KEYWORDS and row.text == row.keyword, row
        else:
            assert row.text not in KEYWORDS, row


def test_splits_are_disjoint_by_voice_and_nonempty(rows):
    voices = {split: {row.voice for row in rows if row.split == split} for split in SPLITS}
    assert {row.split for row in rows} == set(SPLITS)
    assert all(voices.values())
    assert not voices["train"] & voices["test"]
    assert not voices["train"] & voices["valid"]
    assert not voices["valid"] & voices["test"]
    # Held-out variants are unheard in training under any accent, not just new combinations.
    variants = {split: {v.split("+")[1] for v in voices[split]} for split in SPLITS}
    assert not variants["train"] & variants["test"]


def test_variant_lists_are_disjoint_and_genders_balanced_in_every_split(rows):
    lists = [synth.TRAIN_VARIANTS, synth.VALID_VARIANTS, synth.TEST_VARIANTS]
    everything = [variant for variants in lists for variant in variants]
    assert len(everything) == len(set(everything))
    assert synth.FEMALE_VARIANTS <= set(everything)
    for split in SPLITS:
        female = [
            row.voice.split("+")[1] in synth.FEMALE_VARIANTS for row in rows if row.split == split
        ]
        assert abs(sum(female) - len(female) / 2) <= 1, split


def test_every_keyword_class_is_in_train_and_test_with_enough_train_examples(rows):
    for split, minimum in (("train", 40), ("test", 5)):
        counts = collections.Counter(row.keyword for row in rows if row.split == split)
        assert {k: counts[k] for k in KEYWORDS if counts[k] < minimum} == {}, split


def test_corpus_takes_at_most_25_mb():
    total = sum(p.stat().st_size for p in corpus_dir().rglob("*") if p.is_file())
    assert total <= 25_000_000


def test_manifest_is_what_the_seeded_generator_plans(rows):
    planned = synth.plan()
    fields = ("path", "text", "voice", "speed", "pitch", "split", "keyword")
    assert [tuple(getattr(u, f) for f in fields) for u in planned] == [
        tuple(getattr(r, f) for f in fields) for r in rows
    ]
    assert corpus_version() == synth.CORPUS_VERSION


def test_generator_explains_missing_tools(monkeypatch, tmp_path):
    monkeypatch.setattr(synth.shutil, "which", lambda tool: None)
    with pytest.raises(synth.SynthError, match="espeak-ng and sox not found"):
        synth.generate(tmp_path / "corpus")
    assert synth.main(["--out", str(tmp_path / "corpus")]) == 1
    assert not (tmp_path / "corpus").exists()


def test_quantize_keeps_12_bits_and_clips():
    out = synth.quantize(np.array([1.0, -1.0, 0.1, 1e-4], dtype=np.float32))
    assert out.dtype == np.int16
    assert np.all(out % 16 == 0)
    assert out.tolist() == [32752, -32768, 3280, 0]


def test_voices_rejects_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        synth.voices("dev")


# --- tokenizer -------------------------------------------------------------------------------


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_tokenizer_round_trip(text):
    tokenizer = CharTokenizer()
    ids = tokenizer.encode(text)
    assert len(ids) == len(text)
    assert all(1 <= i < len(tokenizer) for i in ids)
    assert tokenizer.decode(ids) == text
    # Blanks decode to nothing, and repeats are kept (collapsing is the decoder's job).
    assert tokenizer.decode([0] + [i for i in ids for _ in (0, 1)] + [0]) == "".join(
        c + c for c in text
    )


def test_tokenizer_ids_follow_the_documented_layout():
    tokenizer = CharTokenizer()
    assert len(tokenizer) == tokenizer.vocab_size == 29
    assert tokenizer.blank == 0
    assert tokenizer.encode(" az'") == [1, 2, 27, 28]
    assert tokenizer.decode(torch.tensor([9, 6, 13, 13, 16])) == "hello"


@pytest.mark.parametrize("text", ["Go", "go 2", "stop!", "café", "a\tb"])
def test_tokenizer_rejects_characters_outside_the_alphabet(text):
    with pytest.raises(ValueError, match="outside the tokenizer alphabet"):
        CharTokenizer().encode(text)


def test_tokenizer_rejects_bad_types_and_ids():
    with pytest.raises(TypeError, match="text must be a str"):
        CharTokenizer().encode(["a"])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 28\], got 29"):
        CharTokenizer().decode([2, 29])
    with pytest.raises(ValueError, match="got -1"):
        CharTokenizer().decode([-1])


# --- Corpus and collate ----------------------------------------------------------------------


@pytest.mark.parametrize(("features", "size"), [("mfcc", 26), ("log_mel", 40), ("log_power", 257)])
def test_corpus_item_shapes_and_types(features, size):
    corpus = Corpus("valid", features=features)
    item = corpus[3]
    row = corpus.rows[3]
    assert isinstance(item, Utterance)
    assert item.features.dtype == torch.float32 and item.features.ndim == 2
    assert item.features.shape[1] == size
    # 20 ms hop: 50 frames per second.
    assert abs(item.features.shape[0] - row.duration * 50) <= 2
    assert torch.isfinite(item.features).all()
    assert item.tokens.dtype == torch.long
    assert CharTokenizer().decode(item.tokens) == item.text == row.text
    assert item.label == (KEYWORDS.index(row.keyword) if row.keyword else -1)
    assert (item.path, item.voice) == (row.path, row.voice)


def test_keywords_only_corpus_labels_every_item():
    corpus = Corpus("test", features="log_mel", keywords_only=True, cache=False)
    assert len(corpus) == sum(1 for row in read_manifest(split="test") if row.keyword)
    for i in (0, len(corpus) // 2, -1):
        item = corpus[i]
        assert item.label >= 0 and KEYWORDS[item.label] == item.text


def test_feature_cache_computes_each_item_once_and_is_not_aliased(monkeypatch):
    corpus = Corpus("valid", features="mfcc")
    calls = []
    original = corpus.waveform
    monkeypatch.setattr(corpus, "waveform", lambda i: calls.append(i) or original(i))
    first = corpus[0]
    first.features.zero_()
    second = corpus[0]
    assert calls == [0]
    assert second.features.abs().sum() > 0
    uncached = Corpus("valid", features="mfcc", cache=False)[0]
    assert torch.equal(second.features, uncached.features)


def test_corpus_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        Corpus("training")
    with pytest.raises(ValueError, match="features must be one of"):
        Corpus("test", features="spectrogram")
    with pytest.raises(IndexError, match="out of range"):
        Corpus("valid", cache=False)[10_000]


def test_read_manifest_explains_missing_or_malformed_files(tmp_path: Path):
    with pytest.raises(CorpusError, match="manifest not found"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("path,text\na.flac,yes\n")
    with pytest.raises(CorpusError, match="expected"):
        read_manifest(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        read_manifest(split="dev")


def _utterance(frames: int, text: str, label: int = -1) -> Utterance:
    features = torch.arange(frames * 3, dtype=torch.float32).reshape(frames, 3) + 1
    tokens = torch.tensor(CharTokenizer().encode(text), dtype=torch.long)
    return Utterance(features, tokens, text, label, f"{text}.flac", "v")


def test_collate_pads_with_zeros_and_reports_lengths():
    items = [_utterance(4, "go"), _utterance(7, "stop now", 8), _utterance(1, "a")]
    batch = collate(items)
    assert batch.features.shape == (3, 7, 3)
    assert batch.tokens.shape == (3, 8)
    assert batch.feature_lengths.tolist() == [4, 7, 1]
    assert batch.token_lengths.tolist() == [2, 8, 1]
    assert batch.labels.tolist() == [-1, 8, -1]
    assert batch.texts == ["go", "stop now", "a"]
    for i, item in enumerate(items):
        n, u = item.features.shape[0], item.tokens.shape[0]
        assert torch.equal(batch.features[i, :n], item.features)
        assert torch.all(batch.features[i, n:] == 0)
        assert torch.equal(batch.tokens[i, :u], item.tokens)
        assert torch.all(batch.tokens[i, u:] == 0)
    assert batch.features.dtype == torch.float32 and batch.tokens.dtype == torch.long


def test_collate_rejects_empty_and_mixed_batches():
    with pytest.raises(ValueError, match="at least one utterance"):
        collate([])
    odd = Utterance(torch.zeros(2, 5), torch.tensor([2]), "a", -1, "x", "v")
    with pytest.raises(ValueError, match="same feature size"):
        collate([_utterance(2, "a"), odd])


def test_dataloader_with_collate_batches_the_corpus():
    loader = DataLoader(Corpus("valid", features="log_mel"), batch_size=4, collate_fn=collate)
    batch = next(iter(loader))
    assert batch.features.shape[0] == 4 and batch.features.shape[2] == 40
    assert int(batch.feature_lengths.max()) == batch.features.shape[1]
    assert len(batch) == 4
