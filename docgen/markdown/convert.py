"""Markdown as output: plain text and HTML pages, a table of contents, checks and repairs.

Structure is always found from markdown-it-py tokens. ``add_toc`` and ``fix`` use the
line ranges in ``Token.map`` to insert lines, so text they do not touch stays
byte-identical. Model output is untrusted: raw HTML is never interpreted. ``to_html``
escapes it, and ``to_text`` keeps it as literal text, so both show the same words.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from docgen.markdown.wordcount import count_words

TOC_TITLE = "Contents"
_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
_BULLETS = "•◦▪"
_RULE = "—" * 30
_ESCAPE = str.maketrans({c: "\\" + c for c in "\\`*_[]<>&"})
_LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")  # where markdown-it ends lines


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str
    start: int  # first line, 0-based
    end: int  # the line after the heading
    top: bool  # not inside a list or block quote


def inline_text(tokens: Sequence[Token], *, urls: bool = True, br: str = "\n") -> str:
    """The plain text of inline tokens: markup dropped, links as ``text (url)``."""
    out: list[str] = []
    links: list[tuple[int, str]] = []
    for tok in tokens:
        if tok.type in ("text", "code_inline", "html_inline"):
            out.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            out.append(br)
        elif tok.type == "image":
            out.append(inline_text(tok.children or [], urls=False, br=" "))
        elif tok.type == "link_open":
            links.append((len(out), _MD.normalizeLinkText(str(tok.attrs.get("href", "")))))
        elif tok.type == "link_close" and links:
            start, url = links.pop()
            text = "".join(out[start:])
            if urls and text != url and "mailto:" + text != url:
                out.append(f" ({url})" if text else url)
    return "".join(out)


def display_width(text: str) -> int:
    """Terminal columns: wide and full-width (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def to_text(md: str) -> str:
    """Plain text to read: no Markdown markup left, code indented 4 spaces, tables aligned."""
    lines = _blocks(SyntaxTreeNode(_MD.parse(md)).children, depth=0, tight=False)
    return "\n".join(lines) + "\n" if lines else ""


def _blocks(nodes: Sequence[SyntaxTreeNode], *, depth: int, tight: bool) -> list[str]:
    out: list[str] = []
    for node in nodes:
        lines = _block(node, depth=depth)
        if lines and out and not tight:
            out.append("")
        out.extend(lines)
    return out


def _block(node: SyntaxTreeNode, *, depth: int) -> list[str]:
    if node.type == "heading":
        text = _inline(node, br=" ")
        rule = {"h1": "=", "h2": "-"}.get(node.tag)
        return [text, rule * display_width(text)] if rule and text else [text]
    if node.type == "paragraph":
        return _inline(node).split("\n")
    if node.type in ("fence", "code_block"):
        code = node.content.removesuffix("\n")
        return [f"    {line}" if line else "" for line in code.split("\n")] if code else []
    if node.type in ("bullet_list", "ordered_list"):
        return _list(node, depth=depth)
    if node.type == "blockquote":
        inner = _blocks(node.children, depth=depth, tight=False)
        return [f"│ {line}" if line else "│" for line in inner]
    if node.type == "hr":
        return [_RULE]
    if node.type == "table":
        return _table(node)
    return _blocks(node.children, depth=depth, tight=False)


def _inline(node: SyntaxTreeNode, *, br: str = "\n") -> str:
    inline = node.children[0].token if node.children else None
    return inline_text((inline.children or []) if inline else [], br=br)


def _list(node: SyntaxTreeNode, *, depth: int) -> list[str]:
    tight = any(c.type == "paragraph" and c.hidden for item in node.children for c in item.children)
    start = int(node.attrs.get("start", 1))
    out: list[str] = []
    for number, item in enumerate(node.children, start):
        marker = f"{number}. " if node.type == "ordered_list" else f"{_BULLETS[depth % 3]} "
        body = _blocks(item.children, depth=depth + 1, tight=tight) or [""]
        if out and not tight:
            out.append("")
        out.append((marker + body[0]).rstrip())
        out.extend(" " * len(marker) + line if line else "" for line in body[1:])
    return out


def _table(node: SyntaxTreeNode) -> list[str]:
    rows: list[list[str]] = []
    aligns: list[str] = []
    for part in node.children:
        for row in part.children:
            rows.append([_inline(cell, br=" ") for cell in row.children])
            aligns = aligns or [str(cell.attrs.get("style", "")) for cell in row.children]
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(aligns))]

    def line(cells: list[str]) -> str:
        padded = []
        for text, width, align in zip(cells, widths, aligns, strict=False):
            gap = width - display_width(text)
            left = gap if "right" in align else gap // 2 if "center" in align else 0
            padded.append(" " * left + text + " " * (gap - left))
        return "  ".join(padded).rstrip()

    return [line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])]


