"""The plan of a long document: the model's outline, streamed durably and validated, or the user's."""

from __future__ import annotations

from pathlib import Path

from docgen.errors import OutlineError, OutputError, ResumeError, UsageError
from docgen.inputs.jobs import DocumentJob, JobSpec, LongformJob
from docgen.inputs.outline_prompts import outline_request, planned_words
from docgen.markdown.outline import Outline, parse_outline, rebalance, validate
from docgen.server.session import Session
from docgen.write.document import WriteResult, write_document
from docgen.write.files import atomic_write, check_writable
from docgen.write.progress import ProgressCallback, ignore_progress

OUTLINE_ATTEMPTS = 3


def plan_outline(
    *,
    session: Session,
    job: LongformJob,
    output: Path,
    words: int,
    reuse: bool = False,
    on_progress: ProgressCallback = ignore_progress,
    spent: list[WriteResult] | None = None,
) -> Outline:
    """Stream an outline into ``output``, parse and validate it; ask again when it is unusable.

    With ``reuse``, an existing ``output`` (known to come from the same inputs) is read
    instead. A partial outline of the same inputs is continued; one of other inputs is
    set aside as ``.part.bak``.
    """
    messages, inputs, word_limit = outline_request(job, words=words)
    problems: list[str] = []
    for attempt in range(OUTLINE_ATTEMPTS):
        if not (reuse and attempt == 0 and output.exists()):
            outline_job = DocumentJob(
                output=output,
                messages=messages,
                sampling=job.sampling,
                inputs={**inputs, "attempt": attempt},
                word_limit=word_limit,
            )
            try:
                written = write_document(
                    session=session,
                    job=outline_job,
                    force=True,
                    on_progress=on_progress,
                    existing="restart" if attempt else "auto",
                )
            except ResumeError:  # a partial outline of other inputs
                written = write_document(
                    session=session, job=outline_job, force=True, on_progress=on_progress, existing="restart"
                )
            if spent is not None:  # its tokens are part of what the run cost
                spent.append(written)
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


def write_outline_file(
    *, session: Session, spec: JobSpec, force: bool = False, on_progress: ProgressCallback = ignore_progress
) -> Outline:
    """``docgen outline``: plan an outline into ``spec.output``, in its canonical form, for the user to edit."""
    output = spec.output
    check_writable(output)
    if output.exists() and not force:
        raise OutputError(f"{output} already exists", hint="use --force to replace it (an edited outline is lost)")
    job = spec.resolve(session.model)
    assert isinstance(job, LongformJob)
    outline = plan_outline(session=session, job=job, output=output, words=planned_words(job), on_progress=on_progress)
    try:
        atomic_write(output, outline.to_markdown())
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror}") from None
    return outline
