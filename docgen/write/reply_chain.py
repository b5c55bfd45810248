"""One piece of text written by as many replies as it takes: retries and continuations.

A chain starts at a byte offset of the partial file. Each reply streams onto the end
of the file. A reply that stops at ``length`` is continued; a reply that breaks off
(dropped connection, stall, 429/5xx, a mid-stream error) is retried after a backoff,
and the retry is a continuation of whatever reached the file, never a restart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docgen.errors import DocgenError, RejectedError, StreamError
from docgen.markdown.wordcount import WordCounter
from docgen.server.chat_stream import ChatStreamDecoder
from docgen.server.client import stream_chat
from docgen.server.continuation import OverlapTrimmer, continuation_request, cut_tail
from docgen.server.request import chat_body
from docgen.server.session import Session
from docgen.write.partial import PartialDocument
from docgen.write.progress import Progress, ProgressCallback

# finish reasons that mean the server failed, not that the model finished
FAILED_FINISH = frozenset({"abort", "error", "network_error", "insufficient_system_resource"})
BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 300.0


@dataclass
class ChainState:
    """A chain's record, kept in the journal."""

    replies: list[dict[str, Any]]

    @property
    def continuations(self) -> int:
        return max(0, len(self.replies) - 1)


def _delay(attempt: int, base: float, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    return float(min(BACKOFF_CAP, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


def _sleep(seconds: float, progress: Progress, on_progress: ProgressCallback) -> None:
    """Wait, reporting progress every half second, so a caller can cancel by raising from it."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.5, left))
        on_progress(progress)


def run_chain(
    *,
    session: Session,
    doc: PartialDocument,
    start: int,
    messages: list[dict[str, Any]],
    sampling: dict[str, Any],
    target_words: int | None,
    counter: WordCounter,
    state: ChainState,
    also: Callable[[str], None] | None = None,
    progress: Progress,
    on_progress: ProgressCallback,
    checkpoint: Callable[[], None],
) -> str:
    """Write replies onto ``doc`` until the model stops; return the last finish reason.

    ``counter`` counts this chain's words (it starts from the text already there), and
    ``also`` sees every piece of text as it is written.
    ``checkpoint`` is called after each reply, to journal ``state``.
    """
    policy = session.policy
    attempts = 0
    context_tail = policy.context_tail
    usage_refused: RejectedError | None = None  # a 400 that dropping stream_options may cure
    while True:
        continuing = doc.size > start
        trimmer: OverlapTrimmer | None = None
        msgs: list[dict[str, Any]] = messages
        extra: dict[str, Any] = {}
        if continuing:
            mode = session.continue_mode()
            tail = cut_tail(doc.read_tail(context_tail, start=start), context_tail)
            msgs, extra = continuation_request(messages=messages, partial=tail, mode=mode)
            if mode in ("instruct", "prefill"):  # instruct models repeat; llama.cpp echoes the prefill
                trimmer = OverlapTrimmer(tail, whole_only=mode == "prefill")
        body = chat_body(
            model=session.model,
            messages=msgs,
            sampling=sampling,
            include_usage=session.include_usage and usage_refused is None,
            extra=extra,
        )

        def write(text: str, trimmer: OverlapTrimmer | None = trimmer) -> None:
            if trimmer is not None:
                text = trimmer.feed(text)
                if not text:
                    return
            doc.append(text)
            counter.add(text)
            if also is not None:
                also(text)

        tokens_before = progress.tokens

        def tick(decoder: ChatStreamDecoder, base: int = tokens_before) -> None:
            progress.tokens = base + decoder.content_events
            progress.reasoning_tokens = decoder.reasoning_events
            progress.section_words = counter.words
            if decoder.content_events:
                if progress.writing_since is None:
                    progress.writing_since = time.monotonic()
                    progress.tokens_at_writing = progress.tokens
                progress.phase = "writing"
            elif decoder.reasoning_events:
                progress.phase = "thinking"
            on_progress(progress)

        size_before = doc.size
        progress.continuation = len(state.replies)
        progress.phase = "connecting"
        on_progress(progress)
        try:
            outcome = stream_chat(
                client=session.client,
                base_url=session.base_url,
                body=body,
                idle_timeout=policy.idle_timeout,
                on_text=write,
                on_tick=tick,
            )
            if trimmer is not None:
                write(trimmer.flush(), None)
            if outcome.finish_reason in FAILED_FINISH:
                raise StreamError(f"the server stopped the reply with finish_reason {outcome.finish_reason!r}")
        except RejectedError as exc:
            if exc.status == 400 and "stream_options" in body:
                usage_refused = exc  # some servers refuse stream_options: try once without
                continue
            if usage_refused is not None:
                raise usage_refused from None  # that was not it: report the first refusal
            if exc.status == 400 and continuing and context_tail > 1000 and "context" in exc.message.lower():
                context_tail //= 2  # the prompt plus the tail is too long for the model
                continue
            raise
        except DocgenError as exc:
            if not exc.retryable:
                raise
            if doc.size > size_before:
                attempts = 0  # it got somewhere: the budget is for failures in a row
            attempts += 1
            if attempts > policy.retries:
                raise
            delay = _delay(attempts, policy.backoff, getattr(exc, "retry_after", None))
            progress.phase = "retrying"
            progress.note = f"{exc.message} (retry {attempts}/{policy.retries} in {delay:.0f}s)"
            _sleep(delay, progress, on_progress)
            progress.note = ""
            continue
        if usage_refused is not None:
            session.include_usage = False  # the server refuses stream_options: never send it again
            usage_refused = None
        attempts = 0
        state.replies.append(
            {"finish_reason": outcome.finish_reason, "usage": outcome.usage, "bytes": doc.size - size_before}
        )
        checkpoint()
        if outcome.finish_reason == "length" and doc.size == size_before:
            raise RejectedError(
                f"the model used its whole max_tokens ({sampling.get('max_tokens', 'server default')}) "
                "without writing any text (a reasoning model still thinking?)",
                hint="raise --max-tokens",
            )
        if outcome.finish_reason != "length":
            return outcome.finish_reason or "stop"
        if target_words is not None and counter.words >= target_words:
            return "length"
        if state.continuations >= policy.max_continuations:
            return "length"
