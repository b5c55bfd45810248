"""What ``--dry-run`` prints: the prompt, readable, then the exact request body that would be sent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from docgen.errors import redact
from docgen.inputs.grounding import DEFAULT_WINDOW
from docgen.inputs.jobs import DocumentJob, JobSpec, LongformJob
from docgen.inputs.prompt import messages_for
from docgen.server.request import chat_body


def _request(
    base_url: str, model: str | None, sampling: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]
) -> tuple[str, dict[str, Any]]:
    body = chat_body(model=model or "(the server's only model)", messages=messages, sampling=sampling)
    url = base_url if base_url.startswith("(") else f"{redact(base_url)}/chat/completions"  # "(the embedded engine)"
    return url, body


def dry_run_messages(spec: JobSpec, *, model: str | None, window: int | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The first request's messages, and with sources how their room was spent (no server is asked)."""
    if not spec.sources:
        return messages_for(spec.prompt), {}
    job = spec.resolve(model or "(the server's only model)", window=window)
    files = [{"path": f.path, "bytes": f.bytes} for f in spec.sources]
    budget: dict[str, Any] = {
        "window": window or DEFAULT_WINDOW,
        "window_from": "--context-window" if window else "assumed: the server is not asked in a dry run",
        "files": files,
    }
    if isinstance(job, DocumentJob) and job.given is not None:
        budget["given"] = [{"n": n, "path": c.path, "lines": [c.start_line, c.end_line]} for n, c in job.given.numbered]
        budget["whole"] = job.given.complete
        return job.messages, budget
    assert isinstance(job, LongformJob)
    budget["per_prompt_chars"] = job.source_room
    budget["note"] = "outline mode: the outline gets a digest, each section the chunks that rank best for it"
    return messages_for(spec.prompt), budget


def dry_run_json(
    *,
    base_url: str,
    output: Path,
    model: str | None,
    sampling: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    budget: Mapping[str, Any] | None = None,
) -> str:
    """``--dry-run --json``: the request as one JSON object."""
    url, body = _request(base_url, model, sampling, messages)
    record: dict[str, Any] = {"url": url, "output": str(output), "body": body}
    if budget:
        record["sources"] = dict(budget)
    return json.dumps(record, ensure_ascii=False)


def dry_run_text(
    *,
    base_url: str,
    output: Path,
    model: str | None,
    sampling: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    budget: Mapping[str, Any] | None = None,
) -> str:
    url, body = _request(base_url, model, sampling, messages)
    parts = [f"# POST {url} -> {output}\n"]
    if budget:
        size = sum(f["bytes"] for f in budget["files"])
        parts.append(
            f"## sources\n\n{len(budget['files'])} files, {size:,} bytes; context window "
            f"{budget['window']:,} tokens ({budget['window_from']})"
        )
        if "given" in budget:
            how = "every file whole" if budget["whole"] else f"{len(budget['given'])} chunks ranked for the topic"
            parts.append(f"given: {how}")
            parts += [f"  [{g['n']}] {g['path']}, lines {g['lines'][0]}-{g['lines'][1]}" for g in budget["given"]]
        else:
            parts.append(f"{budget['note']}; up to {budget['per_prompt_chars']:,} characters each")
        parts.append("")
    parts += [f"## {m['role']}\n\n{m['content']}\n" for m in messages]
    parts.append("## request body\n\n" + json.dumps(body, indent=2, ensure_ascii=False))
    return "\n".join(parts)
