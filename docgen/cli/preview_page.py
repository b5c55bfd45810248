"""What the preview's browser gets: the state, the Markdown as HTML blocks sent as increments, the page.

Rendering stays cheap for long documents. The text is parsed with docgen's own markdown-it
set-up (raw HTML escaped, as in the ``.html`` output) into top-level blocks. A block that
two more blocks follow has settled: CommonMark never reopens a closed block, so its HTML
is kept ("frozen") and only the text after it, the live tail, is parsed again on the next
change. A change costs the last two blocks and the new text, however long the document,
and a page is sent only what it lacks: "keep your first k blocks, then add these".

A text that is not an extension of the last one (a loop cut, a section stitched again)
keeps the frozen blocks that lie, with two block starts after them, inside the common
prefix. A link reference defined after its use is the one thing a frozen block misses,
so the whole text is rendered once more when the document is finished.

``DocumentChannel`` ties a source of ``PreviewState`` to its renderer and its page: it is
what ``preview.PreviewServer`` serves under a path (``Channel`` says what a server needs).
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from typing import Any, Protocol, TypeVar

from docgen.markdown.convert import _CSS as DOCUMENT_CSS  # the look of docgen's own .html output
from docgen.markdown.convert import _MD as MARKDOWN  # the .html output's set-up: raw HTML escaped
from docgen.markdown.convert import source_lines, top_blocks

LIVE_BLOCKS = 2  # the blocks at the end that are parsed again on every change


@dataclass
class PreviewState:
    """What the page shows; ``sections`` holds dicts of title, state (waiting, writing, done), words, budget."""

    text: str = ""
    phase: str = "waiting"
    words: int = 0
    target_words: int | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None
    sections: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    title: str = ""
    note: str = ""

    def figures(self) -> dict[str, Any]:
        """All but the text, for a ``status`` event."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "text"}


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b``, found by halving (slices compare in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _render(source: str, begin: int, env: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The HTML of each top-level block of ``source``, and where each begins (``begin`` + its offset)."""
    tokens = MARKDOWN.parse(source, env)
    heads = top_blocks(tokens)
    offsets = list(accumulate((len(line) for line in source_lines(source)), initial=begin))
    html = [MARKDOWN.renderer.render(tokens[a:b], MARKDOWN.options, env) for a, b in pairwise([*heads, len(tokens)])]
    return html, [offsets[(tokens[h].map or [0])[0]] for h in heads]


def _references(text: str) -> dict[str, Any]:
    env: dict[str, Any] = {}
    MARKDOWN.parse(text, env)
    return dict(env.get("references", {}))


class BlockRenderer:
    """The document as HTML blocks, parsing again only the live tail as the text grows. Not thread-safe."""

    def __init__(self) -> None:
        self.text = ""
        self.blocks: list[str] = []  # the HTML of each top-level block
        self.starts: list[int] = []  # where each block's source begins in the text
        self.frozen = 0  # the first blocks, which have settled
        self.rewrites: list[tuple[int, int]] = []  # (first block, first character) each rewrite changed
        self.settled = False  # the whole text was rendered in one piece
        self.version = 0  # counts the changes of ``blocks``
        self._references: dict[str, Any] = {}  # link definitions in the frozen text

    def update(self, text: str) -> None:
        if text == self.text:
            return
        if not text.startswith(self.text):
            cut = common_prefix(self.text, text)
            keep = 0
            while keep < self.frozen and self.settled_within(keep, cut):
                keep += 1
            self.rewrites.append((keep, cut))
            self.frozen = keep
            if self._references:
                self._references = _references(text[: self.starts[keep] if keep else 0])
        self.text, self.settled = text, False
        self.version += 1
        begin = self.starts[self.frozen] if self.frozen else 0
        env: dict[str, Any] = {"references": dict(self._references)} if self._references else {}
        html, starts = _render(text[begin:], begin, env)
        del self.blocks[self.frozen :], self.starts[self.frozen :]
        self.blocks += html
        self.starts += starts
        settled = max(self.frozen, len(self.blocks) - LIVE_BLOCKS)
        if settled > self.frozen and "]:" in text[begin : self.starts[settled]]:
            for label, target in _references(text[begin : self.starts[settled]]).items():
                self._references.setdefault(label, target)  # the first definition of a label wins
        self.frozen = settled

    def settled_within(self, block: int, end: int) -> bool:
        """Whether ``block`` and the start of two more lie in the first ``end`` characters: so it cannot change."""
        after = block + LIVE_BLOCKS
        return after < len(self.starts) and self.starts[after] <= end

    def settle(self) -> None:
        """Render the whole text in one piece (the document is finished)."""
        if self.settled:
            return
        env: dict[str, Any] = {}
        html, starts = _render(self.text, 0, env)
        first = next((i for i, (a, b) in enumerate(zip(self.blocks, html, strict=False)) if a != b), None)
        if first is None and len(html) != len(self.blocks):
            first = min(len(html), len(self.blocks))
        if first is not None:
            self.rewrites.append((first, len(self.text)))
            self.version += 1
        self.blocks, self.starts = html, starts
        self.frozen = max(0, len(html) - LIVE_BLOCKS)
        self._references = dict(env.get("references", {}))
        self.settled = True


def sse_event(kind: str, data: dict[str, Any], *, event_id: int | None = None) -> str:
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


class Subscriber:
    """What one page holds (Markdown characters, exact blocks), and the events that bring it up to date.

    A ``text`` event is ``{"offset": N, "append": s}`` (the Markdown from character N) or,
    after a rewrite, ``{"offset": N, "replace": s}`` (the Markdown from N on is now s; N is 0
    when nothing the page holds can be trusted), with ``keep`` (how many blocks the page
    keeps) and ``html`` (the blocks that follow them). Its id is the Markdown's length, which
    the browser sends back as ``Last-Event-ID`` when it reconnects.
    """

    def __init__(self, renderer: BlockRenderer, last_id: str | None) -> None:
        self.offset = 0
        self.blocks = 0
        self.seen = 0  # of the renderer's rewrites, those taken into account
        self.status: dict[str, Any] | None = None
        self.version = -1  # of the renderer's blocks, the one the page holds
        held = int(last_id) if last_id is not None and last_id.isdigit() else None
        if held is not None and (held <= len(renderer.text) or renderer.rewrites):  # past the end: a cut since
            self.offset = held  # the page holds the text up to there, as rendered then
            while self.blocks < renderer.frozen and renderer.settled_within(self.blocks, self.offset):
                self.blocks += 1

    def events(self, renderer: BlockRenderer, status: dict[str, Any]) -> tuple[str, bool]:
        """The events since the last call, and whether the stream is done."""
        out: list[str] = []
        cut = len(renderer.text)
        for block, char in renderer.rewrites[self.seen :]:  # on a reconnect: every rewrite there ever was
            self.blocks, cut = min(self.blocks, block), min(cut, char)
        self.seen = len(renderer.rewrites)
        text = renderer.text
        if cut < self.offset or self.offset != len(text) or self.version != renderer.version:
            if cut < self.offset:
                markdown: dict[str, Any] = {"offset": cut, "replace": text[cut:]}
            else:
                markdown = {"offset": self.offset, "append": text[self.offset :]}
            data = {**markdown, "keep": self.blocks, "html": renderer.blocks[self.blocks :]}
            out.append(sse_event("text", data, event_id=len(text)))
            self.offset, self.blocks, self.version = len(text), renderer.frozen, renderer.version
        if status != self.status:
            out.append(sse_event("status", status))
            self.status = status
        done = bool(status.get("finished"))
        if done:
            out.append(sse_event("done", {"words": status.get("words", 0)}))
        return "".join(out), done


Snapshot = TypeVar("Snapshot")


class Channel(Protocol[Snapshot]):
    """A page and its events, as ``PreviewServer`` serves them under a path. The server calls ``read`` outside its
    lock (it may read files), then, with the lock held, ``apply`` (whether the pages should hear of the snapshot)
    and what ``subscribe`` returned (one page's events since the last call, and whether its stream is done)."""

    lazy: bool  # read only while a page watches it
    streams: int  # its event streams open (changed with the server's lock held)
    version: int  # counts the changes its pages should hear of

    @property
    def finished(self) -> bool: ...
    def read(self) -> Snapshot: ...
    def apply(self, snapshot: Snapshot) -> bool: ...
    def page(self, nonce: str) -> bytes: ...
    def subscribe(self, last_id: str | None) -> Callable[[], tuple[str, bool]]: ...


class DocumentChannel:
    """One document's live page, its state read from ``source``; ``back`` links to the page above it."""

    def __init__(self, source: Callable[[], PreviewState], *, lazy: bool = False, back: str = "") -> None:
        self.source, self.lazy, self.back = source, lazy, back
        self.renderer = BlockRenderer()
        self.state = PreviewState()
        self.error = ""  # why the source could not be read, shown on the page
        self.streams = self.version = 0

    @property
    def finished(self) -> bool:
        return self.state.finished

    def read(self) -> tuple[PreviewState, str]:
        try:
            state = self.source()
        except Exception as exc:  # the preview never stops the run it shows: the page says what failed
            return self.state, f"the preview cannot read the document: {type(exc).__name__}: {exc}"
        return dataclasses.replace(state, sections=[dict(s) for s in state.sections]), ""  # a snapshot

    def apply(self, snapshot: tuple[PreviewState, str]) -> bool:
        state, error = snapshot
        if state == self.state and error == self.error:
            return False
        self.renderer.update(state.text)
        if state.finished:
            self.renderer.settle()
        self.state, self.error = state, error
        self.version += 1
        return True

    def page(self, nonce: str) -> bytes:
        return page(nonce, back=self.back)

    def subscribe(self, last_id: str | None) -> Callable[[], tuple[str, bool]]:
        reader = Subscriber(self.renderer, last_id)
        return lambda: reader.events(self.renderer, {**self.state.figures(), "note": self.error or self.state.note})


def page(nonce: str, *, back: str = "") -> bytes:
    """The preview page; its one script carries ``nonce``, which the Content-Security-Policy allows."""
    link = f'<a id="back" href="{html.escape(back)}">all jobs</a>' if back else ""
    return _PAGE.replace("$CSS", PAGE_CSS).replace("$BACK", link).replace("$NONCE", nonce).encode()


_BAR_CSS = """
body { margin-top: 0; }
#bar { position: sticky; top: 0; z-index: 1; background: #fff; border-bottom: 1px solid #d0d7de;
  padding: .6rem 0; display: flex; flex-wrap: wrap; gap: .4rem 1.1rem; align-items: center;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #57606a; }
#phase { font-weight: 600; color: #1f2328; }
#meter { width: 8rem; height: .5rem; }
#link { color: #9a6700; }
#banner { margin: 1rem 0; padding: .6rem 1rem; border-radius: 6px; background: #dafbe1; color: #116329;
  font: 600 15px/1.4 system-ui, sans-serif; }
#banner.stopped { background: #fff8c5; color: #9a6700; }
#sections { margin: 1rem 0; font: 14px/1.5 system-ui, sans-serif; color: #57606a; }
#sections li.writing { color: #0b5fad; font-weight: 600; }
#sections li.done { color: #1f2328; }
#sections li::marker { content: "○  "; }
#sections li.writing::marker { content: "◐  "; }
#sections li.done::marker { content: "●  "; }
#doc { margin-top: 1.5rem; }
"""
PAGE_CSS = DOCUMENT_CSS + _BAR_CSS

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>docgen preview</title>
<style>$CSS</style>
</head>
<body>
<header id="bar">$BACK<span id="phase">connecting</span><span id="words"></span>
<progress id="meter" max="1" value="0" hidden></progress><span id="rate"></span><span id="eta"></span>
<span id="note"></span><span id="link"></span></header>
<div id="banner" hidden></div>
<details id="sections" open hidden><summary>Sections</summary><ol id="section-list"></ol></details>
<main id="doc"></main>
<script nonce="$NONCE">
"use strict";
const $ = (id) => document.getElementById(id);
const doc = $("doc");
const number = (n) => n.toLocaleString("en");
const pad = (n) => String(n).padStart(2, "0");
function clock(seconds) {
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
}
function atEnd() {
  return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
}
const stream = new EventSource("events");
stream.addEventListener("text", (e) => {
  const m = JSON.parse(e.data), follow = doc.childElementCount > 0 && atEnd();
  while (doc.childElementCount > m.keep) doc.lastElementChild.remove();
  doc.insertAdjacentHTML("beforeend", m.html.map((h) => '<div class="block">' + h + "</div>").join(""));
  if (follow) window.scrollTo(0, document.documentElement.scrollHeight);
});
stream.addEventListener("status", (e) => {
  const s = JSON.parse(e.data);
  document.title = (s.finished ? "\\u2713 " : "") + (s.title || "docgen preview");
  $("phase").textContent = s.phase;
  $("words").textContent = number(s.words) + (s.target_words ? " / " + number(s.target_words) : "") + " words";
  $("meter").hidden = !s.target_words;
  $("meter").value = s.target_words ? Math.min(1, s.words / s.target_words) : 0;
  $("rate").textContent = s.tokens_per_second == null ? "" : Math.round(s.tokens_per_second) + " tok/s";
  $("eta").textContent = s.eta_seconds == null ? "" : "ETA " + clock(s.eta_seconds);
  $("note").textContent = s.note || "";
  $("sections").hidden = s.sections.length === 0;
  $("section-list").replaceChildren(...s.sections.map((x) => {
    const li = document.createElement("li");
    li.className = x.state;
    li.textContent = x.title + (x.budget ? "  " + number(x.words) + " / " + number(x.budget) : "");
    return li;
  }));
  const stopped = s.phase === "failed" || s.phase === "cancelled";  // a batch job that ended unfinished
  $("banner").hidden = !s.finished;
  $("banner").className = stopped ? "stopped" : "";
  $("banner").textContent = stopped ? "Stopped (" + s.phase + "): " + number(s.words) + " words kept"
    : "Finished: " + number(s.words) + " words";
});
stream.addEventListener("done", () => { stream.close(); $("link").textContent = ""; });
stream.onopen = () => { $("link").textContent = ""; };
stream.onerror = () => {
  if (stream.readyState !== EventSource.CLOSED) $("link").textContent = "reconnecting\\u2026";
};
</script>
</body>
</html>
"""
