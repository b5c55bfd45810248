"""docgen batch --preview: a live table of the jobs, each linked to its document's live page."""

from __future__ import annotations

import contextlib
import io
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import docgen_process, make_document
from sse_server import Fault, Script
from test_batch import manifest
from test_preview import CHROMIUM, Chromium, events, next_event
from test_preview_cli import url_from

from docgen.cli.batch_preview import BatchPreview
from docgen.cli.meter import BatchMeter
from docgen.inputs.manifest import batch_specs, load_manifest
from docgen.markdown.wordcount import count_words
from docgen.write.batch import JobResult
from docgen.write.progress import Progress

ODD_NAME = '<b>bold</b> & "quoted" <script>alert(1)</script>'
TOPICS = ("topic 0 ", "topic 1 ", "topic 2 ")


class Site(NamedTuple):
    """What ``test_preview.events`` needs of a server: the page whose ``events`` to follow."""

    url: str


@dataclass
class Batch:
    proc: Any
    url: str
    docs: dict[str, str]
    out: Path
    stderr: bytes = b""  # what followed the preview line, once the batch is over


@contextlib.contextmanager
def batch_with_preview(tmp_path: Path, serve: Any, *, slow: float, fail: bool = False) -> Iterator[Batch]:
    """Three jobs, two at a time: the first streamed slowly (``slow`` s between writes), the third named oddly."""
    docs = {t: make_document(300, seed=300 + i) for i, t in enumerate(TOPICS)}
    faults = {TOPICS[2]: Fault("status", status=401)} if fail else {}
    server = serve(Script(document="unused", documents=docs, slow={TOPICS[0]: slow}, fail_on=faults))
    jobs = [
        {"topic": TOPICS[0], "output": "slow.md"},
        {"topic": TOPICS[1], "output": "notes/fast.md"},
        {"topic": TOPICS[2], "output": "odd.md", "name": ODD_NAME},
    ]
    path = manifest(tmp_path, jobs, defaults='output_dir = "out"\noutline = "none"')
    proc = docgen_process("batch", str(path), "--base-url", server.base_url, "--jobs", "2", "--preview")
    run = Batch(proc, "", docs, tmp_path / "out")
    try:
        run.url = url_from(proc)
        yield run
    except BaseException:
        proc.terminate()  # a test that failed midway does not wait for the slow job
        raise
    finally:
        run.stderr = proc.communicate(timeout=120)[1]