_CSS = """
body { max-width: 46rem; margin: 2.5rem auto; padding: 0 1.25rem; color: #1f2328;
  font: 18px/1.65 Charter, "Iowan Old Style", Georgia, "Noto Serif", serif; }
h1, h2, h3, h4, h5, h6 { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
  line-height: 1.25; margin: 1.8em 0 .6em; }
h1 { font-size: 2.1em; margin-top: 0; }
a { color: #0b5fad; }
code, pre { font: .86em/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: #f2f3f5; padding: .1em .3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; border-radius: 6px; }
pre code { background: none; padding: 0; font-size: 1em; }
blockquote { margin: 1em 0; padding: 0 1em; border-left: 4px solid #d0d7de; color: #57606a; }
table { border-collapse: collapse; margin: 1em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .35em .75em; }
th { background: #f6f8fa; }
img { max-width: 100%; }
hr { border: 0; border-top: 1px solid #d0d7de; margin: 2em 0; }
"""


def to_html(md: str, *, title: str) -> str:
    """A standalone HTML5 page; headings get GitHub-style ids so ``add_toc`` links work."""
    tokens = _MD.parse(md)
    seen: dict[str, int] = {}
    for tok, inline in pairwise(tokens):
        if tok.type == "heading_open":
            tok.attrSet("id", _unique(slug(plain_text(inline)), seen))
    body = _MD.renderer.render(tokens, _MD.options, {})
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = (c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return "".join(kept).replace(" ", "-")


def _unique(name: str, seen: dict[str, int]) -> str:
    base = name
    while name in seen:  # GitHub numbers repeats: intro, intro-1, intro-2
        seen[base] += 1
        name = f"{base}-{seen[base]}"
    seen[name] = 0
    return name


def _headings(tokens: Sequence[Token]) -> list[_Heading]:
    return [
        _Heading(int(tok.tag[1:]), plain_text(inline), tok.map[0], tok.map[1], tok.level == 0)
        for tok, inline in pairwise(tokens)
        if tok.type == "heading_open" and tok.map
    ]


def source_lines(md: str) -> list[str]:
    """Lines with their endings, split where ``Token.map`` counts them (not at \\f or U+2028)."""
    return [line for line in _LINE_END.split(md) if line]


def _newline(lines: Sequence[str]) -> str:
    """The document's own line ending, so inserted lines match it."""
    ended = (line for line in lines if line.endswith(("\n", "\r")))
    first = next(ended, "\n")
    return first[len(first.rstrip("\r\n")) :]


def top_blocks(tokens: Sequence[Token]) -> list[int]:
    """Indexes of the tokens that open each top-level block."""
    return [i for i, tok in enumerate(tokens) if tok.level == 0 and tok.nesting >= 0 and tok.map]


def add_toc(md: str) -> str:
    """Insert a ``## Contents`` list of links to the level-2 and level-3 headings.

    It goes right after the first level-1 heading, or at the top without one. An
    existing Contents heading with a list of ``#anchor`` links under it is refreshed in
    place, so running this twice changes nothing. A document without such headings, or
    where the list would swallow the indented lines after it, is returned as is.
    """
    tokens = _MD.parse(md)
    heads: list[_Heading | None] = list(_headings(tokens))
    lines = source_lines(md)
    nl = _newline(lines)
    old = _toc_range(tokens)
    if old is None:
        h1 = next((h for h in heads if h and h.level == 1 and h.top), None)
        at = h1.end if h1 else 0
        heads.insert(sum(1 for h in heads if h and h.start < at), None)
    start, end = old or (at, at)
    after = next((t for t in tokens if t.level == 0 and t.map and t.map[0] >= end), None)
    bullet = "*" if after and after.type == "bullet_list_open" and after.markup == "-" else "-"
    seen: dict[str, int] = {}
    anchors = [_unique(slug(h.text if h else TOC_TITLE), seen) for h in heads]
    entries = [
        f"{'  ' * (h.level - 2)}{bullet} [{h.text.translate(_ESCAPE)}](#{anchor}){nl}"
        for h, anchor in zip(heads, anchors, strict=True)
        if h and h.top and h.level in (2, 3) and (old is None or h.start != old[0])
    ]
    if not entries:
        return md
    block = [f"## {TOC_TITLE}{nl}", nl, *entries]
    if old is None and at:
        if not lines[at - 1].endswith(("\n", "\r")):
            lines[at - 1] += nl
        block.insert(0, nl)
    heading_at = start + len(block) - len(entries) - 2
    if end < len(lines) and lines[end].strip():
        block.append(nl)
    lines[start:end] = block
    text = "".join(lines)
    if _toc_range(_MD.parse(text)) != (heading_at, heading_at + 2 + len(entries)):
        return md  # the lines after it would have become part of the list
    return text


def _toc_range(tokens: Sequence[Token]) -> tuple[int, int] | None:
    """Lines of a ``## Contents`` heading and the list of ``#anchor`` links right under it."""
    for j, k in pairwise(top_blocks(tokens)):
        heading, listed = tokens[j], tokens[k]
        if heading.type != "heading_open" or heading.tag != "h2" or not heading.map:
            continue
        if listed.type != "bullet_list_open" or plain_text(tokens[j + 1]) != TOC_TITLE:
            continue
        close = next(n for n in range(k, len(tokens)) if tokens[n].type == "bullet_list_close" and tokens[n].level == 0)
        inlines = [t for t in tokens[k:close] if t.type == "inline" and t.map]
        if inlines and all(_is_anchor_link(t) for t in inlines):
            return heading.map[0], max(t.map[1] for t in inlines if t.map)
    return None


def _is_anchor_link(inline: Token) -> bool:
    first = inline.children[0] if inline.children else None
    return first is not None and first.type == "link_open" and str(first.attrs["href"])[:1] == "#"


def plain_text(inline: Token) -> str:
    """The plain text of an ``inline`` token: markup dropped, line breaks as spaces."""
    return inline_text(inline.children or [], urls=False, br=" ").strip()


def fence_unclosed(fence: Token) -> bool:
    """True when the fence ran to the end of the document or its container."""
    assert fence.map is not None
    code = fence.content
    code_lines = code.count("\n") + (1 if code and not code.endswith("\n") else 0)
    return code_lines == fence.map[1] - fence.map[0] - 1


def check(md: str) -> list[str]:
    """One-line warnings: unclosed code fences, skipped heading levels, empty sections."""
    tokens = _MD.parse(md)
    found = [
        (tok.map[0], f"line {tok.map[0] + 1}: the code fence {tok.markup} is never closed")
        for tok in tokens
        if tok.type == "fence" and tok.map and fence_unclosed(tok)
    ]
    heads = [h for h in _headings(tokens) if h.top]
    for prev, head in pairwise(heads):
        if head.level > prev.level + 1:
            found.append(
                (
                    head.start,
                    f'line {head.start + 1}: heading "{head.text}" skips from level {prev.level} to level {head.level}',
                )
            )
    top = top_blocks(tokens)
    for i, after in zip(top, [*top[1:], None], strict=False):
        tok = tokens[i]
        if (
            tok.type == "heading_open"
            and tok.map
            and (after is None or (tokens[after].type == "heading_open" and tokens[after].tag <= tok.tag))
        ):
            title = plain_text(tokens[i + 1])
            found.append((tok.map[0], f'line {tok.map[0] + 1}: section "{title}" is empty'))
    return [message for _, message in sorted(found, key=lambda pair: pair[0])]


def fix(md: str) -> tuple[str, list[str]]:
    """Close a code fence left open at the end of the document; nothing else is changed."""
    lines = source_lines(md)
    for fence in _MD.parse(md):
        if fence.type == "fence" and fence.map and fence.map[1] >= len(lines) and fence_unclosed(fence):
            opening = lines[fence.map[0]]
            prefix = opening[: opening.index(fence.markup)]
            nl = _newline(lines)
            closing = "".join(c if c in ">\t" else " " for c in prefix) + fence.markup + nl
            text = md if md.endswith(("\n", "\r")) else md + nl
            return text + closing, [f"closed the code fence opened on line {fence.map[0] + 1}"]
    return md, []


def heading_stats(md: str) -> list[tuple[int, str, int]]:
    """``(level, title, words)`` per top-level heading; words run to the next heading."""
    tokens = _MD.parse(md)
    lines = source_lines(md)
    heads = [h for h in _headings(tokens) if h.top]
    ends = [h.start for h in heads[1:]] + [len(lines)] * bool(heads)
    return [(h.level, h.text, count_words("".join(lines[h.end : end]))) for h, end in zip(heads, ends, strict=True)]
