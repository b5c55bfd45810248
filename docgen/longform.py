"""Long documents by outline: plan the sections, write each one durably, stitch them.

Step 1 streams an outline (or reads the user's) and validates it. Step 2 writes every
section as its own durable document in ``OUTPUT.sections/``, so a kill resumes inside
the right section and a finished section is never written again. With ``parallel`` > 1
several sections stream at once; each then sees the outline and its neighbours' briefs
instead of the text before it. Last, the sections are stitched in order into the output.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docgen.document import DocumentJob, WriteResult, fingerprint, preflight, write_document
from docgen.errors import OutlineError, OutputError, ResumeError, UsageError
from docgen.events import Cancelled, Progress, ProgressCallback, ignore_progress
from docgen.finishing import OutputFormat, finish_document
from docgen.md_scan import MarkdownScanner
from docgen.outline import Outline, parse_outline, rebalance, validate
from docgen.partial import PartialDocument, sidecar
from docgen.plan import slugify
from docgen.session import Session
from docgen.templates import Template, render, resolve_values

CONTEXT_CHARS = 2500  # how much of the text before a section it sees, in sequential mode
OUTLINE_ATTEMPTS = 3
WORDS_PER_SECTION = 1200


@dataclass(frozen=True)
class LongformJob:
    output: Path
    request: str  # the document template's rendered prompt
    system: str
    inputs: Mapping[str, Any]
    sampling: Mapping[str, Any]
    words: int | None  # --words, when given
    outline_template: Template
    section_template: Template
    default_words: int | None = None  # the template's target: the length of a planned outline
    outline_file: Path | None = None  # the user's outline; None plans one
    parallel: int = 1
    output_format: OutputFormat = field(default_factory=OutputFormat)
    title: str = ""


def _messages(system: str, user: str) -> tuple[dict[str, str], ...]:
    return (*(({"role": "system", "content": system},) if system else ()), {"role": "user", "content": user})


def plan_outline(
    *,
    session: Session,
    job: LongformJob,
    output: Path,
    words: int,
    reuse: bool = False,
    on_progress: ProgressCallback = ignore_progress,
) -> Outline:
    """Stream an outline into ``output``, parse and validate it; ask again when it is unusable.

    With ``reuse``, an existing ``output`` (known to come from the same inputs) is read
    instead. A partial outline of the same inputs is continued; one of other inputs is
    set aside as ``.part.bak``.
    """
    sections = max(2, min(40, round(words / WORDS_PER_SECTION)))
    values = resolve_values(
        job.outline_template, {"request": job.request, "words": str(words), "sections": str(sections)}
    )
    prompt = render(job.outline_template.body, values)
    inputs = {**job.inputs, "step": "outline", "outline_template": job.outline_template.text, "words": words}
    problems: list[str] = []
    for attempt in range(OUTLINE_ATTEMPTS):
        if not (reuse and attempt == 0 and output.exists()):
            outline_job = DocumentJob(
                output=output,
                messages=_messages(job.system, prompt),
                sampling=job.sampling,
                inputs={**inputs, "attempt": attempt},
            )
            try:
                write_document(
                    session=session,
                    job=outline_job,
                    force=True,
                    on_progress=on_progress,
                    existing="restart" if attempt else "auto",
                )
            except ResumeError:  # a partial outline of other inputs
                write_document(
                    session=session, job=outline_job, force=True, on_progress=on_progress, existing="restart"
                )
        try:
            outline = parse_outline(output.read_text(encoding="utf-8"), total=words)
            problems = validate(outline, total=None) or []
            if not problems:
                return rebalance(outline, total=words)
        except UsageError as exc:
            problems = [exc.message]
    raise OutlineError(
        f"the model's outline in {output} is unusable: {'; '.join(problems)}",
        hint="edit it and pass it with --outline FILE, or try another model",
    )


def read_outline(path: Path, *, words: int | None) -> Outline:
    """The user's outline file, validated; budgets scaled to ``words`` when given."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the outline {path}: {exc}") from None
    outline = parse_outline(text, total=words)
    problems = validate(outline, total=None)
    if problems:
        raise UsageError(f"the outline {path} is unusable: {'; '.join(problems)}")
    return rebalance(outline, total=words if words is not None else outline.total or 1200 * len(outline.sections))


