"""Source files cut into chunks small enough to rank and to quote, each with its exact line range.

A file is cut at Markdown headings first, then at blank lines between paragraphs, then between
lines, and a line longer than a chunk is cut between characters (at a space when there is one
near the end). Consecutive paragraphs or lines are packed into one chunk while they fit. A
chunk's ``text`` is exactly the lines it claims (blank lines at its edges are left out), so a
citation ``path:start-end`` points at what the model read. A piece of one long line claims that
line alone, from its ``column``: the pieces of a line, joined, are the line.

``header`` carries what a reader needs from earlier in the file to make sense of a chunk: the
headings above it in Markdown, the header row in a CSV file. It is not part of the range.

Headings are found line by line with a regex, not with markdown-it tokens: a source folder can
hold 100 MB, and parsing it all would take minutes. Fenced code is tracked, so a ``#`` comment in
a code block is no heading. Setext (underlined) headings are not split at.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from docgen.inputs.sources import STDIN_PATH, SourceFile

DEFAULT_MAX_CHARS = 2000
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mdx", ".html", ".htm", ".xhtml")
_TABLE_SUFFIXES = (".csv", ".tsv")
_MARK = re.compile(r" {0,3}(?:(#{1,6})(?:[ \t]|$)|(`{3,}|~{3,}))")
_MARK_STARTS = tuple(f"{indent}{mark}" for indent in ("", " ", "  ", "   ") for mark in ("#", "```", "~~~"))
_HEADING_CHARS = 200  # of the headings shown above a chunk


@dataclass(frozen=True)
class Chunk:
    path: str
    start_line: int  # 1-based
    end_line: int  # 1-based, inclusive
    text: str  # exactly these lines, joined with "\n" (or a piece of one line)
    header: str = ""  # context from earlier in the file: the headings above, or a CSV's header row
    column: int = 0  # where ``text`` starts in ``start_line``: not 0 only for the later pieces of a long line

    @property
    def size(self) -> int:
        """Characters the chunk takes in a prompt, header included."""
        return len(self.header) + 1 + len(self.text) if self.header else len(self.text)


def split_into_chunks(file: SourceFile, *, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """``file`` cut into chunks of at most ``max_chars`` characters (header included), in order."""
    if max_chars < 8:
        raise ValueError(f"max_chars={max_chars}: a chunk needs room for a header and some text")
    lines = file.text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ended with a newline, or was empty
    cutter = _Cutter(file.path, file.text, lines)
    name = file.path.lower()
    if name.endswith(_TABLE_SUFFIXES):
        return cutter.table(max_chars)
    if name.endswith(_MARKDOWN_SUFFIXES) or file.path == STDIN_PATH:
        return cutter.markdown(max_chars)
    return cutter.chunks(cutter.pack(0, len(lines), max_chars))


_Piece = tuple[int, int, str, int]  # first line (0-based), the line after the last, the text, its column


class _Cutter:
    """Cuts one file's lines. ``offsets`` makes the text of a line range one slice of the file."""

    def __init__(self, path: str, text: str, lines: list[str]) -> None:
        self.path = path
        self.text = text
        self.lines = lines
        self.offsets = [0, *itertools.accumulate(map(len, lines))]  # less the newlines: add the line number

    def chars(self, start: int, end: int) -> int:
        """The length of lines ``start`` to ``end`` (0-based, exclusive) joined with newlines."""
        return self.offsets[end] - self.offsets[start] + end - start - 1

    def chunks(self, pieces: Iterable[_Piece], header: str = "") -> list[Chunk]:
        return [Chunk(self.path, start + 1, end, text, header, column) for start, end, text, column in pieces]

    def piece(self, start: int, end: int) -> _Piece:
        return start, end, self.text[self.offsets[start] + start : self.offsets[end] + end - 1], 0

    def markdown(self, max_chars: int) -> list[Chunk]:
        """Sections from one heading to the next, each packed alone; a heading with nothing under it
        stays with the section after it, so no chunk is a lone title."""
        headings: list[tuple[str, ...]] = []  # the headings in force after each heading line
        starts: list[int] = []  # the heading lines, 0-based
        stack: list[tuple[int, str]] = []
        fence = ""
        for line in [i for i, text in enumerate(self.lines) if text.startswith(_MARK_STARTS)]:
            mark = _MARK.match(self.lines[line])
            if mark is None:
                continue
            if mark.group(2):
                if not fence:
                    fence = mark.group(2)
                elif mark.group(2).startswith(fence) and not self.lines[line].strip(" " + fence[0]):
                    fence = ""
            elif not fence:
                level = len(mark.group(1))
                stack = [*(entry for entry in stack if entry[0] < level), (level, self.lines[line].strip()[:120])]
                headings.append(tuple(title for _, title in stack))
                starts.append(line)

        def trail(line: int) -> str:
            """The headings in force at ``line``, less the line itself when it is one."""
            index = bisect.bisect_right(starts, line) - 1
            titles = headings[index][: -1 if starts[index] == line else None] if index >= 0 else ()
            return "\n".join(titles)[-_HEADING_CHARS:]

        chunks: list[Chunk] = []
        section = 0
        for previous, end in itertools.pairwise([0, *(line for line in starts if line > 0), len(self.lines)]):
            first = previous + 1 if starts and starts[0] <= previous else previous  # past the heading
            if end < len(self.lines) and all(not line or line.isspace() for line in self.lines[first:end]):
                continue  # headings (and empty lines) only so far: keep them with what follows
            budget = max(max_chars // 2, max_chars - len(trail(section + 1)) - 1)
            for start, stop, text, column in self.pack(section, end, budget):
                room = max_chars - len(text) - 1  # a deeper heading further down may not fit whole
                header = trail(start)[-room:].lstrip("\n") if room > 0 else ""
                chunks.append(Chunk(self.path, start + 1, stop, text, header, column))
            section = end
        return chunks

    def table(self, max_chars: int) -> list[Chunk]:
        """CSV records packed into chunks, each after the first led by the header row."""
        try:
            reader = csv.reader(io.StringIO(self.text))
            ends = [reader.line_num for _ in reader]
        except csv.Error:  # a field past csv's size limit, or a stray NUL: fall back to plain lines
            ends = list(range(1, len(self.lines) + 1))
        if not ends or self.chars(0, len(self.lines)) <= max_chars:
            return self.chunks(self.pack(0, len(self.lines), max_chars))
        records = list(itertools.pairwise([0, *ends]))
        fit = [end for _, end in itertools.takewhile(lambda r: self.chars(0, r[1]) <= max_chars, records)]
        first = [self.piece(0, fit[-1])] if fit else list(self.pack_units(records[:1], max_chars))
        header = self.piece(0, ends[0])[2][: max_chars // 2]
        rest = [record for record in records if record[0] >= (fit[-1] if fit else ends[0])]
        return self.chunks(first) + self.chunks(self.pack_units(rest, max_chars - len(header) - 1), header)

    def pack(self, start: int, end: int, max_chars: int) -> Iterator[_Piece]:
        """Lines ``start`` to ``end`` as few pieces as fit, cut at blank lines where possible."""
        lines = self.lines
        while start < end and (not lines[start] or lines[start].isspace()):
            start += 1
        while end > start and (not lines[end - 1] or lines[end - 1].isspace()):
            end -= 1
        if start == end:
            return
        if self.chars(start, end) <= max_chars:
            yield self.piece(start, end)
            return
        blanks = [i for i, line in enumerate(lines[start:end], start) if not line or line.isspace()]
        paragraphs = [(a + 1, b) for a, b in itertools.pairwise([start - 1, *blanks, end]) if b > a + 1]
        yield from self.pack_units(paragraphs, max_chars)

    def pack_units(self, units: list[tuple[int, int]], max_chars: int) -> Iterator[_Piece]:
        """Consecutive line ranges packed greedily; a range too big on its own is cut into lines."""
        current: tuple[int, int] | None = None
        for start, end in units:
            if current and self.chars(current[0], end) <= max_chars:
                current = (current[0], end)
                continue
            if current:
                yield self.piece(*current)
                current = None
            if self.chars(start, end) <= max_chars:
                current = (start, end)
            elif end - start > 1:
                yield from self.pack_units([(i, i + 1) for i in range(start, end)], max_chars)
            else:
                yield from self.split_line(start, max_chars)
        if current:
            yield self.piece(*current)

    def split_line(self, line: int, max_chars: int) -> Iterator[_Piece]:
        """One overlong line in pieces of at most ``max_chars``, cut after a space when one is near."""
        text, at = self.lines[line], 0
        while at < len(text):
            cut = at + max_chars
            if cut < len(text):
                space = text.rfind(" ", at + max_chars * 4 // 5, cut)
                cut = space + 1 if space >= 0 else cut
            yield line, line + 1, text[at:cut], at
            at = cut
