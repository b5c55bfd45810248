"""The user's material in a prompt: what fits, in numbered blocks, and the citations that come back.

A prompt's room for sources is what the context window leaves after the instructions,
the continuation tail and the reply. When every file fits, all of it goes in, whole;
otherwise files are split into chunks at headings and paragraphs and the chunks that
rank best (BM25) for the query (the topic, or a section's title and brief) are given,
in document order. Each chunk is a numbered block ``[n]`` with its path and lines,
numbered across the whole document, so a section's ``[4]`` is the document's ``[4]``.

After the text is written, ``cited`` finds the numbers the model used, and
``sources_section`` lists each cited number's path and line range; a number that was
never given is reported, not listed.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from docgen.errors import UsageError
from docgen.inputs.chunks import Chunk, split_into_chunks
from docgen.inputs.sources import SourceFile

if TYPE_CHECKING:
    from docgen.inputs.ranking import ChunkIndex

CHARS_PER_TOKEN = 3.5  # a cautious estimate for English prose and code: it errs toward fitting
DEFAULT_WINDOW = 8192  # tokens, when neither the server nor --context-window says
MIN_SOURCE_TOKENS = 256  # below this, sources are not worth a block

CITE_INSTRUCTION = (
    "Ground the document in the numbered sources above. When a sentence uses a source, cite it with its "
    "number in square brackets, like [1] or [2][5]. Cite only the numbers given; do not invent sources, "
    "URLs or references, and do not add a list of sources at the end."
)
USE_INSTRUCTION = "Ground the document in the source material above. Do not invent sources, URLs or references."


@dataclass(frozen=True)
class Given:
    """The chunks one prompt carries, each with its number."""

    numbered: tuple[tuple[int, Chunk], ...]
    complete: bool  # every file whole: nothing was left out

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return tuple(chunk for _, chunk in self.numbered)


def source_budget(window: int, *, instructions_chars: int, reply_tokens: int, tail_chars: int) -> int:
    """Characters the sources may take in a prompt of a context window of ``window`` tokens.

    The continuation tail and the reply are reserved for the whole run: every continuation
    sends the sources again, with the tail of the text written so far.
    """
    used = (instructions_chars + tail_chars) / CHARS_PER_TOKEN + reply_tokens + 64  # 64: chat template tokens
    left = int((window - used) * CHARS_PER_TOKEN)
    return left if left >= MIN_SOURCE_TOKENS * CHARS_PER_TOKEN else 0


def whole_files(files: Sequence[SourceFile]) -> list[Chunk]:
    """Every file as one chunk (what is given when all of it fits)."""
    return [Chunk(f.path, 1, max(1, f.text.count("\n") + (not f.text.endswith("\n"))), f.text) for f in files]


def all_chunks(files: Sequence[SourceFile]) -> list[Chunk]:
    return [chunk for f in files for chunk in split_into_chunks(f)]


def block_chars(chunk: Chunk) -> int:
    return len(chunk.text) + len(chunk.header) + len(chunk.path) + 40


def fits(files: Sequence[SourceFile], budget_chars: int) -> bool:
    return sum(block_chars(c) for c in whole_files(files)) <= budget_chars


class Material:
    """The user's files, chunked and ranked only when they do not fit whole (then once, for every query)."""

    def __init__(self, files: Sequence[SourceFile]) -> None:
        self.files = tuple(files)
        self._index: ChunkIndex | None = None
        self._count = 0

    def choose(self, query: str, budget_chars: int) -> tuple[list[Chunk], bool]:
        """The chunks for one prompt, in document order, and whether that is all of every file."""
        if fits(self.files, budget_chars):
            return whole_files(self.files), True
        from docgen.inputs.ranking import ChunkIndex, select_within

        if self._index is None:  # built once, then asked for the topic and for each section
            chunks = all_chunks(self.files)
            self._index, self._count = ChunkIndex(chunks), len(chunks)
        ranked = self._index.rank(query, limit=max(1, min(self._count, budget_chars // 200)))
        return select_within(ranked, budget_chars), False


def no_room(window: int) -> UsageError:
    return UsageError(
        f"a context window of {window:,} tokens leaves no room for the sources after the instructions, "
        "the reply and the continuation tail",
        hint="use a model with a larger window (--context-window), or lower --max-tokens or --context-tail",
    )


def with_sources(user: str, material: Given, *, citations: bool) -> str:
    """The user turn with the source block first: the stable part of the prompt before the request."""
    return source_block(material, citations=citations) + "\n\n---\n\n" + user


def source_inputs(files: Sequence[SourceFile]) -> dict[str, str]:
    """For the fingerprint: one key per file, so a changed source is named."""
    return {f"source {f.path}": f.sha256 for f in files}


def numbering(selections: Iterable[Sequence[Chunk]]) -> dict[Chunk, int]:
    """One number per chunk across the whole document, in document order (path, then line)."""
    union = sorted({c for chosen in selections for c in chosen}, key=lambda c: (c.path, c.start_line, c.column))
    return {chunk: n for n, chunk in enumerate(union, start=1)}


def number_them(chosen: Sequence[Chunk], numbers: Mapping[Chunk, int], *, complete: bool) -> Given:
    return Given(tuple((numbers[c], c) for c in chosen), complete)


def source_block(material: Given, *, citations: bool) -> str:
    """The sources as the prompt shows them: numbered blocks with path and lines, then how to use them."""
    parts = ["# Source material", ""]
    if not material.complete:
        parts += ["(The passages of the user's files that bear most on this part; the rest is left out.)", ""]
    for n, chunk in material.numbered:
        label = f"[{n}] " if citations else ""
        where = chunk.path if material.complete else f"{chunk.path}, lines {chunk.start_line}-{chunk.end_line}"
        parts.append(f"{label}{where}")
        parts.append("<<<")
        if chunk.header:
            parts.append(chunk.header.rstrip("\n"))
        parts.append(chunk.text.rstrip("\n"))
        parts.append(">>>")
        parts.append("")
    parts.append(CITE_INSTRUCTION if citations else USE_INSTRUCTION)
    return "\n".join(parts)


_FENCED = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_CITATION = re.compile(r"\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\](?!\()")


def cited(text: str) -> list[int]:
    """The source numbers ``text`` cites, in order of first use (code and Markdown links aside)."""
    prose = _INLINE_CODE.sub("", _FENCED.sub("", text))
    seen: dict[int, None] = {}
    for match in _CITATION.finditer(prose):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            seen.setdefault(int(number), None)
    return list(seen)


def sources_section(numbers: Sequence[int], by_number: Mapping[int, Chunk], *, output_dir: Path) -> str:
    """``## Sources``: each cited number's file (a link relative to the output) and lines, in number order.

    '' when nothing that was given is cited.
    """
    known = sorted(n for n in set(numbers) if n in by_number)
    if not known:
        return ""
    lines = ["## Sources", ""]
    for n in known:
        chunk = by_number[n]
        if chunk.path.startswith("<"):  # <stdin>: nothing to link to
            name = chunk.path
        else:
            target = os.path.relpath(Path(chunk.path).resolve(), output_dir.resolve())
            name = f"[{chunk.path}]({urllib.parse.quote(Path(target).as_posix())})"
        lines.append(f"- [{n}] {name}, lines {chunk.start_line}-{chunk.end_line}")
    return "\n".join(lines) + "\n"
