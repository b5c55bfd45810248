"""``docgen batch``: many documents over one connection pool, each with ``write``'s guarantees.

Jobs run in threads that share one ``httpx.Client``: the work is waiting on sockets, so
threads cost little, and every job runs the same ``write_job`` as ``docgen write``. One
job's failure is in its result, not raised; ``fail_fast`` cancels the others.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from docgen.errors import EXIT_INTERNAL, DocgenError, OutputError, OutputExistsError
from docgen.inputs.jobs import fingerprint
from docgen.inputs.manifest import BatchSpec, Manifest
from docgen.markdown.wordcount import count_words
from docgen.server.session import Session
from docgen.write.batch_state import BatchState
from docgen.write.files import atomic_write
from docgen.write.job import write_job
from docgen.write.progress import Cancelled, Progress, ProgressCallback


@dataclass
class JobResult:
    name: str
    path: str
    status: str = "pending"  # done, skipped, stale, failed, cancelled
    words: int = 0
    tokens: int | None = None
    seconds: float = 0.0
    continuations: int = 0
    error: str = ""
    exit_code: int = 0


class BatchObserver(Protocol):
    """What a batch tells its display: each job's progress, and each job's end."""

    def job(self, name: str) -> ProgressCallback: ...

    def job_ended(self, name: str, *, failed: bool) -> None: ...


def run_batch(
    *,
    manifest: Manifest,
    specs: Sequence[BatchSpec],
    session: Session,
    jobs: int = 2,
    force: bool = False,
    fail_fast: bool = False,
    observer: BatchObserver,
) -> list[JobResult]:
    """Write every job of ``manifest``; return one result per job, in manifest order."""
    sessions: dict[str | None, Session] = {None: session}
    for item in specs:
        if item.model not in sessions:
            sessions[item.model] = session.for_model(item.model) if item.model else session
    state = BatchState(manifest.output_dir)
    recorded = state.read()
    cancel = threading.Event()
    why = ["stopped because another job failed"]
    results = [JobResult(item.job.name, str(item.job.output)) for item in specs]

    def one(index: int) -> None:
        item, result = specs[index], results[index]
        job, job_session = item.job, sessions[item.model]
        if cancel.is_set():
            result.status = "cancelled"
            return
        try:
            resolved = item.spec.resolve(job_session.model)
            fp = fingerprint({**resolved.inputs, "outline": job.settings.get("outline"), "output": job.output.suffix})
            if job.output.exists() and (recorded.get(job.relative) == fp or not force):
                result.status = "skipped" if recorded.get(job.relative) == fp else "stale"
                if job.output.suffix == ".md":
                    result.words = count_words(job.output.read_text(encoding="utf-8", errors="replace"))
                if result.status == "stale":
                    result.error = "finished, but its inputs changed since (use --force to regenerate)"
                return
            draw = observer.job(job.name)

            def progress(p: Progress) -> None:
                if cancel.is_set():
                    raise Cancelled
                draw(p)

            started = time.monotonic()
            written = write_job(session=job_session, spec=item.spec, force=force, on_progress=progress)
            state.record(job.relative, fp)
            result.status, result.words, result.tokens = "done", written.words, written.tokens
            result.continuations, result.seconds = written.continuations, time.monotonic() - started
        except Cancelled:
            result.status, result.error = "cancelled", why[0]
        except OutputExistsError:
            result.status = "skipped"  # another process finished it meanwhile
        except DocgenError as exc:
            result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
        except Exception as exc:  # a bug in one job must not stop the others
            result.status, result.error, result.exit_code = "failed", f"internal error: {exc!r}", EXIT_INTERNAL
        if result.status == "failed" and fail_fast:
            cancel.set()
        observer.job_ended(result.name, failed=result.status == "failed")

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for future in [pool.submit(one, i) for i in range(len(specs))]:
            future.result()
    except BaseException:
        why[0] = "interrupted"
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def write_report(path: Path, results: list[JobResult]) -> None:
    """``--report``: one JSON record per job."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps([asdict(r) for r in results], indent=1, ensure_ascii=False))
    except OSError as exc:
        raise OutputError(
            f"cannot write the report {path}: {exc.strerror}", hint="choose another --report path"
        ) from None
