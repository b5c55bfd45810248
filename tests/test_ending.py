"""A document stopped at a word target is cut back to a clean end, and only cut."""

from __future__ import annotations

import time

import pytest
from markdown_it import MarkdownIt

from docgen.markdown.ending import clean_ending, ends_cleanly

# (raw text, the kept text, a word the note must contain)
CUT = [
    pytest.param(
        "It works well here.\n\nThe stream partial chapter re", "It works well here.\n", "paragraph", id="mid-word"
    ),
    pytest.param(
        "First one is here. Second one is there! Third one? And the fourth is cut mid",
        "First one is here. Second one is there! Third one?\n",
        "sentence",
        id="mid-sentence",
    ),
    pytest.param(
        "# Guide\n\nSome text is here.\n\n## Next steps\n", "# Guide\n\nSome text is here.\n", "Next", id="heading"
    ),
    pytest.param(
        "Some text is here.\n\n## Heading\n\nhalf a sent", "Some text is here.\n", "heading", id="heading-and-half"
    ),
    pytest.param(
        "Intro text ends.\n\n## A\n\n### B\n\nfrag", "Intro text ends.\n", '"A", the heading "B"', id="two-headings"
    ),
    pytest.param(
        "- One is done.\n- Two is done.\n- Three is ha", "- One is done.\n- Two is done.\n", "item", id="item"
    ),
    pytest.param("- apples\n- pears\n- bana", "- apples\n- pears\n", "item", id="item-fragments"),
    pytest.param(
        "- One is done.\n- Two is done. Three is ha", "- One is done.\n- Two is done.\n", "sentence", id="item-sentence"
    ),
    pytest.param("- Only item is done.\n- ", "- Only item is done.\n", "empty", id="empty-item"),
    pytest.param(
        "Data follows.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4",
        "Data follows.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        "row",
        id="table-row",
    ),
    pytest.param(
        "Data follows.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |",
        "Data follows.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        "row",
        id="table-row-short",
    ),
    pytest.param("Data follows.\n\n| a | b |\n|---|---|\n| 1 |", "Data follows.\n", "table", id="table-no-full-row"),
    pytest.param(
        "Why it mattered:\n\n- Books became cheap.\n- The press spread to\n",
        "Why it mattered:\n\n- Books became cheap.\n",
        "list item",
        id="sentence-items-last-unfinished",
    ),
    pytest.param("Data follows.\n\n| a | b |\n|---|--", "Data follows.\n", "table", id="table-delimiter"),
    pytest.param(
        "Intro is fine here.\n\nRun this:\n\n```python\nx = 1\ny = ",
        "Intro is fine here.\n",
        "code block",
        id="fence-small",
    ),
    pytest.param(
        "Said it was good. Then it ran away:\n\n```\ncode\n",
        "Said it was good.\n",
        "sentence",
        id="fence-after-colon",
    ),
    pytest.param('He said "it is all done." And th', 'He said "it is all done."\n', "sentence", id="quote"),
    pytest.param("It is **really done.** And th", "It is **really done.**\n", "sentence", id="emphasis"),
    pytest.param("We saw it (as planned.) Then", "We saw it (as planned.)\n", "sentence", id="bracket"),
    pytest.param("It is true. Pi is 3.5 rough", "It is true.\n", "sentence", id="number-mid"),
    pytest.param("It rose by 3.5 percent. Then 4.", "It rose by 3.5 percent. Then 4.", "", id="number-end"),
    pytest.param("これはペンです。あれは本", "これはペンです。\n", "sentence", id="cjk"),
    pytest.param("我们完成了测试！接下来", "我们完成了测试！\n", "sentence", id="cjk-bang"),
    pytest.param("「これで終わりです。」次は", "「これで終わりです。」\n", "sentence", id="cjk-bracket"),
    pytest.param("We are done now. 🎉 Next we 🚀", "We are done now.\n", "sentence", id="emoji"),
    pytest.param("Line one is ok.\r\n\r\n## Head\r\n\r\nfrag", "Line one is ok.\r\n", "heading", id="crlf-heading"),
    pytest.param(
        "Line one is ok.\r\nStill going on. And th",
        "Line one is ok.\r\nStill going on.\r\n",
        "sentence",
        id="crlf-sentence",
    ),
    pytest.param("Done right here.\n\n---\n\n## Next\n\nfr", "Done right here.\n", "rule", id="rule-before-cut"),
    pytest.param("> Quote is here now.\n> more text", "> Quote is here now.\n", "sentence", id="quote-block"),
    pytest.param("Keep this one safe. Steps:\n1.", "Keep this one safe.\n", "sentence", id="list-number"),
    pytest.param("All is done well.\n\nOK. Th", "All is done well.\n", "paragraph", id="tiny-kept"),
    pytest.param("Intro is done here.\n\nSee Dr. Smith abo", "Intro is done here.\n", "paragraph", id="abbrev-tiny"),
    pytest.param("It is done.   \n\n\n", "It is done.   \n\n\n", "", id="trailing-space-untouched"),
]


@pytest.mark.parametrize(("raw", "kept", "noted"), CUT)
def test_cut_back(raw: str, kept: str, noted: str) -> None:
    text, note = clean_ending(raw)
    assert text == kept
    assert noted in note
    assert bool(note) == (text != raw)
    assert raw.startswith(text.rstrip())
    assert ends_cleanly(text)
    assert ends_cleanly(raw) == (text == raw)


