"""A live preview of a document in a browser: a small local web server, standard library only.

``PreviewServer`` listens on 127.0.0.1 only, under a random token (requests without it
get 404, so another local user cannot read the document by guessing the port). It serves
one document, or pages by path (a batch's jobs); one thread polls their sources a few
times a second; each page gets Server-Sent Events. ``state_from_files`` follows a document
another docgen process is writing; ``LiveFeed`` is the source for a run in this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import io
import json
import os
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from docgen.cli.meter import _eta as eta_seconds
from docgen.cli.preview_page import Channel, DocumentChannel, PreviewState
from docgen.errors import UsageError
from docgen.inputs.prompt import slugify
from docgen.markdown.docx_text import DocxUnreadable, docx_to_markdown
from docgen.markdown.finish import OutputFormat
from docgen.markdown.html_text import html_to_text
from docgen.markdown.outline import parse_outline
from docgen.markdown.wordcount import count_words
from docgen.write.files import sidecar
from docgen.write.outline_mode import strip_repeated_title
from docgen.write.partial import utf8_complete_length
from docgen.write.progress import Progress

__all__ = ["LiveFeed", "PreviewServer", "PreviewState", "state_from_files"]

MAX_READ = 1 << 26  # 64 MiB: more than any document; a runaway file is not read whole
Source = Callable[[], PreviewState] | Mapping[str, Channel[Any]]  # one document, or pages by path


class PreviewServer:
    """Live pages at ``url``: of ``source``, one document, or of ``channels`` by path ("" is the token's root, the
    others end in "/"). A context manager: it binds at once and serves from ``start``."""

    def __init__(self, source: Source, *, port: int = 0, interval: float = 0.25, keepalive: float = 15.0) -> None:
        self.channels = dict(source) if isinstance(source, Mapping) else {"": DocumentChannel(source)}
        self.interval, self.keepalive = interval, keepalive
        self.token = secrets.token_urlsafe(16)
        self.errors: list[BaseException] = []  # the last few a request handler raised
        self.changed = threading.Condition()
        self.stopping = False
        self._reading = threading.Lock()  # one channel read at a time: snapshots are applied in order
        self._threads: list[threading.Thread] = []
        self._closed, self._closing = False, threading.Lock()
        try:
            self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="choose another port") from None
        self._httpd.preview = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{self.token}/"

    @property
    def state(self) -> PreviewState:  # of the document at the root, on a one-document server
        root = self.channels[""]
        return root.state if isinstance(root, DocumentChannel) else PreviewState()

    @property
    def streams(self) -> int:  # the event streams open
        return sum(channel.streams for channel in self.channels.values())

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> PreviewServer:
        """Serve from daemon threads (the first state is read before this returns)."""
        if not self._threads and not self._closed:
            self._poll_once()
            for name, target in (("poll", self._poll), ("serve", self._serve)):
                thread = threading.Thread(target=target, name=f"docgen-preview-{name}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop serving, end every open event stream, and join the threads; safe to call twice."""
        with self._closing:  # a second caller returns once the first one has closed it
            if self._closed:
                return
            with self.changed:
                self.stopping = True
                self.changed.notify_all()
            if self._threads:
                self._httpd.shutdown()
            self._httpd.server_close()
            for thread in self._threads:
                thread.join()
            self._closed = True

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.1)  # how soon ``close`` is noticed

    def _poll(self) -> None:
        while True:
            with self.changed:
                if self.changed.wait_for(lambda: self.stopping, self.interval):
                    return
            self._poll_once()

    def _poll_once(self) -> None:
        for channel in self.channels.values():
            if not channel.lazy or channel.streams:
                self.refresh(channel)

    def refresh(self, channel: Channel[Any]) -> None:
        """Read ``channel``'s source now and tell its pages if it changed."""
        with self._reading:
            snapshot = channel.read()
            with self.changed:
                if channel.apply(snapshot):
                    self.changed.notify_all()

    def wait(self, channel: Channel[Any], seen: int) -> None:
        """Wait for a change of ``channel`` after ``seen``, a stop, or the keep-alive time (``changed`` held)."""
        self.changed.wait_for(lambda: channel.version != seen or self.stopping, self.keepalive)

    def drain(self, timeout: float = 2.0) -> None:
        """Read the sources now and give the open pages of those finished up to ``timeout`` s to hear so."""
        self._poll_once()
        with self.changed:
            self.changed.wait_for(lambda: not any(c.streams for c in self.channels.values() if c.finished), timeout)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    preview: PreviewServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Kept, not printed: the terminal belongs to the meter (a page gone mid-response is no fault of the run)."""
        error = sys.exc_info()[1]
        if error is not None:
            self.preview.errors = [*self.preview.errors[-9:], error]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 30  # a client that stops reading does not hold a thread for ever

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the terminal belongs to the meter."""

    def do_GET(self) -> None:
        preview = self.server.preview
        path = urlsplit(self.path).path
        prefix = f"/{preview.token}/"
        if not hmac.compare_digest(path[: len(prefix)].encode(), prefix.encode()):
            self.send_error(404)
            return
        where = path[len(prefix) :]
        if where in preview.channels:
            nonce = secrets.token_urlsafe(12)
            self._headers(200, "text/html; charset=utf-8", nonce)
            self.wfile.write(preview.channels[where].page(nonce))
        elif where.endswith("events") and (channel := preview.channels.get(where[: -len("events")])) is not None:
            self._headers(200, "text/event-stream; charset=utf-8", None)
            with contextlib.suppress(OSError):  # the page went away
                self._stream(preview, channel)
        else:
            self.send_error(404)

    def _headers(self, code: int, content_type: str, nonce: str | None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")  # a link followed must not carry the token away
        if nonce is not None:
            policy = f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:"
            self.send_header("Content-Security-Policy", policy + "; connect-src 'self'; base-uri 'none'")
        self.end_headers()

    def _stream(self, preview: PreviewServer, channel: Channel[Any]) -> None:
        if channel.lazy:
            preview.refresh(channel)  # no page watched it: it was not read
        with preview.changed:
            events = channel.subscribe(self.headers.get("Last-Event-ID"))
            channel.streams += 1
        try:
            self._send(preview, channel, events)
        finally:
            with preview.changed:
                channel.streams -= 1
                preview.changed.notify_all()

    def _send(self, preview: PreviewServer, channel: Channel[Any], events: Callable[[], tuple[str, bool]]) -> None:
        self.wfile.write(b"retry: 1000\n\n")
        seen, done = -1, False
        while not done:
            with preview.changed:
                preview.wait(channel, seen)
                if preview.stopping:
                    return
                if channel.version == seen:
                    payload = ": keep-alive\n\n"
                else:
                    seen = channel.version
                    payload, done = events()
            if payload:
                self.wfile.write(payload.encode("utf-8"))
                self.wfile.flush()


# -- following the files of a run ------------------------------------------------------


def _read(name: str | Path, *, folder: int | None = None, docx: bool = False) -> str | None:
    """A regular file's text, None when it is missing; never through a link; a torn last character left out.
    With ``docx``, the Word document's text as Markdown, or a note of why it cannot be read."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        data = f.read(MAX_READ)
    if docx:
        try:
            return docx_to_markdown(io.BytesIO(data))
        except DocxUnreadable as exc:
            return f"_{Path(name).name} cannot be shown here: {exc}._\n"
    return data[: utf8_complete_length(data)].decode("utf-8", "replace")


def _json(text: str | None) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        data = json.loads(text or "")
        return data if isinstance(data, dict) else {}
    return {}


def state_from_files(output: Path) -> PreviewState:
    """What a docgen run writing ``output`` has so far: its ``.part``, its sections folder, or the output."""
    title = output.name
    part, journal = _read(sidecar(output, ".part")), _read(sidecar(output, ".journal"))
    if part is not None:
        phase = "finishing" if _json(journal).get("status") == "complete" else "writing"
        return PreviewState(text=part, phase=phase, words=count_words(part), title=title)
    with contextlib.suppress(OSError):  # an outline run: its sections folder (never through a link)
        folder = os.open(sidecar(output, ".sections"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            return _sections(output, folder)
        finally:
            os.close(folder)
    final = _read(output, docx=OutputFormat.for_path(output).kind == "docx")
    if final is None or journal is not None:  # a journal left: the run has still to remove it
        return PreviewState(phase="waiting" if journal is None else "finishing", title=title)
    text = html_to_text(final) if OutputFormat.for_path(output).kind == "html" else final
    return PreviewState(text=text, phase="done", words=count_words(text), finished=True, title=title)


_SECTION = re.compile(r"(\d{2,})-.*\.md(\.part)?")


def _sections(output: Path, folder: int) -> PreviewState:
    """An outline run's state, its sections stitched as the run will stitch them."""
    planning = _read(sidecar(output, ".outline.md.part"))
    if planning is not None:
        return PreviewState(text=planning, phase="outline", words=count_words(planning), title=output.name)
    files = {int(m[1]): m[0].removesuffix(".part") for n in sorted(os.listdir(folder)) if (m := _SECTION.fullmatch(n))}
    heading, plan = "", [(_title_from_file(files[n]), 0, files[n]) for n in sorted(files)]  # the sections begun
    with contextlib.suppress(UsageError):  # the model's outline: every section, named as make_section_job does
        outline = parse_outline(_read(sidecar(output, ".outline.md")) or "")
        names = [f"{i:02d}-{slugify(s.title, limit=40)}.md" for i, s in enumerate(outline.sections, 1)]
        heading, plan = outline.title, [(s.title, s.budget, n) for s, n in zip(outline.sections, names, strict=True)]
    chunks, sections, words, total = [f"# {heading}"] if heading else [], [], 0, 0
    for name, budget, stem in plan:
        done, raw = _read(stem, folder=folder), _read(stem + ".part", folder=folder)
        inputs = _json(_read(stem + ".journal", folder=folder)).get("inputs")
        if isinstance(inputs, dict):  # the section's own job: its exact title and budget
            name, budget = str(inputs.get("title", name)), int(inputs.get("budget") or budget)
        state = "done" if done is not None else "writing" if raw is not None else "waiting"
        body = _section_body(done if done is not None else raw or "", name, done=done is not None)
        if state != "waiting":
            chunks.append(f"## {name}\n\n{body}" if body else f"## {name}")
        count = count_words(done or raw or "")
        words, total = words + count, total + budget
        sections.append({"title": name, "state": state, "words": count, "budget": budget})
    phase = "writing" if any(s["state"] != "done" for s in sections) else "stitching"
    return PreviewState(
        "\n\n".join(chunks), phase, words, total or None, sections=sections, title=heading or output.name
    )


def _title_from_file(name: str) -> str:
    return name.split("-", 1)[-1].removesuffix(".md").replace("-", " ").capitalize()


def _section_body(raw: str, title: str, *, done: bool) -> str:
    """A section's text as stitched; a section being written keeps its end, so the document only grows."""
    raw = raw.lstrip()
    if not done and "\n" not in raw:
        return ""  # its first line may yet turn out to repeat the title
    body = strip_repeated_title(raw, title).lstrip()
    return body.rstrip() if done else body


class LiveFeed:
    """The source of a preview beside a ``write`` run in this process: text from its files, figures from its
    ``Progress``. Pass ``on_progress`` to the run (it only copies a few numbers) and call ``finish`` after it."""

    def __init__(self, output: Path) -> None:
        self.output, self._progress, self._lock = output, dict[str, Any](), threading.Lock()
        self._outcome: str | None = None  # how the run ended; None while it runs

    def on_progress(self, p: Progress) -> None:
        now = time.monotonic()
        rate = None
        if p.writing_since is not None and now - p.writing_since > 0.5:
            rate = (p.tokens - p.tokens_at_writing) / (now - p.writing_since)
        figures = {"phase": p.phase, "words": p.words, "target_words": p.target_words, "note": p.note}
        with self._lock:
            self._progress = {**figures, "tokens_per_second": rate, "eta_seconds": eta_seconds(p, now)}

    def figures(self) -> dict[str, Any]:
        """The last progress: phase, words, target_words, note, tokens_per_second, eta_seconds ({} before any)."""
        with self._lock:
            return dict(self._progress)

    def finish(self, outcome: str = "done") -> None:
        """The run returned. ``done``: its output is the finished document; else (``failed``, ``cancelled``) it
        stopped, and its partial text is all there will be."""
        with self._lock:
            self._outcome = outcome

    def __call__(self) -> PreviewState:
        state = state_from_files(self.output)
        with self._lock:
            figures, outcome = dict(self._progress), self._outcome
        if state.finished and outcome != "done":  # an output from before this run (--force): not this run's text
            state = PreviewState(title=state.title)
        if outcome is None:
            figures["phase"] = "writing" if figures.get("phase") == "done" else figures.get("phase", state.phase)
            state = dataclasses.replace(state, **figures)
        elif outcome != "done":
            state = dataclasses.replace(state, phase=outcome, finished=True)
        return state
