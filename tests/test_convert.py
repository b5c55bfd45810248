from __future__ import annotations

import pytest

from docgen.markdown.convert import (
    add_toc,
    check,
    display_width,
    fix,
    heading_stats,
    slug,
    to_html,
    to_text,
)

TRICKY = """\
# The *Big* Guide

Intro with **bold**, _em_, `code`, [a link](https://example.com/x) and <https://example.com>.

## Lists

- one
- two **strong**
  - nested *a*
  - nested b
    1. deep
- three

```python
# a comment, not a heading
print("hi")
```

> quoted *text*

***

| Name | 値段 |
|------|-----:|
| 東京タワー | 1 |
| b | 長い値段 |
"""


# --- to_text ---------------------------------------------------------------------------


def test_to_text_renders_tricky_markdown_exactly() -> None:
    assert to_text(TRICKY) == """\
The Big Guide
=============

Intro with bold, em, code, a link (https://example.com/x) and https://example.com.

Lists
-----

• one
• two strong
  ◦ nested a
  ◦ nested b
    1. deep
• three

    # a comment, not a heading
    print("hi")

│ quoted text

——————————————————————————————

Name            値段
----------  --------
東京タワー         1
b           長い値段
"""


@pytest.mark.parametrize(
    "md",
    [
        "# Title\n",
        "### *Deep* __heading__\n",
        "Some *em*, **strong**, _under_, __twice__ and ***both***.\n",
        "Use `x = 1` and ``a b``.\n",
        "- *a*\n  - **b**\n    - `c`\n",
        "~~~\ncode\n~~~\n",
        "Setext\n======\n\nSub\n---\n",
    ],
)
def test_to_text_leaves_no_markup(md: str) -> None:
    text = to_text(md)
    for mark in ("#", "*", "_", "`", "~~~"):
        assert mark not in text


def test_code_keeps_hashes_and_blank_lines_verbatim() -> None:
    md = "Before\n\n````sh\n# install\n\n  pip install *.whl\n````\n"
    assert to_text(md) == "Before\n\n    # install\n\n      pip install *.whl\n"


def test_indented_code_is_indented_too() -> None:
    assert to_text("Para\n\n    x = 1\n") == "Para\n\n    x = 1\n"


def test_ordered_lists_keep_their_start_and_indent_continuations() -> None:
    md = "7. seven\n8. eight\n   - sub\n"
    assert to_text(md) == "7. seven\n8. eight\n   ◦ sub\n"


def test_loose_list_items_are_separated_by_blank_lines() -> None:
    md = "- one\n\n  more of one\n\n- two\n"
    assert to_text(md) == "• one\n\n  more of one\n\n• two\n"


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("[docs](https://x.org/a)", "docs (https://x.org/a)"),
        ("<https://x.org/a>", "https://x.org/a"),
        ("<me@x.org>", "me@x.org"),
        ("[](https://x.org/a)", "https://x.org/a"),
        ("![a *diagram*](d.png)", "a diagram"),
        ("[**bold** link](https://x.org)", "bold link (https://x.org)"),
        ("line one  \nline two", "line one\nline two"),
        ("a \\*literal\\* star", "a *literal* star"),
    ],
)
def test_inline_rendering(md: str, expected: str) -> None:
    assert to_text(md) == expected + "\n"


def test_raw_html_is_kept_as_literal_text() -> None:
    assert to_text("<div>hi</div>\n\nA <b>tag</b>.\n") == "<div>hi</div>\n\nA <b>tag</b>.\n"


def test_table_columns_align_by_display_width() -> None:
    md = "| 名前 | Score | Note |\n|:--:|--:|---|\n| 深度学习 | 9 | ok |\n| ab | 10 | 長い |\n"
    lines = to_text(md).splitlines()
    assert lines == [
        "  名前    Score  Note",
        "--------  -----  ----",
        "深度学习      9  ok",
        "   ab        10  長い",
    ]
    # the right-aligned column ends on the same terminal column on every row
    ends = [display_width(line[: line.index(cell) + len(cell)])
            for line, cell in zip([lines[0], *lines[2:]], ["Score", "9", "10"], strict=True)]
    assert ends == [15, 15, 15]


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("深度") == 4
    assert display_width("ｱ") == 1  # half-width katakana
    assert display_width("e\u0301") == 1


def test_empty_document() -> None:
    assert to_text("") == ""


# --- to_html ---------------------------------------------------------------------------


