"""Turn chat-completion stream events into document text, fast.

The slow path parses each event's JSON. The fast path notices that a local server's
content events are byte-identical apart from the content string, learns that shape
from one parsed event, and then pulls the content of a whole network read out with
one regex pass, checking that the matches tile the read exactly, so no event is ever
skipped. Anything unusual (a finish chunk, usage, an error, reasoning, a new shape)
falls back to the slow path for that read.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from docgen.errors import StreamError
from docgen.server.sse import SSEDecoder

_BODY = rb'([^"\\\x00-\x1f]*(?:\\.[^"\\\x00-\x1f]*)*)'  # a JSON string body, unrolled for speed
_CHOICE_KEYS = frozenset({"index", "delta", "logprobs", "finish_reason"})
REASONING_KEYS = ("reasoning_content", "reasoning")
MAX_MISSES = 8


def _error_message(err: Any) -> str:
    if isinstance(err, dict):
        msg = err.get("message") or err.get("msg") or err.get("type") or json.dumps(err)
        code = err.get("code")
        return f"{msg} (code {code})" if code not in (None, "") else str(msg)
    return str(err)


class ChatStreamDecoder:
    """Feed it the bytes of a streamed chat completion; it returns the content text.

    After each ``feed`` the attributes say what the stream has shown so far.
    A mid-stream error event raises ``StreamError`` with the server's message.
    """

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._shape: re.Pattern[bytes] | None = None
        self._shape_key = b""
        self._fixed = 0
        self._misses = 0  # reads in a row the learned shape did not fit
        self.events = 0
        self.content_events = 0
        self.reasoning_events = 0
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.model: str | None = None
        self.failed: StreamError | None = None  # a bad event, raised after the text before it is kept

    def feed(self, block: bytes) -> str:
        """Consume one network read and return the content text it completed.

        When the read holds a bad event (a mid-stream error, malformed JSON, invalid
        UTF-8), the text before it is still returned, and ``failed`` is set: the caller
        keeps the text, then raises ``failed``.
        """
        if self.failed is not None:
            raise self.failed
        if self._shape is not None:
            tail = self._sse.take_tail()
            if tail is not None:
                if tail:
                    block = tail + block
                text = self._feed_fast(block)
                if text is not None:
                    return text
        out: list[str] = []
        self._handle_all(self._sse.feed(block), out)
        return "".join(out)

    def _handle_all(self, payloads: list[bytes], out: list[str]) -> None:
        learn: bytes | None = None
        try:
            for payload in payloads:
                if self._handle(payload, out):
                    learn = payload
        except StreamError as exc:
            self.failed = exc
            return
        if learn is not None:
            self._learn(learn)

    def _feed_fast(self, buf: bytes) -> str | None:
        cut = buf.rfind(b"\n\n") + 2
        if cut < 2:
            return None
        region = buf[:cut]
        bodies = self._shape.findall(region)  # type: ignore[union-attr]
        n = len(bodies)
        if not n or self._fixed * n + sum(map(len, bodies)) != len(region):
            self._misses += 1
            return None
        self._misses = 0
        joined = b"".join(bodies)
        try:
            # each event's bytes must be valid UTF-8 on their own, as on the slow path
            text = joined.decode() if joined.isascii() else "".join([b.decode() for b in bodies])
            if "\\" in text:
                if "\\ud" in text.lower():  # surrogate escapes: decode event by event, like the slow path
                    return None
                text = scanstring(text + '"', 0, True)[0]
        except ValueError:  # invalid UTF-8 or escape: let the slow path name the event
            return None
        self.events += n
        self.content_events += n - bodies.count(b"")
        rest = self._sse.feed(buf[cut:])
        if rest:  # a stream that mixes line ends can complete another event here
            out = [text]
            self._handle_all(rest, out)
            text = "".join(out)
        return text

    def _handle(self, payload: bytes, out: list[str]) -> bool:
        """Interpret one event; True when it is a plain content event worth learning."""
        self.events += 1
        if payload == b"[DONE]":
            self.done = True
            return False
        try:
            obj = json.loads(payload.decode("utf-8"))  # strict: no encoded surrogates
        except ValueError as exc:
            what = "invalid UTF-8" if isinstance(exc, UnicodeDecodeError) else "malformed JSON"
            raise StreamError(
                f"the server sent an event with {what}: {payload[:60]!r}",
                hint="it will be retried as a continuation",
            ) from None
        if not isinstance(obj, dict):
            raise StreamError(f"the server sent an event that is not a JSON object: {payload[:60]!r}")
        if obj.get("error"):
            raise StreamError(f"the server reported an error mid-stream: {_error_message(obj['error'])}")
        if obj.get("usage"):
            self.usage = obj["usage"]
        if obj.get("model"):
            self.model = obj["model"]
        choices = obj.get("choices")
        if not choices or not isinstance(choices, list):
            return False
        choice = choices[0]
        if not isinstance(choice, dict):
            return False
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise StreamError(f"the server sent an event whose delta is not an object: {payload[:60]!r}")
        plain = False
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise StreamError(f"the server sent an event whose content is not text: {payload[:60]!r}")
        if content:
            out.append(content)
            self.content_events += 1
            plain = (
                choice.keys() <= _CHOICE_KEYS
                and delta.keys() <= {"content", "role"}
                and len(choices) == 1
                and not obj.get("usage")
                and not choice.get("finish_reason")
                and not choice.get("logprobs")
            )
        if any(delta.get(key) for key in REASONING_KEYS):
            self.reasoning_events += 1
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = str(reason)
        return plain

    def _learn(self, payload: bytes) -> None:
        if self._misses >= MAX_MISSES:  # the shape changes every event (OpenAI's obfuscation field)
            self._shape = None
            return
        at = payload.find(b'"content":')
        if at < 0 or payload.find(b'"content":', at + 1) >= 0:
            return
        start = at + 10
        while payload[start : start + 1] in (b" ", b"\t"):
            start += 1
        if payload[start : start + 1] != b'"':
            return
        end = start + 1
        while True:
            end = payload.find(b'"', end)
            if end < 0:
                return
            backslashes = len(payload[:end]) - len(payload[:end].rstrip(b"\\"))
            if backslashes % 2 == 0:
                break
            end += 1
        prefix = b"data: " + payload[: start + 1]
        suffix = payload[end:] + b"\n\n"
        key = prefix + b"\0" + suffix
        if key == self._shape_key:
            return
        self._shape_key = key
        self._fixed = len(prefix) + len(suffix)
        self._shape = re.compile(re.escape(prefix) + _BODY + re.escape(suffix))
