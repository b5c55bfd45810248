"""``docgen check``: what a server can do, measured, and the continuation mode it needs.

The continuation probe compares prompt-token counts. With a final assistant message
that the server continues, adding text W to it adds about t(W) prompt tokens; when the
server instead closes that turn and opens a new one, it adds t(W) plus the template's
end-of-turn and assistant header. Sending W and then W twice measures t(W), so the
difference tells the two apart whatever the tokenizer and chat template.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from docgen.errors import DocgenError, RejectedError, UsageError
from docgen.server.chat_stream import ChatStreamDecoder
from docgen.server.client import error_for_status, list_models, stream_chat, transport_errors
from docgen.server.continuation import continuation_request
from docgen.server.request import chat_body

PROBE_PROMPT = "Reply with one short sentence about the sea."
FILLER = "The quick brown fox jumps over the lazy dog. " * 6
MODES = ("prefill", "vllm", "prefix")  # in order of preference when several work
_PROBE_SAMPLING = {"max_tokens": 1, "temperature": 0}


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


def _prompt_tokens(
    client: httpx.Client, base_url: str, model: str, messages: list[dict[str, Any]], extra: dict[str, Any]
) -> int | None:
    url = f"{base_url}/chat/completions"
    body = chat_body(model=model, messages=messages, sampling=_PROBE_SAMPLING, stream=False, extra=extra)
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
    body = chat_body(
        model=report.model,
        messages=[{"role": "user", "content": PROBE_PROMPT}],
        sampling={**_PROBE_SAMPLING, "max_tokens": 16},
    )
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
