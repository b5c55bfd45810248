"""Long documents by outline: plan the sections, write each one durably, stitch them.

Step 1 streams an outline (or reads the user's) and validates it. Step 2 writes every
section as its own durable document in ``OUTPUT.sections/``, so a kill resumes inside
the right section and a finished section is never written again. With ``parallel`` > 1
several sections stream at once; each then sees the outline and its neighbours' briefs
instead of the text before it. Last, the sections are stitched in order into the output.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from docgen.errors import OutputError, ResumeError
from docgen.inputs.grounding import cited, sources_section
from docgen.inputs.jobs import DocumentJob, LongformJob, fingerprint
from docgen.inputs.outline_prompts import make_section_job, planned_words, section_sources, with_previous
from docgen.markdown.outline import Outline
from docgen.markdown.wordcount import count_words
from docgen.server.session import Session
from docgen.write.document import (
    TextWatch,
    WriteResult,
    finish_document,
    given_sources,
    unknown_citations,
    write_document,
)
from docgen.write.files import sidecar
from docgen.write.outline_plan import plan_outline, read_outline
from docgen.write.partial import PartialDocument
from docgen.write.progress import Cancelled, Progress, ProgressCallback, ignore_progress
from docgen.write.sections_index import SectionIndex, back_up_folder


def write_longform(
    *,
    session: Session,
    job: LongformJob,
    existing: str = "auto",
    on_progress: ProgressCallback = ignore_progress,
) -> WriteResult:
    """Plan (or read) the outline, write each section, stitch the document (``write_job`` checked the output)."""
    try:
        return _write_longform(session=session, job=job, existing=existing, on_progress=on_progress)
    except BaseException:
        with contextlib.suppress(OSError):
            sidecar(job.output, ".sections").rmdir()  # only if empty: a failed run leaves no empty folder
        raise


def _write_longform(
    *,
    session: Session,
    job: LongformJob,
    existing: str = "auto",
    on_progress: ProgressCallback = ignore_progress,
) -> WriteResult:
    folder = sidecar(job.output, ".sections")
    if existing == "restart" and folder.exists():
        back_up_folder(folder)
    if existing == "resume" and not folder.exists():
        raise ResumeError(f"there is nothing to resume for {job.output}", hint="run without --resume")
    resumed = folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}") from None
    planning: list[WriteResult] = []  # the outline's requests: counted with the sections'
    index = SectionIndex(folder)
    index.check_inputs(job.inputs)  # before anything is sent: other inputs are refused, not paid for
    index.record_inputs(job.inputs)
    progress = Progress(output=str(job.output), target_words=job.words)  # its clock times the whole run
    if job.outline_file is not None:
        outline = read_outline(job.outline_file, words=job.words)
    else:
        progress.phase = "outline"
        words = planned_words(job)
        outline_fp = fingerprint({**job.inputs, "words": words, "outline_template": job.outline_template.text})
        outline = plan_outline(
            session=session,
            job=job,
            output=sidecar(job.output, ".outline.md"),
            words=words,
            reuse=index.outline == outline_fp,
            on_progress=on_progress,
            spent=planning,
        )
        index.mark_outline(outline_fp)
    progress.target_words = outline.total
    progress.sections = len(outline.sections)
    grounding = section_sources(job, outline)
    jobs = [
        make_section_job(job, outline, i, folder=folder, given=grounding[i] if grounding else None)
        for i in range(len(outline.sections))
    ]
    kept = sum(index.finished(j.output, j.fingerprint) for j in jobs)
    changed = {i for i, j in enumerate(jobs) if index.stale(j.output, j.fingerprint)}
    results: dict[int, WriteResult] = {}
    done_words = [0] * len(jobs)
    cancel = threading.Event()
    lock = threading.Lock()

    def write_section(i: int) -> None:
        section_job = jobs[i]
        if index.finished(section_job.output, section_job.fingerprint):
            done_words[i] = _count(section_job.output)
            return
        changed_line = i in changed  # its text is from another line of the outline: back it up, write it again
        if job.parallel <= 1:
            previous = jobs[i - 1].output.read_text(encoding="utf-8") if i else None
            section_job = replace(section_job, messages=with_previous(section_job.messages, previous))

        def report(p: Progress) -> None:
            if cancel.is_set():
                raise Cancelled
            with lock:
                done_words[i] = p.words
                progress.words = sum(done_words)
                progress.section, progress.section_title = i + 1, outline.sections[i].title
                progress.section_words, progress.section_budget = p.words, outline.sections[i].budget
                progress.phase, progress.tokens, progress.continuation = p.phase, p.tokens, p.continuation
                progress.writing_since = progress.writing_since or p.writing_since
                on_progress(progress)

        results[i] = write_document(
            session=session,
            job=section_job,
            existing="restart" if changed_line else "auto",
            force=True,
            on_progress=report,
        )
        index.mark(section_job.output, section_job.fingerprint)

    if job.parallel <= 1:
        for i in range(len(jobs)):
            write_section(i)
    else:
        pool = ThreadPoolExecutor(max_workers=job.parallel)
        try:
            for future in as_completed([pool.submit(write_section, i) for i in range(len(jobs))]):
                future.result()  # the first failure stops the rest at once, whichever section it is
        except BaseException:
            cancel.set()  # running sections stop at their next progress report, partials kept
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    result = _stitch(job, outline, jobs, results, progress, on_progress, session, folder)
    result = replace(
        result,
        prompt_tokens=result.prompt_tokens + sum(r.prompt_tokens for r in planning),
        completion_tokens=result.completion_tokens + sum(r.completion_tokens for r in planning),
        tokens_estimated=result.tokens_estimated or any(r.tokens_estimated for r in planning),
    )
    notes = []
    if changed:
        notes.append(
            f"the outline changed since the last run: kept {kept} finished section{'s' * (kept != 1)}, "
            "wrote again: " + ", ".join(repr(outline.sections[i].title) for i in sorted(changed))
        )
    return replace(result, resumed=resumed, warnings=(*notes, *result.warnings))


def _count(path: Path) -> int:
    return count_words(path.read_text(encoding="utf-8"))


def strip_repeated_title(text: str, title: str) -> str:
    """Drop a first line that only repeats the section's title (models often add one)."""
    first, _, rest = text.lstrip("\n").partition("\n")
    if first.lstrip("#").strip().strip("*").strip().casefold() == title.casefold():
        return rest
    return text


