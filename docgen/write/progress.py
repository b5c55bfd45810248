"""What the core tells a display about a run in progress. The core never draws."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Progress:
    """Live figures of one document, updated in place and passed to ``on_progress``.

    ``phase`` is one of: connecting, thinking, writing, retrying, outline, done.
    """

    output: str
    target_words: int | None = None
    phase: str = "connecting"
    words: int = 0
    tokens: int = 0  # content events this run: about one token each
    reasoning_tokens: int = 0
    continuation: int = 0
    note: str = ""  # why we are retrying, and when
    section: int = 0  # 1-based, 0 when not writing by sections
    sections: int = 0
    section_title: str = ""
    section_words: int = 0
    section_budget: int = 0
    started: float = field(default_factory=time.monotonic)
    writing_since: float | None = None  # when the first content of this run arrived
    tokens_at_writing: int = 0
    resumed_words: int = 0  # words a partial from an earlier run already held


ProgressCallback = Callable[[Progress], None]


class Cancelled(Exception):
    """Raised from an ``on_progress`` callback to stop a document cleanly, its partial kept.

    Not a DocgenError: it is how a caller (a batch, parallel sections) stops its own work.
    """


def ignore_progress(_: Progress) -> None:
    """The ``on_progress`` of a caller that shows nothing."""
