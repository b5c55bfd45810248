"""``docgen batch``: many documents over one connection pool, each with ``write``'s guarantees.

Jobs run in threads that share one ``httpx.Client``: the work is waiting on sockets, so
threads cost little, and every job runs the same ``write_job`` as ``docgen write``. One
job's failure is in its result, not raised; ``fail_fast`` cancels the others.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from docgen.errors import EXIT_INTERNAL, DocgenError, OutputError, OutputExistsError
from docgen.inputs.manifest import BatchSpec, Manifest
from docgen.markdown.wordcount import count_words
from docgen.write.endpoints import Endpoints, write_anywhere
from docgen.write.files import atomic_write, sidecar
from docgen.write.job import resolve
from docgen.write.output_state import OutputState
from docgen.write.progress import Cancelled, Progress, ProgressCallback


@dataclass
class JobResult:
    name: str
    path: str
    status: str = "pending"  # done, skipped, stale, failed, cancelled
    words: int = 0  # of the finished document, or of the partial text a failed job left
    tokens: int | None = None  # completion tokens of every reply of the document
    seconds: float = 0.0
    continuations: int = 0
    retries: int = 0  # requests sent again after a failure, this run
    prompt_tokens: int = 0  # every request of this run
    completion_tokens: int = 0
    error: str = ""
    exit_code: int = 0


class BatchInterrupted(Exception):
    """The batch was interrupted (Ctrl-C, SIGTERM): every job stopped cleanly, its partial kept.

    ``results`` says how far each job got, for the table and the report.
    """

    def __init__(self, results: list[JobResult]) -> None:
        super().__init__("interrupted")
        self.results = results


class BatchObserver(Protocol):
    """What a batch tells its display: each job's progress, and each job's end."""

    def job(self, name: str) -> ProgressCallback: ...

    def job_ended(self, name: str, *, status: str, error: str = "") -> None:
        """``status`` is a JobResult's; ``error`` says why a job failed, was cancelled or is stale."""
        ...


def run_batch(
    *,
    manifest: Manifest,
    specs: Sequence[BatchSpec],
    endpoints: Endpoints,
    jobs: int = 2,
    force: bool = False,
    fail_fast: bool = False,
    observer: BatchObserver,
) -> list[JobResult]:
    """Write every job of ``manifest``; return one result per job, in manifest order."""
    state = OutputState(manifest.output_dir)
    recorded = state.read()
    cancel = threading.Event()
    why = ["stopped because another job failed"]
    results = [JobResult(item.job.name, str(item.job.output)) for item in specs]

    def one(index: int) -> None:
        item, result = specs[index], results[index]
        job = item.job
        if cancel.is_set():
            result.status, result.error = "cancelled", why[0]
            observer.job_ended(result.name, status=result.status, error=result.error)
            return
        started = time.monotonic()
        try:
            resolved = resolve(item.spec, endpoints.answering(item.model))
            fp = item.spec.output_fingerprint(resolved)
            if job.output.exists() and (recorded.get(job.relative) == fp or not force):
                result.status = "skipped" if recorded.get(job.relative) == fp else "stale"
                if job.output.suffix == ".md":
                    result.words = count_words(job.output.read_text(encoding="utf-8", errors="replace"))
                if result.status == "stale":
                    result.error = "finished, but its inputs changed since (use --force to regenerate)"
                observer.job_ended(result.name, status=result.status, error=result.error)
                return
            draw = observer.job(job.name)

            def progress(p: Progress) -> None:
                if cancel.is_set():
                    raise Cancelled
                draw(p)

            written = write_anywhere(
                endpoints, spec=item.spec, model=item.model, force=force, on_progress=progress, track=False
            )
            state.record(job.relative, fp)
            result.status, result.words, result.tokens = "done", written.words, written.tokens
            result.continuations, result.retries = written.continuations, written.retries
            result.prompt_tokens, result.completion_tokens = written.prompt_tokens, written.completion_tokens
        except Cancelled:
            result.status, result.error = "cancelled", why[0]
        except OutputExistsError:
            result.status = "skipped"  # another process finished it meanwhile
        except DocgenError as exc:
            result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
        except Exception as exc:  # a bug in one job must not stop the others
            result.status, result.error, result.exit_code = "failed", f"internal error: {exc!r}", EXIT_INTERNAL
        result.seconds = round(time.monotonic() - started, 3)
        if result.status in ("failed", "cancelled"):
            result.words = partial_words(job.output)
        if result.status == "failed" and fail_fast:
            cancel.set()
        observer.job_ended(result.name, status=result.status, error=result.error)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for future in [pool.submit(one, i) for i in range(len(specs))]:
            future.result()
    except (KeyboardInterrupt, Cancelled):  # Ctrl-C, SIGTERM: stop every job at its next read, keep its partial
        why[0] = "interrupted"
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for result in results:
            if result.status == "pending":  # never started
                result.status, result.error = "cancelled", "interrupted"
        raise BatchInterrupted(results) from None
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def partial_words(output: Path) -> int:
    """The words an unfinished document has so far: its ``.part``, or its outline's sections."""
    sections = sidecar(output, ".sections")
    texts = [sidecar(output, ".part")]
    if sections.is_dir():
        texts += sorted(p for p in sections.iterdir() if p.suffix in (".md", ".part"))
    words = 0
    for path in texts:
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                words += count_words(path.read_text(encoding="utf-8", errors="replace"))
    return words


def write_report(path: Path, results: list[JobResult]) -> None:
    """``--report``: one JSON record per job."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps([asdict(r) for r in results], indent=1, ensure_ascii=False))
    except OSError as exc:
        raise OutputError(
            f"cannot write the report {path}: {exc.strerror}", hint="choose another --report path"
        ) from None
