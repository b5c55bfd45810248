"""Bringing a document stopped at a word target to a clean end.

The blocks come from one markdown-it-py parse. Their ``Token.map`` line ranges say where
to cut, so the kept text is a byte-identical prefix of the input. The only changes are
that trailing whitespace becomes one line ending (the document's own, so CRLF stays
CRLF) and, in one case below, a closing fence is appended. Regexes are used only inside
one paragraph's text, to find its last sentence end.

The last leaf block decides whether a document ends cleanly:

- A paragraph (top-level, or in a block quote) ends cleanly when its last non-space
  character is a sentence end: ``. ! ? …``, followed by whitespace or the end of the
  text, or ``。 ！ ？``, which need nothing after them. Closing marks may come between:
  ``" ' ” ’ ) ] * _ 」 』 ） 》 】``. So ``3.5`` is not a sentence end, and neither is
  ``1.`` alone on a line, which starts a list item. Abbreviations such as ``e.g.`` or
  ``Dr.`` are accepted as false sentence ends. A colon introduces the block after it,
  so a text that ends on a colon does not end cleanly.
- A list item's paragraph ends cleanly like a paragraph, or also when its line has
  ended and the item before it is a fragment too (no sentence end). Items are often
  fragments without a full stop; but in a list of sentences, a last item without one
  (``- The press spread to``) was stopped mid-sentence, line end or not.
- A closed fenced code block, an indented code block and a rule end cleanly. So does a
  table whose last body row is complete: it has at least as many unescaped ``|`` as
  the header, and it ends with ``|`` if the header does.
- A heading never ends cleanly, even a complete one. Neither does an empty list item or
  block quote.

To clean an ending, the blocks are walked back from the end until one ends cleanly:

- An unfinished paragraph is cut after its last sentence end if that keeps three words
  or more of it (a CJK character is a word); otherwise it is dropped.
- A table loses its unfinished trailing rows. If no complete body row is left, the
  whole table is dropped.
- An unclosed fence is dropped from its opening line, never cut inside; if that would
  drop more than half the document, it is closed instead (``convert.fix``).
- Headings, empty items and quotes are dropped. So are rules, once something after
  them has been cut, because a rule separates nothing at the end.

If no block ends cleanly, the input is returned unchanged with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import accumulate

from markdown_it import MarkdownIt
from markdown_it.token import Token

from docgen.markdown.convert import fence_unclosed, fix, source_lines
from docgen.markdown.wordcount import count_words

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
_CLOSE = "\"'”’)\\]*_」』）》】"
_END = re.compile(rf"[.!?…][{_CLOSE}]*(?=\s|\Z)|[。！？][{_CLOSE}]*")
_LIST_NUMBER = re.compile(r"[ \t>]*\d{1,9}")  # "1." alone on its line opens a list item
_PIPE = re.compile(r"(?<!\\)\|")
_RUN = re.compile(r"\w+")
_MIN_WORDS = 3
_KINDS = {
    "paragraph_open": "paragraph",
    "heading_open": "heading",
    "fence": "fence",
    "code_block": "code",
    "hr": "hr",
    "table_open": "table",
}
_NAMES = {
    "paragraph": "an unfinished paragraph",
    "item": "an unfinished list item",
    "fence": "an unclosed code block",
    "hr": "a rule",
    "table": "an unfinished table",
    "empty": "an empty list item or quote",
}


@dataclass
class _Leaf:
    kind: str  # a _KINDS value, "item" (a list item's paragraph) or "empty" (item or quote)
    start: int  # first line, 0-based
    end: int  # the line after it
    token: Token
    title: str = ""  # a heading's text
    rows: list[int] = field(default_factory=list)  # a table's body rows, by first line
    sentence: bool = False  # an item that ends on a sentence end
    after_fragment: bool = False  # an item whose previous item has no sentence end


def ends_cleanly(md: str) -> bool:
    """Does the Markdown end at a complete sentence or block (not mid-word, mid-sentence, or on a heading)?"""
    leaves = _leaves(_MD.parse(md))
    return not leaves or _clean(leaves[-1], source_lines(md))


def clean_ending(md: str) -> tuple[str, str]:
    """(the text cut back to its last complete sentence or block, a short note of what was cut, '' if nothing).

    The kept text is a prefix of ``md`` (byte-identical), with at most trailing whitespace normalised to a
    single final newline."""
    lines = source_lines(md)
    leaves = _leaves(_MD.parse(md))
    if not leaves:
        return md, ""
    offsets = list(accumulate(map(len, lines), initial=0))
    nl = next((line[len(line.rstrip("\r\n")) :] for line in lines if line[-1] in "\r\n"), "\n")
    keep = len(md)
    cut: list[str] = []
    for leaf in reversed(leaves):
        at = offsets[leaf.start]
        if _clean(leaf, lines) and not (leaf.kind == "hr" and cut):
            break
        if leaf.kind in ("paragraph", "item"):
            text = md[at : offsets[leaf.end]]
            end = _last_end(text)
            if end is not None and max(count_words(text[:end]), len(_RUN.findall(text[:end]))) >= _MIN_WORDS:
                keep = at + end
                cut.append("an unfinished sentence")
                break
        elif leaf.kind == "table":
            rows, first_cut = list(leaf.rows), leaf.end
            while rows and not _full_row(lines[rows[-1]], lines[leaf.start]):
                first_cut = rows.pop()
            if rows:
                keep = offsets[first_cut]
                cut.append("an unfinished table row")
                break
        elif leaf.kind == "fence" and len(md) - at > len(md) / 2:
            closed, fixed = fix(md[:keep].rstrip() + nl)
            if fixed:
                done = [_note(md, keep, cut)] if cut else []
                return closed, "; ".join([*done, f"{fixed[0]} rather than cut more than half the document"])
        keep = at
        cut.append(f'the heading "{leaf.title}"' if leaf.kind == "heading" else _NAMES[leaf.kind])
    else:
        return md, "no complete sentence or block to end on; left as is"
    if not cut:
        return md, ""
    return md[:keep].rstrip() + nl, _note(md, keep, cut)


def drop_trailing_headings(md: str) -> tuple[str, str]:
    """(``md`` without the headings, empty items and quotes it ends on, a note of what went; '' if none).

    For a text the model ended by itself: its sentences stand, but a heading with nothing
    under it ("### This is the final part", SmolLM2's sign-off) is no ending. A text that
    is nothing but headings is left as it is."""
    lines = source_lines(md)
    leaves = _leaves(_MD.parse(md))
    offsets = list(accumulate(map(len, lines), initial=0))
    keep, cut = len(md), []
    for leaf in reversed(leaves):
        if leaf.kind not in ("heading", "empty"):
            break
        keep = offsets[leaf.start]
        cut.append(f'the heading "{leaf.title}"' if leaf.kind == "heading" else _NAMES[leaf.kind])
    if not cut or not md[:keep].strip():
        return md, ""
    nl = next((line[len(line.rstrip("\r\n")) :] for line in lines if line[-1] in "\r\n"), "\n")
    return md[:keep].rstrip() + nl, _note(md, keep, cut)


def _note(md: str, keep: int, cut: list[str]) -> str:
    words = count_words(md[keep:])
    return f"cut {', '.join(reversed(cut))}" + (f" ({words} word{'s' * (words != 1)})" if words else "")


def _leaves(tokens: list[Token]) -> list[_Leaf]:
    """The leaf blocks in document order, at any depth, with empty list items and quotes."""
    leaves: list[_Leaf] = []
    parents: list[str] = []
    last_item: _Leaf | None = None
    for i, tok in enumerate(tokens):
        kind = _KINDS.get(tok.type)
        if kind and tok.map:
            if kind == "paragraph" and parents and parents[-1] == "list_item_open":
                kind = "item"
            title = tokens[i + 1].content if kind == "heading" else ""
            leaves.append(_Leaf(kind, tok.map[0], tok.map[1], tok, title))
            if kind == "item":
                text = tokens[i + 1].content.rstrip()
                leaves[-1].sentence = bool(text) and _last_end(text) == len(text)
                leaves[-1].after_fragment = last_item is not None and not last_item.sentence
                last_item = leaves[-1]
        elif tok.type in ("list_item_open", "blockquote_open") and tok.map and tokens[i + 1].nesting == -1:
            leaves.append(_Leaf("empty", tok.map[0], tok.map[1], tok))
        elif tok.type == "tr_open" and tok.map and parents[-1] == "tbody_open":
            leaves[-1].rows.append(tok.map[0])
        if tok.nesting == 1:
            parents.append(tok.type)
        elif tok.nesting == -1:
            parents.pop()
    return leaves


def _clean(leaf: _Leaf, lines: list[str]) -> bool:
    if leaf.kind in ("paragraph", "item"):
        text = "".join(lines[leaf.start : leaf.end]).rstrip()
        line_ended = lines[leaf.end - 1][-1] in "\r\n"
        return _last_end(text) == len(text) or (leaf.kind == "item" and line_ended and leaf.after_fragment)
    if leaf.kind == "fence":
        return not fence_unclosed(leaf.token)
    if leaf.kind == "table":
        return bool(leaf.rows) and _full_row(lines[leaf.rows[-1]], lines[leaf.start])
    return leaf.kind in ("code", "hr")


def _last_end(text: str) -> int | None:
    """The offset just after the last sentence end in ``text`` (closing marks included), or None."""
    for m in reversed(list(_END.finditer(text))):
        line_start = max(text.rfind("\n", 0, m.start()), text.rfind("\r", 0, m.start())) + 1
        if not _LIST_NUMBER.fullmatch(text, line_start, m.start()):
            return m.end()
    return None


def _full_row(row: str, header: str) -> bool:
    row, header = row.rstrip(), header.rstrip()
    closed = row.endswith("|") and not row.endswith("\\|")
    return len(_PIPE.findall(row)) >= len(_PIPE.findall(header)) and (closed or not header.endswith("|"))
