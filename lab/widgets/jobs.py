"""PanelJob: the Run and Stop buttons, the progress bar and the worker thread of a panel action.

A panel's long computation (an optimization, a search, a dependency matrix) runs in a
background thread when started from its Run button or a control, so the Stop button and the
rest of the notebook stay responsive; scripts and tests run the same work synchronously with
``wait=True``. The work is handed ``should_stop`` (poll it, or pass it as a
:mod:`lab.runtime` stop token) and ``report(done, total)`` (feed it progress, or pass it as
``on_progress``).

Whatever the work raises reaches ``on_error`` (the panel shows it), so a failed run never
leaves a panel saying "computing…"; the progress bar turns red.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import ipywidgets as W

__all__ = ["PanelJob", "busy"]

T = TypeVar("T")


@contextmanager
def busy(display: W.HTML, text: str) -> Iterator[None]:
    """Show ``text`` with a spinner in ``display`` while the block runs (in the kernel thread).

    For synchronous work that may take more than ~0.3 s (loading a model's transcription, an
    interpretation): the message reaches the browser before the work starts, and is cleared
    when it ends, however it ends.

    Examples
    --------
    >>> note = W.HTML()
    >>> with busy(note, "transcribing"):
    ...     "transcribing" in note.value
    True
    >>> note.value
    ''
    """
    display.value = (f"<span class='lab-busy' style='color:#0969da'>⏳ "
                     f"{html.escape(text)}…</span>")
    try:
        yield
    finally:
        display.value = ""


class PanelJob:
    """Run/Stop buttons, an ``IntProgress`` bar and at most one running piece of work.

    Parameters
    ----------
    tag : callable
        ``tag(widget, part) -> widget`` adds the panel's CSS class for ``part`` (``run``,
        ``stop``, ``progress``), so every panel keeps its own class names.
    run_label : str
        Text of the Run button.
    on_error : callable, optional
        ``on_error(exception)`` for an exception raised by the work (any ``Exception``); the
        run then returns None. Without it the exception propagates (``wait=True``) or is
        reported by the thread.

    Attributes
    ----------
    run_button, stop_button : ipywidgets.Button
        Run is disabled while the work runs, Stop only then. The panel wires Run's click to its
        own method (which calls :meth:`start`); Stop is wired here.
    progress : ipywidgets.IntProgress
        ``max`` and ``value`` follow :meth:`report`; blue while running (the busy
        indicator), green when done, red after an error.
    readout : ipywidgets.Label
        Numbers next to the bar (part ``progress-text``): ``done/total · elapsed s`` while
        running, then how it ended ("done", "stopped", "failed").
    controls : ipywidgets.HBox
        The four widgets in a row.

    Examples
    --------
    >>> job = PanelJob(lambda widget, part: widget)
    >>> def work():
    ...     for step in range(1, 5):
    ...         if job.should_stop():
    ...             break
    ...         job.report(step, 4)
    ...     return "done"
    >>> job.start(work, wait=True)
    'done'
    >>> job.progress.value, job.progress.max, job.run_button.disabled, job.running
    (4, 4, False, False)
    >>> job.readout.value.startswith("4/4 · ") and job.readout.value.endswith("· done")
    True
    >>> failed = PanelJob(lambda widget, part: widget, on_error=lambda exc: print("shown:", exc))
    >>> failed.start(lambda: 1 / 0) is None
    shown: division by zero
    True
    >>> failed.progress.bar_style
    'danger'
    """

    def __init__(self, tag: Callable[[W.Widget, str], W.Widget], *, run_label: str = "Run",
                 on_error: Callable[[Exception], object] | None = None):
        self.run_button = tag(W.Button(description=run_label, button_style="primary"), "run")
        self.stop_button = tag(W.Button(description="Stop", disabled=True), "stop")
        self.progress = tag(W.IntProgress(value=0, min=0, max=1), "progress")
        self.readout = tag(W.Label(layout=W.Layout(min_width="190px")), "progress-text")
        self.controls = W.HBox([self.run_button, self.stop_button, self.progress, self.readout])
        self._t0 = time.perf_counter()
        self._shown_at = 0.0
        self.on_error = on_error
        self._stop = threading.Event()
        self._busy = threading.Lock()  # held while work runs, in whichever thread runs it
        self._lock = threading.Lock()  # guards _next
        self._next: tuple[Callable[[], object], int] | None = None
        self._thread: threading.Thread | None = None
        self.stop_button.on_click(lambda _b: self.stop())

    @property
    def running(self) -> bool:
        """True while a piece of work runs."""
        return self._busy.locked()

    def should_stop(self) -> bool:
        """What the work polls: True once Stop was pressed (or :meth:`stop` called)."""
        return self._stop.is_set()

    def report(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` work units in the progress bar."""
        total = max(1, int(total))
        if self.progress.max != total:
            # Lower the value first: IntProgress clamps value to max, in either order.
            self.progress.value = min(self.progress.value, total)
            self.progress.max = total
        self.progress.value = max(0, min(int(done), total))
        now = time.perf_counter()
        # a few updates a second: each is a message to the browser
        if now - self._shown_at >= 0.1 or self.progress.value == total:
            self._shown_at = now
            self._show_numbers()

    def _show_numbers(self, end: str = "") -> None:
        elapsed = time.perf_counter() - self._t0
        text = f"{self.progress.value}/{self.progress.max} · {elapsed:.1f} s"
        self.readout.value = f"{text} · {end}" if end else text

    def start(self, work: Callable[[], T], *, wait: bool = True,
              total: int = 1) -> T | None:
        """Run ``work()``; ignored (returns None) while another run is still going.

        Parameters
        ----------
        work : callable
            Takes no arguments; polls :meth:`should_stop` and calls :meth:`report`.
        wait : bool
            True runs it here and returns its result; False starts a daemon thread and
            returns None at once (what the Run button does).
        total : int
            Initial ``max`` of the progress bar until the work reports its own.

        Returns
        -------
        The work's result when ``wait``; otherwise None (also when the work failed and
        ``on_error`` showed why).
        """
        if not self._busy.acquire(blocking=False):
            return None
        self._begin(total)
        if wait:
            return self._body(work)
        self._thread = threading.Thread(target=self._chain, args=(work,), daemon=True)
        self._thread.start()
        return None

    def replace(self, work: Callable[[], T], *, wait: bool = True,
                total: int = 1) -> T | None:
        """Run ``work()`` instead of whatever runs now: the latest request wins.

        A run still going is asked to stop; with ``wait=False`` ``work`` starts in the same
        worker thread as soon as that run ends (a later :meth:`replace` before then replaces
        it in turn), with ``wait=True`` this waits for the run to end and then runs ``work``
        here. Controls whose every change recomputes (sliders) use this.
        """
        with self._lock:
            if self.running and not wait:
                self._next = (work, total)
                self._stop.set()
                return None
            self._next = None
        if self.running:
            self._stop.set()
            self.wait()
        return self.start(work, wait=wait, total=total)

    def stop(self) -> None:
        """Ask the running work to stop; it finishes with what it has."""
        with self._lock:
            self._next = None  # Stop means stop: nothing queued starts afterwards
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run to end; True when nothing runs any more."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return not self.running

    # --- internals ----------------------------------------------------------------------------

    def _begin(self, total: int) -> None:
        self._stop.clear()
        self.progress.bar_style = "info"
        self.progress.max = max(1, int(total))
        self.progress.value = 0
        self._t0 = time.perf_counter()
        self._shown_at = 0.0
        self.readout.value = f"0/{self.progress.max} · running…"
        self.run_button.disabled = True
        self.stop_button.disabled = False

    def _body(self, work: Callable[[], T]) -> T | None:
        failed = False
        try:
            return work()
        except Exception as exc:
            failed = True
            if self.on_error is None:
                raise
            self.on_error(exc)
            return None
        finally:
            self.progress.bar_style = "danger" if failed else "success"
            self._show_numbers("failed" if failed else
                               "stopped" if self._stop.is_set() else "done")
            self.run_button.disabled = False
            self.stop_button.disabled = True
            self._busy.release()

    def _chain(self, work: Callable[[], object]) -> None:
        """Thread body: run ``work``, then whatever :meth:`replace` queued meanwhile."""
        while True:
            self._body(work)
            with self._lock:
                queued, self._next = self._next, None
                if queued is None or not self._busy.acquire(blocking=False):
                    return
                work, total = queued
                self._begin(total)
