"""``docgen check``: what a server can do, measured, and the continuation mode it needs.

The continuation probe compares prompt-token counts. With a final assistant message
that the server continues, adding text W to it adds about t(W) prompt tokens; when the
server instead closes that turn and opens a new one, it adds t(W) plus the template's
end-of-turn and assistant header. Sending W and then W twice measures t(W), so the
difference tells the two apart whatever the tokenizer and chat template.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from docgen.chunks import ChatStreamDecoder
from docgen.client import error_for_status, list_models, stream_chat, transport_errors
from docgen.continuation import continuation_request
from docgen.errors import DocgenError, RejectedError, UsageError

PROBE_PROMPT = "Reply with one short sentence about the sea."
FILLER = "The quick brown fox jumps over the lazy dog. " * 6
MODES = ("prefill", "vllm", "prefix")  # in order of preference when several work


@dataclass
class ProbeReport:
    base_url: str
    model: str = ""
    models: list[str] = field(default_factory=list)
    owned_by: str = ""
    models_seconds: float | None = None
    first_token_seconds: float | None = None
    finish_reason: str | None = None
    usage: bool = False
    stream_options: bool | None = None
    reasoning: bool = False
    modes: dict[str, bool | None] = field(default_factory=dict)  # None: could not tell
    continue_mode: str = "instruct"
    error: str = ""
    exit_code: int = 0

    @property
    def prefill(self) -> bool | None:
        """Is a plain final assistant message continued (assistant prefill)?"""
        return self.modes.get("prefill")


def cache_path() -> Path:
    root = os.environ.get("DOCGEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "docgen"
    )
    return Path(root) / "probes.json"


def cached_mode(base_url: str, model: str) -> str | None:
    """The continuation mode ``docgen check`` found for this server and model, if any."""
    try:
        entry = json.loads(cache_path().read_text(encoding="utf-8")).get(f"{base_url} {model}")
    except (OSError, ValueError, AttributeError):
        return None
    mode = entry.get("continue_mode") if isinstance(entry, dict) else None
    return mode if isinstance(mode, str) else None


def save_mode(report: ProbeReport) -> Path:
    path = cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data[f"{report.base_url} {report.model}"] = {
        "continue_mode": report.continue_mode,
        "modes": report.modes,
        "checked": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _prompt_tokens(
    client: httpx.Client, base_url: str, model: str, messages: list[dict[str, Any]], extra: dict[str, Any]
) -> int | None:
    url = f"{base_url}/chat/completions"
    body = {"model": model, "messages": messages, "max_tokens": 1, "stream": False, "temperature": 0, **extra}
    with transport_errors(url):
        response = client.post(url, json=body)
    if response.status_code != 200:
        if response.status_code in (400, 422):
            return None  # the server refuses this form of request: the mode does not work
        raise error_for_status(response.status_code, response.content[:4096], url, response.headers)
    try:
        value = response.json()["usage"]["prompt_tokens"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def probe_mode(client: httpx.Client, base_url: str, model: str, mode: str) -> bool | None:
    """Does the server continue a final assistant message sent in ``mode``? None: unknown."""
    base = [{"role": "user", "content": PROBE_PROMPT}]
    plain = _prompt_tokens(client, base_url, model, base, {})
    counts = []
    for partial in (FILLER, FILLER + FILLER):
        messages, extra = continuation_request(messages=base, partial=partial, mode=mode)
        counts.append(_prompt_tokens(client, base_url, model, messages, extra))
    if plain is None:
        return None
    if counts[0] is None or counts[1] is None:
        return False
    filler = counts[1] - counts[0]
    return abs((counts[0] - plain) - filler) <= 1


def probe_server(*, client: httpx.Client, base_url: str, model: str | None) -> ProbeReport:
    """Run every probe; errors that stop it are kept in ``error``, not raised."""
    report = ProbeReport(base_url=base_url)
    try:
        started = time.monotonic()
        models = list_models(client=client, base_url=base_url)
        report.models_seconds = time.monotonic() - started
        report.models = [str(m["id"]) for m in models]
        report.model = model or (report.models[0] if len(report.models) == 1 else "")
        if not report.model:
            raise UsageError(
                f"{base_url} serves {len(report.models)} models: {', '.join(report.models[:20])}",
                hint="choose one with --model",
            )
        report.owned_by = next((str(m.get("owned_by", "")) for m in models if m["id"] == report.model), "")
        _probe_stream(client, report)
        for mode in MODES:
            report.modes[mode] = probe_mode(client, base_url, report.model, mode)
        report.continue_mode = next((m for m in MODES if report.modes.get(m)), "instruct")
    except DocgenError as exc:
        report.error, report.exit_code = str(exc), exc.exit_code
    return report


def _probe_stream(client: httpx.Client, report: ProbeReport) -> None:
    body: dict[str, Any] = {
        "model": report.model,
        "stream": True,
        "max_tokens": 16,
        "temperature": 0,
        "messages": [{"role": "user", "content": PROBE_PROMPT}],
        "stream_options": {"include_usage": True},
    }
    started = time.monotonic()

    def tick(decoder: ChatStreamDecoder) -> None:
        if report.first_token_seconds is None and (decoder.content_events or decoder.reasoning_events):
            report.first_token_seconds = time.monotonic() - started
        report.reasoning = report.reasoning or decoder.reasoning_events > 0

    try:
        outcome = stream_chat(
            client=client, base_url=report.base_url, body=body, idle_timeout=60, on_text=lambda _: None, on_tick=tick
        )
        report.stream_options = True
    except RejectedError as exc:
        if exc.status != 400:
            raise
        report.stream_options = False
        del body["stream_options"]
        started = time.monotonic()
        outcome = stream_chat(
            client=client, base_url=report.base_url, body=body, idle_timeout=60, on_text=lambda _: None, on_tick=tick
        )
    report.finish_reason = outcome.finish_reason
    report.usage = outcome.usage is not None


def describe(report: ProbeReport) -> list[str]:
    """The report as short lines for a person."""

    def yes(flag: bool | None) -> str:
        return "unknown" if flag is None else "yes" if flag else "no"

    lines = [f"server         {report.base_url}"]
    if report.models_seconds is not None:
        lines.append(
            f"models         {', '.join(report.models) or '(none)'} "
            f"(owned by {report.owned_by or '?'}; {report.models_seconds * 1000:.0f} ms)"
        )
    if report.finish_reason is not None:
        ttft = f"{report.first_token_seconds:.2f} s" if report.first_token_seconds is not None else "no token"
        lines += [
            f"stream         first token after {ttft}; finish_reason {report.finish_reason}; usage {yes(report.usage)}",
            f"stream_options {'accepted' if report.stream_options else 'refused'}",
            f"reasoning      {'seen' if report.reasoning else 'none seen'}",
        ]
    if report.modes:
        others = ", ".join(f"{mode}: {yes(ok)}" for mode, ok in report.modes.items() if mode != "prefill")
        lines += [
            f"prefill        {yes(report.prefill)} (a plain final assistant message is continued)",
            f"other modes    {others}",
            f"continue mode  {report.continue_mode}",
        ]
    if report.error:
        lines.append(f"error          {report.error}")
    return lines


def as_dict(report: ProbeReport) -> dict[str, Any]:
    return {**asdict(report), "prefill": report.prefill}