def test_to_html_is_a_standalone_page() -> None:
    page = to_html(TRICKY, title='Tom & "Jerry" <3')
    assert page.startswith("<!DOCTYPE html>\n")
    assert '<meta charset="utf-8">' in page
    assert "<title>Tom &amp; &quot;Jerry&quot; &lt;3</title>" in page
    assert "max-width" in page and "<style>" in page
    assert "<table>" in page and '<td style="text-align:right">1</td>' in page
    assert '<code class="language-python"># a comment, not a heading' in page
    assert page.count("<h1") == 1 and page.count("<h2") == 1
    assert page.rstrip().endswith("</html>")


def test_to_html_escapes_raw_html_and_unsafe_links() -> None:
    page = to_html("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=y>",
                   title="t")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img" not in page
    assert 'href="javascript' not in page


def test_to_html_heading_ids_match_toc_links() -> None:
    md = add_toc("# Doc\n\n## Setup & Use\n\nx\n\n## Setup & Use\n\ny\n")
    page = to_html(md, title="Doc")
    assert "- [Setup \\& Use](#setup--use)" in md and "(#setup--use-1)" in md
    assert '<h2 id="setup--use">' in page and '<h2 id="setup--use-1">' in page
    assert '<h2 id="contents">' in page


# --- add_toc ---------------------------------------------------------------------------


def _without(text: str, inserted: str) -> str:
    assert inserted in text
    return text.replace(inserted, "", 1)


def test_toc_after_h1_leaves_the_rest_byte_identical() -> None:
    md = "# Title\n\nIntro.\n\n## One\n\n### One A\n\n#### too deep\n\n## Two\r\ntext"
    out = add_toc(md)
    toc = "\n## Contents\n\n- [One](#one)\n  - [One A](#one-a)\n- [Two](#two)\n"
    assert out == "# Title\n" + toc + md.removeprefix("# Title\n")
    assert _without(out, toc) == md


def test_toc_skips_headings_in_code_and_quotes() -> None:
    md = "# T\n\n```\n## Not a heading\n```\n\n> ## Quoted\n\n## Real\n"
    assert "- [Real](#real)\n" in add_toc(md)
    assert "Not a heading](" not in add_toc(md) and "Quoted](" not in add_toc(md)


def test_toc_at_top_without_h1_and_blank_line_before_text() -> None:
    md = "Preamble\n## A\n"
    assert add_toc(md) == "## Contents\n\n- [A](#a)\n\nPreamble\n## A\n"


def test_toc_after_h1_without_newline_or_blank_line() -> None:
    assert add_toc("# T\n## A") == "# T\n\n## Contents\n\n- [A](#a)\n\n## A"


def test_toc_escapes_markup_and_slugs_like_github() -> None:
    out = add_toc("# T\n\n## Using `__init__` [v2]\n\n## 深度 学习!\n")
    assert "- [Using \\_\\_init\\_\\_ \\[v2\\]](#using-__init__-v2)" in out
    assert "- [深度 学习!](#深度-学习)" in out


@pytest.mark.parametrize("md", ["", "# Only a title\n\ntext\n", "#### deep\n", "plain\n"])
def test_no_toc_without_level_2_or_3_headings(md: str) -> None:
    assert add_toc(md) == md


def test_toc_is_refreshed_not_duplicated() -> None:
    once = add_toc("# T\n\n## A\n\n## B\n")
    assert add_toc(once) == once
    edited = once.replace("## B\n", "## B\n\n## C\n")
    again = add_toc(edited)
    assert again.count("## Contents") == 1
    assert "- [C](#c)\n" in again


def test_a_contents_section_with_prose_is_not_replaced() -> None:
    md = "# T\n\n## Contents\n\nWhat is in the box.\n\n## A\n"
    out = add_toc(md)
    assert out.count("## Contents") == 2
    assert "- [Contents](#contents-1)" in out


# --- check -----------------------------------------------------------------------------

GOOD = "# Title\n\nIntro.\n\n## A\n\nText.\n\n### A.1\n\nMore.\n\n## B\n\n```\n# code\n```\n"


def test_check_passes_a_good_document() -> None:
    assert check(GOOD) == []


@pytest.mark.parametrize(
    ("md", "warning"),
    [
        ("# T\n\nx\n\n```py\ncode\n", "line 5: the code fence ``` is never closed"),
        ("# T\n\nx\n\n~~~~\n", "line 5: the code fence ~~~~ is never closed"),
        ("> ```\n> code\n\nafter\n", "line 1: the code fence ``` is never closed"),
        ("# T\n\nx\n\n### Deep\n\ny\n", 'line 5: heading "Deep" skips from level 1 to level 3'),
        ("# T\n\nx\n\n## A\n\n## B\n\ny\n", 'line 5: section "A" is empty'),
        ("# T\n\nx\n\n## A\n\ny\n\n## End\n", 'line 9: section "End" is empty'),
        ("# T\n\n## A\n\nx\n\n### A.1\n# U\n\ny\n", 'line 7: section "A.1" is empty'),
    ],
)
def test_check_finds_each_problem(md: str, warning: str) -> None:
    assert check(md) == [warning]


