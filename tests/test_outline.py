from __future__ import annotations

import pytest

from docgen.errors import UsageError
from docgen.markdown.outline import MIN_WORDS, Outline, Section, parse_outline, rebalance, validate

HEADINGS = """\
# The History of Print (~6000 words)

A short preamble that is not a section.

## Origins (~1,200 words)

Woodblock printing in *East Asia* and the first movable type.

## Gutenberg

How the press worked. Budget: 1500 words.

### The press itself

Screws, type metal and ink.

## Spread — 800 words

The press across Europe.
"""

LIST = """\
# Guide

Audience: engineers.

1. **Introduction** — why it matters (~800 words)
2. **Methods:** how we measured (1,200 words)
   - sampling
   - error bars.
   - the rest
3. Results: what we found [~2,000 words]
- Discussion - what it means (Budget: 900 words)
"""


GUTENBERG = "How the press worked. The press itself; Screws, type metal and ink."


def test_headings_shape() -> None:
    assert parse_outline(HEADINGS) == Outline(
        "The History of Print",
        (
            Section("Origins", "Woodblock printing in East Asia and the first movable type.", 1200),
            Section("Gutenberg", GUTENBERG, 1500),
            Section("Spread", "The press across Europe.", 800),
        ),
    )


def test_list_shape() -> None:
    assert parse_outline(LIST) == Outline(
        "Guide",
        (
            Section("Introduction", "why it matters", 800),
            Section("Methods", "how we measured; sampling; error bars. the rest", 1200),
            Section("Results", "what we found", 2000),
            Section("Discussion", "what it means", 900),
        ),
    )


@pytest.mark.parametrize(
    ("line", "budget"),
    [
        ("- A: brief (~1200 words)", 1200),
        ("- A: brief (1,200 words)", 1200),
        ("- A: brief, about 1,200 words", 1200),
        ("- A: brief ~12,500 words", 12500),
        ("- A: brief, budget: 1200 words.", 1200),
        ("- A: brief — word budget = ~950", 950),
        ("- A (Budget: 1,000 words): brief", 1000),
        ("- A: brief (approx. 700 words)", 700),
        ("- A: brief [~300 words]", 300),
        ("- A: brief (约1200字)", 1200),
        ("- A (1 word): brief", 1),
    ],
)
def test_budget_spellings(line: str, budget: int) -> None:
    section = parse_outline(f"{line}\n- B: other (10 words)\n").sections[0]
    assert (section.title, section.brief, section.budget) == ("A", "brief", budget)


def test_the_most_explicit_budget_wins_and_other_numbers_stay_in_the_brief() -> None:
    md = "## Examples\n\nThree examples of 300 words each (~1000 words)\n\n## B\n\n(50 words)\n"
    first, second = parse_outline(md).sections
    assert first == Section("Examples", "Three examples of 300 words each", 1000)
    assert second == Section("B", "", 50)


def test_a_budget_on_its_own_line_is_taken_whole() -> None:
    md = "## Top 10 words\n\nWhy 10 words matter.\n\n_Budget: 400 words_\n\n## B\n\n(9 words)\n"
    assert parse_outline(md).sections[0] == Section("Top 10 words", "Why 10 words matter.", 400)


@pytest.mark.parametrize("md", [HEADINGS, LIST, "1. A\n2. B\n"])
def test_round_trip(md: str) -> None:
    outline = parse_outline(md)
    canonical = outline.to_markdown()
    assert parse_outline(canonical) == outline
    assert parse_outline(canonical).to_markdown() == canonical


def test_canonical_form() -> None:
    outline = Outline("Doc", (Section("One", "First brief.", 100), Section("Two", "", 0)))
    assert outline.to_markdown() == (
        "# Doc\n\n## One\n\nFirst brief.\n\n_Budget: 100 words_\n\n## Two\n\n_Budget: 0 words_\n"
    )
    assert parse_outline(outline.to_markdown()) == outline
    assert outline.total == 100


def test_round_trip_without_a_title() -> None:
    outline = Outline("", (Section("A", "a: b; c", 60), Section("B", "Uses 300 words here.", 70)))
    assert parse_outline(outline.to_markdown()) == outline


def test_sub_headings_are_brief_not_sections() -> None:
    md = "# T\n\n## A\n\n### A.1\n\n### A.2\n\n## B\n"
    assert [s.title for s in parse_outline(md).sections] == ["A", "B"]
    assert parse_outline(md).sections[0].brief == "A.1; A.2"


def test_h1_sections_when_there_are_several() -> None:
    outline = parse_outline("# One\n\nfirst\n\n# Two\n\nsecond\n")
    assert outline.title == ""
    assert [s.title for s in outline.sections] == ["One", "Two"]


def test_no_budgets_leaves_zeros_for_rebalance() -> None:
    outline = parse_outline("- A: x\n- B: y\n- C\n")
    assert [s.budget for s in outline.sections] == [0, 0, 0]
    assert [s.budget for s in rebalance(outline, total=1000).sections] == [334, 333, 333]


def test_missing_budgets_share_the_remainder_of_a_given_total() -> None:
    md = "- A: x\n- B: y\n- C: z (300 words)\n"
    assert [s.budget for s in parse_outline(md, total=1001).sections] == [351, 350, 300]


def test_missing_budgets_share_the_remainder_of_the_title_total() -> None:
    md = "# Doc (~1000 words)\n\n## A\n\n## B\n\n(600 words)\n\n## C\n"
    assert [s.budget for s in parse_outline(md).sections] == [200, 600, 200]


