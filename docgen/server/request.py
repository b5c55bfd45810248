"""The one builder of a chat-completions request body: used to send, to probe and by --dry-run.

Imports nothing heavy, so ``--dry-run`` shows exactly what would be sent without httpx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def chat_body(
    *,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    sampling: Mapping[str, Any],
    stream: bool = True,
    include_usage: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``POST /chat/completions`` body.

    ``sampling`` holds temperature, max_tokens and the like; ``extra`` the fields a
    continuation mode adds. A streamed request asks for usage (``stream_options``) unless
    the server is known to refuse it.
    """
    body: dict[str, Any] = {"model": model, "stream": stream, **sampling}
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    body.update(extra or {})
    body["messages"] = list(messages)
    return body
