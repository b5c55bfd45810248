"""The text a reader of an HTML page sees, for a source given as HTML: headings as ``#`` lines."""

from __future__ import annotations

import html.parser
import re

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_WORDS = "address article aside blockquote br dd div dl dt figcaption figure footer form header hr li main nav "
_BLOCKS = frozenset((_BLOCK_WORDS + "ol p pre section table tbody thead tfoot tr ul").split())
_SPACES = re.compile(r"\s+")
_UNSEEN = frozenset({"script", "style", "noscript", "template", "head", "svg"})


class _HTMLText(html.parser.HTMLParser):
    """Collects the text a reader sees: headings become ``#`` lines, blocks become lines, cells a ``|``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._unseen = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._unseen = 0  # a <head> left open ends here
        elif tag in _UNSEEN:
            self._unseen += 1
        elif tag in _HEADINGS:
            self._break(blank=True)
            self._line.append("#" * _HEADINGS[tag] + " ")
        elif tag in _BLOCKS:
            self._break(blank=tag in ("p", "pre", "table", "blockquote"))
            self._pre += tag == "pre"
            self._line.append("- " if tag == "li" else "")
        elif tag in ("td", "th"):
            self._line.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _UNSEEN:
            self._unseen = max(0, self._unseen - 1)
        elif tag in _HEADINGS or tag in _BLOCKS:
            self._break(blank=tag in _HEADINGS or tag in ("p", "pre", "table", "blockquote"))
            self._pre = max(0, self._pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self._unseen:
            return
        if self._pre:
            first, *rest = data.split("\n")
            self._line.append(first)
            for line in rest:
                self._break(blank=False)
                self._line.append(line)
        else:
            self._line.append(_SPACES.sub(" ", data))

    def _break(self, *, blank: bool) -> None:
        line = "".join(self._line)
        self._line = []
        line = line.rstrip() if self._pre else " ".join(line.split())
        if line and line.strip("#- |"):
            self.lines.append(line)
        if blank and self.lines and self.lines[-1]:
            self.lines.append("")


def html_to_text(markup: str) -> str:
    """The visible text of an HTML page, headings as Markdown ``#`` lines; scripts and styles dropped."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    parser._break(blank=False)
    text = "\n".join(parser.lines).strip("\n")
    return text + "\n" if text else ""
