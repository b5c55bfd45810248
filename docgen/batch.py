"""``docgen batch``: many documents from one TOML manifest, over one connection pool.

Jobs run in threads that share one ``httpx.Client``: the work is waiting on sockets, so
threads cost little, and the core stays the same synchronous code ``docgen write`` uses.
Every job keeps all of ``docgen write``'s guarantees. A record of the inputs of each
finished output, ``OUTPUT_DIR/.docgen-batch.json``, makes re-runs idempotent.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docgen.errors import DocgenError, OutputError, UsageError
from docgen.events import Cancelled
from docgen.wordcount import count_words

DEFAULT_KEYS = {
    "base_url",
    "model",
    "template",
    "words",
    "output_dir",
    "vars",
    "temperature",
    "max_tokens",
    "system",
    "outline",
}
JOB_KEYS = {
    "name",
    "topic",
    "output",
    "model",
    "template",
    "words",
    "vars",
    "temperature",
    "max_tokens",
    "system",
    "outline",
}
STATE_FILE = ".docgen-batch.json"


@dataclass(frozen=True)
class BatchJob:
    name: str
    topic: str | None
    output: Path  # absolute, inside the output folder
    relative: str
    settings: Mapping[str, Any]  # model, template, words, vars, temperature, max_tokens, system, outline


@dataclass(frozen=True)
class Manifest:
    path: Path
    defaults: Mapping[str, Any]
    output_dir: Path
    jobs: tuple[BatchJob, ...]


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


def _check_type(where: str, key: str, value: Any) -> str | None:
    expect: dict[str, type | tuple[type, ...]] = {
        "words": int,
        "max_tokens": int,
        "temperature": (int, float),
        "vars": dict,
    }
    kind = expect.get(key, str)
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "a number" if key == "temperature" else getattr(kind, "__name__", "a table")
        return f"{where}: field {key!r} must be {wanted}"
    if key in ("words", "max_tokens") and isinstance(value, int) and value < 1:
        return f"{where}: field {key!r} must be positive"
    return None


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest; every problem names the job and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the manifest {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    problems: list[str] = []
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise UsageError(f"{path}: [defaults] must be a table")
    for key, value in defaults.items():
        if key not in DEFAULT_KEYS:
            problems.append(f"[defaults]: unknown field {key!r}")
        elif (msg := _check_type("[defaults]", key, value)) is not None:
            problems.append(msg)
    output_dir = (path.parent / str(defaults.get("output_dir", "."))).resolve()
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise UsageError(f"{path}: no [[jobs]]", hint="add one [[jobs]] table per document")
    jobs: list[BatchJob] = []
    seen: dict[Path, str] = {}
    names: dict[str, str] = {}
    for i, raw in enumerate(raw_jobs, 1):
        where = f"job {i}" + (f" ({raw.get('name') or raw.get('topic')!s:.40})" if isinstance(raw, dict) else "")
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a table")
            continue
        for key, value in raw.items():
            if key not in JOB_KEYS:
                problems.append(f"{where}: unknown field {key!r}")
            elif (msg := _check_type(where, key, value)) is not None:
                problems.append(msg)
        relative = raw.get("output")
        if not isinstance(relative, str) or not relative:
            problems.append(f"{where}: field 'output' is required")
            continue
        target, error = _inside(output_dir, relative)
        if error:
            problems.append(f"{where}: field 'output' {error}")
            continue
        if target in seen:
            problems.append(f"{where}: field 'output' {relative!r} is also the output of {seen[target]}")
            continue
        if target.suffix.lower() not in (".md", ".txt", ".html"):
            problems.append(f"{where}: field 'output' must end in .md, .txt or .html")
        seen[target] = where
        name = str(raw.get("name") or relative)
        if name in names:
            problems.append(f"{where}: field 'name' {name!r} is also the name of {names[name]}")
        names[name] = where
        settings = {k: v for k, v in defaults.items() if k not in ("output_dir", "base_url")}
        settings.update({k: v for k, v in raw.items() if k not in ("name", "topic", "output")})
        settings["vars"] = dict(raw.get("vars", {}))  # [defaults.vars] apply only where a template takes them
        jobs.append(BatchJob(name, raw.get("topic"), target, relative, settings))
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    return Manifest(path, defaults, output_dir, tuple(jobs))


def _inside(folder: Path, relative: str) -> tuple[Path, str]:
    """The output path, or why it may not be used: outputs stay inside the output folder."""
    candidate = Path(relative)
    if candidate.is_absolute():
        return candidate, f"{relative!r} is absolute; give a path inside the output folder"
    if ".." in candidate.parts:
        return candidate, f"{relative!r} climbs out with '..'"
    resolved = (folder / candidate).resolve()
    if not resolved.is_relative_to(folder):
        return resolved, f"{relative!r} leads out of the output folder through a symlink"
    return resolved, ""


class BatchState:
    """``OUTPUT_DIR/.docgen-batch.json``: output -> fingerprint of its inputs, updated under a lock."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self._lock = threading.Lock()

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, relative: str, fingerprint: str) -> None:
        try:
            with self._lock, open(self.path.with_suffix(".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # other processes on the same folder
                data = self.read()
                data[relative] = fingerprint
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
                os.replace(tmp, self.path)
        except OSError as exc:
            raise OutputError(f"cannot record {relative} in {self.path}: {exc.strerror}") from None


@dataclass
class BatchRun:
    """Runs the jobs; ``run_job`` does one (write or longform) and returns its WriteResult."""

    manifest: Manifest
    run_job: Callable[..., Any]  # (job, on_progress) -> WriteResult; fingerprint(job) -> str
    fingerprint: Callable[[BatchJob], str]
    jobs: int = 2
    force: bool = False
    fail_fast: bool = False
    on_result: Callable[[JobResult], None] = lambda _: None
    results: list[JobResult] = field(default_factory=list)

    def run(self, make_progress: Callable[[BatchJob, JobResult], Callable[[Any], None]]) -> list[JobResult]:
        state = BatchState(self.manifest.output_dir)
        recorded = state.read()
        cancel = threading.Event()
        why = ["stopped because another job failed"]
        self.results = [JobResult(job.name, str(job.output)) for job in self.manifest.jobs]

        def one(index: int) -> None:
            job, result = self.manifest.jobs[index], self.results[index]
            if cancel.is_set():
                result.status = "cancelled"
                return
            try:
                fp = self.fingerprint(job)
                if job.output.exists() and (recorded.get(job.relative) == fp or not self.force):
                    result.status = "skipped" if recorded.get(job.relative) == fp else "stale"
                    if job.output.suffix == ".md":
                        result.words = count_words(job.output.read_text(encoding="utf-8", errors="replace"))
                    if result.status == "stale":
                        result.error = "finished, but its inputs changed since (use --force to regenerate)"
                    return
                draw = make_progress(job, result)

                def progress(p: Any) -> None:
                    if cancel.is_set():
                        raise Cancelled
                    draw(p)

                started = time.monotonic()
                written = self.run_job(job, progress)
                state.record(job.relative, fp)
                result.status, result.words, result.tokens = "done", written.words, written.tokens
                result.continuations, result.seconds = written.continuations, time.monotonic() - started
            except Cancelled:
                result.status, result.error = "cancelled", why[0]
            except OutputError as exc:
                if job.output.exists() and "already exists" in exc.message:
                    result.status = "skipped"  # another process finished it meanwhile
                else:
                    result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
            except DocgenError as exc:
                result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
            except Exception as exc:  # a bug in one job must not stop the others
                result.status, result.error, result.exit_code = "failed", f"internal error: {exc!r}", 70
            if result.status == "failed" and self.fail_fast:
                cancel.set()
            self.on_result(result)

        pool = ThreadPoolExecutor(max_workers=max(1, self.jobs))
        try:
            for future in [pool.submit(one, i) for i in range(len(self.manifest.jobs))]:
                future.result()
        except BaseException:
            why[0] = "interrupted"
            cancel.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self.results


def write_report(path: Path, results: list[JobResult]) -> None:
    from dataclasses import asdict

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(r) for r in results], indent=1, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise OutputError(
            f"cannot write the report {path}: {exc.strerror}", hint="choose another --report path"
        ) from None
