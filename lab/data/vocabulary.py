"""The corpus's closed vocabulary: keyword classes, digits and the few words phrases add.

A small, fixed vocabulary is what lets a tiny model trained for minutes on two CPU cores
reach a low character error rate on voices it never heard.
"""

from __future__ import annotations

#: Keyword classes, in class-index order. Chosen to be acoustically distinct single words.
KEYWORDS: list[str] = [
    "yes", "no", "up", "down", "left", "right", "on", "off",
    "stop", "go", "start", "pause", "play", "next", "back", "open",
    "close", "louder", "quieter", "help", "cancel", "repeat", "menu", "home",
]  # fmt: skip

#: Digits as spoken in digit strings ("three one four").
DIGITS: list[str] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
]  # fmt: skip

#: Words that only occur inside phrases; the apostrophes exercise the tokenizer's alphabet.
PHRASE_WORDS: list[str] = [
    "please", "now", "the", "turn", "volume", "music", "light", "door",
    "track", "page", "to", "set", "let's", "don't",
]  # fmt: skip

#: Every word that can occur in a transcript.
VOCABULARY: list[str] = KEYWORDS + DIGITS + PHRASE_WORDS
