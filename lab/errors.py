"""The lab's errors: one root, and each error also an instance of the builtin it refines.

``except lab.LabError`` catches every problem the lab reports on purpose; code that already
catches ``ValueError`` / ``TypeError`` / ``RuntimeError`` keeps working, because each lab error
subclasses the matching builtin too. A crash that is *not* a ``LabError`` is a bug in the lab.

Examples
--------
>>> from lab.errors import ArgumentError, LabError
>>> err = ArgumentError("blank must be in [0, 5), got 7")
>>> isinstance(err, LabError), isinstance(err, ValueError)
(True, True)
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "CheckpointError",
    "LabError",
    "Stopped",
]


class LabError(Exception):
    """Root of every error the lab raises on purpose."""


class ArgumentError(LabError, ValueError):
    """An argument has the right type but a value the function cannot use.

    The message names the argument and says what is expected.
    """


class ArgumentTypeError(LabError, TypeError):
    """An argument has a type the function cannot use; the message names it."""


class CheckpointError(LabError, RuntimeError):
    """A checkpoint file, its config or its index is missing, corrupt, unsafe or mismatched.

    The message names the file.
    """


class Stopped(LabError):
    """Long work was stopped (Stop button, stop token or Ctrl-C) before it finished.

    ``partial`` holds what was computed so far (its type depends on the computation), so a
    stop never loses finished work.
    """

    def __init__(self, message: str = "stopped", *, partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial
