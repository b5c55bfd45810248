"""The streaming check agrees with the full markdown-it check on the Markdown it covers."""

from __future__ import annotations

import random

import pytest

from docgen.markdown.convert import check
from docgen.markdown.scan import MarkdownScanner

BLOCKS = [
    "Some prose with *emphasis* and `code`.\n",
    "# Title\n",
    "## Section\n",
    "### Sub section\n",
    "#### Deep\n",
    "```python\n# not a heading\nx = 1\n```\n",
    "~~~\n## also not a heading\n~~~\n",
    "````\n```\nnested fence text\n````\n",
    "- a list item\n- another\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n",
    "#hashtag is not a heading\n",
    " ## indented heading\n",  # (three spaces after a list item would belong to the item)
    "## Closed heading ##\n",
]


def scan(text: str, pieces: int, rng: random.Random) -> list[str]:
    scanner = MarkdownScanner()
    cuts = sorted(rng.sample(range(1, len(text)), min(pieces, len(text) - 1))) if len(text) > 1 else []
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        scanner.feed(text[a:b])
    return list(scanner.report()["warnings"])


@pytest.mark.parametrize("seed", range(300))
def test_streaming_check_matches_markdown_it(seed: int) -> None:
    rng = random.Random(seed)
    blocks = [rng.choice(BLOCKS) for _ in range(rng.randint(1, 12))]
    if rng.random() < 0.3:
        blocks.append("```\nleft open\n")
    text = "\n".join(blocks)
    assert scan(text, rng.randint(0, 40), rng) == check(text)


def test_headings_are_reported_without_reading_the_text_back() -> None:
    scanner = MarkdownScanner()
    for piece in ["# Ti", "tle\n\nText.\n\n## One\n\nMore", " text.\n\n## Two\n"]:
        scanner.feed(piece)
    report = scanner.report()
    assert [h["title"] for h in report["headings"]] == ["Title", "One", "Two"]
    assert report["warnings"] == ['line 9: section "Two" is empty']


def test_a_very_long_line_costs_nothing_and_is_not_a_heading() -> None:
    scanner = MarkdownScanner()
    scanner.feed("#" + "x" * 10_000)
    for _ in range(1000):
        scanner.feed("word ")
    scanner.feed("\n")
    assert scanner.report()["headings"] == []
    assert len(scanner._line) == 0