def _stitch(
    job: LongformJob,
    outline: Outline,
    jobs: list[DocumentJob],
    results: dict[int, WriteResult],
    progress: Progress,
    on_progress: ProgressCallback,
    session: Session,
    folder: Path,
) -> WriteResult:
    parts = [f"# {outline.title}\n\n"] if outline.title else []
    section_stats: list[dict[str, Any]] = []
    for section, section_job in zip(outline.sections, jobs, strict=True):
        body = strip_repeated_title(section_job.output.read_text(encoding="utf-8"), section.title).strip()
        parts.append(f"## {section.title}\n\n{body}\n\n")
        stats: dict[str, Any] = {"title": section.title, "budget": section.budget, "words": _count(section_job.output)}
        if section_job.given is not None:
            stats["sources"] = [{"path": c.path, "lines": [c.start_line, c.end_line]} for c in section_job.given.chunks]
        section_stats.append(stats)
    text = "".join(parts).rstrip("\n") + "\n"
    citations, appendix = stitched_citations(job, jobs, text)
    with PartialDocument(job.output) as doc:
        doc.discard()
        doc.append(text)
        _, report = finish_document(doc, job.output_format, title=job.title, watch=TextWatch(doc), appendix=appendix)
    shutil.rmtree(folder, ignore_errors=True)
    words = sum(int(s["words"]) for s in section_stats)
    progress.phase, progress.words = "done", words
    on_progress(progress)
    all_results = list(results.values())
    tokens = [r.tokens for r in all_results if r.tokens is not None]
    tokens = tokens if len(tokens) == len(all_results) else []  # a sum of some sections only would be wrong
    return WriteResult(
        path=str(job.output),
        words=words,
        tokens=sum(tokens) if tokens else None,
        events=sum(r.events for r in all_results),
        seconds=round(time.monotonic() - progress.started, 3),
        finish_reason="stop",
        model=session.model,
        finish_reasons=tuple(f for r in all_results for f in r.finish_reasons),
        continuations=sum(r.continuations for r in all_results),
        resumed=False,
        retries=sum(r.retries for r in all_results),
        prompt_tokens=sum(r.prompt_tokens for r in all_results),
        completion_tokens=sum(r.completion_tokens for r in all_results),
        tokens_estimated=any(r.tokens_estimated for r in all_results),
        warnings=tuple(w for r in all_results for w in r.warnings) + tuple(unknown_citations(citations)),
        sections=tuple(section_stats),
        markdown=report,
        sources=given_sources(*(j.given for j in jobs)),  # sections finished in an earlier run too
        citations=citations,
    )


def stitched_citations(job: LongformJob, jobs: list[DocumentJob], text: str) -> tuple[dict[str, list[int]], str]:
    """The document's citations over the numbers given to any section, and its Sources list."""
    by_number = {n: c for j in jobs if j.given is not None for n, c in j.given.numbered}
    if not by_number:
        return {}, ""
    numbers = cited(text)
    record = {"cited": [n for n in numbers if n in by_number], "unknown": [n for n in numbers if n not in by_number]}
    appendix = sources_section(numbers, by_number, output_dir=job.output.parent) if job.citations else ""
    return record, appendix
