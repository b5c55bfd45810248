"""One piece of text written by as many replies as it takes: retries, continuations, length.

A chain starts at a byte offset of the partial file. Each reply streams onto the end of
the file. A reply that stops at ``length`` is continued; a reply that breaks off (dropped
connection, stall, 429/5xx, a mid-stream error) is retried after a backoff, and the retry
is a continuation of whatever reached the file, never a restart.

With a word target the chain keeps to it (see ``length.py``): replies are capped, the
stream is stopped once the body is long enough, a short closing continuation ends the
text, and a model that stops far short is asked to develop it. A reply that loops is
stopped, the loop dropped from the file, and the chain goes on with repetition penalties.
Every request counts toward a hard limit, so no server can keep a chain busy forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docgen.errors import DocgenError, RejectedError, StreamError, UnfinishedError
from docgen.server.chat_stream import ChatStreamDecoder
from docgen.server.client import ReplyOutcome, stream_chat
from docgen.server.context_window import context_limit_from_error, estimate_tokens, is_context_error
from docgen.server.continuation import (
    CONTINUE_INSTRUCTION,
    OverlapTrimmer,
    closing_instruction,
    continuation_request,
    develop_instruction,
    repetition_penalties,
    seam_separator,
    tail_begin,
)
from docgen.server.request import chat_body
from docgen.server.session import Session
from docgen.write.chain_state import ChainState, Reply, Stop, Watcher, prompt_estimate
from docgen.write.length import SHORT, LengthBudget, closing_words, sentence_end_at, short_clean_prefix
from docgen.write.loops import LoopDetector
from docgen.write.partial import PartialDocument
from docgen.write.progress import Progress, ProgressCallback
from docgen.write.retry import wait_to_retry

# finish reasons that mean the server failed, not that the model finished
FAILED_FINISH = frozenset({"abort", "error", "network_error", "insufficient_system_resource"})
MAX_LOOPS = 4  # loops dropped, each with stronger penalties, before the chain gives up on the model
MAX_DEVELOP = 4  # times a model that stopped short is asked to go on
MAX_RECUTS = 2  # times an ending cut back far short of the target is written on from the cut
LOOP_CONTEXT = 2000  # characters of the text before a reply that its loop check sees
MIN_ROOM = 256  # tokens a reply must have in the context window before the tail is shrunk


def run_chain(
    *,
    session: Session,
    doc: PartialDocument,
    start: int,
    messages: list[dict[str, Any]],
    sampling: dict[str, Any],
    target_words: int | None,
    watcher: Watcher,
    state: ChainState,
    progress: Progress,
    on_progress: ProgressCallback,
    checkpoint: Callable[[], None],
    word_limit: int | None = None,
    develop: bool = True,
    session_id: str = "",
) -> str:
    """Write replies onto ``doc`` until the text is done; return the last finish reason.

    ``watcher`` counts the words (it starts from the text already there) and sees every
    piece of text as it is written. ``checkpoint`` is called after each reply, to journal
    ``state``. ``word_limit`` caps a text that has no target to keep to (an outline). With
    ``develop``, a model that stops far short of the target is asked to go on (the target
    was asked for, not a template's default).
    """
    budget = LengthBudget(target_words)
    chain = _Chain(session, doc, start, messages, sampling, budget, word_limit, watcher, state, develop)
    chain.session_id = session_id
    return chain.run(progress, on_progress, checkpoint)


@dataclass
class _Chain:
    session: Session
    doc: PartialDocument
    start: int
    messages: list[dict[str, Any]]
    sampling: dict[str, Any]
    budget: LengthBudget
    word_limit: int | None
    watcher: Watcher
    state: ChainState
    develop: bool
    penalties: dict[str, Any] = field(default_factory=dict)
    context_tail: int = 0
    session_id: str = ""  # X-Session-Id: one document's requests, for a router's prefix cache
    usage_refused: RejectedError | None = None  # a 400 that dropping stream_options may cure
    reply_limit: int = 0  # max_tokens halved after a context overflow with no tail to shrink
    replies: int = 0  # this run's
    developed: int = 0
    loops: int = 0
    recuts: int = 0

    def run(self, progress: Progress, on_progress: ProgressCallback, checkpoint: Callable[[], None]) -> str:
        policy = self.session.policy
        self.context_tail = policy.context_tail
        max_requests = (policy.max_continuations + 1) * (policy.retries + 1)
        attempts = 0
        kind: str | None = "write"
        while True:
            if self.state.requests >= max_requests:
                raise UnfinishedError(
                    f"gave up after {self.state.requests} requests (--retries {policy.retries}, "
                    f"--max-continuations {policy.max_continuations}) without finishing the text",
                    hint="the server keeps failing or stopping early; check it, or raise the limits",
                )
            self.state.requests += 1
            reply = self._request(kind or "write")
            try:
                try:
                    outcome = self._stream(reply, progress, on_progress)
                except BaseException:
                    if reply.events:  # a stream that broke off was generated, and is billed; a refusal is not
                        self.state.bill(None, prompt_estimate=prompt_estimate(reply.body), events=reply.events)
                    raise
            except RejectedError as exc:
                if self._cured(exc, reply):
                    continue
                raise
            except DocgenError as exc:
                if not exc.retryable:
                    raise
                if self._shrink_for(exc):
                    continue
                if self.doc.size > reply.size_before + 1000:
                    attempts = 0  # it got somewhere: the budget is for failures in a row
                attempts += 1
                if attempts > policy.retries:
                    raise
                self.state.retries += 1
                wait_to_retry(exc, attempts, policy=policy, progress=progress, on_progress=on_progress)
                continue
            self.state.bill(outcome.usage, prompt_estimate=prompt_estimate(reply.body), events=reply.events)
            attempts = 0
            if self.usage_refused is not None:
                self.session.include_usage = False  # the server refuses stream_options: never send it again
                self.usage_refused = None
            self.replies += 1
            tokens = outcome.completion_tokens
            self.state.replies.append(
                {
                    "finish_reason": outcome.finish_reason,
                    "usage": outcome.usage,
                    "bytes": self.doc.size - reply.size_before,
                    "events": reply.events,
                }
            )
            self.budget.observe(words=self.watcher.words - reply.words_before, tokens=tokens or reply.events)
            checkpoint()
            kind = self._next(reply, outcome.finish_reason) or self._recut(outcome.finish_reason)
            if kind is None:
                return outcome.finish_reason

    def _next(self, reply: Reply, finish: str) -> str | None:
        """What to ask for after a reply that ended with ``finish``; None when the text is done."""
        policy, target, words = self.session.policy, self.budget.target, self.watcher.words
        written = self.doc.size - reply.size_before
        more = self.replies <= policy.max_continuations
        if finish == "loop":
            self.loops += 1
            if self.loops > MAX_LOOPS and target is not None and words >= SHORT * target:
                self.state.notes.append(
                    f"the model kept repeating itself near the end ({reply.loops.description}); the loops were dropped"
                )
                return None  # close enough to the length asked for: a finished document, not a failure
            if self.loops > MAX_LOOPS:
                raise UnfinishedError(
                    f"the model kept repeating itself ({reply.loops.description}); the loops were dropped",
                    hint="try another model or a higher --temperature",
                )
            self.state.notes.append(f"dropped a loop: {reply.loops.description}")
            llama = self.session.continue_mode() == "prefill"
            self.penalties = repetition_penalties(self.loops, llama=llama)
            floor = self.sampling.get("temperature")
            if isinstance(floor, int | float):
                self.penalties["temperature"] = max(floor, self.penalties["temperature"])
            return "write"  # from where the loop began, now with penalties
        if finish == "length" and written == 0 and reply.kind != "close":  # a reply that only repeated was cut
            raise RejectedError(
                f"the model used its whole max_tokens ({reply.body.get('max_tokens', 'server default')}) without "
                f"writing text ({'it repeated the text before' if reply.events else 'a reasoning model thinking?'})",
                hint="raise --max-tokens",
            )
        if finish == "stop" and self.doc.size == self.start:
            raise StreamError("the server's reply was empty", hint="check the model and the prompt")
        if self.word_limit is not None and words >= self.word_limit:
            return None
        if reply.kind == "close":  # done, unless a capped closing left the text well short (a loop was cut)
            short = target is not None and words < SHORT * target and finish != "stop"
            return "write" if short and more else None
        if target is not None and words >= (self.budget.body_target or target):
            return "close" if finish != "stop" and more else None
        if finish in ("length", "target"):
            if more:
                return "write"
            if target is not None and words >= SHORT * target:
                return None
            raise UnfinishedError(
                f"the model was still writing after {policy.max_continuations} continuations "
                f"({words:,} words" + (f" of {target:,})" if target else ")"),
                hint="raise --max-continuations or --max-tokens",
            )
        if target is None or words >= SHORT * target or not self.develop:
            return None
        if reply.kind == "develop" and self.watcher.words - reply.words_before < 20:
            self.state.notes.append(f"the model stopped at {words:,} of {target:,} words and would not go on")
            return None
        if self.developed < MAX_DEVELOP and more:
            self.developed += 1
            return "develop"
        self.state.notes.append(f"the model stopped at {words:,} of {target:,} words")
        return None

    def _recut(self, finish: str) -> str | None:
        """Write on from the last clean ending when the final cut would leave the text far short (a model that
        ran on without a sentence end), at most MAX_RECUTS times; not a text the model ended, nor a section."""
        target, policy = self.budget.target, self.session.policy
        ok = finish in ("length", "target", "loop") and not self.start and self.word_limit is None and target
        if not ok or self.recuts >= MAX_RECUTS or self.replies > policy.max_continuations:
            return None
        cut = short_clean_prefix(self.doc.read_all(), target or 0)
        if cut is None or "\ufffd" in cut:  # a replaced byte would put the cut at the wrong offset
            return None
        self.recuts += 1  # what was cut never reaches the document: no warning, the result is what counts
        self.doc.truncate(len(cut.encode("utf-8", "surrogatepass")))
        self.watcher.reset(self.doc)
        return "write"

    # -- one request -------------------------------------------------------------------
    def _messages(self, kind: str) -> tuple[list[dict[str, Any]], dict[str, Any], OverlapTrimmer | None]:
        """The messages (and extra body fields) of a request of ``kind``, and the seam's trimmer."""
        doc, target = self.doc, self.budget.target
        if doc.size <= self.start:
            return self.messages, {}, None
        mode = self.session.continue_mode()
        instruction = CONTINUE_INSTRUCTION
        if kind == "develop" and target is not None:
            mode, instruction = "instruct", develop_instruction(words=self.watcher.words, target=target)
        elif kind == "close" and target is not None and mode == "instruct":
            # a server that continues a final assistant message goes on mid-sentence by itself, and the
            # stream is stopped at the next sentence end; one that cannot is asked to close in words
            instruction = closing_instruction(words=closing_words(target))
        tail = doc.read_context(self.context_tail, start=self.start)
        msgs, extra = continuation_request(messages=self.messages, partial=tail, mode=mode, instruction=instruction)
        trimmer = None
        if mode in ("instruct", "prefill"):  # instruct models repeat; llama.cpp echoes the prefill
            whole = tail_begin(doc.size, self.start, self.context_tail) == self.start
            trimmer = OverlapTrimmer(tail, whole_only=mode == "prefill", whole_text=whole)
        return msgs, extra, trimmer

    def _request(self, kind: str) -> Reply:
        doc, budget, words = self.doc, self.budget, self.watcher.words
        cap = budget.reply_cap(words, closing=kind == "close")
        if self.word_limit is not None:
            cap = budget.tokens_for(max(0, self.word_limit - words) + 20)
        # the window matters once a tail goes back or a request did not fit; one known already sizes the first too
        asked = doc.size > self.start or self.reply_limit
        window = self.session.context_window() if asked else self.session.known_context_window()
        while True:
            msgs, extra, trimmer = self._messages(kind)
            if window is None:
                break
            room = window - sum(estimate_tokens(str(m.get("content", ""))) + 8 for m in msgs) - 16
            if room >= MIN_ROOM or self.context_tail <= 1000 or doc.size <= self.start:
                cap = max(16, min(cap or room, room))  # prompt + reply must fit the window
                break
            self.context_tail //= 2  # the tail leaves too little room for a reply
        sampling = {**self.sampling, **self.penalties}
        if self.reply_limit:
            cap = min(cap or self.reply_limit, self.reply_limit)
        if cap is not None:
            sampling["max_tokens"] = min(cap, sampling.get("max_tokens") or cap)
        body = chat_body(
            model=self.session.model,
            messages=msgs,
            sampling=sampling,
            include_usage=self.session.include_usage and self.usage_refused is None,
            extra=extra,
        )
        stop_words = hard_words = self.word_limit
        if self.word_limit is None and budget.target is not None:
            stop_words = budget.target if kind == "close" else budget.body_target
            hard_words = (stop_words or 0) + closing_words(budget.target) // 2 + 10
        before = doc.read_tail(LOOP_CONTEXT, start=self.start) if doc.size > self.start else ""
        loops = LoopDetector(text_before=before)
        seam = before[-200:] if trimmer is not None and not trimmer.whole_only else ""  # instruct: a new turn
        return Reply(kind, body, trimmer, stop_words, hard_words, loops, doc.size, words, seam=seam)

    def _stream(self, reply: Reply, progress: Progress, on_progress: ProgressCallback) -> ReplyOutcome:
        tokens_before = progress.tokens

        def write(text: str) -> None:
            if reply.trimmer is not None:
                text = reply.trimmer.feed(text)
                if not text:
                    return
            reply.loops.feed(self._append(reply, text))
            if reply.loops.loop_start is not None:
                raise Stop("loop")
            words = self.watcher.words
            if reply.stop_words is not None and words >= reply.stop_words:
                reply.crossed += text
                if sentence_end_at(reply.crossed) is not None or words >= (reply.hard_words or words):
                    raise Stop("target")

        def tick(decoder: ChatStreamDecoder) -> None:
            reply.events = decoder.content_events
            progress.tokens = tokens_before + decoder.content_events
            progress.reasoning_tokens = decoder.reasoning_events
            progress.section_words = self.watcher.words
            if decoder.content_events:
                if progress.writing_since is None:
                    progress.writing_since = time.monotonic()
                    progress.tokens_at_writing = progress.tokens
                progress.phase = "writing"
            elif decoder.reasoning_events:
                progress.phase = "thinking"
            on_progress(progress)

        progress.continuation = len(self.state.replies)
        progress.phase = "connecting"
        on_progress(progress)
        try:
            outcome = stream_chat(
                client=self.session.client,
                base_url=self.session.base_url,
                body=reply.body,
                idle_timeout=self.session.policy.idle_timeout,
                on_text=write,
                on_tick=tick,
                session_id=self.session_id,
            )
        except Stop as stop:
            if stop.why == "loop":
                self._drop_loop(reply)
            elif reply.trimmer is not None:
                self._append(reply, reply.trimmer.flush())
            return ReplyOutcome(stop.why, None)
        if reply.trimmer is not None:
            self._append(reply, reply.trimmer.flush())
        if outcome.finish_reason in FAILED_FINISH:
            raise StreamError(f"the server stopped the reply with finish_reason {outcome.finish_reason!r}")
        return outcome

    def _append(self, reply: Reply, text: str) -> str:
        """Write ``text`` (after the separator a new turn's first text needs); return what was written."""
        if text and reply.seam and not reply.text:
            text = seam_separator(reply.seam, text, paragraph=reply.kind == "develop") + text
        if text:
            self.doc.append(text)
            self.watcher.add(text)
            reply.text.append(text)
        return text

    def _drop_loop(self, reply: Reply) -> None:
        """Cut the file back to where the reply's loop began, and recount what is left."""
        kept = "".join(reply.text)[: reply.loops.loop_start or 0]
        self.doc.truncate(reply.size_before + len(kept.encode("utf-8", "surrogatepass")))
        reply.text = [kept]
        self.watcher.reset(self.doc)

    # -- refusals that a changed request cures -------------------------------------------
    def _cured(self, exc: RejectedError, reply: Reply) -> bool:
        """Can the request be changed so the server accepts it? Then it is, and True."""
        if exc.status == 400 and "stream_options" in reply.body and not is_context_error(exc.message):
            self.usage_refused = exc  # some servers refuse stream_options: try once without
            return True
        if self.usage_refused is not None:
            raise self.usage_refused from None  # that was not it: report the first refusal
        return exc.status == 400 and self._shrink_for(exc)

    def _shrink_for(self, exc: DocgenError) -> bool:
        """A context-overflow refusal (400, or llama.cpp's mid-stream error): halve the tail to fit."""
        if not is_context_error(exc.message):
            return False
        limit = context_limit_from_error(exc.message)
        learned = limit is not None and limit != self.session.context_window()
        if limit is not None:
            self.session.learn_context_window(limit)
        if self.doc.size > self.start and self.context_tail > 1000:
            self.context_tail //= 2
            return True
        asked = self.reply_limit or self.budget.tokens_for(self.budget.target or 0) or 0
        if asked > 64:  # nothing to cut from the prompt: ask for a shorter reply instead
            self.reply_limit = asked // 2
            return True
        return learned  # the next request is sized to the window it named
