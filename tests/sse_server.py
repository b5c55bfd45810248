"""A scripted OpenAI-compatible server on loopback that speaks real SSE over TCP.

It plays a known document as a model would: in events of random size, in writes split
at random byte offsets (mid-line and mid-UTF-8), in the wire shape of one server
flavour, continuing a partial text the way that flavour does, and with faults
injected on request. Each request is recorded for the tests to inspect.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTINUE_MARK = "Continue it exactly"  # in docgen's instruct-mode user turn

# which continuation request each flavour understands (None: a final assistant turn
# starts a new reply, as OpenAI does)
FLAVOUR_PREFILL = {
    "vllm": "vllm", "sglang": "vllm", "llamacpp": "prefill", "ollama": "prefill",
    "openai": None, "glm": None, "deepseek": "prefix", "openrouter": "prefill",
}
OWNED_BY = {"vllm": "vllm", "sglang": "sglang", "llamacpp": "llamacpp", "ollama": "library",
            "openai": "system", "glm": "z-ai", "deepseek": "deepseek", "openrouter": "openrouter"}


@dataclass
class Fault:
    """Something to go wrong in one request. ``kind``:

    drop: close the connection after ``after`` body bytes.
    stall: after ``after`` body bytes go silent (or send only keep-alives, or trickle an event that
        never completes) for ``seconds``.
    status: answer ``status`` with ``body`` and ``headers`` instead of streaming.
    error_event: after ``after`` content events, send the flavour's mid-stream error.
    malformed: after ``after`` content events, send an event that is not JSON.
    finish: end the reply after ``after`` content events with finish_reason ``reason``.
    raw: after ``after`` content events, send the bytes ``raw`` as they are and end the
        body there (no finish chunk, no ``[DONE]``): invalid UTF-8, broken SSE, ...

    A ``status`` answer is sent with Content-Type ``content_type`` (``status=200`` with
    ``content_type="text/plain"`` plays a server that is not an event stream at all).
    """

    kind: str
    after: int = 0
    seconds: float = 0.0
    keepalive: bool = False
    trickle: bool = False  # stall: send the start of an event a byte at a time, never finishing it
    status: int = 503
    body: str = '{"error": {"message": "overloaded, try later"}}'
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = "abort"
    raw: bytes = b""
    content_type: str = "application/json"


@dataclass
class Script:
    document: str
    flavour: str = "vllm"
    model: str = "test-model"
    models: list[str] | None = None
    cap_chars: int | None = None  # each reply stops at `length` after this many characters
    overlap: int = 40  # instruct mode: how much of the text's end the "model" repeats
    faults: list[Fault | None] = field(default_factory=list)
    reasoning: int = 0  # reasoning deltas before the content
    chunk_chars: tuple[int, int] = (1, 12)
    write_bytes: tuple[int, int] = (1, 300)  # sizes of the TCP writes
    delay: float = 0.0  # seconds between writes
    seed: int = 0
    prefill: str | bool | None = True  # True: the flavour's own; else override
    stream_options_ok: bool = True
    content_type: str = "text/event-stream; charset=utf-8"
    # a prompt substring -> the document it gets; a list gives successive fresh requests the next one;
    # a tuple holds alternatives, and a continuation gets the first that holds the text it continues
    documents: dict[str, str | list[str] | tuple[str, ...]] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)  # a prompt substring -> seconds between writes
    fail_on: dict[str, Fault] = field(default_factory=dict)  # a prompt substring -> the fault every such request gets


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> int:
        with self.lock:
            self.requests.append(entry)
            return len(self.requests) - 1

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.recorder.add({"path": self.path, "headers": dict(self.headers), "body": None})
        script = self.server.script
        if not self.path.endswith("/models"):
            return self._plain(404, '{"error": {"message": "no such route"}}')
        names = script.models if script.models is not None else [script.model]
        data = [{"id": n, "object": "model", "owned_by": OWNED_BY.get(script.flavour, "x")} for n in names]
        self._plain(200, json.dumps({"object": "list", "data": data}), "application/json")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw)
        script = self.server.script
        index = self.server.recorder.add({"path": self.path, "headers": dict(self.headers), "body": body})
        chats = sum(1 for r in self.server.recorder.requests[: index + 1] if r["body"] is not None)
        fault = script.faults[chats - 1] if chats - 1 < len(script.faults) else None
        prompt = json.dumps(body.get("messages"), ensure_ascii=False)
        fault = fault or next((f for needle, f in script.fail_on.items() if needle in prompt), None)
        if not self.path.endswith("/chat/completions"):
            return self._plain(404, '{"error": {"message": "no such route"}}')
        if fault is not None and fault.kind == "status":
            return self._plain(fault.status, fault.body, fault.content_type, fault.headers)
        if "stream_options" in body and not script.stream_options_ok:
            return self._plain(400, '{"error": {"message": "stream_options: extra fields not permitted"}}')
        if not body.get("stream"):
            return self._whole(body, self.document_for(body))
        text = self._reply_text(body)
        rng = random.Random(script.seed * 1000 + chats)
        if script.cap_chars is not None and len(text) > script.cap_chars:
            text, finish = text[: script.cap_chars], "length"
        else:
            finish = "stop"
        last = body["messages"][-1]
        if script.flavour == "llamacpp" and self._understood(body):
            text = last["content"] + text  # llama.cpp's server streams the prefilled text again first
        max_tokens = body.get("max_tokens")
        self._stream(body, text, finish, fault, rng, max_tokens, index)

    # -- what the "model" says -------------------------------------------------------
    def _reply_text(self, body: dict[str, Any]) -> str:
        script = self.server.script
        messages = body["messages"]
        doc = self.document_for(body)
        last = messages[-1]
        if last["role"] == "user" and CONTINUE_MARK in last["content"] and messages[-2]["role"] == "assistant":
            tail = messages[-2]["content"]
            at = self._position(doc, tail)
            return doc[max(0, at - script.overlap) : at][-len(tail):] + doc[at:] if script.overlap else doc[at:]
        if last["role"] == "assistant":
            if self._understood(body):
                at = self._position(doc, last["content"])
                # llama.cpp's server streams the prefilled text again before the new text
                return doc[at:]
            return doc  # a new turn: the model starts over, as a real one would
        return doc

    def document_for(self, body: dict[str, Any]) -> str:
        script = self.server.script
        asked = "".join(str(m.get("content")) for m in body["messages"] if m["role"] == "user")
        for needle, doc in script.documents.items():
            if needle in asked:
                if isinstance(doc, str):
                    return doc
                if isinstance(doc, tuple):
                    messages = body["messages"]
                    partial = messages[-2 if messages[-1]["role"] == "user" else -1]["content"]
                    return next((d for d in doc if len(messages) > 1 and partial in d), doc[0])
                fresh = body["messages"][-1]["role"] == "user" and CONTINUE_MARK not in asked
                with self.server.recorder.lock:
                    seen = self.server.fresh.get(needle, 0)
                    self.server.fresh[needle] = seen + fresh
                return doc[min(seen + fresh - 1, len(doc) - 1)] if fresh else doc[min(seen - 1, len(doc) - 1)]
        return script.document

    def delay_for(self, body: dict[str, Any]) -> float:
        asked = "".join(str(m.get("content")) for m in body["messages"] if m["role"] == "user")
        slow = self.server.script.slow
        return next((d for needle, d in slow.items() if needle in asked), self.server.script.delay)

    def _understood(self, body: dict[str, Any]) -> bool:
        """Does this flavour continue the final assistant message of ``body``?"""
        script = self.server.script
        prefill = FLAVOUR_PREFILL.get(script.flavour) if script.prefill is True else script.prefill
        last = body["messages"][-1]
        return last["role"] == "assistant" and bool(
            (prefill == "prefill")
            or (prefill == "vllm" and body.get("continue_final_message") and body.get("add_generation_prompt") is False)
            or (prefill == "prefix" and last.get("prefix") is True)
        )

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        """A stand-in tokenizer over a ChatML rendering, honest about prefill."""
        rendered = "".join(f"<|im_start|> {m['role']} {m['content']} <|im_end|> " for m in body["messages"])
        if self._understood(body):
            rendered = rendered[: -len(" <|im_end|> ")]
        else:
            rendered += "<|im_start|> assistant "
        return len(rendered.split())

    def _whole(self, body: dict[str, Any], text: str) -> None:
        script = self.server.script
        limit = body.get("max_tokens")
        words = text.split(" ")
        if limit is not None and len(words) > limit:
            text, finish = " ".join(words[:limit]), "length"
        else:
            finish = "stop"
        usage = {"prompt_tokens": self.prompt_tokens(body), "completion_tokens": min(len(words), limit or len(words))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        reply = {"id": "chatcmpl-8", "object": "chat.completion", "created": 1700000000, "model": script.model,
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                              "finish_reason": finish}], "usage": usage}
        self._plain(200, json.dumps(reply))

    @staticmethod
    def _position(doc: str, tail: str) -> int:
        at = doc.find(tail)
        if at < 0 or doc.find(tail, at + 1) >= 0:
            raise AssertionError(f"the continued text is not a unique part of the document: {tail[-40:]!r}")
        return at + len(tail)

    # -- how it goes over the wire -----------------------------------------------------
    def _events(self, body: dict[str, Any], text: str, finish: str, fault: Fault | None,
                rng: random.Random) -> list[bytes | tuple[str, float]]:
        script, flavour = self.server.script, self.server.script.flavour
        usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))
        base: dict[str, Any] = {"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1700000000,
                                "model": script.model}
        if flavour == "openai":
            base["system_fingerprint"] = "fp_1"
        out: list[bytes | tuple[str, float]] = []

        def chunk(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> dict[str, Any]:
            if flavour == "glm":
                delta = {"role": "assistant", **delta}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            obj = {**base, "choices": [choice], **extra}
            if flavour == "openai":
                obj["usage"] = extra.get("usage")
                obj["obfuscation"] = "x" * rng.randint(1, 8)
            return obj

        def send(obj: Any) -> None:
            if flavour == "openrouter" and rng.random() < 0.2:
                out.append(b": OPENROUTER PROCESSING\n\n")
            if flavour == "deepseek" and rng.random() < 0.1:
                out.append(b": keep-alive\n\n")
            payload = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=flavour in ("openai", "glm"))
            eol = "\r\n" if flavour == "sglang" else "\n"
            out.append(f"data: {payload}{eol}{eol}".encode())

        if flavour in ("openrouter", "deepseek"):
            out.append(b": OPENROUTER PROCESSING\n\n" if flavour == "openrouter" else b": keep-alive\n\n")
        send(chunk({"role": "assistant", "content": ""}))
        reasoning_key = "reasoning" if flavour in ("vllm", "ollama", "openrouter") else "reasoning_content"
        for i in range(script.reasoning):
            send(chunk({reasoning_key: f"thinking {i} "}))
        usage = {"prompt_tokens": self.prompt_tokens(body), "completion_tokens": 0, "total_tokens": 0}
        pos, n = 0, 0
        while pos < len(text):
            if fault is not None and fault.after == n and fault.kind in ("error_event", "malformed", "finish", "raw"):
                if fault.kind == "raw":
                    out.append(fault.raw)
                    return out
                if fault.kind == "malformed":
                    send('{"choices": [{"delta": {"content": "oops"')
                elif fault.kind == "finish":
                    send(chunk({}, fault.reason))
                    out.append(b"data: [DONE]\n\n")
                    return out
                else:
                    self._error_event(send, chunk)
                    return out
            size = rng.randint(*script.chunk_chars)
            send(chunk({"content": text[pos : pos + size]}))
            pos += size
            n += 1
            usage["completion_tokens"] += 1
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if flavour in ("glm", "deepseek"):
            send(chunk({}, finish, usage=usage))
        elif flavour == "openrouter":
            send(chunk({}, finish))
            send(chunk({}, finish, usage=usage))
        else:
            send(chunk({}, finish))
            if usage_wanted:
                extra = {"timings": {"predicted_n": n}} if flavour == "llamacpp" else {}
                send({**base, "choices": [], "usage": usage, **extra})
        out.append(b"data: [DONE]\n\n")
        return out

    def _error_event(self, send: Any, chunk: Any) -> None:
        flavour = self.server.script.flavour
        if flavour == "ollama":
            return  # the error is dropped; the stream just ends
        if flavour == "openrouter":
            send({**chunk({}, "error"), "error": {"code": 502, "message": "provider returned error"}})
            return
        send({"error": {"message": "the engine crashed", "type": "InternalServerError", "code": 500}})
        if flavour in ("vllm", "sglang"):
            send("[DONE]")

    def _stream(self, body: dict[str, Any], text: str, finish: str, fault: Fault | None,
                rng: random.Random, max_tokens: Any, index: int) -> None:
        script = self.server.script
        wire = b"".join(e for e in self._events(body, text, finish, fault, rng) if isinstance(e, bytes))
        self.server.recorder.requests[index]["wire"] = wire  # the whole body this reply was to send
        self.send_response(200)
        self.send_header("Content-Type", script.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        limit = fault.after if fault is not None and fault.kind in ("drop", "stall") else None
        delay = self.delay_for(body)
        pos = 0
        try:
            while pos < len(wire):
                size = rng.randint(*script.write_bytes)
                if limit is not None and pos + size >= limit:
                    size = limit - pos
                piece = wire[pos : pos + size]
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                pos += size
                if limit is not None and pos >= limit:
                    assert fault is not None
                    if fault.kind == "stall":
                        self._stall(fault)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if delay:
                    time.sleep(delay)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _stall(self, fault: Fault) -> None:
        end = time.monotonic() + fault.seconds
        crumbs = iter(b'data: {"choices": [{"index": 0, "delta": {"content": "' + b"x" * 10000)
        while time.monotonic() < end and not self.server.stopping.is_set():
            if fault.keepalive:
                self.wfile.write(b"d\r\n: keep-alive\n\r\n")  # 13 bytes
                self.wfile.flush()
            elif fault.trickle:
                self.wfile.write(b"1\r\n%c\r\n" % next(crumbs))
                self.wfile.flush()
            self.server.stopping.wait(0.1)

    def _plain(self, status: int, text: str, kind: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.recorder = Recorder()
        self.stopping = threading.Event()
        self.fresh: dict[str, int] = {}

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up is part of the tests, not news


class SSEServer:
    """Start with ``with SSEServer(script) as server:``; ``server.base_url`` ends in /v1."""

    def __init__(self, script: Script) -> None:
        self._server = _Server(script)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def script(self) -> Script:
        return self._server.script

    @script.setter
    def script(self, value: Script) -> None:
        self._server.script = value

    @property
    def recorder(self) -> Recorder:
        return self._server.recorder

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> SSEServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
