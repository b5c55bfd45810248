"""Markdown as a Word document (``.docx``), from markdown-it-py tokens through python-docx.

Each construct gets a Word style (Title, Heading N, List Bullet/Number/Continue N, Quote,
Table Grid, TOC Heading; Source Code and Verbatim Char as pandoc names them), so the
document is restyled in Word by changing a style. Model output is untrusted: raw HTML
stays literal text, only URLs become links, characters XML cannot hold become U+FFFD.
The same text gives the same bytes: no dates are written, every zip entry has one time.
Paragraphs and runs are made as XML elements: python-docx's ``add_paragraph`` searches
the whole body and every style on each call (20 s for 5,000 paragraphs, ten times this).
python-docx is an optional extra (``docgen[docx]``), imported only when this is called.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from docgen.errors import UsageError
from docgen.markdown.convert import TOC_TITLE, inline_text, plain_text

if TYPE_CHECKING:
    from docx.document import Document

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
CODE_FONT = "Consolas"
TOC_FIELD = 'TOC \\o "1-3" \\h \\z \\u'
TOC_PLACEHOLDER = "Right-click to update the table of contents."
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAB_OR_BREAK = re.compile("([\t\n])")
_PPR_AFTER_SHD = ("w:tabs", "w:suppressAutoHyphens", "w:spacing", "w:ind", "w:jc", "w:outlineLvl", "w:rPr")


def markdown_to_docx(text: str, *, title: str = "", toc: bool = False) -> bytes:
    """The ``.docx`` file of Markdown ``text``, as bytes.

    A text with exactly one ``#`` heading takes it as its Title and moves the rest up a
    level (``##`` is Heading 1); with several, ``#`` is Heading 1. ``title`` names the
    document (its core property, unless a ``#`` heading does) and, when the text has no
    ``#`` heading, is shown as its Title. ``toc`` puts a Word table-of-contents field after
    the title, which Word fills in when the document is opened or the field is updated.
    """
    try:
        import docx
    except ImportError:
        raise UsageError("writing .docx needs python-docx", hint="pip install 'docgen[docx]'") from None
    root = SyntaxTreeNode(_MD.parse(text))
    h1s = [node for node in root.children if node.type == "heading" and node.tag == "h1"]
    writer = _Writer(docx.Document(), toc=toc, title_node=h1s[0] if len(h1s) == 1 else None)
    heading = h1s[0].children[0].token if h1s else None  # a heading always holds one inline token
    _set_properties(writer.doc, title=(plain_text(heading) if heading else "") or title.strip())
    if not h1s and title.strip():
        writer.title(title.strip())
    elif writer.title_node is None and toc:
        writer.table_of_contents()
    writer.blocks(root.children, depth=0, style=None)
    out = io.BytesIO()
    writer.doc.save(out)
    return _fixed_zip(out.getvalue())


def xml_safe(text: str) -> str:
    """``text`` with the characters an XML document cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


class _Writer:
    """Appends the blocks of a Markdown syntax tree to a python-docx ``Document``."""

    def __init__(self, doc: Document, *, toc: bool, title_node: SyntaxTreeNode | None) -> None:
        self.doc = doc
        self.toc = toc
        self.title_node = title_node
        self.shift = 1 if title_node is not None else 0  # with a Title, ## is Heading 1
        self._style_ids: dict[str, str] = {}
        body = doc.element.body
        self._end: Any = body.sectPr if body.sectPr is not None else body.add_p()  # new blocks go before it
        _add_styles(doc)

    def style_id(self, name: str) -> str:
        if name not in self._style_ids:
            self._style_ids[name] = str(self.doc.styles[name].style_id)
        return self._style_ids[name]

    def paragraph(self, style: str | None) -> Any:
        """A new last ``w:p`` element, in ``style`` (None: Normal)."""
        p = self._end.makeelement(_W + "p", {})
        self._end.addprevious(p)
        if style:
            p.style = self.style_id(style)
        return p

    # -- blocks --------------------------------------------------------------------------
    def blocks(self, nodes: Sequence[SyntaxTreeNode], *, depth: int, style: str | None) -> None:
        for node in nodes:
            self.block(node, depth=depth, style=style)

    def block(self, node: SyntaxTreeNode, *, depth: int, style: str | None) -> None:
        """One block; ``style`` is the paragraph style it inherits (Quote inside a block quote)."""
        if node.type == "heading":
            if node is self.title_node:
                self.inline(self.paragraph("Title"), node)
                if self.toc:
                    self.table_of_contents()
            else:
                level = min(max(int(node.tag[1:]) - self.shift, 1), 9)
                self.inline(self.paragraph(f"Heading {level}"), node)
        elif node.type == "paragraph":
            self.inline(self.paragraph(style), node)
        elif node.type in ("fence", "code_block"):
            self.code(node.content.removesuffix("\n"), depth=depth)
        elif node.type in ("bullet_list", "ordered_list"):
            self.list(node, depth=depth + 1)
        elif node.type == "blockquote":
            self.blocks(node.children, depth=depth, style="Quote")
        elif node.type == "hr":
            self.rule()
        elif node.type == "table":
            self.table(node)
        elif node.children:  # html_block cannot come (html is off); anything new: its parts
            self.blocks(node.children, depth=depth, style=style)
        elif node.content:
            _run(self.paragraph(style), node.content)

    def title(self, text: str) -> None:
        _run(self.paragraph("Title"), text)
        if self.toc:
            self.table_of_contents()

    def table_of_contents(self) -> None:
        """A Contents heading and a TOC field over Heading 1-3, marked for Word to update."""
        _run(self.paragraph("TOC Heading"), TOC_TITLE)
        p = self.paragraph(None)
        for kind in ("begin", "instr", "separate", "placeholder", "end"):
            r = _sub(p, "r")
            if kind == "instr":
                _sub(r, "instrText", {_XML_SPACE: "preserve"}).text = TOC_FIELD
            elif kind == "placeholder":
                _sub(r, "t").text = TOC_PLACEHOLDER
            else:
                _sub(r, "fldChar", {_W + "fldCharType": kind, **({_W + "dirty": "true"} if kind == "begin" else {})})

    def code(self, code: str, *, depth: int) -> None:
        """A code block: one Source Code paragraph, its lines kept as line breaks."""
        p = self.paragraph("Source Code")
        _run(p, code)
        if depth:  # inside a list: under its item's text
            from docx.shared import Inches

            p.get_or_add_pPr().get_or_add_ind().left = Inches(0.25 * depth)

    def list(self, node: SyntaxTreeNode, *, depth: int) -> None:
        """Items in List Bullet/Number N (N up to 3); later paragraphs of an item in List Continue N."""
        n = min(depth, 3)
        suffix = f" {n}" if n > 1 else ""
        marker = ("List Number" if node.type == "ordered_list" else "List Bullet") + suffix
        num_id = self.restart(marker, int(node.attrs.get("start", 1))) if node.type == "ordered_list" else None
        for item in node.children:
            children = list(item.children)
            first = children.pop(0) if children and children[0].type == "paragraph" else None
            p = self.paragraph(marker)
            if num_id is not None:
                num_pr = p.get_or_add_pPr().get_or_add_numPr()
                num_pr.get_or_add_ilvl().val = 0
                num_pr.get_or_add_numId().val = num_id
            if first is not None:
                self.inline(p, first)
            self.blocks(children, depth=depth, style="List Continue" + suffix)

    def restart(self, style: str, start: int) -> int:
        """A new numbering of ``style``'s list that starts at ``start``: without one, every
        numbered list in Word would go on counting from the one before it."""
        numbering = self.doc.part.numbering_part.element
        style_num = self.doc.styles[style].element.pPr.numPr.numId.val
        num = numbering.add_num(numbering.num_having_numId(style_num).abstractNumId.val)
        num.add_lvlOverride(ilvl=0).add_startOverride(start)
        return int(num.numId)

    def rule(self) -> None:
        """A thematic break: an empty paragraph with a line under it."""
        borders = _sub(self.paragraph(None).get_or_add_pPr(), "pBdr")
        line = {"val": "single", "sz": "6", "space": "1", "color": "A0A0A0"}
        _sub(borders, "bottom", {_W + k: v for k, v in line.items()})

    def table(self, node: SyntaxTreeNode) -> None:
        """A Table Grid table; the header row is bold and repeats on each page."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH

        rows = [(row, part.type == "thead") for part in node.children for row in part.children]
        cols = max((len(row.children) for row, _ in rows), default=0)
        if not cols:
            return
        table = self.doc.add_table(rows=len(rows), cols=cols)
        table._tbl.tblStyle_val = self.style_id("Table Grid")
        aligns = {"right": WD_ALIGN_PARAGRAPH.RIGHT, "center": WD_ALIGN_PARAGRAPH.CENTER}
        for (row, header), docx_row in zip(rows, table.rows, strict=True):
            if header:
                _sub(docx_row._tr.get_or_add_trPr(), "tblHeader")
            for cell, docx_cell in zip(row.children, docx_row.cells, strict=False):
                paragraph = docx_cell.paragraphs[0]
                style = str(cell.attrs.get("style", ""))
                paragraph.alignment = next((a for name, a in aligns.items() if name in style), None)
                self.inline(paragraph._p, cell, bold=header)

    def inline(self, p: Any, node: SyntaxTreeNode, *, bold: bool = False) -> None:
        """The runs of a block's inline content: bold, italic, code and links kept."""
        inline = node.children[0].token if node.children else None
        if inline is None:
            return
        strong, em = int(bold), 0
        parent = p  # the paragraph, or the w:hyperlink runs go into while in a link
        for tok in inline.children or []:
            kind = tok.type
            code = self.style_id("Verbatim Char") if kind == "code_inline" else None
            linked = self.style_id("Hyperlink") if parent is not p else None
            if kind in ("text", "code_inline", "html_inline", "text_special", "softbreak", "hardbreak", "image"):
                _run(parent, _inline_content(tok), style_id=code or linked, bold=strong > 0, italic=em > 0)
            elif kind in ("strong_open", "strong_close"):
                strong += 1 if kind == "strong_open" else -1
            elif kind in ("em_open", "em_close"):
                em += 1 if kind == "em_open" else -1
            elif kind == "link_open":
                parent = self.link(p, str(tok.attrs.get("href", "")))
            elif kind == "link_close":
                parent = p

    def link(self, p: Any, href: str) -> Any:
        """A ``w:hyperlink`` to ``href`` at the paragraph's end, or ``p`` itself (plain text)
        for a link within the page: Word's headings have no ids such an anchor could name."""
        if not href or href.startswith("#"):
            return p
        from docx.opc.constants import RELATIONSHIP_TYPE

        rel = self.doc.part.relate_to(xml_safe(href), RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        return _sub(p, "hyperlink", {_R_ID: rel, _W + "history": "1"})


def _inline_content(tok: Token) -> str:
    if tok.type == "softbreak":
        return " "
    if tok.type == "hardbreak":
        return "\n"
    if tok.type == "image":
        return inline_text(tok.children or [], urls=False, br=" ")
    return tok.content


def _sub(parent: Any, tag: str, attrs: dict[str, str] | None = None) -> Any:
    """A new last child ``w:tag`` of ``parent``."""
    child = parent.makeelement(_W + tag, attrs or {})
    parent.append(child)
    return child


def _run(parent: Any, text: str, *, style_id: str | None = None, bold: bool = False, italic: bool = False) -> None:
    """A ``w:r`` of ``text`` at the end of ``parent``; tabs and line breaks become Word's own."""
    if not text:
        return
    r = _sub(parent, "r")
    if style_id or bold or italic:
        properties = _sub(r, "rPr")  # its children in the schema's order
        if style_id:
            _sub(properties, "rStyle", {_W + "val": style_id})
        if bold:
            _sub(properties, "b")
        if italic:
            _sub(properties, "i")
    for piece in _TAB_OR_BREAK.split(xml_safe(text)):
        if piece in ("\t", "\n"):
            _sub(r, "tab" if piece == "\t" else "br")
        elif piece:
            t = _sub(r, "t", {_XML_SPACE: "preserve"} if piece != piece.strip() or "  " in piece else None)
            t.text = piece


def _add_styles(doc: Document) -> None:
    """The styles python-docx's template lacks: code blocks, inline code and links."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Pt, RGBColor

    styles = doc.styles
    block = styles.add_style("Source Code", WD_STYLE_TYPE.PARAGRAPH)
    block.base_style = styles["Normal"]
    block.font.name, block.font.size = CODE_FONT, Pt(9.5)
    block.paragraph_format.space_before, block.paragraph_format.space_after = Pt(4), Pt(8)
    block.paragraph_format.line_spacing = 1.0
    properties = block.element.get_or_add_pPr()
    shade = properties.makeelement(_W + "shd", {_W + "val": "clear", _W + "color": "auto", _W + "fill": "F3F4F6"})
    properties.insert_element_before(shade, *_PPR_AFTER_SHD)
    styles.add_style("Verbatim Char", WD_STYLE_TYPE.CHARACTER).font.name = CODE_FONT
    link = styles.add_style("Hyperlink", WD_STYLE_TYPE.CHARACTER)
    link.font.color.rgb, link.font.underline = RGBColor(0x05, 0x63, 0xC1), True


def _set_properties(doc: Document, *, title: str) -> None:
    """Title and author; no created or modified date (the same text gives the same file), no thumbnail."""
    from docx.opc.constants import RELATIONSHIP_TYPE

    props = doc.core_properties
    props.title = xml_safe(title)[:255]  # the longest python-docx allows
    props.author, props.comments, props.last_modified_by = "docgen", "", ""
    props.revision = 1
    for name in ("created", "modified"):
        for dated in props._element.findall(f"{{http://purl.org/dc/terms/}}{name}"):
            props._element.remove(dated)
    rels = doc.part.package.rels
    for rid in [rid for rid, rel in rels.items() if rel.reltype == RELATIONSHIP_TYPE.THUMBNAIL]:
        del rels[rid]  # a picture of python-docx's own template, not of this document


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry's time fixed (python-docx stamps each with the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
