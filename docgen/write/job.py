"""The one core call that writes a job, by one reply chain or by outline, for ``write`` and ``batch``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from docgen.errors import OutputExistsError, ResumeError, UsageError
from docgen.inputs.jobs import DocumentJob, Job, JobSpec
from docgen.markdown.wordcount import count_words
from docgen.server.session import Session
from docgen.write.document import WriteResult, write_document
from docgen.write.files import check_writable, sidecar
from docgen.write.mirror import Mirror
from docgen.write.output_state import OutputState
from docgen.write.progress import ProgressCallback, ignore_progress

EXISTING = ("auto", "resume", "restart")  # what to do with a partial: continue if it matches, insist, start over


def preflight(output: Path, *, existing: str = "auto", force: bool = False, by_outline: bool = False) -> None:
    """The checks that need no server: a writable place, no clobbering, something to resume."""
    check_writable(output)
    if output.exists() and not force and existing != "auto":
        raise OutputExistsError(
            f"{output} is finished: there is nothing to {existing}", hint="use --force to write it again"
        )
    if existing != "resume":
        return
    partial = sidecar(output, ".sections" if by_outline else ".part")
    if not (partial.is_dir() if by_outline else partial.exists() and partial.stat().st_size):
        raise ResumeError(f"there is nothing to resume for {output}", hint="run without --resume")


def write_job(
    *,
    session: Session,
    spec: JobSpec,
    existing: str = "auto",
    force: bool = False,
    on_progress: ProgressCallback = ignore_progress,
    track: bool = True,
    mirror: Mirror | None = None,
) -> WriteResult:
    """Check the output, settle the model, and write the document ``spec`` asks for.

    With ``track`` (``docgen write``), a finished output is recorded with its inputs in
    its folder's state file, and a re-run with the same inputs finds it up to date and
    leaves it alone, as ``make`` would; other inputs still need ``force``. A batch keeps
    its own record (``track=False``).
    """
    preflight(spec.output, existing=existing, force=force, by_outline=spec.by_outline)
    state, key = OutputState(spec.output.parent), spec.output.name
    if spec.output.exists() and not force:
        recorded = state.read().get(key) if track else None
        if recorded is not None and recorded == spec.output_fingerprint(resolve(spec, session)):
            return up_to_date(spec.output, model=session.model)
        raise OutputExistsError(
            f"{spec.output} already exists" + (", written from other inputs" if recorded else ""),
            hint="use --force to write it again, or choose another -o path",
        )
    job = resolve(spec, session)
    if isinstance(job, DocumentJob):
        result = write_document(
            session=session, job=job, existing=existing, force=force, on_progress=on_progress, mirror=mirror
        )
    elif mirror is not None:
        raise UsageError("-o - writes one reply chain", hint="give -o FILE for outline mode, or --outline none")
    else:
        from docgen.write.outline_mode import write_longform  # markdown-it-py: loaded for outline runs only

        result = write_longform(session=session, job=job, existing=existing, on_progress=on_progress)
    if track:
        state.record(key, spec.output_fingerprint(job))
    if spec.sources:
        used: dict[str, int] = {}
        for record in result.sources:
            used[record["path"]] = used.get(record["path"], 0) + int(record["chunks"])
        files = tuple({"path": f.path, "bytes": f.bytes, "chunks": used.get(f.path, 0)} for f in spec.sources)
        result = dataclasses.replace(result, sources=files)
    return result


def resolve(spec: JobSpec, session: Session) -> Job:
    """The job against the session's model; with sources, sized to its context window (asked only then)."""
    if not spec.sources:
        return spec.resolve(session.model)
    return spec.resolve(session.model, window=session.context_window(), tail_chars=session.policy.context_tail)


def up_to_date(output: Path, *, model: str) -> WriteResult:
    """The result of a run that found its output finished from the same inputs: nothing was written."""
    try:  # a .docx is a zip: its words are not counted here
        words = 0 if output.suffix == ".docx" else count_words(output.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        words = 0
    return WriteResult(
        path=str(output),
        words=words,
        tokens=None,
        events=0,
        seconds=0.0,
        finish_reason="up to date",
        model=model,
        finish_reasons=(),
        continuations=0,
        resumed=False,
        status="up to date",
    )