def test_missing_budgets_share_a_total_from_the_preamble() -> None:
    md = "# Doc\n\nTotal length: 900 words.\n\n1. A\n2. B (500 words)\n"
    assert [s.budget for s in parse_outline(md).sections] == [400, 500]


def test_missing_budgets_without_a_total_name_every_section() -> None:
    with pytest.raises(UsageError) as info:
        parse_outline("- Intro: x\n- Body: y\n- End (300 words)\n")
    assert '"Intro", "Body"' in info.value.message
    assert info.value.exit_code == 2


def test_missing_budgets_with_too_little_left() -> None:
    with pytest.raises(UsageError, match=r'uses? 960 of the 1000-word total.*"B"'):
        parse_outline("- A (960 words)\n- B\n", total=1000)


@pytest.mark.parametrize("md", ["", "Just a paragraph.\n", "# Only a title\n\nand text\n"])
def test_no_sections(md: str) -> None:
    with pytest.raises(UsageError, match="no sections"):
        parse_outline(md)


def test_sections_without_titles_are_all_named() -> None:
    with pytest.raises(UsageError) as info:
        parse_outline("- (100 words)\n- B (100 words)\n- : brief (100 words)\n")
    assert "section 1 has no title" in str(info.value)
    assert "section 3 has no title" in str(info.value)


# --- rebalance -------------------------------------------------------------------------


@pytest.mark.parametrize("total", [150, 999, 1000, 1001, 4321, 100_000])
def test_rebalance_sums_exactly(total: int) -> None:
    outline = Outline("T", (Section("A", "", 333), Section("B", "", 333), Section("C", "", 334)))
    budgets = [s.budget for s in rebalance(outline, total=total).sections]
    assert sum(budgets) == total
    assert min(budgets) >= MIN_WORDS


def test_rebalance_keeps_proportions_with_largest_remainders() -> None:
    outline = Outline("T", (Section("A", "a", 1), Section("B", "b", 1), Section("C", "c", 2)))
    rebalanced = rebalance(outline, total=1002)
    assert [s.budget for s in rebalanced.sections] == [251, 250, 501]
    assert [(s.title, s.brief) for s in rebalanced.sections] == [("A", "a"), ("B", "b"), ("C", "c")]
    assert rebalanced.title == "T"


def test_rebalance_gives_zero_budgets_the_average_share() -> None:
    outline = Outline("T", (Section("A", "", 100), Section("B", "", 300), Section("C", "", 0)))
    assert [s.budget for s in rebalance(outline, total=800).sections] == [133, 400, 267]


def test_rebalance_keeps_the_minimum() -> None:
    outline = Outline("T", (Section("A", "", 1), Section("B", "", 1), Section("C", "", 1000)))
    assert [s.budget for s in rebalance(outline, total=1000).sections] == [50, 50, 900]


def test_rebalance_refuses_a_total_too_small() -> None:
    outline = Outline("T", (Section("A", "", 1), Section("B", "", 1)))
    assert sum(s.budget for s in rebalance(outline, total=100).sections) == 100
    with pytest.raises(UsageError, match="99 words cannot cover 2 sections"):
        rebalance(outline, total=99)


# --- validate --------------------------------------------------------------------------


def _outline(*titles: str, budget: int = 100) -> Outline:
    return Outline("T", tuple(Section(t, "", budget) for t in titles))


def test_validate_accepts_a_good_outline() -> None:
    assert validate(_outline("A", "B", "C"), total=300) == []
    assert validate(_outline("A", "B", "C"), total=None) == []
    assert validate(_outline("A", "B", budget=0), total=5000) == []  # rebalance assigns these


@pytest.mark.parametrize(
    ("outline", "total", "message"),
    [
        (_outline("A"), None, "the outline has only 1 section; at least 2 are needed"),
        (_outline(), None, "the outline has no sections; at least 2 are needed"),
        (_outline(*map(str, range(61))), None, "the outline has 61 sections; at most 60 work"),
        (_outline("Intro", " intro ", "B"), None, 'the title "intro" is used by 2 sections'),
        (_outline("A", "  ", "C"), None, "section 2 has no title"),
        (_outline("A", "B"), 1000, "the budgets sum to 200 words, more than 25% away from the "
                                   "1000-word total"),
        (Outline("T", (Section("A", "", 100), Section("B", "", 0))), None,
         'no word budget for "B"'),
    ],
)
def test_validate_messages(outline: Outline, total: int | None, message: str) -> None:
    assert validate(outline, total=total) == [message]


@pytest.mark.parametrize(("total", "ok"), [(240, True), (266, True), (267, False), (160, True),
                                           (159, False)])
def test_validate_tolerance(total: int, ok: bool) -> None:
    assert (validate(_outline("A", "B"), total=total) == []) is ok


def test_a_brief_that_is_only_a_budget_is_dropped() -> None:
    md = "## A\n\nBudget: 30 words\nBudget: 30 words\n\n## B\n\n(40 words)\n"
    assert parse_outline(md).sections[0] == Section("A", "", 30)


def test_the_title_keeps_no_budget() -> None:
    outline = parse_outline("# Doc (~900 words) (~1000 words)\n\n## A\n\n## B (600 words)\n")
    assert outline.title == "Doc"
    assert [s.budget for s in outline.sections] == [400, 600]
