"""Talking to an OpenAI-compatible server over httpx: one request, one streamed reply.

httpx's exceptions and the HTTP error statuses become docgen errors here, in
``transport_errors`` and ``error_for_status``, and nowhere else. No message quotes a
request header, so the API key cannot reach one.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from docgen.errors import (
    AuthError,
    ConnectError,
    DocgenError,
    NotFoundError,
    RejectedError,
    StreamError,
    UnavailableError,
    UsageError,
    add_secret,
)
from docgen.server.chat_stream import ChatStreamDecoder

_MAX_ERROR_BODY = 64 * 1024
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def make_client(
    *,
    api_key: str | None,
    connect_timeout: float,
    idle_timeout: float,
    pool_size: int = 10,
    engine: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> httpx.Client:
    """One pooled client for a whole run. The key lives only in its headers.

    For the embedded engine (``engine``) no proxy from the environment applies, and idle
    connections are dropped before llama.cpp's own 5-second keep-alive limit closes them.
    """
    api_key = (api_key or "").strip()
    if api_key and not (api_key.isascii() and api_key.isprintable()):
        # never echoed: the message must not carry the key
        raise UsageError(
            "the API key holds characters that cannot be sent in an HTTP header",
            hint="check the value of --api-key or DOCGEN_API_KEY / OPENAI_API_KEY",
        )
    sent = {"Accept": "text/event-stream, application/json"}
    for name, value in headers:  # --header: a router's or a proxy's; its value may be a secret
        if not (name and name.isascii() and name.isprintable() and value.isascii() and value.isprintable()):
            raise UsageError(f"--header {name!r}: not a header that HTTP can send", hint="use KEY=VALUE in ASCII")
        if len(value) >= 8:
            add_secret(value)
        sent[name] = value
    headers_ = sent
    if api_key:
        add_secret(api_key)  # masked in every message, whatever a server echoes back
        headers_["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(
        headers=headers_,
        timeout=httpx.Timeout(idle_timeout, connect=connect_timeout),
        limits=httpx.Limits(
            max_connections=pool_size, max_keepalive_connections=pool_size, keepalive_expiry=2.0 if engine else 5.0
        ),
        follow_redirects=True,
        trust_env=not engine,
    )


def _retry_after(headers: httpx.Headers) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(ms) / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def server_message(body: bytes) -> str:
    """The server's own words from an error body, on one short line."""
    text = body.decode("utf-8", "replace").strip()
    parsed = False
    with contextlib.suppress(ValueError):
        obj = json.loads(text)
        parsed = True
        if isinstance(obj, dict):
            err = obj.get("error", obj)
            if isinstance(err, dict):
                text = _said(err.get("message") or err.get("detail") or err.get("msg") or err)
            elif err:
                text = _said(err)
            if "detail" in obj and not isinstance(obj.get("error"), dict):
                text = _said(obj["detail"])
    if not parsed and text.lstrip().startswith("<"):  # a proxy's or a web server's error page
        text = "an HTML page"
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _said(value: object) -> str:
    """A message from a JSON error; FastAPI's 422 ``detail`` list becomes ``field: message; ...``."""
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "msg" in item:
                where = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
                parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(value)


def error_for_status(status: int, body: bytes, url: str, headers: httpx.Headers) -> DocgenError:
    """Map an HTTP error status to the docgen error a user should see."""
    said = server_message(body) or httpx.codes.get_reason_phrase(status)
    where = f"{url} answered {status}: {said}"
    if status in (401, 403):
        return AuthError(where, hint="check --api-key or DOCGEN_API_KEY / OPENAI_API_KEY", status=status, url=url)
    if status == 404:
        return NotFoundError(
            where, hint="check --base-url (it usually ends in /v1) and --model", status=status, url=url
        )
    if status in RETRY_STATUSES:
        return UnavailableError(
            where,
            hint="the server is busy or failing; try again later",
            status=status,
            url=url,
            retry_after=_retry_after(headers),
        )
    return RejectedError(
        where, hint="the server refused the request; check the model and options", status=status, url=url
    )


