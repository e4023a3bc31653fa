"""Panel: what every panel shares — a root widget, CSS hooks, notebook display, errors.

A panel is a plain Python object holding its widgets; ``panel.widget`` is the root that
Jupyter shows when the panel is the value of a cell. Every part carries a CSS class
``<css>-<part>`` (:meth:`Panel.tagged`) so browser tests and users' stylesheets can find it,
and every problem — bad audio, a model that raises, a worker thread that fails — ends up as
readable text in the panel's error display (:meth:`Panel.show_error`), never as a traceback
in the output area or a status that stays "computing…" forever.
"""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar

import ipywidgets as W

from lab.errors import LabError

__all__ = ["Panel", "describe_error"]

Wid = TypeVar("Wid", bound=W.Widget)

# Object reprs say nothing to a reader ("<_io.BytesIO object at 0x7f…>"), and an upload's
# own name is better than "<9 bytes of audio>".
_OBJECT_REPR = re.compile(r"(Error opening )?<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")
_BYTES_LABEL = re.compile(r"^<\d+ bytes of audio>:\s*")


def describe_error(error: BaseException | str, context: str = "") -> str:
    """One readable line for ``error``, prefixed with ``context`` (``"Cannot use x.wav"``).

    The lab's own errors (and ValueError / TypeError) speak for themselves; anything else
    gets its type name, since its message may be terse (``KeyError: 'x'``).

    Examples
    --------
    >>> describe_error(ValueError("<9 bytes of audio>: cannot be decoded: Error opening "
    ...                           "<_io.BytesIO object at 0x7f00>: Format not recognised."),
    ...                "Cannot use junk.wav")
    'Cannot use junk.wav: cannot be decoded: Format not recognised.'
    >>> describe_error(ZeroDivisionError("division by zero"))
    'ZeroDivisionError: division by zero'
    """
    if isinstance(error, str):
        text = error
    elif isinstance(error, LabError | ValueError | TypeError) and str(error):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = _OBJECT_REPR.sub("", text)
    if context:
        text = _BYTES_LABEL.sub("", text)
        text = f"{context}: {text}"
    return " ".join(text.split())  # one line: labels do not wrap newlines nicely


class Panel:
    """Base class of the lab's panels.

    Subclasses set :attr:`css` (and :attr:`root_css` when the root's class is not
    ``<css>-panel``), build their widgets with :meth:`tagged`, and end their constructor with
    :meth:`_set_root`. Errors go through :meth:`show_error` / :meth:`clear_error`.

    Attributes
    ----------
    widget : ipywidgets.Widget
        The root widget; displaying the panel displays it.
    error : ipywidgets.Label or ipywidgets.HTML
        Where errors are shown: a red label ``<css>-error`` by default; a panel may point it at
        its status line instead (:meth:`_use_error_display`).

    Examples
    --------
    >>> class Hello(Panel):
    ...     css = "lab-hello"
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.text = self.tagged(W.HTML("hi"), "text")
    ...         self._set_root(W.VBox([self.text, self.error]))
    >>> panel = Hello()
    >>> panel.widget._dom_classes, panel.text._dom_classes
    (('lab-hello-panel',), ('lab-hello-text',))
    >>> _ = panel.show_error(KeyError("x"), "Cannot load")
    >>> panel.error.value
    "Cannot load: KeyError: 'x'"
    >>> panel.clear_error(); panel.error.value
    ''
    >>> sorted(panel._repr_mimebundle_())[-1], repr(panel)
    ('text/plain', 'Hello()')
    """

    css: ClassVar[str] = "lab-panel"
    root_css: ClassVar[str | None] = None

    def __init__(self) -> None:
        self.error = self.tagged(W.Label(style={"text_color": "#b00020"}), "error")
        self._error_html = False
        self._error_shown = False

    # --- building -----------------------------------------------------------------------------

    def tagged(self, widget: Wid, part: str) -> Wid:
        """Add the CSS class ``<css>-<part>`` to ``widget`` and return it."""
        widget.add_class(f"{self.css}-{part}")
        return widget

    def _set_root(self, root: W.Widget) -> W.Widget:
        root.add_class(self.root_css or f"{self.css}-panel")
        self.widget = root
        return root

    def _use_error_display(self, display: W.HTML | W.Label) -> None:
        """Show errors in ``display`` (e.g. the status line) instead of a separate label."""
        self.error = display
        self._error_html = isinstance(display, W.HTML)

    # --- errors -------------------------------------------------------------------------------

    def show_error(self, error: BaseException | str, context: str = "") -> str:
        """Show ``error`` (an exception or a message) readably; returns the text shown."""
        text = describe_error(error, context)
        if self._error_html:
            import html

            self.error.value = f"<span style='color:#b00'>{html.escape(text)}</span>"
        else:
            self.error.value = text
        self._error_shown = True
        self._on_error(text)
        return text

    def clear_error(self) -> None:
        """Remove a shown error (a status line that shows no error is left alone)."""
        if self._error_shown:
            self.error.value = ""
            self._error_shown = False

    def _on_error(self, text: str) -> None:
        """Hook: a panel that also marks other parts as failed (a badge) overrides this."""

    # --- display ------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # A widget's own text repr lists every option of every child: long and noisy.
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
