"""``docgen batch --preview``: a live table of the batch's jobs, each row linked to its document's live page.

One ``PreviewServer`` serves it all under one token: the table at the root, and at
``job/N/`` (N counts the jobs from 1, in manifest order) the page ``write --preview``
serves, fed from that job's files and progress. A job's page is read only while it is
open. ``BatchPreview`` is the batch's observer: it passes each job's progress on to the
meter and keeps what the pages show. The table's events carry an id, the version of the
table; each row remembers the version it last changed at, so a page that reconnects gets
only the rows that changed since. Names and paths from the manifest reach the page as
escaped HTML, or as text set by its script.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from docgen.cli.preview import LiveFeed, PreviewServer
from docgen.cli.preview_page import PAGE_CSS, Channel, DocumentChannel, PreviewState, sse_event
from docgen.errors import redact

if TYPE_CHECKING:
    from docgen.inputs.manifest import BatchSpec
    from docgen.write.batch import BatchObserver, JobResult
    from docgen.write.progress import Progress, ProgressCallback

# a job's state on the page, by the status of its result; "waiting" and "writing" come before one
ENDED = {"done": "done", "skipped": "up to date", "stale": "stale", "failed": "failed", "cancelled": "cancelled"}

Rows = dict[int, dict[str, Any]]  # by job number, from 1


class BatchPreview:
    """The observer of a batch with ``--preview``: it feeds ``meter`` and the pages of ``channels``."""

    def __init__(
        self, specs: Sequence[BatchSpec], meter: BatchObserver, *, port: int = 0, interval: float = 0.25
    ) -> None:
        self.meter = meter
        self.jobs = {n: s.job for n, s in enumerate(specs, 1)}
        self.targets = {s.job.name: s.spec.target_words for s in specs}
        self.feeds = {s.job.name: LiveFeed(s.job.output) for s in specs}
        self.states = dict.fromkeys(self.feeds, "waiting")
        self.words: dict[str, int] = {}  # each ended job's words, from its result
        self.errors: dict[str, str] = {}  # why a job failed, was cancelled or is stale
        self.ended, self.note = False, ""
        self._lock = threading.Lock()
        self.index = JobsIndex(self)
        self.channels: dict[str, Channel[Any]] = {"": self.index}
        for n, job in self.jobs.items():
            self.channels[f"job/{n}/"] = DocumentChannel(self._document(job.name), lazy=True, back="../../")
        self.server = PreviewServer(self.channels, port=port, interval=interval)  # bound now, serving from ``start``

    def job(self, name: str) -> ProgressCallback:
        draw, feed = self.meter.job(name), self.feeds[name]
        with self._lock:
            self.states[name] = "writing"

        def update(p: Progress) -> None:
            feed.on_progress(p)
            draw(p)

        return update

    def job_ended(self, name: str, *, status: str, error: str = "") -> None:
        self._end(name, status, error=error)
        self.meter.job_ended(name, status=status, error=error)

    def finish(self, results: Sequence[JobResult], *, interrupted: bool) -> None:
        """The batch returned: the table and every page say how it ended, and open pages get up to 2 s to hear it."""
        for result in results:
            self._end(result.name, result.status, result.words, error=result.error)
        with self._lock:
            self.ended, self.note = True, "interrupted" if interrupted else ""
        self.server.drain()

    def _end(self, name: str, status: str, words: int | None = None, *, error: str = "") -> None:
        state = ENDED.get(status, "cancelled")  # "pending": never started
        self.feeds[name].finish("done" if state in ("done", "up to date", "stale") else state)
        with self._lock:
            self.states[name] = state
            if words is not None:
                self.words[name] = words
            if error:
                self.errors[name] = redact(error)

    def _document(self, name: str) -> Callable[[], PreviewState]:
        feed = self.feeds[name]

        def state() -> PreviewState:
            shown = feed()
            with self._lock:
                waiting = self.states[name] == "waiting"
            return dataclasses.replace(shown, phase="waiting") if waiting else shown  # a partial from before: queued

        return state

    def snapshot(self) -> tuple[Rows, dict[str, Any]]:
        """Every job's row, and the table's summary: counts, whether the batch ended, a note."""
        with self._lock:
            states, words, ended, note = dict(self.states), dict(self.words), self.ended, self.note
            errors = dict(self.errors)
        rows: Rows = {}
        for n, job in self.jobs.items():
            state = states[job.name]
            figures = self.feeds[job.name].figures() if state != "waiting" else {}
            rate = figures.get("tokens_per_second") if state == "writing" else None
            rows[n] = {
                "state": state,
                "phase": figures.get("phase", ""),
                "words": words.get(job.name, figures.get("words")),  # None: not known yet
                "target_words": figures.get("target_words") or self.targets[job.name],
                "tokens_per_second": None if rate is None else round(rate, 1),
                "error": errors.get(job.name, ""),
            }
        counts = Counter(row["state"] for row in rows.values())
        counts["up to date"] += counts.pop("stale", 0)
        return rows, {"total": len(rows), "counts": dict(counts), "finished": ended, "note": note}


class JobsIndex:
    """The table of a batch's jobs: a ``preview_page.Channel``."""

    lazy = False

    def __init__(self, batch: BatchPreview) -> None:
        self.batch = batch
        self.rows: Rows = {}
        self.changed_at: dict[int, int] = {}  # the version at which each row last changed
        self.summary: dict[str, Any] = {}
        self.streams = self.version = 0

    @property
    def finished(self) -> bool:
        return bool(self.summary.get("finished"))

    def read(self) -> tuple[Rows, dict[str, Any]]:
        return self.batch.snapshot()

    def apply(self, snapshot: tuple[Rows, dict[str, Any]]) -> bool:
        rows, summary = snapshot
        changed = [n for n, row in rows.items() if self.rows.get(n) != row]
        if not changed and summary == self.summary:
            return False
        self.version += 1
        self.changed_at.update(dict.fromkeys(changed, self.version))
        self.rows, self.summary = rows, summary
        return True

    def subscribe(self, last_id: str | None) -> Callable[[], tuple[str, bool]]:
        held = int(last_id) if last_id is not None and last_id.isdigit() and int(last_id) <= self.version else 0

        def events() -> tuple[str, bool]:
            nonlocal held
            out = ""
            if held != self.version:
                rows = {n: row for n, row in self.rows.items() if self.changed_at[n] > held}
                out = sse_event("jobs", {"rows": rows, **self.summary}, event_id=self.version)
                held = self.version
            if self.finished:
                out += sse_event("done", {})
            return out, self.finished

        return events

    def page(self, nonce: str) -> bytes:
        rows = self.rows  # replaced whole, never changed in place
        body = "".join(
            f'<tr id="job-{n}" class="{html.escape(rows[n]["state"]).replace(" ", "-")}">'
            f'<td><a href="job/{n}/">{html.escape(job.relative)}</a>'
            + (f'<span class="name">{html.escape(job.name)}</span>' if job.name != job.relative else "")
            + f'</td><td class="state">{html.escape(rows[n]["state"])}</td><td class="words"></td>'
            '<td class="rate"></td></tr>\n'
            for n, job in self.batch.jobs.items()
        )
        page = _INDEX.replace("$CSS", PAGE_CSS + _INDEX_CSS).replace("$NONCE", nonce)
        return page.replace("$ROWS", body).encode()  # last: nothing in a name is taken for a placeholder