@contextlib.contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """Turn httpx's transport exceptions into docgen errors (the one mapping)."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise ConnectError(
            f"timed out connecting to {url}", hint="is the server up? check --base-url", url=url
        ) from None
    except httpx.ConnectError as exc:
        reason = str(exc) or "connection failed"
        if "Name or service not known" in reason or "nodename nor servname" in reason or "getaddrinfo" in reason:
            reason = "the host name cannot be resolved"
        elif "refused" in reason.lower():
            reason = "connection refused"
        raise ConnectError(
            f"cannot connect to {url}: {reason}", hint="is the server running? check --base-url", url=url
        ) from None
    except httpx.ReadTimeout:
        raise StreamError(
            f"{url} sent nothing for longer than the idle timeout", hint="raise --timeout for slow servers"
        ) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise UsageError(f"bad server URL {url}: {exc}", hint="--base-url must look like http://host:port/v1") from None
    except httpx.DecodingError as exc:
        raise StreamError(f"{url} sent a body that cannot be decoded: {exc}") from None
    except httpx.LocalProtocolError:  # never str(exc): it can quote a header, the key included
        raise UsageError(f"the request to {url} could not be sent", hint="check --api-key and --base-url") from None
    except httpx.TransportError as exc:  # ReadError, RemoteProtocolError, WriteError, pools...
        what = str(exc) or type(exc).__name__
        raise StreamError(f"the connection to {url} broke: {what}") from None
    except httpx.TooManyRedirects:
        raise RejectedError(f"{url} redirects in a loop", hint="check --base-url", url=url) from None
    except httpx.HTTPError as exc:
        raise StreamError(f"the request to {url} failed: {type(exc).__name__}") from None


def _not_keepalive(block: bytes) -> bool:
    """Whether a read that completed no event held more than SSE comments (``: ping``) and line ends."""
    return any(line.strip() and not line.lstrip().startswith(b":") for line in block.splitlines())


def list_models(*, client: httpx.Client, base_url: str) -> list[dict[str, Any]]:
    """``GET /models``: the served models, each a dict with at least ``id``."""
    url = f"{base_url}/models"
    with transport_errors(url):
        response = client.get(url)
    if response.status_code != 200:
        raise error_for_status(response.status_code, response.content[:_MAX_ERROR_BODY], url, response.headers)
    try:
        data = response.json().get("data")
        models = [m for m in data if isinstance(m, dict) and m.get("id")]
    except (ValueError, AttributeError, TypeError):
        raise RejectedError(
            f"{url} did not return a model list", hint="check --base-url (it usually ends in /v1)", url=url
        ) from None
    return models


@dataclass(frozen=True)
class ReplyOutcome:
    finish_reason: str
    usage: dict[str, Any] | None

    @property
    def completion_tokens(self) -> int | None:
        """The reply's tokens as the server counted them, when it did."""
        value = self.usage.get("completion_tokens") if isinstance(self.usage, dict) else None
        return value if isinstance(value, int) else None


def stream_chat(
    *,
    client: httpx.Client,
    base_url: str,
    body: dict[str, Any],
    idle_timeout: float,
    on_text: Callable[[str], None],
    on_tick: Callable[[ChatStreamDecoder], None],
    session_id: str = "",
) -> ReplyOutcome:
    """POST one streamed chat completion; pass its text to ``on_text`` as it arrives.

    ``session_id`` goes out as ``X-Session-Id``: a router (vLLM's, SGLang's, LiteLLM) can keep
    one document's requests on one backend and reuse its prefix cache.

    ``on_text`` is called once per network read that completed content, before the
    next read. A reply that breaks off raises ``StreamError``; the text already
    passed on stays passed on.
    """
    url = f"{base_url}/chat/completions"
    decoder = ChatStreamDecoder()
    headers = {"X-Session-Id": session_id} if session_id else None
    with transport_errors(url), client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            raise error_for_status(response.status_code, _read_bounded(response), url, response.headers)
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            return _non_streamed(_read_bounded(response, limit=64 << 20), url, on_text)
        if kind == "text/html":
            raise RejectedError(
                f"{url} answered with an HTML page, not an event stream",
                hint="check --base-url (it usually ends in /v1)",
                url=url,
            )
        last_event = time.monotonic()
        seen, trickle = 0, False
        for block in response.iter_bytes():
            text = decoder.feed(block)
            if text:
                on_text(text)
            if decoder.failed is not None:
                raise decoder.failed
            now = time.monotonic()
            if decoder.events != seen:
                seen, last_event, trickle = decoder.events, now, False
            else:
                trickle = trickle or _not_keepalive(block)
                if now - last_event > idle_timeout:
                    what = "a trickle of bytes but no complete event" if trickle else "only keep-alives"
                    raise StreamError(
                        f"{url} sent {what} for {idle_timeout:g}s", hint="raise --timeout for slow servers"
                    )
            on_tick(decoder)
            if decoder.done:
                break
    if decoder.events == 0 and kind != "text/event-stream":
        raise StreamError(
            f"{url} did not send an event stream (Content-Type: {kind or 'none'})",
            hint="check --base-url (it usually ends in /v1)",
        )
    if decoder.finish_reason is None and not decoder.done:
        raise StreamError(f"the reply from {url} ended without a finish reason (the server may have failed)")
    return ReplyOutcome(decoder.finish_reason or "stop", decoder.usage)


def _read_bounded(response: httpx.Response, limit: int = _MAX_ERROR_BODY) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _non_streamed(body: bytes, url: str, on_text: Callable[[str], None]) -> ReplyOutcome:
    """A server that ignored ``stream: true`` and sent one JSON completion."""
    try:
        obj = json.loads(body)
        if obj.get("error"):
            raise StreamError(f"{url} reported an error: {server_message(body)}")
        choice = obj["choices"][0]
        text = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise StreamError(f"{url} sent a JSON body that is not a chat completion: {body[:80]!r}") from None
    if text:
        on_text(text)
    return ReplyOutcome(str(choice.get("finish_reason") or "stop"), obj.get("usage"))


def choose_model(*, client: httpx.Client, base_url: str) -> tuple[str, str]:
    """The one model the server serves, and its ``owned_by``; else name the choices."""
    models = list_models(client=client, base_url=base_url)
    if len(models) == 1:
        return str(models[0]["id"]), str(models[0].get("owned_by", ""))
    if not models:
        raise NotFoundError(f"{base_url}/models lists no models", hint="load a model on the server, or pass --model")
    names = ", ".join(str(m["id"]) for m in models[:20])
    raise UsageError(f"{base_url} serves {len(models)} models: {names}", hint="choose one with --model or DOCGEN_MODEL")
