"""The one core call that writes a job, by one reply chain or by outline, for ``write`` and ``batch``."""

from __future__ import annotations

from pathlib import Path

from docgen.errors import OutputExistsError, ResumeError
from docgen.inputs.jobs import DocumentJob, JobSpec
from docgen.server.session import Session
from docgen.write.document import WriteResult, write_document
from docgen.write.files import check_writable, sidecar
from docgen.write.outline_mode import write_longform
from docgen.write.progress import ProgressCallback, ignore_progress

EXISTING = ("auto", "resume", "restart")  # what to do with a partial: continue if it matches, insist, start over


def preflight(output: Path, *, existing: str = "auto", force: bool = False, by_outline: bool = False) -> None:
    """The checks that need no server: a writable place, no clobbering, something to resume."""
    check_writable(output)
    if output.exists() and not force:
        raise OutputExistsError(
            f"{output} already exists", hint="use --force to overwrite it, or choose another -o path"
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
) -> WriteResult:
    """Check the output, settle the model, and write the document ``spec`` asks for."""
    preflight(spec.output, existing=existing, force=force, by_outline=spec.by_outline)
    job = spec.resolve(session.model)
    if isinstance(job, DocumentJob):
        return write_document(session=session, job=job, existing=existing, force=force, on_progress=on_progress)
    return write_longform(session=session, job=job, existing=existing, on_progress=on_progress)
