"""Writing one document by one reply chain: decide fresh or resume, stream, finish atomically."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docgen.errors import OutputError, OutputExistsError, ResumeError
from docgen.inputs.grounding import Given, cited, sources_section
from docgen.inputs.jobs import DocumentJob
from docgen.markdown.finish import OutputFormat, finish_markdown
from docgen.markdown.scan import MarkdownScanner
from docgen.markdown.wordcount import count_words
from docgen.server.session import Session
from docgen.write.chain_state import ChainState
from docgen.write.length import SHORT
from docgen.write.mirror import Mirror
from docgen.write.partial import PartialDocument
from docgen.write.progress import Progress, ProgressCallback, ignore_progress
from docgen.write.reply_chain import run_chain

# the last line is an ATX heading, or an empty list item or quote (markdown-it then decides)
_HEADING_LAST = re.compile(r"(?m)^ {0,3}(?:#{1,6}(?:[ \t][^\n]*)?|(?:[-*+>]|\d{1,9}[.)])[ \t]*)\s*\Z")


@dataclass(frozen=True)
class WriteResult:
    path: str
    words: int
    tokens: int | None  # completion tokens as the server counted them, when it did
    events: int  # content events received this run
    seconds: float
    finish_reason: str
    model: str
    finish_reasons: tuple[str, ...]
    continuations: int
    resumed: bool
    retries: int = 0  # requests sent again after a failure, this run
    status: str = "written"  # or "up to date": finished before from the same inputs, left alone
    prompt_tokens: int = 0  # every request of this run, retries and continuations included
    completion_tokens: int = 0
    tokens_estimated: bool = False  # some request had no usage from the server
    warnings: tuple[str, ...] = field(default=())
    markdown: dict[str, Any] = field(default_factory=dict)  # checks and headings of the finished text
    sections: tuple[dict[str, Any], ...] = ()  # outline mode: title, budget and words of each
    sources: tuple[dict[str, Any], ...] = ()  # path, bytes and chunks given of each source file
    citations: dict[str, list[int]] = field(default_factory=dict)  # cited and unknown numbers


def describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return ", ".join(changed) if changed else "the inputs"


def open_partial(doc: PartialDocument, job: DocumentJob, *, existing: str) -> dict[str, Any] | None:
    """Decide, from the part file and journal, whether this run continues; return the journal.

    ``existing`` is ``auto`` (continue a matching partial), ``resume`` (insist) or
    ``restart`` (back the partial up as .part.bak and start over).
    """
    journal = doc.read_journal()
    if existing == "restart":
        doc.discard()
        return None
    if journal is None and doc.size:
        raise ResumeError(
            f"{doc.part} exists but its journal is missing, so it cannot be continued safely",
            hint="use --restart to start over (the old text is kept as .part.bak)",
        )
    if journal is not None and "unreadable" in journal and doc.size:
        raise ResumeError(
            f"the journal {doc.journal_path} is unreadable ({journal['unreadable']}), so {doc.part} "
            "cannot be continued safely",
            hint="use --restart to start over (the old text is kept as .part.bak)",
        )
    if journal is not None and "unreadable" not in journal and journal.get("fingerprint") != job.fingerprint:
        what = describe_difference(journal.get("inputs") or {}, job.inputs)
        raise ResumeError(
            f"{doc.part} was started with different inputs (changed: {what})",
            hint="re-run with the original options to continue, or use --restart",
        )
    if existing == "resume" and not doc.size:
        raise ResumeError(f"there is nothing to resume for {doc.output}", hint="run without --resume")
    return journal


def write_document(
    *,
    session: Session,
    job: DocumentJob,
    existing: str = "auto",
    force: bool = False,
    on_progress: ProgressCallback = ignore_progress,
    mirror: Mirror | None = None,
) -> WriteResult:
    """Stream ``job`` into its output, continuing a matching partial; return the summary.

    With ``mirror`` the text also goes to a stream as it settles (``-o -``).
    """
    started = time.monotonic()
    with PartialDocument(job.output) as doc:
        doc.mirror = mirror
        try:
            if job.output.exists() and not force:  # another process finished it while we waited for the lock
                raise OutputExistsError(f"{job.output} already exists", hint="use --force to overwrite it")
            journal = open_partial(doc, job, existing=existing)
        except OutputError:
            doc.close_and_drop_if_empty()
            raise
        journal = journal or {}
        complete = journal.get("status") == "complete" and journal.get("size") == doc.size
        if journal.get("status") == "complete" and not complete and not doc.size:
            journal = {}  # the finished text was moved away (the journal's removal was cut short)
        resumed = bool(doc.size)
        state = ChainState(replies=list(journal.get("replies", [])))
        watch = TextWatch(doc)
        progress = Progress(output=str(job.output), target_words=job.target_words, words=watch.words)
        progress.resumed_words = watch.words if doc.size else 0

        def checkpoint(status: str = "writing") -> None:
            doc.write_journal(
                {
                    "status": status,
                    "size": doc.size,
                    "fingerprint": job.fingerprint,
                    "inputs": dict(job.inputs),
                    "request": {"model": session.model, "messages": list(job.messages), **job.sampling},
                    "replies": state.replies,
                }
            )

        try:
            if complete:  # killed between the last checkpoint and the rename: only the rename is left
                finish = state.replies[-1]["finish_reason"] if state.replies else "stop"
            else:
                checkpoint()
                finish = run_chain(
                    session=session,
                    doc=doc,
                    start=0,
                    messages=list(job.messages),
                    sampling=dict(job.sampling),
                    target_words=job.target_words,
                    develop=job.asked_words,
                    word_limit=job.word_limit,
                    session_id=job.session_id,
                    watcher=watch,
                    state=state,
                    progress=progress,
                    on_progress=_words_into(watch, on_progress),
                    checkpoint=checkpoint,
                )
                checkpoint("complete")
        except BaseException:
            if mirror is not None:
                mirror.flush_rest()  # the run cannot be continued from a stream: send all it has
            doc.close_and_drop_if_empty()
            raise
        cut = job.target_words is not None and finish != "stop"  # stopped mid-writing: end it cleanly
        citations, appendix = _citations(job, doc) if job.sources_list else ({}, "")
        words, report = finish_document(
            doc, job.output_format, title=job.title, watch=watch, cut=cut, appendix=appendix
        )
    notes = []
    if mirror is not None:
        mirror.finish(job.output.read_bytes())
        if mirror.overrun:
            notes.append("stdout has text the file dropped (a loop or an unfinished ending was cut late)")
    progress.phase = "done"
    progress.words = words
    on_progress(progress)
    return WriteResult(
        path=str(job.output),
        words=words,
        tokens=_usage_tokens(state.replies),
        events=progress.tokens,
        seconds=round(time.monotonic() - started, 3),
        finish_reason=finish,
        model=session.model,
        finish_reasons=tuple(r["finish_reason"] for r in state.replies),
        continuations=state.continuations,
        resumed=resumed,
        retries=state.retries,
        prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens,
        tokens_estimated=state.estimated,
        warnings=tuple(_warnings(finish, state, job, words) + notes + unknown_citations(citations)),
        markdown=report,
        sources=given_sources(job.given),
        citations=citations,
    )


class TextWatch:
    """The word count and Markdown scan of the text as it is written (a reply chain's Watcher)."""

    def __init__(self, doc: PartialDocument) -> None:
        self.reset(doc)

    @property
    def words(self) -> int:
        return self.counter.words

    def add(self, text: str) -> None:
        self.counter.add(text)
        self.scanner.feed(text)

    def reset(self, doc: PartialDocument) -> None:
        self.scanner = MarkdownScanner()
        self.counter = doc.count_words(also=self.scanner.feed)


def finish_document(
    doc: PartialDocument,
    fmt: OutputFormat,
    *,
    title: str,
    watch: TextWatch,
    cut: bool = False,
    appendix: str = "",
) -> tuple[int, dict[str, Any]]:
    """Put the finished text in place in its format; return its words and the Markdown check's report.

    With ``cut``, the text is first brought back to its last complete sentence or block
    (the partial file keeps every byte received until the rename); without, a text the model
    ended by itself loses only the headings it ends on, which head nothing. Plain ``.md`` that
    needs no cut is renamed into place and checked by the scanner that saw it stream:
    nothing is read back. Everything else parses the whole text once.
    """
    heading = not cut and _HEADING_LAST.search(doc.read_tail(2000)) is not None  # a sign-off title?
    if not fmt.needs_text and not cut and not appendix and not heading:
        doc.finish()
        return watch.words, watch.scanner.report()
    text = doc.read_all()
    words = watch.words
    note = ""
    if cut or heading:
        from docgen.markdown.ending import clean_ending, drop_trailing_headings  # markdown-it-py, when needed

        kept, note = clean_ending(text) if cut else drop_trailing_headings(text)
        if kept != text:
            text, words = kept, count_words(kept)
    if appendix:  # the sources the text cites: after the text, not counted in its words
        text = text.rstrip("\n") + "\n\n" + appendix
    rendered, report = finish_markdown(text, fmt=fmt, title=title)
    if note:
        report["fixed"] = [*report.get("fixed", []), note]
    doc.finish(rendered if rendered is not None else text if note or appendix else None)
    return words, report


def _citations(job: DocumentJob, doc: PartialDocument) -> tuple[dict[str, list[int]], str]:
    """The numbers the text cites, those never given, and the Sources list to end it with."""
    assert job.given is not None
    numbers = cited(doc.read_all())
    by_number = dict(job.given.numbered)
    record = {"cited": [n for n in numbers if n in by_number], "unknown": [n for n in numbers if n not in by_number]}
    appendix = sources_section(numbers, by_number, output_dir=job.output.parent) if job.sources_list else ""
    return record, appendix


def unknown_citations(citations: dict[str, list[int]]) -> list[str]:
    unknown = citations.get("unknown") or []
    if not unknown:
        return []
    listed = ", ".join(f"[{n}]" for n in unknown)
    return [f"the text cites {listed}, which no source was given as (left in, not listed)"]


def given_sources(*givens: Given | None) -> tuple[dict[str, Any], ...]:
    """``--json`` ``sources``: each file given to any of the prompts, and how many of its chunks went in
    (a chunk given to several sections of an outline counts once)."""
    numbers: dict[str, set[int]] = {}
    for given in givens:
        for n, chunk in given.numbered if given is not None else ():
            numbers.setdefault(chunk.path, set()).add(n)
    return tuple({"path": path, "chunks": len(ns)} for path, ns in numbers.items())


def _words_into(watch: TextWatch, on_progress: ProgressCallback) -> ProgressCallback:
    """``on_progress``, with the words counted so far filled in."""

    def update(p: Progress) -> None:
        p.words = watch.words
        on_progress(p)

    return update


def _usage_tokens(replies: list[dict[str, Any]]) -> int | None:
    """Completion tokens of every reply: the server's count, and for a reply it did not count (one
    docgen stopped at the target before the usage came) the content events; None if it counted none."""
    total, counted = 0, False
    for reply in replies:
        usage = reply.get("usage")
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int):
            total, counted = total + tokens, True
        elif isinstance(reply.get("events"), int):
            total += reply["events"]
    return total if counted else None


def _warnings(finish: str, state: ChainState, job: DocumentJob, words: int) -> list[str]:
    out = list(state.notes)
    target = job.target_words
    if target is not None and words > target * 1.1:
        out.append(f"exceeded the target: {words:,} words of {target:,} asked for")
    said = any("stopped at" in note or "ends at" in note for note in out)
    if target is not None and job.asked_words and words < SHORT * target and not said:
        out.append(f"short of the target: {words:,} words of {target:,} asked for")
    if finish not in ("stop", "length", "target", "loop"):  # a loop is said by its own note
        out.append(f"the model stopped with finish_reason {finish!r}; the text may be incomplete")
    return out