def follow_index(client: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    """Each ``jobs`` event of the index, with every row as it stands then (the rows it lacks kept from before)."""
    rows: dict[str, dict[str, Any]] = {}
    with events(client, Site(url)) as stream:
        for event in stream:
            if event.get("event") == "jobs":
                rows.update(event["data"]["rows"])
                yield {**event["data"], "rows": dict(rows), "id": event["id"]}
            elif event.get("event") == "done":
                return


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def test_the_index_lists_every_job_and_its_links_resolve(tmp_path: Path, serve: Any, client: httpx.Client) -> None:
    with batch_with_preview(tmp_path, serve, slow=0.005) as run:
        index = client.get(run.url)
        assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
        links = re.findall(r'<a href="(job/\d+/)">([^<]*)</a>', index.text)
        assert links == [("job/1/", "slow.md"), ("job/2/", "notes/fast.md"), ("job/3/", "odd.md")]
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &lt;script&gt;alert(1)&lt;/script&gt;" in index.text
        assert "<b>bold" not in index.text and "alert(1)</script>" not in index.text
        for link, _ in links:
            page = client.get(run.url + link)
            assert page.status_code == 200 and 'new EventSource("events")' in page.text
            assert '<a id="back" href="../../">' in page.text  # back to the table
        parts = urlsplit(run.url)
        origin, token = f"http://{parts.netloc}/", parts.path.strip("/")
        wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
        for path in ("", "job/1/", "job/1/events", "events", f"{wrong}/", f"{wrong}/job/1/", f"{wrong}/job/1/events"):
            assert client.get(origin + path).status_code == 404, path
        for path in ("job/4/", "job/0/", "job/1", "job/4/events", "job/1/events/", "job/"):
            assert client.get(run.url + path).status_code == 404, path
        assert list(follow_index(client, run.url))[-1]["finished"]  # then let it end
    assert run.proc.returncode == 0
    assert b"preview:" not in run.stderr  # the URL is printed once


def test_a_job_page_streams_its_document_as_it_grows(tmp_path: Path, serve: Any, client: httpx.Client) -> None:
    with batch_with_preview(tmp_path, serve, slow=0.005) as run:
        document, held, texts, statuses = run.docs[TOPICS[0]], "", [], []
        with events(client, Site(run.url + "job/1/")) as stream:
            for event in stream:
                if event.get("event") == "text":
                    data = event["data"]
                    held = held[: data["offset"]] + data.get("append", data.get("replace", ""))
                    assert event["id"] == str(len(held))  # the offset a reconnect sends back
                    texts.append(held)
                elif event.get("event") == "status":
                    statuses.append(event["data"])
                elif event.get("event") == "done":
                    break
    assert run.proc.returncode == 0
    assert held == document == (run.out / "slow.md").read_text(encoding="utf-8")
    growing = [t for t in texts if 0 < len(t) < len(document)]
    assert len(growing) >= 3, "the page never saw the document part-written"
    assert all(document.startswith(t) for t in growing)
    assert any(s["phase"] == "writing" and 0 < s["words"] < count_words(document) for s in statuses)
    assert statuses[-1]["finished"] and statuses[-1]["phase"] == "done"


def test_the_index_pushes_each_job_s_state_and_the_end(tmp_path: Path, serve: Any, client: httpx.Client) -> None:
    """A failing job included: its row says so, and the exit code is the batch's usual one."""
    with batch_with_preview(tmp_path, serve, slow=0.005, fail=True) as run:
        with events(client, Site(run.url + "job/3/")) as stream:  # the failing job's own page ends, saying so
            failed = [e["data"] for e in stream if e.get("event") == "status"][-1]
        tables = list(follow_index(client, run.url))
        states = {n: {t["rows"][n]["state"] for t in tables} for n in ("1", "2", "3")}
    assert run.proc.returncode == 11
    assert failed["finished"] and failed["phase"] == "failed"
    assert "writing" in states["1"] and "done" in states["1"]
    assert any(t["rows"]["1"]["state"] == "writing" and t["rows"]["1"]["tokens_per_second"] for t in tables)
    last = tables[-1]
    assert last["finished"] and last["note"] == ""
    assert {n: row["state"] for n, row in last["rows"].items()} == {"1": "done", "2": "done", "3": "failed"}
    assert "401" in last["rows"]["3"]["error"] and not last["rows"]["1"]["error"]  # why it failed, on its row
    assert last["rows"]["1"]["words"] == count_words(run.docs[TOPICS[0]])
    assert last["counts"]["done"] == 2 and last["counts"]["failed"] == 1 and last["total"] == 3
    assert all(int(a["id"]) < int(b["id"]) for a, b in pairwise(tables))


def test_sigterm_with_pages_open_stops_the_batch_at_once(tmp_path: Path, serve: Any, client: httpx.Client) -> None:
    with batch_with_preview(tmp_path, serve, slow=0.1) as run:  # the slow job would take a minute
        job_page: list[dict[str, Any]] = []

        def read_job_page() -> None:
            with events(client, Site(run.url + "job/1/")) as stream:
                job_page.extend(stream)

        reader = threading.Thread(target=read_job_page)
        reader.start()
        tables, started = [], 0.0
        for table in follow_index(client, run.url):  # until the index says the batch ended
            tables.append(table)
            row = table["rows"]["1"]
            if not started and row["state"] == "writing" and (row["words"] or 0) > 5:
                run.proc.send_signal(signal.SIGTERM)
                started = time.monotonic()
        assert run.proc.wait(timeout=30) == 130
        assert time.monotonic() - started < 10
        reader.join(timeout=10)
        assert not reader.is_alive()
    last = tables[-1]
    assert last["finished"] and last["note"] == "interrupted" and last["rows"]["1"]["state"] == "cancelled"
    final = [e["data"] for e in job_page if e.get("event") == "status"][-1]
    assert final["finished"] and final["phase"] == "cancelled"
    assert job_page[-1].get("event") == "done"
    assert (run.out / "slow.md.part").exists()  # kept, for the re-run


def test_a_reconnect_gets_only_the_rows_changed_since(tmp_path: Path, client: httpx.Client) -> None:
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(TOPICS)])
    loaded = load_manifest(path)
    specs = batch_specs(loaded, defaults={}, search=(), config={})
    meter = BatchMeter(io.StringIO(), live=False, total=3, enabled=False)
    pages = BatchPreview(specs, meter, interval=0.02)
    names = [job.name for job in loaded.jobs]
    with pages.server as server:
        progress = Progress(output=str(loaded.jobs[0].output), phase="writing", words=40, target_words=300)
        with events(client, server) as stream:
            first = next_event(stream, "jobs")["data"]["rows"]
            assert {n: row["state"] for n, row in first.items()} == {"1": "waiting", "2": "waiting", "3": "waiting"}
            pages.job(names[0])(progress)
            change = next_event(stream, "jobs")
        assert list(change["data"]["rows"]) == ["1"] and change["data"]["rows"]["1"]["words"] == 40
        pages.job_ended(names[1], status="skipped")
        with events(client, server, last_id=change["id"]) as stream:
            again = next_event(stream, "jobs")
        assert again["data"]["rows"] == {"2": {**first["2"], "state": "up to date"}}  # only what changed since
        with events(client, server, last_id=again["id"]) as stream:
            pages.job(names[2])
            assert list(next_event(stream, "jobs")["data"]["rows"]) == ["3"]  # nothing resent
        results = [JobResult(names[0], "", "done", words=300), JobResult(names[1], "", "skipped", words=280)]
        results.append(JobResult(names[2], "", "failed", words=12))
        with events(client, server) as stream:
            next_event(stream, "jobs")
            pages.finish(results, interrupted=False)
            rest = list(stream)
        end = [e for e in rest if e.get("event") == "jobs"][-1]["data"]
        assert rest[-1]["event"] == "done" and end["finished"]
        assert {n: (r["state"], r["words"]) for n, r in end["rows"].items()} == {
            "1": ("done", 300), "2": ("up to date", 280), "3": ("failed", 12)
        }
        with events(client, Site(server.url + "job/3/")) as stream:
            status = next_event(stream, "status")["data"]
        assert status["finished"] and status["phase"] == "failed"


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install the Debian package 'chromium' to run the browser test")
    browser = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
    yield browser
    browser.close()


