"""The text of a Word document as Markdown, for a reader: headings as ``#`` lines, lists, quotes, tables.

It reads back what ``docx_output`` writes (the styles it names: Title, Heading N, List
Bullet/Number N, Quote, Source Code) and is fair to other .docx files. Emphasis and links
are plain text. It needs python-docx (the ``docx`` extra); ``DocxUnreadable`` says why a
file cannot be read, so a caller can show a note instead.
"""

from __future__ import annotations

import re
import zipfile
from typing import IO, Any

_HEADING = re.compile(r"Heading (\d)")
_LIST = re.compile(r"List (Bullet|Number|Continue)(?: (\d))?")
_ITEM = re.compile(r" *(?:- |1\. )")


class DocxUnreadable(Exception):
    """python-docx is not installed, or the file is not a Word document."""


def docx_to_markdown(source: str | IO[bytes]) -> str:
    """The document's body in order, one Markdown block per paragraph or table."""
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError:
        raise DocxUnreadable("reading .docx needs the docx extra: pip install 'docgen[docx]'") from None
    try:
        document = docx.Document(source)
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise DocxUnreadable("not a Word document") from None
    body = document.element.body
    titled = any(p.style is not None and p.style.name == "Title" for p in document.paragraphs)
    blocks: list[str] = []
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            block = _paragraph(Paragraph(child, document), shift=1 if titled else 0)
        elif tag == "tbl":
            block = _table(Table(child, document))
        else:
            continue
        if block and blocks and _ITEM.match(block) and _ITEM.match(blocks[-1].rsplit("\n", 1)[-1]):
            blocks[-1] += "\n" + block  # one list, not a loose one
        elif block:
            blocks.append(block)
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _paragraph(p: Any, *, shift: int) -> str:
    text: str = p.text.strip()
    if not text:
        return ""
    name: str = p.style.name if p.style is not None else ""
    if name == "Title":
        return f"# {text}"
    if heading := _HEADING.fullmatch(name):
        return "#" * min(6, int(heading.group(1)) + shift) + " " + text
    if listed := _LIST.fullmatch(name):
        indent = "  " * (int(listed.group(2) or 1) - 1)
        mark = {"Bullet": "- ", "Number": "1. ", "Continue": "  "}[listed.group(1)]
        return indent + mark + text
    if name == "Quote":
        return "> " + text.replace("\n", "\n> ")
    if name == "Source Code":
        return "```\n" + text + "\n```"
    return text


def _table(table: Any) -> str:
    rows = [[" ".join(cell.text.split()).replace("|", "\\|") for cell in row.cells] for row in table.rows]
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)
