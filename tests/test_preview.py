"""The live preview: its HTTP surface, the incremental rendering, following a run's files, and a real browser."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_document
from markdown_it import MarkdownIt

from docgen.cli.preview import LiveFeed, PreviewServer, PreviewState, state_from_files
from docgen.cli.preview_page import LIVE_BLOCKS, BlockRenderer, Subscriber
from docgen.markdown.outline import Outline, Section
from docgen.write.partial import PartialDocument
from docgen.write.progress import Progress

CHROMIUM = Path("/usr/bin/chromium")
FULL = MarkdownIt("commonmark", {"html": False}).enable("table")  # what docgen's .html output renders with

MIXED = """# Title

Intro with *emphasis* and a [link](https://example.com).
Setext heading
--------------

- item one
- item two

  more of item two

- item three
1. one
2. two

```python
def f():
    return "<b>"
```

| a | b |
|---|--:|
| 1 | 2 |

> quote line
lazy continuation

    indented code

Paragraph
| x | y |
|---|---|
| z | w |

***

A later reference: [foo].

[foo]: https://example.org/foo

Last <script>alert(1)</script> words.
"""


class Feed:
    """A source the test changes as it goes, the way a run's text grows."""

    def __init__(self, **fields: Any) -> None:
        self.state = PreviewState(**fields)

    def __call__(self) -> PreviewState:
        return self.state

    def set(self, **changes: Any) -> None:
        self.state = dataclasses.replace(self.state, **changes)

    def seen_by(self, server: PreviewServer) -> None:
        """Wait until the server has polled the current state."""
        deadline = time.monotonic() + 10
        while server.state != self.state:
            assert time.monotonic() < deadline, "the server never polled the state"
            time.sleep(0.01)


@pytest.fixture
def feed() -> Feed:
    return Feed(text="# Report\n\nThe first paragraph.\n\n", phase="writing", words=4, target_words=100)


@pytest.fixture
def preview(feed: Feed) -> Iterator[PreviewServer]:
    with PreviewServer(feed, interval=0.02, keepalive=0.3) as server:
        yield server
    assert not server.errors


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


@contextlib.contextmanager
def events(
    client: httpx.Client, server: PreviewServer, last_id: str | None = None
) -> Iterator[Iterator[dict[str, Any]]]:
    """The server's events, parsed: ``{"event", "id", "data"}``, or ``{"comment"}`` for a keep-alive."""
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    with client.stream("GET", server.url + "events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")

        def parse() -> Iterator[dict[str, Any]]:
            fields: dict[str, Any] = {}
            for line in response.iter_lines():
                if line.startswith(":"):
                    fields["comment"] = line[1:].strip()
                elif line:
                    key, _, value = line.partition(":")
                    fields[key] = value.removeprefix(" ")
                if not line and fields:
                    if "data" in fields:
                        fields["data"] = json.loads(fields["data"])
                    yield fields
                    fields = {}

        yield parse()


def next_event(stream: Iterator[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in stream if e.get("event") == kind)


# -- the HTTP surface ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/{token}", "/wrong/", "/wrong/events", "/{token}/other", "/{token}x/", "/x{token}/"]
)
def test_the_token_is_required(preview: PreviewServer, client: httpx.Client, path: str) -> None:
    base = preview.url.removesuffix(f"{preview.token}/")
    response = client.get(base.rstrip("/") + path.format(token=preview.token))
    assert response.status_code == 404
    assert preview.token not in response.text


def test_the_page(preview: PreviewServer, client: httpx.Client) -> None:
    response = client.get(preview.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in response.text
    assert 'new EventSource("events")' in response.text
    assert "://" not in response.text  # nothing is loaded from elsewhere


def test_listens_on_loopback_only(preview: PreviewServer) -> None:
    parts = urlsplit(preview.url)
    assert parts.hostname == "127.0.0.1"
    assert parts.path == f"/{preview.token}/" and len(preview.token) >= 20
    others = ["127.0.0.2"]  # another loopback address: refused too, the socket is bound to one address
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # sends nothing: only picks the address of the default route
        others.append(probe.getsockname()[0])
    for host in others:
        with pytest.raises(OSError), socket.create_connection((host, parts.port or 0), timeout=2):
            pass


def test_the_stream_sends_increments(preview: PreviewServer, feed: Feed, client: httpx.Client) -> None:
    with events(client, preview) as stream:
        first = next_event(stream, "text")
        assert first["data"]["offset"] == 0 and first["data"]["append"] == feed.state.text
        assert first["id"] == str(len(feed.state.text))
        assert "<h1>Report</h1>" in "".join(first["data"]["html"])
        status = next_event(stream, "status")["data"]
        assert (status["phase"], status["words"], status["target_words"]) == ("writing", 4, 100)
        before = feed.state.text
        feed.set(text=before + "A second paragraph.\n\n", words=7)
        second = next_event(stream, "text")["data"]
        assert second["offset"] == len(before) and second["append"] == "A second paragraph.\n\n"
        assert second["keep"] <= 2 and "<p>A second paragraph.</p>\n" in second["html"]
        assert next_event(stream, "status")["data"]["words"] == 7


def test_a_reconnect_gets_only_the_rest(preview: PreviewServer, feed: Feed, client: httpx.Client) -> None:
    text = feed.state.text + "".join(f"Paragraph {i}.\n\n" for i in range(10))
    feed.set(text=text)
    feed.seen_by(preview)
    with events(client, preview) as stream:
        first = next_event(stream, "text")
    page = first["data"]["html"]
    feed.set(text=text + "Paragraph 10.\n\nParagraph 11.\n\n")
    feed.seen_by(preview)
    with events(client, preview, last_id=first["id"]) as stream:
        again = next_event(stream, "text")["data"]
    assert again["offset"] == len(text)
    assert again["append"] == "Paragraph 10.\n\nParagraph 11.\n\n"
    assert again["keep"] >= 12 - LIVE_BLOCKS
    assert "".join(page[: again["keep"]] + again["html"]) == FULL.render(feed.state.text)


def test_a_cut_text_is_replaced(preview: PreviewServer, feed: Feed, client: httpx.Client) -> None:
    looping = feed.state.text + "".join(f"Paragraph {i}.\n\n" for i in range(6)) + "Again and again. " * 20
    feed.set(text=looping)
    feed.seen_by(preview)
    with events(client, preview) as stream:
        page = next_event(stream, "text")["data"]["html"]
        markdown = looping
        feed.set(text=looping[: looping.index("Again")] + "A better ending.\n")
        cut = next_event(stream, "text")["data"]
        assert "replace" in cut and "append" not in cut
        assert looping.index("Again") <= cut["offset"] < len(looping)  # from where the texts differ
        assert cut["keep"] >= 7 - LIVE_BLOCKS
        markdown = markdown[: cut["offset"]] + cut["replace"]
        assert markdown == feed.state.text
        assert "".join(page[: cut["keep"]] + cut["html"]) == FULL.render(feed.state.text)


def test_a_reconnect_after_a_cut_replaces_what_the_page_held(
    preview: PreviewServer, feed: Feed, client: httpx.Client
) -> None:
    feed.set(text=feed.state.text + "Paragraph one.\n\nParagraph two.\n\nA loop. A loop. A loop.")
    feed.seen_by(preview)
    with events(client, preview) as stream:
        first = next_event(stream, "text")
    feed.set(text=feed.state.text.replace("A loop. A loop. A loop.", "The end."))
    feed.seen_by(preview)
    with events(client, preview, last_id=first["id"]) as stream:
        again = next_event(stream, "text")["data"]
    assert "replace" in again and again["offset"] == feed.state.text.index("The end.")
    assert first["data"]["append"][: again["offset"]] + again["replace"] == feed.state.text


def test_done_ends_the_stream(preview: PreviewServer, feed: Feed, client: httpx.Client) -> None:
    with events(client, preview) as stream:
        next_event(stream, "text")
        feed.set(text=feed.state.text + "The end.\n", phase="done", words=6, finished=True)
        rest = list(stream)  # the server ends the response after ``done``
    kinds = [e.get("event") for e in rest if "event" in e]
    assert kinds[-1] == "done" and "status" in kinds
    assert [e for e in rest if e.get("event") == "status"][-1]["data"]["finished"] is True
    assert rest[-1]["data"] == {"words": 6}


def test_raw_html_arrives_escaped(preview: PreviewServer, feed: Feed, client: httpx.Client) -> None:
    feed.set(
        text='<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[click](javascript:alert(3))\n\nend\n'
    )
    feed.seen_by(preview)
    with events(client, preview) as stream:
        html = "".join(next_event(stream, "text")["data"]["html"])
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img" in html


def test_keepalive_comments(preview: PreviewServer, client: httpx.Client) -> None:
    with events(client, preview) as stream:
        next_event(stream, "status")
        assert next(stream) == {"comment": "keep-alive"}


def test_a_failing_source_is_shown_not_raised(client: httpx.Client) -> None:
    calls = 0

    def source() -> PreviewState:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError("disk on fire")
        return PreviewState(text="Hello.\n", phase="writing")

    with PreviewServer(source, interval=0.02) as server, events(client, server) as stream:
        notes = (e["data"]["note"] for e in stream if e.get("event") == "status")
        assert any("disk on fire" in note for note in notes)
        assert server.state.text == "Hello.\n"


def test_close_ends_the_streams_and_is_idempotent(feed: Feed, client: httpx.Client) -> None:
    server = PreviewServer(feed, interval=0.02).start()
    with events(client, server) as stream:
        next_event(stream, "status")
        threading.Timer(0.2, server.close).start()
        assert list(stream) == []  # the response ends
    server.close()
    with pytest.raises(httpx.ConnectError):
        client.get(server.url)
    PreviewServer(feed).close()  # never started


def test_drain_lets_the_pages_hear_the_end(feed: Feed, client: httpx.Client) -> None:
    """What ``write`` does after the run: finish the feed, drain, close; no page is left waiting."""
    heard: list[str] = []
    server = PreviewServer(feed, interval=60)  # no polling: only ``drain`` reads the end
    with server, events(client, server) as stream:
        next_event(stream, "status")
        reader = threading.Thread(target=lambda: heard.extend(e.get("event", "") for e in stream))
        reader.start()
        started = time.monotonic()
        server.drain(timeout=0.1)  # not finished: nothing to wait for
        assert time.monotonic() - started < 0.1 and server.streams == 1
        feed.set(finished=True, phase="done")
        server.drain(timeout=10)
        assert time.monotonic() - started < 5 and server.streams == 0
        reader.join()
    assert heard[-1] == "done"
    assert time.monotonic() - started < 5  # closing does not wait for the next poll


# -- the increments rebuild the document ----------------------------------------------


class Page:
    """What a browser holds: the Markdown and the blocks, changed only through events."""

    def __init__(self) -> None:
        self.markdown = ""
        self.blocks: list[str] = []
        self.sizes: list[int] = []

    def apply(self, payload: str) -> None:
        for chunk in filter(None, payload.split("\n\n")):
            fields = dict(line.split(": ", 1) for line in chunk.split("\n"))
            if fields.get("event") != "text":
                continue
            data = json.loads(fields["data"])
            if "replace" in data:
                self.markdown = self.markdown[: data["offset"]] + data["replace"]
            else:
                assert data["offset"] == len(self.markdown)
                self.markdown += data["append"]
            assert int(fields["id"]) == len(self.markdown)
            self.blocks = self.blocks[: data["keep"]] + data["html"]
            self.sizes.append(len(data["html"]))


def grow(doc: str, seed: int, *, cuts: bool) -> Iterator[str]:
    """``doc`` as a stream writes it, in uneven pieces; with ``cuts``, sometimes the end is cut back."""
    rng, text = random.Random(seed), ""
    while len(text) < len(doc):
        if cuts and len(text) > 10 and rng.random() < 0.1:
            text = text[: len(text) - rng.randrange(1, min(len(text), 400))]
        else:
            text = doc[: len(text) + rng.choice([1, 3, 8, 25, 80, 300])]
        yield text


@pytest.mark.parametrize("cuts", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_increments_rebuild_the_document(seed: int, cuts: bool) -> None:
    renderer, page = BlockRenderer(), Page()
    reader = Subscriber(renderer, None)
    for text in grow(MIXED * 2, seed, cuts=cuts):
        renderer.update(text)
        page.apply(reader.events(renderer, {})[0])
        assert page.markdown == text
        if "[foo]: " not in text:  # a reference defined after its use links once the document is finished
            assert "".join(page.blocks) == FULL.render(text)
        if seed % 3 == 0 and len(text) > 300:  # the page reconnects, sending the id of the last event
            reader = Subscriber(renderer, str(len(page.markdown)))
    renderer.settle()
    page.apply(reader.events(renderer, {"finished": True})[0])
    assert "".join(page.blocks) == FULL.render(MIXED * 2)
    assert '<a href="https://example.org/foo">foo</a>' in "".join(page.blocks)


def test_a_long_document_is_sent_in_small_pieces() -> None:
    doc = make_document(15_000, seed=3)
    renderer, page = BlockRenderer(), Page()
    reader = Subscriber(renderer, None)
    for end in range(80, len(doc) + 80, 80):
        renderer.update(doc[:end])
        page.apply(reader.events(renderer, {})[0])
    assert len(renderer.blocks) > 400
    assert max(page.sizes[1:]) <= LIVE_BLOCKS + 3  # each event: the new blocks and the live tail, never all
    assert renderer.frozen >= len(renderer.blocks) - LIVE_BLOCKS
    assert "".join(page.blocks) == FULL.render(doc)


# -- following a run's files -----------------------------------------------------------


def test_files_of_a_document_being_written(tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    (tmp_path / "report.md.part").write_text("# Report\n\nSome words here", encoding="utf-8")
    (tmp_path / "report.md.journal").write_text(json.dumps({"status": "writing"}), encoding="utf-8")
    state = state_from_files(output)
    assert (state.text, state.phase, state.words, state.finished) == (
        "# Report\n\nSome words here",
        "writing",
        4,
        False,
    )
    (tmp_path / "report.md.journal").write_text(json.dumps({"status": "complete"}), encoding="utf-8")
    assert state_from_files(output).phase == "finishing"


def test_a_torn_character_at_the_end_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "a.md.part").write_bytes("naïve 研究".encode()[:-1])
    assert state_from_files(tmp_path / "a.md").text == "naïve 研"


@pytest.mark.parametrize(
    ("name", "content", "text"),
    [
        ("report.md", "# Done\n\nAll of it.\n", "# Done\n\nAll of it.\n"),
        ("report.html", "<html><body><h1>Done</h1><p>All of it.</p></body></html>", "# Done\n\nAll of it."),
    ],
)
def test_files_of_a_finished_document(tmp_path: Path, name: str, content: str, text: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    state = state_from_files(tmp_path / name)
    assert state.finished and state.phase == "done"
    assert state.text.strip() == text.strip()


def test_a_finished_word_document_is_shown_as_its_text(tmp_path: Path) -> None:
    pytest.importorskip("docx")
    from docgen.markdown.docx_output import markdown_to_docx

    md = "# Report\n\nIntro.\n\n## Sales\n\n- up 4%\n- down 2%\n\n| region | sales |\n|---|---|\n| north | 12 |\n"
    (tmp_path / "report.docx").write_bytes(markdown_to_docx(md, title="Report", toc=False))
    state = state_from_files(tmp_path / "report.docx")
    assert state.finished and state.phase == "done"
    assert state.text == ("# Report\n\nIntro.\n\n## Sales\n\n- up 4%\n- down 2%\n\n"
                          "| region | sales |\n| --- | --- |\n| north | 12 |\n")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    state = state_from_files(tmp_path / "broken.docx")
    assert state.finished and "cannot be shown here: not a Word document" in state.text


def test_files_before_anything_is_written(tmp_path: Path) -> None:
    state = state_from_files(tmp_path / "report.md")
    assert (state.text, state.phase, state.finished) == ("", "waiting", False)
    (tmp_path / "report.md").write_text("old\n", encoding="utf-8")
    (tmp_path / "report.md.journal").write_text("{}", encoding="utf-8")
    assert not state_from_files(tmp_path / "report.md").finished  # the journal's removal is still to come


def test_files_are_never_read_through_links(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private words\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.md.part").symlink_to(secret)
    (out / "b.md").symlink_to(secret)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "01-intro.md").write_text("private words\n", encoding="utf-8")
    (out / "c.md.sections").symlink_to(tmp_path / "elsewhere")
    for name in ("a.md", "b.md", "c.md"):
        state = state_from_files(out / name)
        assert "private" not in state.text and not state.finished


OUTLINE = Outline(
    "The Printing Press",
    (
        Section("Origins", "Where type came from.", 700),
        Section("Spread", "Across Europe.", 1400),
        Section("Consequences", "What changed.", 900),
    ),
)


def write_sections(tmp_path: Path, *, outline: bool = True) -> Path:
    output = tmp_path / "press.md"
    folder = tmp_path / "press.md.sections"
    folder.mkdir()
    if outline:
        (tmp_path / "press.md.outline.md").write_text(OUTLINE.to_markdown(), encoding="utf-8")
    (folder / "index.json").write_text(json.dumps({"outline": "x", "sections": {"01-origins.md": "fp"}}), "utf-8")
    (folder / "01-origins.md").write_text("## Origins\n\nMovable type came first.\n\n", encoding="utf-8")
    (folder / "02-spread.md.part").write_text("Presses spread", encoding="utf-8")
    journal = {"status": "writing", "inputs": {"title": "Spread", "budget": 1500}}
    (folder / "02-spread.md.journal").write_text(json.dumps(journal), encoding="utf-8")
    return output


def test_files_of_an_outline_run(tmp_path: Path) -> None:
    state = state_from_files(write_sections(tmp_path))
    assert state.title == "The Printing Press" and state.phase == "writing" and not state.finished
    assert state.sections == [
        {"title": "Origins", "state": "done", "words": 5, "budget": 700},
        {"title": "Spread", "state": "writing", "words": 2, "budget": 1500},  # the section's own budget
        {"title": "Consequences", "state": "waiting", "words": 0, "budget": 900},
    ]
    assert state.target_words == 3100 and state.words == 7
    # the repeated title is dropped; a section begun shows once its first line is whole
    assert state.text == "# The Printing Press\n\n## Origins\n\nMovable type came first.\n\n## Spread"


def test_an_outline_run_s_text_only_grows_while_a_section_is_written(tmp_path: Path) -> None:
    output = write_sections(tmp_path)
    part = tmp_path / "press.md.sections" / "02-spread.md.part"
    body = make_document(300, seed=5)
    texts = []
    for end in range(0, len(body), 97):
        part.write_text(body[:end], encoding="utf-8")
        texts.append(state_from_files(output).text)
    assert all(b.startswith(a) for a, b in pairwise(texts))
    assert texts[-1].endswith(body[: len(body) // 97 * 97].lstrip()[-50:])


def test_files_of_an_outline_run_planning_and_without_an_outline(tmp_path: Path) -> None:
    output = write_sections(tmp_path, outline=False)
    state = state_from_files(output)
    assert [s["title"] for s in state.sections] == ["Origins", "Spread"]  # from the files and the journal
    (tmp_path / "press.md.outline.md.part").write_text("# The Printing Press\n\n## Orig", encoding="utf-8")
    planning = state_from_files(output)
    assert (planning.phase, planning.text) == ("outline", "# The Printing Press\n\n## Orig")


def test_live_feed_takes_the_figures_from_progress(tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    output.write_text("An old version.\n", encoding="utf-8")  # --force: not this run's text
    feed = LiveFeed(output)
    assert feed().text == "" and not feed().finished
    progress = Progress(output=str(output), target_words=1000, phase="writing", words=100, tokens=400)
    progress.writing_since, progress.started = time.monotonic() - 10, time.monotonic() - 12
    with PartialDocument(output) as doc:
        doc.append("# New\n\nText.")
        feed.on_progress(progress)
        state = feed()
        doc.finish()
    assert (state.text, state.phase, state.words, state.target_words) == ("# New\n\nText.", "writing", 100, 1000)
    assert state.tokens_per_second == pytest.approx(40, rel=0.1)
    assert state.eta_seconds == pytest.approx(90, rel=0.1)
    assert not feed().finished  # until the run has returned
    feed.finish()
    assert feed().finished and feed().text == "# New\n\nText."


def test_a_preview_of_a_partial_document(tmp_path: Path, client: httpx.Client) -> None:
    """The way ``write`` feeds it: the text through the part file, a cut loop included."""
    output = tmp_path / "report.md"
    feed = LiveFeed(output)
    with PartialDocument(output) as doc, PreviewServer(feed, interval=0.02) as server, events(client, server) as stream:
        page = Page()
        doc.append("# Report\n\nFirst. ")
        doc.append("Second.\n\nA loop. A loop. ")
        while "A loop" not in page.markdown:
            page.apply(_raw(next_event(stream, "text")))
        doc.truncate(len(b"# Report\n\nFirst. Second.\n\n"))
        doc.append("The end.\n")
        while page.markdown != "# Report\n\nFirst. Second.\n\nThe end.\n":
            page.apply(_raw(next_event(stream, "text")))
        assert "".join(page.blocks) == FULL.render(page.markdown)


def _raw(event: dict[str, Any]) -> str:
    return f"event: text\nid: {event['id']}\ndata: {json.dumps(event['data'])}\n\n"


# -- a real browser ----------------------------------------------------------------------


_AS_FDS_3_AND_4 = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(*sys.argv[3:4], sys.argv[3:])"
)


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): no websocket needed."""

    FLAGS = (
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        *("--remote-debugging-pipe", "--window-size=1200,1600"),
    )

    def __init__(self, profile: Path, log: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        with log.open("wb") as err:
            trampoline = [sys.executable, "-c", _AS_FDS_3_AND_4, str(to_browser), str(from_browser)]
            self.process = subprocess.Popen(
                [*trampoline, str(CHROMIUM), *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
                pass_fds=(to_browser, from_browser),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._id, self.session = b"", 0, ""

    def call(self, method: str, timeout: float = 20, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                ready, _, _ = select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))
                chunk = os.read(self._replies, 1 << 20) if ready else b""
                if not chunk:
                    raise TimeoutError(f"no reply from Chromium to {method}")
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never had {expression}")
            time.sleep(0.1)
        return value

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.call("Browser.close", timeout=5)
        os.close(self._commands)
        os.close(self._replies)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the session this test started, and only it
            self.process.wait()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install the Debian package 'chromium' to run the browser test")
    browser = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
    yield browser
    browser.close()


def text_of(browser: Chromium) -> Callable[[], str]:
    return lambda: str(browser.evaluate("(document.getElementById('doc') || {innerText: ''}).innerText"))


def test_a_browser_shows_the_document_as_it_grows(chromium: Chromium, feed: Feed, tmp_path: Path) -> None:
    sections = [
        {"title": "Origins", "state": "done", "words": 20, "budget": 20},
        {"title": "Spread <b>", "state": "writing", "words": 5, "budget": 20},
        {"title": "Consequences", "state": "waiting", "words": 0, "budget": 20},
    ]
    first_text = "# Report\n\nParagraph 0 says <script>alert(1)</script> aloud.\n\n"
    feed.set(
        text=first_text, target_words=60, title="Report", sections=sections, tokens_per_second=42.4, eta_seconds=75
    )
    with PreviewServer(feed, interval=0.05) as server:
        chromium.open(server.url)
        try:
            chromium.wait_for("document.getElementById('doc').innerText.includes('Paragraph 0')")
            first = text_of(chromium)()
            for i in range(1, 6):
                feed.set(text=feed.state.text + f"Paragraph {i} is **here**.\n\n", words=4 + 3 * i)
                time.sleep(0.15)
            chromium.wait_for("document.getElementById('doc').innerText.includes('Paragraph 5')")
            grown = text_of(chromium)()
            assert first in grown and len(grown) > len(first)
            assert chromium.evaluate("document.querySelectorAll('#doc script, #doc strong').length") == 5
            assert "<script>alert(1)</script>" in grown  # shown as text, never run
            assert chromium.evaluate("document.getElementById('words').textContent") == "19 / 60 words"
            assert chromium.evaluate("document.getElementById('banner').hidden") is True
            assert chromium.evaluate("document.getElementById('rate').textContent") == "42 tok/s"
            assert chromium.evaluate("document.getElementById('eta').textContent") == "ETA 1:15"
            items = (
                "[...document.querySelectorAll('#section-list li')].map((li) => li.className + ' ' + li.textContent)"
            )
            assert chromium.evaluate(items) == [
                "done Origins  20 / 20",
                "writing Spread <b>  5 / 20",
                "waiting Consequences  0 / 20",
            ]
            chromium.screenshot(tmp_path / "preview-writing.png")
            feed.set(text=feed.state.text + "The end.\n", phase="done", words=21, finished=True)
            chromium.wait_for("!document.getElementById('banner').hidden")
            assert chromium.evaluate("document.title") == "\u2713 Report"
            assert chromium.evaluate("document.getElementById('banner').textContent") == "Finished: 21 words"
            assert text_of(chromium)().rstrip().endswith("The end.")
        finally:
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):  # the failure itself is what to report
                chromium.screenshot(tmp_path / "preview.png")  # to look at when it fails
    assert (tmp_path / "preview-writing.png").stat().st_size > 10_000
