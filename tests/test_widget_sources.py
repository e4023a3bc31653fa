"""The utterance picker shared by the panels: corpus list and uploads."""

from __future__ import annotations

import datetime

import ipywidgets as W

from lab.widgets import MaskPanel, MFCCPanel, PIQPanel
from lab.widgets.sources import UtterancePicker, corpus_sources


class _Picker(UtterancePicker):
    def __init__(self):
        self._sources = {"first": b"a"}
        self.source = W.Dropdown(options=list(self._sources))
        self.upload = W.FileUpload()
        self.upload.observe(self._on_upload, names="value")
        self.source.observe(self._on_source, names="value")
        self.loaded: list[tuple[bytes, str | None]] = []
        self.selected: list[str] = []

    def load(self, source, label=None) -> bool:
        self.loaded.append((source, label))
        return source != b"bad"

    def _on_source(self, change):
        if not self._quiet:
            self.selected.append(change["new"])


def _file(name: str, content: bytes) -> dict:
    return {"name": name, "type": "audio/wav", "size": len(content), "content": content,
            "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}


def test_same_file_uploaded_twice_loads_twice():
    picker = _Picker()
    picker.upload.value = (_file("x.wav", b"good"),)
    picker.upload.value = (_file("x.wav", b"good"),)
    assert picker.loaded == [(b"good", "x.wav"), (b"good", "x.wav")]
    assert picker.source.value == "⬆ x.wav"
    assert list(picker.source.options) == ["first", "⬆ x.wav"]
    assert picker.selected == []  # selecting the upload does not load it a second time
    assert picker.upload.value == ()


def test_bad_upload_leaves_the_picker_unchanged():
    picker = _Picker()
    picker.upload.value = (_file("junk.wav", b"bad"),)
    assert picker.loaded == [(b"bad", "junk.wav")]
    assert list(picker.source.options) == ["first"]
    assert picker.source.value == "first"


def test_every_panel_with_an_upload_uses_the_shared_picker():
    assert all(issubclass(cls, UtterancePicker) for cls in (MFCCPanel, MaskPanel, PIQPanel))


def test_keyword_sources_are_a_subset_labelled_like_the_rest():
    everything = corpus_sources("test")
    keywords = corpus_sources("test", keywords_only=True)
    assert keywords and set(keywords) < set(everything)
    assert all(everything[label] == path for label, path in keywords.items())


def test_every_panel_has_the_one_base_class():
    from lab.widgets import AlignmentPanel, DependencyPanel, FeatureVizPanel, Panel

    panels = (AlignmentPanel, DependencyPanel, FeatureVizPanel, MaskPanel, MFCCPanel, PIQPanel)
    assert all(issubclass(cls, Panel) for cls in panels)
    # one display path: nobody keeps a private copy of it
    assert all("_repr_mimebundle_" not in vars(cls) for cls in panels)
