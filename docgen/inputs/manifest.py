"""``docgen batch``'s manifest: a TOML file of defaults and jobs, read and checked up front.

Every problem names the job and the field, and outputs cannot leave the output folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docgen.errors import DocgenError, TemplateError, UsageError
from docgen.inputs.jobs import JobSpec, job_spec
from docgen.inputs.prompt import build_prompt, sampling_for
from docgen.inputs.sources import SourceFile, read_sources
from docgen.markdown.finish import OutputFormat

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
    "sources",
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
    "sources",
}


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


def _check_type(where: str, key: str, value: Any) -> str | None:
    expect: dict[str, type | tuple[type, ...]] = {
        "words": int,
        "max_tokens": int,
        "temperature": (int, float),
        "vars": dict,
        "sources": list,
    }
    if key == "base_url" and isinstance(value, list) and value and all(isinstance(u, str) for u in value):
        return None  # several servers of one model
    kind = expect.get(key, str)
    if key == "sources" and isinstance(value, list) and not all(isinstance(x, str) and x != "-" for x in value):
        return f"{where}: field 'sources' must be a list of paths (stdin is not a batch source)"
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
        if "\x00" in relative:
            problems.append(f"{where}: field 'output' holds a NUL character")
            continue
        target, error = _inside(output_dir, relative)
        if error:
            problems.append(f"{where}: field 'output' {error}")
            continue
        if target in seen:
            problems.append(f"{where}: field 'output' {relative!r} is also the output of {seen[target]}")
            continue
        if target.suffix.lower() not in (".md", ".txt", ".html", ".docx"):
            problems.append(f"{where}: field 'output' must end in .md, .txt, .html or .docx")
        seen[target] = where
        name = str(raw.get("name") or relative)
        if name in names:
            problems.append(f"{where}: field 'name' {name!r} is also the name of {names[name]}")
        names[name] = where
        settings = {k: v for k, v in defaults.items() if k not in ("output_dir", "base_url")}
        settings.update({k: v for k, v in raw.items() if k not in ("name", "topic", "output")})
        settings["vars"] = dict(raw.get("vars", {}))  # [defaults.vars] apply only where a template takes them
        settings["sources"] = [*defaults.get("sources", []), *raw.get("sources", [])]  # shared, then the job's own
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


@dataclass(frozen=True)
class BatchSpec:
    """One manifest job, settled: the document's spec and the model it asks for (None: the run's)."""

    job: BatchJob
    spec: JobSpec
    model: str | None


_FROM_CONFIG = ("template", "words", "temperature", "max_tokens", "system")


def batch_specs(
    manifest: Manifest,
    *,
    defaults: Mapping[str, str],
    search: tuple[Path, ...],
    config: Mapping[str, Any],
) -> list[BatchSpec]:
    """Fill every job's template before anything is sent; one error names every job that fails.

    ``defaults`` are the project config's template variables and ``config`` its other
    settings (template, words, temperature, ...), both below the manifest's own.
    """
    specs: list[BatchSpec] = []
    problems: list[DocgenError] = []
    read: dict[tuple[str, ...], tuple[SourceFile, ...]] = {}  # jobs that share their sources read them once
    for job in manifest.jobs:
        s = {**{k: config[k] for k in _FROM_CONFIG if k in config}, **job.settings}
        try:
            prompt = build_prompt(
                template=str(s.get("template", "report")),
                topic=job.topic,
                words=s.get("words"),
                variables={k: str(v) for k, v in s["vars"].items()},
                system=s.get("system"),
                search=search,
                defaults={**defaults, **manifest.defaults.get("vars", {})},
            )
            outline = s.get("outline")
            if outline and outline not in ("auto", "none"):
                outline = str((manifest.path.parent / str(outline)).resolve())
            named = tuple(str(manifest.path.parent / x) for x in s.get("sources", ()))  # relative to the manifest
            if named and named not in read:
                read[named] = tuple(read_sources(list(named))[0])
            spec = job_spec(
                prompt=prompt,
                output=job.output,
                sampling=sampling_for(temperature=s.get("temperature"), max_tokens=s.get("max_tokens")),
                words=s.get("words"),
                outline=outline or None,
                search=search,
                output_format=OutputFormat.for_path(job.output),
                title=job.topic or "",
                sources=read.get(named, ()),
            )
        except DocgenError as exc:
            problems.append(exc)
            problems[-1].message = f"job {job.name}: {exc.message}"
            continue
        specs.append(BatchSpec(job, spec, str(s["model"]) if s.get("model") else None))
    if problems:
        kind = TemplateError if all(isinstance(p, TemplateError) for p in problems) else UsageError
        raise kind(f"{manifest.path}: " + "; ".join(p.message for p in problems))
    return specs


def parse_shard(text: str) -> tuple[int, int]:
    """``i/n`` (1-based) from ``--shard``."""
    index, sep, count = text.partition("/")
    if sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count):
        return int(index), int(count)
    raise UsageError(f"--shard {text!r}: expected i/n with 1 <= i <= n", hint="for example --shard 2/4")


def shard(manifest: Manifest, index: int, count: int) -> Manifest:
    """The jobs of shard ``index`` of ``count``: by a hash of each output's path, so the shards are disjoint,
    cover the manifest exactly once on any machine, and a job keeps its shard when others are added."""

    def owner(job: BatchJob) -> int:
        return int(hashlib.sha256(job.relative.encode()).hexdigest()[:8], 16) % count + 1

    return dataclasses.replace(manifest, jobs=tuple(job for job in manifest.jobs if owner(job) == index))