def test_a_browser_shows_the_table_mid_run(chromium: Chromium, tmp_path: Path, serve: Any) -> None:
    with batch_with_preview(tmp_path, serve, slow=0.01) as run:
        chromium.open(run.url)
        try:
            chromium.wait_for("document.getElementById('job-1').className === 'writing'", timeout=30)
            chromium.wait_for("/^[0-9,]+ \\/ /.test(document.querySelector('#job-1 .words').textContent)")
            assert chromium.evaluate("document.getElementById('banner').hidden") is True
            cells = "[...document.querySelectorAll('#jobs tbody tr')].map((r) => r.cells[0].textContent)"
            assert chromium.evaluate(cells) == ["slow.md", "notes/fast.md", "odd.md" + ODD_NAME]
            assert chromium.evaluate("document.querySelectorAll('#jobs b, #jobs script').length") == 0
            assert "written" in chromium.evaluate("document.getElementById('counts').textContent")
            chromium.screenshot(tmp_path / "batch-writing.png")
            link = chromium.evaluate("document.querySelector('#job-1 a').href")
            assert link == run.url + "job/1/"
            tabs = chromium.call("Target.getTargets")["targetInfos"]
            index = chromium.session, next(t["targetId"] for t in tabs if t["url"] == run.url)
            chromium.open(link)  # in a tab of its own; the table stays open in the first
            chromium.wait_for("(document.getElementById('doc') || {innerText: ''}).innerText.includes('A known')")
            chromium.wait_for("!document.getElementById('banner').hidden", timeout=60)
            assert chromium.evaluate("document.getElementById('banner').textContent").startswith("Finished: ")
            chromium.session = index[0]
            chromium.call("Target.activateTarget", targetId=index[1])  # a tab in the background draws nothing
            chromium.wait_for("!document.getElementById('banner').hidden")
            assert chromium.evaluate("document.getElementById('banner').textContent").startswith(
                "Batch finished: 3/3 written"
            )
            rows = "[...document.querySelectorAll('#jobs tbody tr')].map((r) => r.className)"
            assert chromium.evaluate(rows) == ["done", "done", "done"]
            assert chromium.evaluate("document.title") == "\u2713 docgen batch 3/3"
        finally:
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                chromium.screenshot(tmp_path / "batch.png")  # to look at when it fails
    assert run.proc.returncode == 0
    assert (tmp_path / "batch-writing.png").stat().st_size > 10_000