def test_check_allows_a_subsection_right_under_its_parent() -> None:
    assert check("# T\n## A\n### A.1\ntext\n") == []


def test_check_lists_problems_in_line_order() -> None:
    md = "# T\n\n### Skip\n\nx\n\n## Empty\n\n## Last\n\ntext\n\n```\nopen\n"
    assert check(md) == [
        'line 3: heading "Skip" skips from level 1 to level 3',
        'line 7: section "Empty" is empty',
        "line 13: the code fence ``` is never closed",
    ]


# --- fix -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("md", "closing"),
    [
        ("# T\n\n```python\nx = 1\n", "```\n"),
        ("# T\n\n```python\nx = 1", "\n```\n"),
        ("Text\n\n~~~~~\n```\nnot a closer\n", "~~~~~\n"),
        ("````md\n```\ninner\n```\n", "````\n"),
        ("- item\n\n  ```\n  code\n", "  ```\n"),
        ("> ```\n> quoted code\n", "> ```\n"),
        ("```", "\n```\n"),
    ],
)
def test_fix_closes_a_dangling_fence_and_changes_nothing_else(md: str, closing: str) -> None:
    fixed, notes = fix(md)
    assert fixed == md + closing
    assert len(notes) == 1 and notes[0].startswith("closed the code fence opened on line")
    assert not any("never closed" in w for w in check(fixed))


@pytest.mark.parametrize(
    "md", [GOOD, "", "no fences\n", "```\nclosed\n```", "> ```\n> a\n\nafter\n"]
)
def test_fix_leaves_documents_without_a_dangling_fence_alone(md: str) -> None:
    assert fix(md) == (md, [])


def test_fix_does_not_touch_other_problems() -> None:
    md = "# T\n\n### Skip\n\nx\n\n## Empty\n\n## Code\n\n```\ncode"
    fixed, _ = fix(md)
    assert fixed.startswith(md)
    assert check(fixed) == [
        'line 3: heading "Skip" skips from level 1 to level 3',
        'line 7: section "Empty" is empty',
    ]


# --- heading_stats and slug ------------------------------------------------------------


def test_heading_stats_counts_words_per_section() -> None:
    md = "Preamble here.\n\n# Title\n\nOne two three.\n\n## 深度\n\n深度学习 is fun\n\n## Empty\n"
    assert heading_stats(md) == [(1, "Title", 3), (2, "深度", 6), (2, "Empty", 0)]


def test_heading_stats_ignores_hashes_in_code() -> None:
    md = "## A\n\n```\n# not a heading\n```\n"
    assert heading_stats(md) == [(2, "A", 3)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello World", "hello-world"),
        ("What's new?", "whats-new"),
        ("C++ & Rust", "c--rust"),
        ("snake_case-name", "snake_case-name"),
        ("Ünïcode 深度", "ünïcode-深度"),
    ],
)
def test_slug_matches_github(text: str, expected: str) -> None:
    assert slug(text) == expected


# --- line endings and lists next to the toc --------------------------------------------


def test_toc_uses_another_bullet_before_a_dash_list() -> None:
    md = "# T\n\n- a point of the intro\n\n## A\n"
    out = add_toc(md)
    assert out == "# T\n\n## Contents\n\n* [A](#a)\n\n- a point of the intro\n\n## A\n"
    assert add_toc(out) == out


def test_toc_is_not_added_where_it_would_swallow_indented_text() -> None:
    md = "# T\n\n    indented code right after the title\n\n## A\n"
    assert add_toc(md) == md


def test_toc_keeps_crlf_line_endings() -> None:
    md = "# T\r\n\r\nIntro.\r\n\r\n## A\r\n"
    assert add_toc(md) == "# T\r\n\r\n## Contents\r\n\r\n- [A](#a)\r\n\r\nIntro.\r\n\r\n## A\r\n"


def test_lines_are_counted_as_markdown_counts_them() -> None:
    md = "# T\n\npage\x0cbreak and a\u2028separator\n\n## A\n\none two\n\n```\nopen"
    assert heading_stats(md) == [(1, "T", 5), (2, "A", 3)]
    assert check(md) == ["line 9: the code fence ``` is never closed"]
    assert add_toc(md).endswith("\n\npage\x0cbreak and a\u2028separator\n\n## A\n\none two\n\n```\nopen")


def test_fix_keeps_crlf_line_endings() -> None:
    assert fix("```\r\ncode") == ("```\r\ncode\r\n```\r\n", ["closed the code fence opened on line 1"])
