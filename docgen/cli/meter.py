"""Drawing progress on stderr: a live line on a terminal, plain lines in CI.

The core reports through ``Progress``; this module decides what a person sees. It
redraws at a bounded rate, so a fast stream pays one clock read per network read.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TextIO

from docgen.write.progress import Progress


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def describe(p: Progress, now: float | None = None) -> str:
    """One line summing up a run, with no control characters."""
    now = time.monotonic() if now is None else now
    elapsed = now - p.started
    parts = [os.path.basename(p.output)]
    if p.sections:
        parts.append(f"[{p.section}/{p.sections}] {p.section_title[:40]}")
    if p.phase == "thinking":
        parts.append(f"thinking ({p.reasoning_tokens} reasoning tokens)")
    elif p.phase == "connecting" and p.resumed_words:
        parts.append(f"resuming after {p.resumed_words:,} words")
    else:
        parts.append(p.phase)
    if p.target_words:
        parts.append(f"{p.words:,}/{p.target_words:,} words ({min(999, 100 * p.words // p.target_words)}%)")
    else:
        parts.append(f"{p.words:,} words")
    if p.section_budget:
        parts.append(f"section {p.section_words:,}/{p.section_budget:,}")
    if p.continuation:
        parts.append(f"continuation {p.continuation}")
    if p.writing_since is not None and now - p.writing_since > 0.5:
        rate = (p.tokens - p.tokens_at_writing) / (now - p.writing_since)
        parts.append(f"{rate:.0f} tok/s")
    parts.append(_clock(elapsed))
    eta = _eta(p, now)
    if eta is not None:
        parts.append(f"ETA {_clock(eta)}")
    if p.note:
        parts.append(p.note)
    return "  ".join(parts)


def _eta(p: Progress, now: float) -> float | None:
    if not p.target_words or p.writing_since is None or p.phase == "done":
        return None
    spent = now - p.writing_since
    if spent < 3 or p.words < p.target_words * 0.05 or p.words >= p.target_words:
        return None
    return (p.target_words - p.words) * spent / p.words


class Meter:
    """An ``on_progress`` callback that draws. ``live`` redraws one terminal line."""

    def __init__(
        self, stream: TextIO, *, live: bool, color: bool, interval: float | None = None, enabled: bool = True
    ) -> None:
        self.enabled = enabled
        self.stream = stream
        self.live = live
        self.color = color
        self.interval = interval if interval is not None else (0.1 if live else 5.0)
        self._next = 0.0
        self._last = ("", "")
        self._drawn = False

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        key = (p.phase, p.note)
        urgent = key != self._last and (self.live or p.phase in ("done", "retrying"))
        if now < self._next and not urgent:
            return
        self._next = now + self.interval
        self._last = key
        line = describe(p, now)
        if self.live:
            if self.color:
                line = f"\x1b[1m{line}\x1b[0m" if p.phase == "done" else line
            self.stream.write(f"\r\x1b[2K{line}")
            self._drawn = True
            if p.phase == "done":
                self.stream.write("\n")
                self._drawn = False
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End a live line so that a following message starts on its own line."""
        if self.live and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


class BatchMeter:
    """Progress of many jobs: one line per running job plus a total on a terminal,
    plain lines every few seconds otherwise. Thread-safe."""

    def __init__(
        self, stream: TextIO, *, live: bool, total: int, enabled: bool = True, interval: float | None = None
    ) -> None:
        self.stream, self.live, self.total, self.enabled = stream, live, total, enabled
        self.interval = interval if interval is not None else (0.2 if live else 10.0)
        self.running: dict[str, Progress] = {}
        self.ended: dict[str, int] = {}  # jobs by how they ended: done, skipped, stale, failed, cancelled
        self._lock = threading.Lock()
        self._next = 0.0
        self._lines = 0
        self._started = time.monotonic()

    def job(self, name: str) -> Callable[[Progress], None]:
        """The ``on_progress`` of one job."""

        def update(p: Progress) -> None:
            with self._lock:
                if p.phase == "done":
                    self.running.pop(name, None)
                else:
                    self.running[name] = p
                self._draw()

        return update

    def job_ended(self, name: str, *, status: str, error: str = "") -> None:
        with self._lock:  # the error is in the table at the end
            self.running.pop(name, None)
            self.ended[status] = self.ended.get(status, 0) + 1
            self._draw(force=True)

    def overall(self, now: float) -> str:
        """The total line: every job accounted for, the up-to-date ones included."""
        counts = self.ended
        up_to_date = counts.get("skipped", 0) + counts.get("stale", 0)
        parts = [f"{counts.get('done', 0)}/{self.total} written"]
        parts += [f"{up_to_date} up to date"] if up_to_date else []
        parts += [f"{len(self.running)} running", f"{counts.get('failed', 0)} failed"]
        parts += [f"{counts['cancelled']} cancelled"] if counts.get("cancelled") else []
        return "batch  " + ", ".join(parts) + f"  {_clock(now - self._started)}"

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now < self._next and not force):
            return
        self._next = now + self.interval
        lines = [describe(p, now) for p in self.running.values()] + [self.overall(now)]
        if self.live:
            up = f"\x1b[{self._lines - 1}F" if self._lines > 1 else "\r"
            self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines[:-1]) + f"\x1b[2K{lines[-1]}\x1b[J")
            self._lines = len(lines)
        else:
            self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.live and self._lines:
            self.stream.write("\n")
            self.stream.flush()
