"""The last step of a document's text: check the Markdown, repair only if asked, convert.

The partial file always holds the model's raw Markdown, so resume stays byte-exact;
conversion to ``.txt`` or ``.html`` and the table of contents happen here, once, on the
finished text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class OutputFormat:
    kind: str = "md"  # md, txt, html or docx
    toc: bool = False
    fix: bool = False

    @classmethod
    def for_path(cls, path: Path, *, toc: bool = False, fix: bool = False) -> OutputFormat:
        return cls(kind=path.suffix.lower().lstrip(".") or "md", toc=toc, fix=fix)

    @property
    def needs_text(self) -> bool:
        """Must the finished text be read and parsed (not only moved into place)?"""
        return self.kind != "md" or self.toc or self.fix


def finish_markdown(md: str, *, fmt: OutputFormat, title: str = "") -> tuple[str | bytes | None, dict[str, Any]]:
    """``(output text or None when the raw Markdown is the output, report)``.

    The report has the well-formedness ``warnings``, what ``fixed`` repaired, and the
    ``headings`` with the words under each.
    """
    from docgen.markdown import convert as mo

    warnings = mo.check(md)
    fixed: list[str] = []
    if fmt.fix:
        md, fixed = mo.fix(md)
    changed = bool(fixed)
    if fmt.toc and fmt.kind != "docx":  # Word builds its own table of contents from a field
        md = mo.add_toc(md)
        changed = True
    stats = mo.heading_stats(md)
    headings = [{"level": level, "title": text, "words": words} for level, text, words in stats]
    report: dict[str, Any] = {"warnings": warnings, "fixed": fixed, "headings": headings}
    if fmt.kind == "txt":
        return mo.to_text(md), report
    if fmt.kind == "docx":
        from docgen.markdown.docx_output import markdown_to_docx

        return markdown_to_docx(md, title=title, toc=fmt.toc), report
    if fmt.kind == "html":
        first = next((str(h["title"]) for h in headings if h["level"] == 1), None)
        return mo.to_html(md, title=first or title or "Document"), report
    return (md if changed else None), report
