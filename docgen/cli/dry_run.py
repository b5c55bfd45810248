"""What ``--dry-run`` prints: the prompt, readable, then the exact request body that would be sent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from docgen.errors import redact
from docgen.server.request import chat_body


def _request(
    base_url: str, model: str | None, sampling: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]
) -> tuple[str, dict[str, Any]]:
    body = chat_body(model=model or "(the server's only model)", messages=messages, sampling=sampling)
    url = base_url if base_url.startswith("(") else f"{redact(base_url)}/chat/completions"  # "(the embedded engine)"
    return url, body


def dry_run_json(
    *,
    base_url: str,
    output: Path,
    model: str | None,
    sampling: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
) -> str:
    """``--dry-run --json``: the request as one JSON object."""
    url, body = _request(base_url, model, sampling, messages)
    return json.dumps({"url": url, "output": str(output), "body": body}, ensure_ascii=False)


def dry_run_text(
    *,
    base_url: str,
    output: Path,
    model: str | None,
    sampling: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
) -> str:
    url, body = _request(base_url, model, sampling, messages)
    parts = [f"# POST {url} -> {output}\n"]
    parts += [f"## {m['role']}\n\n{m['content']}\n" for m in messages]
    parts.append("## request body\n\n" + json.dumps(body, indent=2, ensure_ascii=False))
    return "\n".join(parts)