COMPLETE = [
    pytest.param("", id="empty"),
    pytest.param("A sentence.", id="no-newline"),
    pytest.param("# Title\n\nOne. Two! Three?\n", id="sentences"),
    pytest.param("Text is here.\n\n```python\nprint('hi')\n```\n", id="fence"),
    pytest.param("Text is here.\n\n    indented code\n", id="indented-code"),
    pytest.param("| a | b |\n|---|---|\n| 1 | 2 |\n", id="table"),
    pytest.param("a | b\n--|--\n1 | 2\n", id="table-no-outer-pipes"),
    pytest.param("Text is here.\n\n---\n", id="rule"),
    pytest.param("Shopping:\n\n- apples\n- pears\n", id="fragment-items"),
    pytest.param("Why:\n\n- Books became cheap.\n- Ideas spread fast.\n", id="sentence-items"),
    pytest.param("> Quoted and done.\n", id="quote"),
    pytest.param('He said "yes."\n', id="closing-quote"),
    pytest.param("It is *done*.\n", id="emphasis-inside"),
    pytest.param("That was _it._\n", id="emphasis-after"),
    pytest.param("Wait for it…\n", id="ellipsis"),
    pytest.param("终于结束了。\n", id="cjk"),
    pytest.param("# T\r\n\r\nDone here.\r\n", id="crlf"),
    pytest.param("See e.g.\n", id="abbreviation"),
]


@pytest.mark.parametrize("md", COMPLETE)
def test_complete_unchanged(md: str) -> None:
    assert ends_cleanly(md)
    assert clean_ending(md) == (md, "")


NOTHING_CLEAN = [
    pytest.param("a fragment without any end", id="fragment"),
    pytest.param("# Title\n\nand a fragment", id="heading-fragment"),
    pytest.param("## Only a heading\n", id="heading"),
    pytest.param("Pi is 3.5 roughly", id="number"),
    pytest.param("Steps:\n1.", id="list-number"),
]


@pytest.mark.parametrize("md", NOTHING_CLEAN)
def test_nothing_clean_left_as_is(md: str) -> None:
    assert not ends_cleanly(md)
    text, note = clean_ending(md)
    assert text == md
    assert "left as is" in note


def test_huge_unclosed_fence_is_closed() -> None:
    code = "".join(f"x_{i} = {i}\n" for i in range(200))
    raw = "Here is the code.\n\n```python\n" + code + "x_200 = 2"
    text, note = clean_ending(raw)
    assert text == raw + "\n```\n"
    assert "closed the code fence opened on line 3" in note
    assert "half" in note
    assert ends_cleanly(text)


def test_huge_unclosed_fence_in_list_item_is_closed_inside_it() -> None:
    raw = "Intro.\n\n- Run it:\n\n  ```sh\n" + "  make\n" * 50
    text, note = clean_ending(raw)
    assert text == raw + "  ```\n"
    assert "closed" in note
    assert ends_cleanly(text)


def test_crlf_fence_closed_with_crlf() -> None:
    raw = "Go.\r\n\r\n```\r\n" + "code\r\n" * 20
    text, _ = clean_ending(raw)
    assert text == raw + "```\r\n"


DOC = """\
# A Guide to Streaming

Streaming writes each chunk as it arrives. It keeps memory flat, even for long documents.

## Why stream

- **Speed**: the first words show at once
- **Safety**: a crash loses at most one chunk
- Resume: the journal says where to pick up

Some servers buffer the reply. Others send it token by token (which is better).

### Numbers

| Server | Tokens/s | Notes |
|--------|---------:|-------|
| llama.cpp | 41.5 | local |
| vLLM | 120.2 | batched |

## Setup

Install the package first:

```sh
pip install docgen
docgen --help
```

Then write a config file. The defaults are sensible!

1. Pick a model.
2. Pick a word target, e.g. 3000.
3. Run it and watch the meter.

> A quoted tip: keep the target modest.
> Long targets take "a while."

---

## Closing words

That is all there is to it. 終わり。
"""


_BLOCKS = ("paragraph_open", "heading_open", "fence", "code_block", "hr", "table_open")


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_every_prefix_cuts_back_cleanly(newline: str) -> None:
    doc = DOC.replace("\n", newline)
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    assert ends_cleanly(doc)
    assert clean_ending(doc) == (doc, "")
    for size in range(1, len(doc), 7):
        raw = doc[:size]
        text, note = clean_ending(raw)
        if "left as is" in note:
            assert text == raw
            continue
        if "closed the code fence" in note:
            text_without_close = text[: text.rstrip().rfind(newline) + len(newline)]
            assert raw.startswith(text_without_close.rstrip())
        else:
            assert raw.startswith(text.rstrip())
            assert text == raw or text == text.rstrip() + newline
        assert ends_cleanly(text), (raw, text)
        assert clean_ending(text) == (text, "")
        blocks = [t.type for t in parser.parse(text) if t.type in _BLOCKS]
        assert not blocks or blocks[-1] != "heading_open"


def test_large_document_is_fast() -> None:
    paragraph = "A sentence with some words in it. Another one follows here, and it ends too.\n\n"
    raw = ("## Part\n\n" + paragraph * 20) * 140 + "The last sentence is cut mid"
    assert len(raw) > 200_000
    started = time.perf_counter()
    text, _ = clean_ending(raw)
    assert time.perf_counter() - started < 5
    assert text == raw[: raw.rindex("The last")].rstrip() + "\n"
