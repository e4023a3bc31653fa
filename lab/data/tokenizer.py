"""Character tokenizer shared by every ASR model of the lab."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lab.errors import ArgumentError, ArgumentTypeError

#: Output symbols after the blank, in id order: id 1 is the space, ids 2-27 are a-z, 28 is "'".
ALPHABET = " abcdefghijklmnopqrstuvwxyz'"


class CharTokenizer:
    """Map lowercase English text to integer ids and back.

    Id 0 is the blank used by CTC and transducer losses, id 1 the space, ids 2-27 the letters
    a-z and id 28 the apostrophe, so models have ``len(tokenizer) == 29`` outputs.
    :meth:`decode` maps ids to characters one by one and drops blanks; it merges no repeats,
    because collapsing CTC paths is the decoder's business, not the tokenizer's.

    Examples
    --------
    >>> tok = CharTokenizer()
    >>> tok.encode("go up")
    [8, 16, 1, 22, 17]
    >>> tok.decode([8, 16, 1, 0, 22, 17])
    'go up'
    >>> len(tok)
    29
    """

    blank: int = 0
    alphabet: str = ALPHABET

    def __init__(self) -> None:
        self._ids = {char: i + 1 for i, char in enumerate(self.alphabet)}

    def __len__(self) -> int:
        return len(self.alphabet) + 1

    @property
    def vocab_size(self) -> int:
        """Number of ids including the blank (29)."""
        return len(self)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``.

        Raises
        ------
        TypeError
            If ``text`` is not a string.
        ValueError
            If ``text`` holds a character outside the alphabet (space, a-z, apostrophe);
            upper case, digits and punctuation must be normalized by the caller.
        """
        if not isinstance(text, str):
            raise ArgumentTypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return [self._ids[char] for char in text]
        except KeyError:
            bad = sorted({char for char in text if char not in self._ids})
            raise ArgumentError(
                f"text {text!r} contains characters outside the tokenizer alphabet: {bad}; "
                "expected only space, lowercase a-z and apostrophe (spell digits out, "
                "lowercase the text)"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids (a list, numpy array or 1-D tensor); blanks are dropped.

        Raises
        ------
        TypeError
            If ``ids`` is not a 1-D sequence of integers (floats are refused, not truncated).
        ValueError
            If an id is not in ``range(len(self))``.

        Examples
        --------
        >>> CharTokenizer().decode([2.0])
        Traceback (most recent call last):
        ...
        lab.errors.ArgumentTypeError: ids must be integers, got 2.0 (float)
        """
        if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
            raise ArgumentTypeError(
                f"ids must be a sequence of integers, got {type(ids).__name__}"
            )
        if getattr(ids, "ndim", 1) != 1:
            raise ArgumentError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
        chars = []
        for raw in ids.tolist() if hasattr(ids, "tolist") else ids:
            if isinstance(raw, bool) or not isinstance(raw, int | np.integer):
                raise ArgumentTypeError(
                    f"ids must be integers, got {raw!r} ({type(raw).__name__})"
                )
            i = int(raw)
            if not 0 <= i < len(self):
                raise ArgumentError(f"ids must lie in [0, {len(self) - 1}], got {i}")
            if i != self.blank:
                chars.append(self.alphabet[i - 1])
        return "".join(chars)
