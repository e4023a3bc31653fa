"""Utterance pickers shared by the panels: the corpus list and uploaded files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["AUDIO_ACCEPT", "UtterancePicker", "audio_upload", "corpus_sources", "take_upload"]

#: What every panel's upload button accepts.
AUDIO_ACCEPT = ".wav,.flac,.ogg,audio/*"


def audio_upload():
    """The upload button of every panel: one audio file."""
    import ipywidgets as W

    return W.FileUpload(accept=AUDIO_ACCEPT, multiple=False, description="Upload")


def corpus_sources(
    split: str = "test", limit: int | None = None, *, keywords_only: bool = False
) -> dict[str, Path]:
    """Dropdown label → audio path for the utterances of the shipped corpus ``split``.

    Every panel with an utterance picker takes its default list from here;
    ``keywords_only`` keeps the single-keyword utterances (the classifier's classes).

    Examples
    --------
    >>> sources = corpus_sources("test", limit=2)
    >>> len(sources), all(path.suffix == ".flac" for path in sources.values())
    (2, True)
    >>> len(corpus_sources("test", keywords_only=True)) < len(corpus_sources("test"))
    True
    """
    from lab.data import Corpus  # torch-backed; only needed when no sources were given

    corpus = Corpus(split=split, keywords_only=keywords_only, cache=False)
    sources: dict[str, Path] = {}
    for row in corpus.rows[:limit]:
        label = f"{row.text} · {row.voice} · {row.duration:.1f} s"
        sources[label if label not in sources else f"{label} ({row.path})"] = corpus.root / row.path
    return sources


def take_upload(panel, change) -> tuple[str, bytes] | None:
    """The newest file of a ``FileUpload`` change as ``(name, bytes)``, or None.

    Clears ``panel.upload`` so that choosing the same file again fires another change. An
    upload without a readable file is shown with ``panel.show_error`` (and None returned);
    a panel without ``show_error`` gets the exception.
    """
    files = change["new"]
    if not files:
        return None
    upload = files[-1]
    panel.upload.value = ()
    try:
        return str(upload["name"]), bytes(upload["content"])
    except (KeyError, TypeError, ValueError) as exc:
        show = getattr(panel, "show_error", None)
        if show is None:
            raise
        show(f"the upload carries no readable file ({type(exc).__name__}: {exc})",
             "Cannot use the upload")
        return None


class UtterancePicker:
    """Mixin for panels that pick an utterance from a dropdown or an upload.

    The panel provides ``self.source`` (Dropdown over the keys of ``self._sources``),
    ``self.upload`` (FileUpload observed with :meth:`_on_upload`) and
    ``load(source, label) -> bool``, which shows an error naming ``label`` (the file's name)
    and returns False for bad audio. An upload that carries no readable file is reported
    through the panel's ``show_error`` (see :class:`lab.widgets.base.Panel`).
    """

    _quiet = False

    def _picker_widgets(self, width: str = "420px") -> None:
        """Make ``self.source`` (over ``self._sources``) and ``self.upload``, tagged
        ``<css>-source`` / ``<css>-upload``; the panel observes them."""
        import ipywidgets as W

        self.source = self.tagged(W.Dropdown(options=list(self._sources),
                                             description="Utterance",
                                             layout=W.Layout(width=width)), "source")
        self.upload = self.tagged(audio_upload(), "upload")

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change widgets without their observers reloading the utterance."""
        self._quiet, before = True, self._quiet
        try:
            yield
        finally:
            self._quiet = before

    def _on_upload(self, change) -> None:
        taken = take_upload(self, change)
        if taken is None:
            return
        name, content = taken
        if not self.load(content, name):
            return
        label = f"⬆ {name}"
        self._sources[label] = content
        with self._quietly():
            self.source.options = list(self._sources)
            self.source.value = label