def serve_batch_preview(
    stack: contextlib.ExitStack, specs: Sequence[BatchSpec], meter: BatchObserver, *, port: int
) -> BatchPreview:
    """--preview: the batch's pages on 127.0.0.1, served until ``stack`` closes; the URL goes to stderr."""
    batch = BatchPreview(specs, meter, port=port)
    click.echo(f"preview: {stack.enter_context(batch.server).url}", err=True)
    return batch


_INDEX_CSS = """
body { max-width: 60rem; }
#jobs { display: table; width: 100%; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
#jobs th { text-align: left; }
#jobs td.words, #jobs td.rate { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
#jobs .name { display: block; color: #57606a; font-size: 12px; }
#jobs .error { display: block; color: #57606a; font-size: 12px; font-weight: normal; max-width: 28rem; }
#jobs tr.writing .state { color: #0b5fad; font-weight: 600; }
#jobs tr.done .state { color: #116329; }
#jobs tr.failed .state { color: #cf222e; font-weight: 600; }
#jobs tr.cancelled .state, #jobs tr.stale .state { color: #9a6700; }
#jobs tr.waiting .state, #jobs tr.up-to-date .state { color: #57606a; }
"""

_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>docgen batch</title>
<style>$CSS</style>
</head>
<body>
<header id="bar"><span id="phase">batch</span><span id="counts">connecting</span><span id="link"></span></header>
<div id="banner" hidden></div>
<table id="jobs">
<thead><tr><th>document</th><th>state</th><th>words</th><th>speed</th></tr></thead>
<tbody>
$ROWS</tbody>
</table>
<script nonce="$NONCE">
"use strict";
const $ = (id) => document.getElementById(id);
const number = (n) => n.toLocaleString("en");
function counted(m) {
  const c = m.counts, parts = [(c.done || 0) + "/" + m.total + " written"];
  for (const key of ["up to date", "writing", "waiting", "failed", "cancelled"]) {
    if (c[key] || key === "writing" || key === "failed") parts.push((c[key] || 0) + " " + key);
  }
  return parts.join(", ");
}
const stream = new EventSource("events");
stream.addEventListener("jobs", (e) => {
  const m = JSON.parse(e.data);
  for (const [n, r] of Object.entries(m.rows)) {
    const row = $("job-" + n);
    if (!row) continue;
    row.className = r.state.replace(/ /g, "-");
    const phase = r.state === "writing" && r.phase && r.phase !== "writing" ? " (" + r.phase + ")" : "";
    row.querySelector(".state").textContent = r.state + phase;
    if (r.error) {
      const why = document.createElement("span");
      why.className = "error";
      why.textContent = r.error;
      row.querySelector(".state").append(why);
    }
    const words = r.words == null ? "\u2013" : number(r.words);
    row.querySelector(".words").textContent = words + (r.target_words ? " / " + number(r.target_words) : "");
    const rate = r.tokens_per_second;
    row.querySelector(".rate").textContent = rate == null ? "" : Math.round(rate) + " tok/s";
  }
  $("counts").textContent = counted(m);
  $("phase").textContent = m.finished ? (m.note || "finished") : "batch";
  document.title = (m.finished ? "\\u2713 " : "") + "docgen batch " + (m.counts.done || 0) + "/" + m.total;
  $("banner").hidden = !m.finished;
  $("banner").className = m.note ? "stopped" : "";
  $("banner").textContent = "Batch " + (m.note || "finished") + ": " + counted(m);
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
