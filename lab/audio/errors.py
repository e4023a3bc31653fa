"""The error raised for audio that the lab cannot use."""

from lab.errors import LabError


class AudioError(LabError, ValueError):
    """Audio the lab cannot use: missing, unreadable, empty, non-finite or unsupported layout.

    The message names the file (or the argument) and what was wrong with it. ``source``
    holds that name so that panels can show it without parsing the message.

    Examples
    --------
    >>> err = AudioError("no such file", source="a.wav")
    >>> str(err), err.source
    ('a.wav: no such file', 'a.wav')
    """

    def __init__(self, problem: str, *, source: str | None = None) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}" if source else problem)


class AudioWarning(UserWarning):
    """Audio the lab could use but had to correct: a truncated file, samples beyond [-1, 1].

    Examples
    --------
    >>> issubclass(AudioWarning, UserWarning)
    True
    """
