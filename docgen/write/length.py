"""Length as a budget, honoured inside a reply.

A document with a word target is written in three phases:

- **body**: replies capped (``max_tokens``) to the words still wanted, with tokens per
  word learned from the server's own usage counts (starting low, so the first reply
  undershoots rather than overshoots). Once the body target is passed, the stream is
  stopped at the next sentence end or paragraph break (or after a short grace).
- **closing**: one short continuation that asks the model to finish its point and
  conclude, capped; its words are the room left between the body target and the target.
- A model that stops by itself well short of the target is asked to **develop** the
  document further, a bounded number of times.

``finish`` cuts a closing that was itself cut off back to its last complete sentence
(see ``markdown/ending.py``), so a document never ends mid-word or on a heading. When
that cut would leave the text short (a model that ran on without ever ending a
sentence), ``short_clean_prefix`` finds it first and the chain writes on from there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from docgen.markdown.wordcount import count_words

START_TOKENS_PER_WORD = 1.3  # low on purpose: an early reply falls short rather than runs over
MIN_REPLY_TOKENS = 48
SHORT = 0.9  # a document under this share of its target is short: ask the model to develop it
_SENTENCE_END = re.compile(r"(?:[.!?…][\"'”’)\]*_]*\s|[。！？]|\n\s*\n)")


def closing_words(target: int) -> int:
    """The room kept for the closing: about 8% of the target, between 25 and 200 words."""
    return max(25, min(200, round(target * 0.08)))


@dataclass
class LengthBudget:
    """The words a chain is asked for, and what a reply may spend of them."""

    target: int | None
    tokens_per_word: float = START_TOKENS_PER_WORD
    _tokens: int = 0
    _words: int = 0

    @property
    def body_target(self) -> int | None:
        """Where the body stops and the closing takes over."""
        return None if self.target is None else max(1, self.target - closing_words(self.target))

    def observe(self, *, words: int, tokens: int | None) -> None:
        """Learn tokens per word from a reply's server-counted completion tokens."""
        if tokens and words >= 20:
            self._tokens += tokens
            self._words += words
            self.tokens_per_word = max(1.0, min(4.0, self._tokens / self._words))

    def tokens_for(self, words: int) -> int:
        """``max_tokens`` for a reply that should write about ``words`` words."""
        return max(MIN_REPLY_TOKENS, math.ceil(words * self.tokens_per_word * 1.05) + 8)

    def reply_cap(self, words_so_far: int, *, closing: bool = False) -> int | None:
        """The ``max_tokens`` the budget allows the next reply (None: no target, no cap)."""
        if self.target is None:
            return None
        if closing:
            return self.tokens_for(max(closing_words(self.target), self.target - words_so_far) + 10)
        body = self.body_target or self.target
        return self.tokens_for(max(0, body - words_so_far))


def sentence_end_at(text: str) -> int | None:
    """The offset just after the first sentence end or paragraph break in ``text``, if any."""
    found = _SENTENCE_END.search(text)
    return None if found is None else found.end()


def short_clean_prefix(text: str, target: int) -> str | None:
    """The text up to its last clean ending when that prefix is short of ``target``; None when the
    text ends cleanly, or cutting leaves it long enough, or the clean ending is not a prefix."""
    from docgen.markdown.ending import clean_ending  # markdown-it-py: loaded only when a text is cut

    kept, note = clean_ending(text)
    kept = kept.rstrip()
    if not note or not text.startswith(kept) or count_words(kept) >= SHORT * target:
        return None
    return kept
