"""A fast loopback OpenAI-compatible server that replays pre-rendered streams.

Each document size has its own API root, ``http://127.0.0.1:PORT/w{words}/v1``, so
every client is pointed at a size by its base URL alone. The whole stream is rendered
once per size and written in 64 KiB chunks (HTTP/1.1, chunked transfer encoding), so
the server costs next to nothing and the client is what gets measured. Each
connection has its own thread, so many streams can run at once.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from corpus import MODEL, Stream, render

_ROOT = re.compile(r"^/w(\d+)/v1(/.*)$")
_MODELS = json.dumps({"object": "list", "data": [
    {"id": MODEL, "object": "model", "created": 1_700_000_000, "owned_by": "vllm", "max_model_len": 1 << 20},
]}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _route(self) -> tuple[int | None, str]:
        match = _ROOT.match(self.path)
        if match:
            return int(match[1]), match[2]
        return None, self.path.removeprefix("/v1")

    def do_GET(self) -> None:
        _, route = self._route()
        if route == "/models":
            self._plain(200, _MODELS)
        else:
            self._plain(404, b'{"error":{"message":"no such route"}}')

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        words, route = self._route()
        if route != "/chat/completions" or words is None:
            return self._plain(404, b'{"error":{"message":"POST /w{words}/v1/chat/completions"}}')
        if not body.get("stream"):
            return self._plain(400, b'{"error":{"message":"this server only streams"}}')
        stream = self.server.stream(words)
        self.server.count_request()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for block in stream.blocks:
                self.wfile.write(block)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _plain(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def stream(self, words: int) -> Stream:
        with self._lock:
            if words not in self._streams:
                self._streams[words] = render(words)
            return self._streams[words]

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1


class StreamServer:
    """``with StreamServer() as server:`` serves until the block ends."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def base_url(self, words: int) -> str:
        """The API root (ending in /v1) that streams the document of ``words`` words."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/w{words}/v1"

    def stream(self, words: int) -> Stream:
        """The pre-rendered stream of ``words`` words (rendered now if not yet)."""
        return self._server.stream(words)

    @property
    def requests(self) -> int:
        """How many chat completions have been streamed so far."""
        return self._server.requests

    def __enter__(self) -> StreamServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
