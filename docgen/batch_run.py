"""Running a loaded manifest: prompts checked up front, then the jobs over one pool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docgen import plan
from docgen.batch import BatchJob, BatchRun, JobResult, Manifest
from docgen.document import fingerprint, write_document
from docgen.errors import DocgenError, TemplateError
from docgen.finishing import OutputFormat
from docgen.meter import BatchMeter
from docgen.session import Session


@dataclass(frozen=True)
class _Prepared:
    prompt: plan.Prompt
    session: Session
    sampling: dict[str, Any]
    words: int | None


def run_batch(
    *,
    manifest: Manifest,
    session: Session,
    jobs: int,
    force: bool,
    fail_fast: bool,
    meter: BatchMeter,
    defaults: Mapping[str, str],
    search: tuple[Path, ...],
    config: Mapping[str, Any] | None = None,
) -> list[JobResult]:
    """Write every job of ``manifest``; a job's failure is in its result, not raised.

    ``defaults`` are the project config's template variables and ``config`` its other
    settings (template, words, temperature, ...), both below the manifest's own.
    """
    prepared = _prepare(manifest, session, defaults, search, config or {})

    def job_fingerprint(job: BatchJob) -> str:
        p = prepared[job.name]
        inputs = plan.document_inputs(p.prompt, model=p.session.model, sampling=p.sampling)
        return fingerprint({**inputs, "outline": job.settings.get("outline"), "output": job.output.suffix})

    def run_job(job: BatchJob, on_progress: Any) -> Any:
        p = prepared[job.name]
        words = p.words
        fmt, title = OutputFormat.for_path(job.output), job.topic or ""
        if job.settings.get("outline"):
            from docgen.longform import write_longform

            outline = str(job.settings["outline"])
            if outline != "auto":
                outline = str((manifest.path.parent / outline).resolve())
            long_job = plan.longform_job(
                prompt=p.prompt,
                output=job.output,
                model=p.session.model,
                sampling=p.sampling,
                words=words,
                outline=outline,
                parallel=1,
                outline_prompt="outline",
                section_prompt="section",
                search=search,
                output_format=fmt,
                title=title,
            )
            return write_longform(session=p.session, job=long_job, force=force, on_progress=on_progress)
        doc_job = plan.document_job(
            prompt=p.prompt,
            output=job.output,
            model=p.session.model,
            sampling=p.sampling,
            words=words,
            output_format=fmt,
            title=title,
        )
        return write_document(session=p.session, job=doc_job, force=force, on_progress=on_progress)

    def on_result(result: JobResult) -> None:
        meter.job_ended(result.name, failed=result.status == "failed")

    runner = BatchRun(
        manifest=manifest,
        run_job=run_job,
        fingerprint=job_fingerprint,
        jobs=jobs,
        force=force,
        fail_fast=fail_fast,
        on_result=on_result,
    )
    return runner.run(lambda job, _result: meter.job(job.name))


_FROM_CONFIG = ("template", "words", "temperature", "max_tokens", "system")


def _prepare(
    manifest: Manifest,
    session: Session,
    defaults: Mapping[str, str],
    search: tuple[Path, ...],
    config: Mapping[str, Any],
) -> dict[str, _Prepared]:
    """Fill every job's template before anything is sent; name every job that fails."""
    sessions: dict[str, Session] = {session.model: session}
    prepared: dict[str, _Prepared] = {}
    problems = []
    for job in manifest.jobs:
        s = {**{k: config[k] for k in _FROM_CONFIG if k in config}, **job.settings}
        try:
            prompt = plan.build_prompt(
                template=str(s.get("template", "report")),
                topic=job.topic,
                words=s.get("words"),
                variables={k: str(v) for k, v in s["vars"].items()},
                system=s.get("system"),
                search=search,
                defaults={**defaults, **manifest.defaults.get("vars", {})},
            )
        except DocgenError as exc:
            problems.append(f"job {job.name}: {exc.message}")
            continue
        model = str(s.get("model") or session.model)
        if model not in sessions:
            sessions[model] = session.for_model(model)
        sampling = plan.sampling_for(temperature=s.get("temperature"), max_tokens=s.get("max_tokens"))
        prepared[job.name] = _Prepared(prompt, sessions[model], sampling, s.get("words"))
    if problems:
        raise TemplateError(f"{manifest.path}: " + "; ".join(problems))
    return prepared