class _Index:
    """``OUTPUT.sections/index.json``: the inputs behind the outline and each finished section."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "index.json"
        self.lock = threading.Lock()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.outline: str | None = data.get("outline") if isinstance(data, dict) else None
        self.done: dict[str, str] = data.get("sections", {}) if isinstance(data, dict) else {}

    def is_done(self, path: Path, fp: str) -> bool:
        return path.exists() and self.done.get(path.name) == fp

    def mark(self, path: Path, fp: str) -> None:
        with self.lock:
            self.done[path.name] = fp
            self._save()

    def mark_outline(self, fp: str) -> None:
        with self.lock:
            self.outline = fp
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"outline": self.outline, "sections": self.done}, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise OutputError(f"cannot record progress in {self.path}: {exc.strerror}") from None


def write_longform(
    *,
    session: Session,
    job: LongformJob,
    existing: str = "auto",
    force: bool = False,
    on_progress: ProgressCallback = ignore_progress,
) -> WriteResult:
    """Plan (or read) the outline, write each section, stitch the document."""
    preflight(job.output, existing="auto" if existing == "resume" else existing, force=force)
    folder = sidecar(job.output, ".sections")
    if existing == "restart" and folder.exists():
        backup = sidecar(job.output, ".sections.bak")
        shutil.rmtree(backup, ignore_errors=True)
        folder.rename(backup)
    if existing == "resume" and not folder.exists():
        raise ResumeError(f"there is nothing to resume for {job.output}", hint="run without --resume")
    resumed = folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}") from None
    index = _Index(folder)
    progress = Progress(output=str(job.output), target_words=job.words)  # its clock times the whole run
    if job.outline_file is not None:
        outline = read_outline(job.outline_file, words=job.words)
    else:
        progress.phase = "outline"
        words = job.words or job.default_words or WORDS_PER_SECTION * 8
        outline_fp = fingerprint({**job.inputs, "words": words, "outline_template": job.outline_template.text})
        outline = plan_outline(
            session=session,
            job=job,
            output=sidecar(job.output, ".outline.md"),
            words=words,
            reuse=index.outline == outline_fp,
            on_progress=on_progress,
        )
        index.mark_outline(outline_fp)
    progress.target_words = outline.total
    progress.sections = len(outline.sections)
    base_fp = fingerprint({**job.inputs, "outline": outline.to_markdown(), "parallel": job.parallel > 1})
    jobs = [_section_job(job, outline, i, folder, base_fp) for i in range(len(outline.sections))]
    results: dict[int, WriteResult] = {}
    done_words = [0] * len(jobs)
    cancel = threading.Event()
    lock = threading.Lock()

    def write_section(i: int) -> None:
        section_job = jobs[i]
        if index.is_done(section_job.output, section_job.fingerprint):
            done_words[i] = _count(section_job.output)
            return
        if job.parallel <= 1:
            section_job = replace(section_job, messages=_with_context(section_job, jobs, i, outline))

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

        results[i] = write_document(session=session, job=section_job, force=True, on_progress=report)
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
    return replace(result, resumed=resumed)


def _section_job(job: LongformJob, outline: Outline, i: int, folder: Path, base_fp: str) -> DocumentJob:
    section = outline.sections[i]
    n = len(outline.sections)
    if job.parallel > 1:
        neighbours = [
            f"- Section {k + 1} ({outline.sections[k].title}): {outline.sections[k].brief}"
            for k in (i - 1, i + 1)
            if 0 <= k < n
        ]
        context = "The neighbouring sections, written separately:\n" + "\n".join(neighbours) if neighbours else ""
    else:
        context = "{{ previous }}"  # filled in when the section starts, from the text before it
    position = (
        "This is the final section: bring the whole document to a satisfying close."
        if i == n - 1
        else "More sections follow: do not conclude or summarise the document here."
    )
    values = resolve_values(
        job.section_template,
        {
            "request": job.request,
            "outline": outline.to_markdown(),
            "number": str(i + 1),
            "count": str(n),
            "title": section.title,
            "brief": section.brief,
            "budget": str(section.budget),
            "context": context,
            "position": position,
        },
    )
    prompt = render(job.section_template.body, values)
    return DocumentJob(
        output=folder / f"{i + 1:02d}-{slugify(section.title, limit=40)}.md",
        messages=_messages(job.system, prompt),
        sampling=job.sampling,
        inputs={"document": base_fp, "section": i, "section_template": job.section_template.text},
        target_words=section.budget * 3 // 2,
    )


def _with_context(
    section_job: DocumentJob, jobs: list[DocumentJob], i: int, outline: Outline
) -> tuple[dict[str, str], ...]:
    if i == 0:
        text = "This is the first section: open the document."
    else:
        previous = jobs[i - 1].output.read_text(encoding="utf-8")[-CONTEXT_CHARS:]
        text = f"The text so far ends like this:\n\n<previous>\n{previous}\n</previous>"
    *head, user = section_job.messages
    return (*head, {**user, "content": user["content"].replace("{{ previous }}", text)})


def _count(path: Path) -> int:
    from docgen.wordcount import count_words

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
        section_stats.append({"title": section.title, "budget": section.budget, "words": _count(section_job.output)})
    text = "".join(parts).rstrip("\n") + "\n"
    scanner = MarkdownScanner()
    scanner.feed(text)
    with PartialDocument(job.output) as doc:
        doc.discard()
        doc.append(text)
        report = finish_document(doc, job.output_format, title=job.title, scanner=scanner)
    shutil.rmtree(folder, ignore_errors=True)
    words = sum(int(s["words"]) for s in section_stats)
    progress.phase, progress.words = "done", words
    on_progress(progress)
    all_results = list(results.values())
    tokens = [r.tokens for r in all_results if r.tokens is not None]
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
        warnings=tuple(w for r in all_results for w in r.warnings),
        sections=tuple(section_stats),
        markdown=report,
    )
