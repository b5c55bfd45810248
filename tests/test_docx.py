"""Markdown to .docx, checked by reading the file back with python-docx."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

docx = pytest.importorskip("docx")

from docx.oxml.ns import qn  # noqa: E402

from docgen.errors import UsageError  # noqa: E402
from docgen.markdown.docx_output import CODE_FONT, TOC_FIELD, TOC_PLACEHOLDER, markdown_to_docx  # noqa: E402

EVERYTHING = """\
# The *Big* Guide

Intro with **bold**, *italic*, ***both***, `a_code(1)`, a [link](https://example.com/x?a=1&b=2) and <https://example.org>.
A soft break\\
and a hard one, <b>raw html</b> & an [in-page link](#lists).

## Lists

- one
- two **strong**
  - nested *a*
    1. deep
- three

  a second paragraph of three

1. first
2. second

A paragraph between ends that list.

7. seven
8. eight

## Code and quotes

```python
def f():
\treturn 1  # a tab, kept
```

    indented code

> quoted *text*

---

| Name | Price |
|:-----|------:|
| tea  | **3** |
| `cake` | 4 |

<script>alert("x")</script>

### Deeper

#### Deepest
"""


def _open(data: bytes) -> Any:
    return docx.Document(io.BytesIO(data))


def _paragraphs(doc: Any) -> list[tuple[str, str]]:
    return [(p.style.name, p.text) for p in doc.paragraphs]


def _find(doc: Any, text: str) -> Any:
    return next(p for p in doc.paragraphs if text in p.text)


@pytest.fixture(scope="module")
def rendered() -> Any:
    return _open(markdown_to_docx(EVERYTHING, title="ignored: the heading names it"))


def test_headings_take_word_styles_one_level_up_under_the_title(rendered: Any) -> None:
    styles = [(style, text) for style, text in _paragraphs(rendered) if style.startswith(("Title", "Heading"))]
    assert styles == [
        ("Title", "The Big Guide"),
        ("Heading 1", "Lists"),
        ("Heading 1", "Code and quotes"),
        ("Heading 2", "Deeper"),
        ("Heading 3", "Deepest"),
    ]
    assert rendered.core_properties.title == "The Big Guide"


def test_inline_bold_italic_code_and_links(rendered: Any) -> None:
    intro = _find(rendered, "Intro with")
    runs = {run.text: run for run in intro.runs}
    assert runs["bold"].bold and not runs["bold"].italic
    assert runs["italic"].italic and not runs["italic"].bold
    assert runs["both"].bold and runs["both"].italic
    assert runs["a_code(1)"].style.name == "Verbatim Char"
    assert runs["a_code(1)"].style.font.name == CODE_FONT
    assert [(link.url, link.text) for link in intro.hyperlinks] == [
        ("https://example.com/x?a=1&b=2", "link"),
        ("https://example.org", "https://example.org"),
    ]
    assert intro.hyperlinks[0].runs[0].style.name == "Hyperlink"
    assert "A soft break and a hard one" not in intro.text  # the hard break is a line break
    assert "A soft break\nand a hard one" in intro.text
    assert "Intro with bold, italic, both, a_code(1), a link and https://example.org. A soft" in intro.text
    in_page = intro.text.split("an ")[-1]
    assert in_page == "in-page link." and len(intro.hyperlinks) == 2  # #anchor: text, no link


def test_raw_html_stays_literal_text(rendered: Any) -> None:
    assert ("Normal", '<script>alert("x")</script>') in _paragraphs(rendered)
    assert "<b>raw html</b> & an" in _find(rendered, "Intro with").text


def test_lists_nest_and_number_from_their_own_start(rendered: Any) -> None:
    paragraphs = _paragraphs(rendered)
    lists = [(s, t) for s, t in paragraphs if s.startswith("List")]
    assert lists == [
        ("List Bullet", "one"),
        ("List Bullet", "two strong"),
        ("List Bullet 2", "nested a"),
        ("List Number 3", "deep"),
        ("List Bullet", "three"),
        ("List Continue", "a second paragraph of three"),
        ("List Number", "first"),
        ("List Number", "second"),
        ("List Number", "seven"),
        ("List Number", "eight"),
    ]
    numbering = rendered.part.numbering_part.element

    def start_of(text: str) -> tuple[int, str]:
        num_id = next(p for p in rendered.paragraphs if p.text == text)._p.pPr.numPr.numId.val
        (start,) = numbering.num_having_numId(num_id).xpath("./w:lvlOverride/w:startOverride/@w:val")
        return num_id, start

    (first, one), (second, same), (seventh, seven) = start_of("first"), start_of("second"), start_of("seven")
    assert first == second and (one, same) == ("1", "1")
    assert seventh != first and seven == "7"  # a new list restarts instead of counting on


def test_table_has_a_bold_repeating_header_and_the_cells(rendered: Any) -> None:
    (table,) = rendered.tables
    assert table.style.name == "Table Grid"
    assert [[cell.text for cell in row.cells] for row in table.rows] == [["Name", "Price"], ["tea", "3"], ["cake", "4"]]
    header = table.rows[0]
    assert all(run.bold for cell in header.cells for run in cell.paragraphs[0].runs)
    assert header._tr.trPr.find(qn("w:tblHeader")) is not None
    assert [run.bold for run in table.rows[2].cells[0].paragraphs[0].runs] == [None]
    assert table.rows[2].cells[0].paragraphs[0].runs[0].style.name == "Verbatim Char"
    assert table.rows[1].cells[1].paragraphs[0].alignment == docx.enum.text.WD_ALIGN_PARAGRAPH.RIGHT
    assert table.rows[1].cells[0].paragraphs[0].alignment is None


def test_code_blocks_keep_their_lines_in_a_monospace_style(rendered: Any) -> None:
    code = [(s, t) for s, t in _paragraphs(rendered) if s == "Source Code"]
    assert code == [("Source Code", "def f():\n\treturn 1  # a tab, kept"), ("Source Code", "indented code")]
    style = rendered.styles["Source Code"]
    assert style.font.name == CODE_FONT
    assert style.element.pPr.find(qn("w:shd")).get(qn("w:fill")) == "F3F4F6"


def test_quote_and_rule(rendered: Any) -> None:
    quote = _find(rendered, "quoted text")
    assert quote.style.name == "Quote" and quote.runs[1].italic
    body = list(rendered.element.body)
    at = next(i for i, el in enumerate(body) if el.tag == qn("w:p") and "quoted" in "".join(el.itertext()))
    rule = body[at + 1]
    assert "".join(rule.itertext()) == ""
    assert rule.find(f"{qn('w:pPr')}/{qn('w:pBdr')}/{qn('w:bottom')}") is not None


def _toc_parts(doc: Any) -> list[str]:
    body = doc.element.body
    return [el.text for el in body.iter(qn("w:instrText"))] + [
        el.get(qn("w:fldCharType")) for el in body.iter(qn("w:fldChar"))
    ]


def test_toc_is_a_word_field_right_after_the_title() -> None:
    doc = _open(markdown_to_docx(EVERYTHING, toc=True))
    assert _paragraphs(doc)[:3] == [
        ("Title", "The Big Guide"),
        ("TOC Heading", "Contents"),
        ("Normal", TOC_PLACEHOLDER),
    ]
    assert _toc_parts(doc) == [TOC_FIELD, "begin", "separate", "end"]
    assert _toc_parts(_open(markdown_to_docx(EVERYTHING))) == []


@pytest.mark.parametrize(
    ("text", "title", "expected", "core"),
    [
        ("## A\n", "From the topic", [("Title", "From the topic"), ("Heading 2", "A")], "From the topic"),
        ("plain\n", "", [("Normal", "plain")], ""),
        ("# One\n\n# Two\n\n## Sub\n", "T", [("Heading 1", "One"), ("Heading 1", "Two"), ("Heading 2", "Sub")], "One"),
        ("intro\n\n# Late\n\n## A\n", "T", [("Normal", "intro"), ("Title", "Late"), ("Heading 1", "A")], "Late"),
    ],
    ids=["no-h1-uses-title", "nothing", "several-h1-are-chapters", "one-h1-anywhere"],
)
def test_title_and_heading_levels(text: str, title: str, expected: list[tuple[str, str]], core: str) -> None:
    doc = _open(markdown_to_docx(text, title=title))
    assert _paragraphs(doc) == expected
    assert doc.core_properties.title == core


@pytest.mark.parametrize("text", ["# T\n\n# U\n", "no heading\n"])
def test_toc_without_a_single_title_goes_first(text: str) -> None:
    doc = _open(markdown_to_docx(text, toc=True))
    assert _paragraphs(doc)[:2] == [("TOC Heading", "Contents"), ("Normal", TOC_PLACEHOLDER)]


def test_hostile_text_is_made_safe() -> None:
    text = "# Bad \x0c title\n\nform\x0cfeed, escape \x1b[31m, nul \x00, lone \ud800 surrogate\n\n```\n\x07bell\n```\n"
    doc = _open(markdown_to_docx(text, title="x" * 1000))
    assert doc.core_properties.title == "Bad \ufffd title"
    assert _find(doc, "form").text == "form\ufffdfeed, escape \ufffd[31m, nul \ufffd, lone \ufffd surrogate"
    assert _find(doc, "bell").text == "\ufffdbell"
    assert _open(markdown_to_docx("x", title="y" * 1000)).core_properties.title == "y" * 255


def test_empty_text_is_a_valid_empty_document() -> None:
    doc = _open(markdown_to_docx(""))
    assert _paragraphs(doc) == [] and doc.tables == []


def test_a_valid_zip_without_dates_or_template_thumbnail() -> None:
    data = markdown_to_docx(EVERYTHING, toc=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names[0] == "[Content_Types].xml" and "word/document.xml" in names
        assert not any("thumbnail" in name for name in names)
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    props = _open(data).core_properties
    assert props.created is None and props.modified is None and props.author == "docgen"


def test_the_same_text_gives_the_same_bytes(tmp_path: Path) -> None:
    first = markdown_to_docx(EVERYTHING, title="t", toc=True)
    assert markdown_to_docx(EVERYTHING, title="t", toc=True) == first
    source = tmp_path / "doc.md"
    source.write_text(EVERYTHING, encoding="utf-8")
    code = (
        "import sys; from pathlib import Path; from docgen.markdown.docx_output import markdown_to_docx; "
        "sys.stdout.buffer.write(markdown_to_docx(Path(sys.argv[1]).read_text('utf-8'), title='t', toc=True))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True, check=True, env=env)
    assert other.stdout == first


def test_a_long_document_renders_in_reasonable_time() -> None:
    parts = ["# A long one\n"]
    for i in range(5000):
        if i % 100 == 0:
            parts.append(f"## Part {i // 100}\n")
        parts.append(f"Paragraph {i} has **bold**, *italic*, `code` and a [link](https://example.com/{i % 9}).\n")
        if i % 500 == 0:
            parts.append("- a\n- b\n\n1. one\n2. two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    began = time.perf_counter()
    data = markdown_to_docx("\n".join(parts), toc=True)
    elapsed = time.perf_counter() - began
    doc = _open(data)
    assert sum(p.text.startswith("Paragraph ") for p in doc.paragraphs) == 5000
    assert len(doc.tables) == 10
    assert elapsed < 30, f"{elapsed:.1f} s for 5,000 paragraphs"


def test_without_python_docx_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docx", None)  # as if it were not installed
    with pytest.raises(UsageError) as caught:
        markdown_to_docx("# x\n")
    assert caught.value.exit_code == 2
    assert caught.value.hint == "pip install 'docgen[docx]'"
