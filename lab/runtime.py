"""One way to run long work: progress, stop, Ctrl-C, eval mode and device.

Every long computation in the lab (feature visualization, importance masks, dependency
matrices, top examples, PIQ training and evaluation, model training) takes the same three
keyword arguments and drives them through :class:`Task`:

- ``progress`` — ``True`` shows a tqdm bar, ``False`` shows nothing;
- ``on_progress`` — ``on_progress(done, total)`` is called as work units finish (panels feed
  their progress bars from it); the last call has ``done == total``, also after a stop;
- ``should_stop`` — a ``threading.Event`` or a callable polled between work units; when it
  is set the work ends early and returns (or raises :class:`lab.errors.Stopped` with) what
  it has. Ctrl-C / a kernel interrupt inside :meth:`Task.run_guard` does the same.

Models are switched to eval mode for the duration with :func:`evaluating`, which restores the
caller's mode afterwards, and inputs follow the model with :func:`model_device`.

Examples
--------
>>> import threading
>>> seen = []
>>> stop = threading.Event()
>>> with Task(5, progress=False, on_progress=lambda d, t: seen.append((d, t)),
...           should_stop=stop) as task:
...     for unit in range(5):
...         if task.stopped:
...             break
...         task.advance()
...         if unit == 1:
...             stop.set()
>>> seen
[(1, 5), (2, 5), (5, 5)]
>>> task.interrupted
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

from lab.errors import ArgumentTypeError

__all__ = ["ProgressHook", "StopToken", "Task", "as_stop", "evaluating", "model_device"]

ProgressHook = Callable[[int, int], None]
StopToken = threading.Event | Callable[[], bool] | None
M = TypeVar("M", bound=nn.Module)


def as_stop(should_stop: StopToken) -> Callable[[], bool]:
    """A ``() -> bool`` for any accepted stop token (None never stops).

    Examples
    --------
    >>> import threading
    >>> ev = threading.Event()
    >>> poll = as_stop(ev)
    >>> poll(), ev.set(), poll()
    (False, None, True)
    >>> as_stop(None)()
    False
    """
    if should_stop is None:
        return lambda: False
    if isinstance(should_stop, threading.Event):
        return should_stop.is_set
    if callable(should_stop):
        return lambda: bool(should_stop())
    raise ArgumentTypeError(
        f"should_stop must be a threading.Event, a callable or None, "
        f"got {type(should_stop).__name__}"
    )


class Task:
    """Progress and stop for one long computation.

    Parameters
    ----------
    total : int
        Work units expected; :meth:`set_total` changes it when the work finds out more.
    desc : str
        The progress bar's label.
    progress : bool
        Show a tqdm bar.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each :meth:`advance` and once more at the end.
    should_stop : threading.Event or callable, optional
        Polled by :attr:`stopped`.

    Attributes
    ----------
    done, total : int
    interrupted : bool
        True once the work saw a stop request or Ctrl-C: the result it returns is partial.
    """

    def __init__(self, total: int, *, desc: str = "", progress: bool = False,
                 on_progress: ProgressHook | None = None, should_stop: StopToken = None):
        if on_progress is not None and not callable(on_progress):
            raise ArgumentTypeError(
                f"on_progress must be a callable (done, total) or None, "
                f"got {type(on_progress).__name__}"
            )
        self.total = max(0, int(total))
        self.done = 0
        self.interrupted = False
        self._hook = on_progress
        self._poll = as_stop(should_stop)
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, leave=False)

    @property
    def stopped(self) -> bool:
        """True once a stop was requested (checked now) or Ctrl-C was caught."""
        if not self.interrupted and self._poll():
            self.interrupted = True
        return self.interrupted

    def set_total(self, total: int) -> None:
        """Change the number of expected units (never below what is done)."""
        self.total = max(int(total), self.done)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def advance(self, units: int = 1, *, report: bool = True) -> None:
        """Count ``units`` more finished units (capped at ``total``) and report them."""
        units = max(0, min(int(units), self.total - self.done))
        self.done += units
        if self._bar is not None and units:
            self._bar.update(units)
        if report and self._hook is not None:
            self._hook(self.done, self.total)

    def finish(self) -> None:
        """Jump to ``total``: stopped or shortened work is still finished work."""
        self.advance(self.total - self.done)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @contextmanager
    def run_guard(self) -> Iterator[Task]:
        """Turn Ctrl-C inside the block into a stop: the work keeps what it computed.

        Code after the block sees :attr:`interrupted` and returns its partial result.
        """
        try:
            yield self
        except KeyboardInterrupt:
            self.interrupted = True

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc) -> None:
        self.finish()


@contextmanager
def evaluating(model: M) -> Iterator[M]:
    """Put ``model`` in eval mode for the block and restore its previous mode after.

    Examples
    --------
    >>> net = torch.nn.Dropout().train()
    >>> with evaluating(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU when it has neither).

    Examples
    --------
    >>> model_device(torch.nn.Linear(2, 2))
    device(type='cpu')
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")
