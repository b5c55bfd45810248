"""Outlines for long documents written section by section: parse, rebalance, validate.

An outline is Markdown in either of two shapes, with an optional ``# Title`` on top::

    ## Introduction                           1. **Introduction** — why it matters (~800 words)
    Why it matters. (~800 words)              2. Methods: how we measured (1,200 words)
                                                 - extra brief text from sub-bullets
    ## Methods
    How we measured.
    Budget: 1,200 words

A budget is written "Budget: 1200 words", "(~1200 words)" or "1,200 words", in that
order of preference, in a section's title or brief; it is cut out of the text it was
found in. A whole paragraph or sub-bullet that is only a budget names the budget
outright, which is how ``Outline.to_markdown`` writes it, so parsing that text gives
back the same outline. Titles and briefs are kept as plain one-line text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import takewhile

from markdown_it import MarkdownIt
from markdown_it.token import Token

from docgen.errors import UsageError
from docgen.markdown.convert import inline_text, plain_text, top_blocks

MIN_WORDS = 50
MAX_SECTIONS = 60
TOLERANCE = 0.25

_MD = MarkdownIt("commonmark", {"html": False})
_APPROX = r"(?:~|≈|about|around|approx(?:\.|imately)?|circa|c\.|约)?\s*"
_NUMBER = r"(?<![A-Za-z\d.,])(\d{1,3}(?:,\d{3})+|\d+)"
_UNIT = r"(?:words?\b|字)"
_BUDGETS = (  # the most explicit first
    re.compile(rf"\b(?:word\s+)?budget\s*[:=]?\s*{_APPROX}{_NUMBER}(?:\s*{_UNIT})?", re.I),
    re.compile(rf"[(\[]\s*{_APPROX}{_NUMBER}\s*{_UNIT}\s*[)\]]", re.I),
    re.compile(rf"{_APPROX}{_NUMBER}\s*{_UNIT}", re.I),
)
_EN_DASH = "\u2013"
_DASHES = (" — ", f" {_EN_DASH} ", " - ")
_SEPARATORS = f" :;,—{_EN_DASH}-"


@dataclass(frozen=True)
class Section:
    title: str
    brief: str
    budget: int


@dataclass(frozen=True)
class Outline:
    title: str
    sections: tuple[Section, ...]

    @property
    def total(self) -> int:
        return sum(s.budget for s in self.sections)

    def to_markdown(self) -> str:
        """The canonical form, which ``parse_outline`` reads back to an equal outline."""
        blocks = [f"# {self.title}"] if self.title else []
        for s in self.sections:
            brief = [s.brief] if s.brief else []
            blocks += [f"## {s.title}", *brief, f"_Budget: {s.budget} words_"]
        return "\n\n".join(blocks) + "\n"


@dataclass(frozen=True)
class _Draft:
    title: str
    brief: str
    budget: int | None


def parse_outline(md: str, *, total: int | None = None) -> Outline:
    """Read an outline in either shape; every problem is reported in one ``UsageError``.

    Sections without a budget share out what ``total`` leaves (or a total named in the
    document title or preamble, like "(~6000 words)"). When no section has a budget,
    all budgets are 0 for ``rebalance`` to assign.
    """
    tokens = _MD.parse(md)
    blocks = top_blocks(tokens)
    heads = [i for i in blocks if tokens[i].type == "heading_open"]
    title, preamble_from = "", 0
    if heads and tokens[heads[0]].tag == "h1" and all(tokens[i].tag != "h1" for i in heads[1:]):
        title, preamble_from, heads = _text(tokens[heads[0] + 1]), heads[0] + 3, heads[1:]
    if heads:
        level = min(tokens[i].tag for i in heads)
        starts = [i for i in heads if tokens[i].tag == level]
        ends = [*starts[1:], len(tokens)]
        drafts = [
            _draft(_text(tokens[i + 1]), "", _texts(tokens[i + 3 : end])) for i, end in zip(starts, ends, strict=True)
        ]
        preamble = _texts(tokens[preamble_from : starts[0]])
    else:
        found = (n for n, i in enumerate(blocks) if i >= preamble_from and _is_list(tokens[i]))
        first = next(found, None)
        if first is None:
            raise UsageError(
                "the outline has no sections", hint="write each section as a '## Title' heading or a list item"
            )
        lists = list(takewhile(lambda i: _is_list(tokens[i]), blocks[first:]))  # - then 1. etc.
        drafts = [_item(tokens[a:b]) for i in lists for a, b in _children(tokens, i)]
        preamble = _texts(tokens[preamble_from : lists[0]])
    title, title_total = _cut(title, _BUDGETS[1])
    while _BUDGETS[1].search(title):  # the total is the last one; a title keeps none
        title = _cut(title, _BUDGETS[1])[0]
    known = total if total is not None else title_total or _take_budget(preamble)[0]
    return Outline(title, _settle(drafts, total=known))


def _is_list(tok: Token) -> bool:
    return tok.type in ("bullet_list_open", "ordered_list_open")


def _children(tokens: Sequence[Token], opening: int) -> list[tuple[int, int]]:
    """Token ranges of the blocks directly inside the container opened at ``opening``."""
    level, ranges = tokens[opening].level + 1, []
    for i in range(opening + 1, len(tokens)):
        tok = tokens[i]
        if tok.level < level:
            break
        if tok.level == level and tok.nesting == 1:
            start = i
        elif tok.level == level and tok.nesting == -1:
            ranges.append((start, i + 1))
    return ranges


def _text(inline: Token) -> str:
    return " ".join(plain_text(inline).split())


def _texts(tokens: Sequence[Token]) -> list[str]:
    return [_text(tok) for tok in tokens if tok.type == "inline"]


def _item(tokens: Sequence[Token]) -> _Draft:
    """A list item: a bold or italic lead is the title, else the text before a dash or colon."""
    inlines = [tok for tok in tokens if tok.type == "inline"]
    if not inlines:
        return _Draft("", "", None)
    children, rest = inlines[0].children or [], _texts(inlines[1:])
    if children and children[0].type in ("strong_open", "em_open"):
        close = next(i for i, t in enumerate(children) if t.type == children[0].type[:-4] + "close")
        lead = " ".join(inline_text(children[1:close], urls=False).split())
        after = " ".join(inline_text(children[close + 1 :], urls=False).split())
        return _draft(lead, after, rest) if after else _draft(None, lead, rest)
    return _draft(None, _text(inlines[0]), rest)


def _draft(lead: str | None, head: str, parts: list[str]) -> _Draft:
    """A section from its title (``lead``, or split from ``head``) and brief ``parts``."""
    budget, kept = None, []
    for part in parts:
        found, left = _take_budget([part])
        if found is not None and not left[0]:
            budget = found
        else:
            kept.append(part)
    texts = [*([lead] if lead is not None else []), head, *kept]
    if budget is None:
        budget, texts = _take_budget(texts)
    if lead is None:
        title, first = _split(texts[0])
        texts = [title, first, *texts[1:]]
    brief = _join(texts[1:])
    if not _take_budget([brief])[1][0]:  # only a budget is left: read back, it would be one
        brief = ""
    return _Draft(texts[0].strip(_SEPARATORS), brief, budget)


def _split(text: str) -> tuple[str, str]:
    for sep in (*_DASHES, ": "):
        title, found, brief = text.partition(sep)
        if found:
            return title, brief
    return text, ""


def _join(parts: list[str]) -> str:
    brief = ""
    for part in (p.lstrip(_SEPARATORS).rstrip() for p in parts):
        if part:
            glue = "" if not brief else " " if brief[-1] in ".!?;:…。" else "; "
            brief += glue + part
    return brief


def _cut(text: str, pattern: re.Pattern[str]) -> tuple[str, int | None]:
    """``text`` without its last budget matching ``pattern``, and that budget."""
    found = list(pattern.finditer(text))
    if not found:
        return text, None
    m = found[-1]
    before, after = text[: m.start()].rstrip(), text[m.end() :].lstrip()
    if before[-1:] in ("(", "[") and after[:1] in (")", "]"):  # "Title (Budget: 800 words)"
        before, after = before[:-1], after[1:]
    rest = f"{before} {after.lstrip(' .,;')}"
    return " ".join(rest.split()).rstrip(_SEPARATORS), int(m[1].replace(",", ""))


def _take_budget(texts: list[str]) -> tuple[int | None, list[str]]:
    for pattern in _BUDGETS:
        for i, text in enumerate(texts):
            left, budget = _cut(text, pattern)
            if budget is not None:
                return budget, [*texts[:i], left, *texts[i + 1 :]]
    return None, texts


def _settle(drafts: list[_Draft], *, total: int | None) -> tuple[Section, ...]:
    """Sections with every budget known, or one error naming every problem."""
    problems = [f"section {n} has no title" for n, d in enumerate(drafts, 1) if not d.title]
    missing = [n for n, d in enumerate(drafts) if d.budget is None]
    budgets = [d.budget or 0 for d in drafts]
    if missing and len(missing) < len(drafts):
        names = ", ".join(f'"{drafts[n].title}"' for n in missing)
        left = (total or 0) - sum(budgets)
        if total is None:
            problems.append(f"no word budget for {names} (and no total to share out)")
        elif left < MIN_WORDS * len(missing):
            problems.append(
                f"the budgets use {sum(budgets)} of the {total}-word total, "
                f"leaving under {MIN_WORDS} words each for {names}"
            )
        else:
            for n, share in zip(missing, _apportion([Fraction(1)] * len(missing), left), strict=True):
                budgets[n] = share
    if problems:
        raise UsageError(
            "the outline cannot be used: " + "; ".join(problems),
            hint="give every section a title and a budget like (~800 words)",
        )
    return tuple(Section(d.title, d.brief, b) for d, b in zip(drafts, budgets, strict=True))


def _apportion(weights: list[Fraction], total: int) -> list[int]:
    """Whole shares of ``total`` in proportion to ``weights``, by largest remainder."""
    exact = [w * total / sum(weights) for w in weights]
    shares = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def rebalance(outline: Outline, *, total: int) -> Outline:
    """Scale budgets to sum to exactly ``total``, at least ``MIN_WORDS`` each.

    Sections with budget 0 get the average share of the others (an even split if all are 0).
    """
    n = len(outline.sections)
    if n == 0 or total < MIN_WORDS * n:
        raise UsageError(f"{total} words cannot cover {n} sections at {MIN_WORDS} words each")
    given = [s.budget for s in outline.sections if s.budget > 0]
    even = Fraction(sum(given), len(given)) if given else Fraction(1)
    weights = [Fraction(s.budget) if s.budget > 0 else even for s in outline.sections]
    pinned: set[int] = set()
    while True:  # sections whose share falls under the minimum get the minimum
        free = [i for i in range(n) if i not in pinned]
        room = total - MIN_WORDS * len(pinned)
        weight = sum(weights[i] for i in free)
        low = {i for i in free if weights[i] * room < MIN_WORDS * weight}
        if not low:
            break
        pinned |= low
    budgets = [MIN_WORDS] * n
    for i, share in zip(free, _apportion([weights[i] for i in free], room), strict=True):
        budgets[i] = share
    pairs = zip(outline.sections, budgets, strict=True)
    return Outline(outline.title, tuple(Section(s.title, s.brief, b) for s, b in pairs))


def validate(outline: Outline, *, total: int | None) -> list[str]:
    """What makes the outline unusable, one message each; an empty list means it is fine."""
    sections = outline.sections
    problems: list[str] = []
    if len(sections) < 2:
        have = "only 1 section" if sections else "no sections"
        problems.append(f"the outline has {have}; at least 2 are needed")
    if len(sections) > MAX_SECTIONS:
        problems.append(f"the outline has {len(sections)} sections; at most {MAX_SECTIONS} work")
    problems += [f"section {n} has no title" for n, s in enumerate(sections, 1) if not s.title.strip()]
    counts = Counter(" ".join(s.title.casefold().split()) for s in sections if s.title.strip())
    problems += [f'the title "{t}" is used by {c} sections' for t, c in counts.items() if c > 1]
    unset = [f'"{s.title}"' for s in sections if s.budget <= 0]
    if unset and len(unset) < len(sections):
        problems.append(f"no word budget for {', '.join(unset)}")
    if total and outline.total and abs(outline.total - total) > TOLERANCE * total:
        problems.append(
            f"the budgets sum to {outline.total} words, more than {TOLERANCE:.0%} away from the {total}-word total"
        )
    return problems
