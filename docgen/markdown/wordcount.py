"""Counting words the way LongWriter does, incrementally, and its length score.

A word is a CJK character or a run of Latin letters, so "don't" is two words and
"深度学习" is four. Counting works chunk by chunk without keeping the text.
"""

from __future__ import annotations

import re

_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_LATIN}]+|[{_CJK}]")
_LATIN_CHAR = re.compile(f"[{_LATIN}]")


def count_words(text: str) -> int:
    """Words in ``text``: CJK characters plus runs of Latin letters."""
    return len(_WORD.findall(text))


class WordCounter:
    """Counts words across chunks; a word split between two chunks counts once."""

    __slots__ = ("words", "_in_word")

    def __init__(self, words: int = 0) -> None:
        self.words = words
        self._in_word = False

    def add(self, text: str) -> int:
        if not text:
            return self.words
        n = len(_WORD.findall(text))
        if self._in_word and _LATIN_CHAR.match(text):
            n -= 1
        self._in_word = bool(_LATIN_CHAR.match(text[-1]))
        self.words += n
        return self.words


def length_score(required: int, produced: int) -> float:
    """LongWriter's S_l: 100 for an exact hit, falling off faster when too short."""
    if required <= 0:
        return 100.0
    if produced <= 0:
        return 0.0
    if produced > required:
        return 100.0 * max(0.0, 1 - (produced / required - 1) / 3)
    return 100.0 * max(0.0, 1 - (required / produced - 1) / 2)
