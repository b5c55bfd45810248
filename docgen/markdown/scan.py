"""A well-formedness check that runs as the text streams, so the end of a run need
not read the whole document back and parse it.

It follows CommonMark for the parts the check needs, at the top level: fenced code
(``` or ~~~, up to three spaces of indent, closed by the same character at least as
long), and ATX headings (``#`` to ``######``) outside fences. Headings inside lists or
quotes and setext headings are not seen; ``markdown_out.check`` (markdown-it-py) is the
full check and runs whenever the whole text is parsed anyway (.txt, .html, --toc, --fix).
It never holds more than the start of the current line.
"""

from __future__ import annotations

import re
from typing import Any

_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*\r?$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)$")
_KEEP = 300  # characters kept of a line that might be a heading or a fence


class MarkdownScanner:
    """Feed text chunks in order; ``report()`` gives the warnings and the headings."""

    def __init__(self) -> None:
        self._line = ""  # the start of the current line
        self._long = False  # the current line is longer than _KEEP
        self._fence: tuple[str, int, int] | None = None  # char, length, line where it opened
        self.line_no = 0
        self.headings: list[tuple[int, str, int]] = []  # level, title, 1-based line
        self._empty_since: int | None = None  # index of the last heading while nothing followed it
        self.warnings: list[tuple[int, str]] = []

    def feed(self, text: str) -> None:
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                if len(self._line) < _KEEP:
                    self._line += text[start : start + _KEEP]
                else:
                    self._long = True
                return
            if len(self._line) < _KEEP:
                self._line += text[start : min(end, start + _KEEP)]
            self._end_line(self._line, self._long or end - start > _KEEP)
            self._line, self._long = "", False
            start = end + 1

    def _end_line(self, line: str, long: bool) -> None:
        self.line_no += 1
        stripped = line.lstrip(" ")
        if not stripped.strip():
            return
        first = stripped[0]
        if self._fence is not None:
            char, length, _ = self._fence
            if first == char and len(line) - len(stripped) <= 3 and not long:
                run = len(stripped) - len(stripped.lstrip(char))
                if run >= length and not stripped[run:].strip():
                    self._fence = None
            return
        if first in "`~" and not long and (m := _FENCE.match(line)):
            marker, info = m.groups()
            if not (marker[0] == "`" and "`" in info):
                self._fence = (marker[0], len(marker), self.line_no)
                self._content()
                return
        if first == "#" and not long and (m := _HEADING.match(line)):
            level, title = len(m.group(1)), (m.group(2) or "").strip()
            if self.headings and level > self.headings[-1][0] + 1:
                self.warnings.append(
                    (
                        self.line_no,
                        f'line {self.line_no}: heading "{title}" skips from level '
                        f"{self.headings[-1][0]} to level {level}",
                    )
                )
            self._close_empty(level)
            self.headings.append((level, title, self.line_no))
            self._empty_since = len(self.headings) - 1
            return
        self._content()

    def _content(self) -> None:
        self._empty_since = None

    def _close_empty(self, next_level: int | None) -> None:
        if self._empty_since is None:
            return
        level, title, line = self.headings[self._empty_since]
        if next_level is None or next_level <= level:
            self.warnings.append((line, f'line {line}: section "{title}" is empty'))

    def report(self) -> dict[str, Any]:
        """The check's findings once all text is in (like ``finishing.finish_markdown``)."""
        if self._line:
            self._end_line(self._line, self._long)
            self._line = ""
        self._close_empty(None)
        self._empty_since = None
        warnings = self.warnings
        if self._fence is not None:
            char, length, line = self._fence
            warnings = [*warnings, (line, f"line {line}: the code fence {char * length} is never closed")]
        return {
            "warnings": [w for _, w in sorted(warnings, key=lambda pair: pair[0])],
            "fixed": [],
            "headings": [{"level": level, "title": title} for level, title, _ in self.headings],
        }
