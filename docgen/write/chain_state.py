"""What a reply chain keeps of itself, and what watches the text it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from docgen.server.context_window import estimate_tokens
from docgen.server.continuation import OverlapTrimmer
from docgen.write.loops import LoopDetector
from docgen.write.partial import PartialDocument


@dataclass
class ChainState:
    """A chain's record: ``replies`` is kept in the journal, ``notes`` say what happened this run."""

    replies: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    requests: int = 0  # sent this run, whatever came of them
    retries: int = 0  # of them, sent again after a failure
    prompt_tokens: int = 0  # of every request this run, failed ones included: what a paid API bills
    completion_tokens: int = 0
    estimated: bool = False  # some request had no usage (it broke, or the server does not count): estimated

    def bill(self, usage: dict[str, Any] | None, *, prompt_estimate: int, events: int) -> None:
        """Count one request: the server's usage, else an estimate (prompt from its text, reply from its events)."""
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if not isinstance(prompt, int) or not isinstance(completion, int):
            prompt, completion, self.estimated = prompt_estimate, events, True
        self.prompt_tokens += prompt
        self.completion_tokens += completion

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


class Stop(Exception):
    """Raised from inside a stream to end the reply: ``why`` is ``target`` or ``loop``."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass
class Reply:
    """One request: what it asks for and how its stream is watched."""

    kind: str  # write (first or continuing), develop, close
    body: dict[str, Any]
    trimmer: OverlapTrimmer | None
    stop_words: int | None  # stop the stream at a sentence end past this many words
    hard_words: int | None  # stop it here whatever
    loops: LoopDetector
    size_before: int
    words_before: int
    events: int = 0  # content events received: about one token each
    text: list[str] = field(default_factory=list)
    crossed: str = ""  # text written since ``stop_words`` was passed
    seam: str = ""  # the text's last characters, when the reply is a new turn that may start against them


def prompt_estimate(body: dict[str, Any]) -> int:
    """An estimate of a request's prompt tokens, for one the server gave no usage for."""
    return sum(estimate_tokens(str(m.get("content", ""))) + 8 for m in body.get("messages", ()))
