"""What a reply chain keeps of itself, and what watches the text it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from docgen.write.partial import PartialDocument


@dataclass
class ChainState:
    """A chain's record: ``replies`` is kept in the journal, ``notes`` say what happened this run."""

    replies: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    requests: int = 0  # sent this run, whatever came of them
    retries: int = 0  # of them, sent again after a failure

    @property
    def continuations(self) -> int:
        return max(0, len(self.replies) - 1)


class Watcher(Protocol):
    """What sees the text as it is written: the word count and, say, a Markdown scan.

    A chain that drops a loop from the file calls ``reset`` to have it recount.
    """

    @property
    def words(self) -> int: ...

    def add(self, text: str) -> None: ...

    def reset(self, doc: PartialDocument) -> None: ...
