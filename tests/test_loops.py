"""The loop detector cuts real and built loops right after their first copy, and never fires on ordinary text."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from conftest import make_document

from docgen.write.loops import LoopDetector

# Real SmolLM2-135M-Instruct replies (llama.cpp server, temperature 0), cut short.
# "Write a long list of 50 tips for learning Python": from tip 12 on, one tip, renumbered.
SMOL_TIPS = (
    "Here are 50 Python tips to help you learn the language:\n"
    "\n"
    "1. Python is a high-level, dynamic programming language.\n"
    "2. Python is a versatile language with numerous applications.\n"
    "3. Python is a popular language for web development.\n"
    "4. Python is a high-level, dynamic language.\n"
    "5. Python is a popular language for data science and machine learning.\n"
    "6. Python is a popular language for scientific computing.\n"
    "7. Python is a popular language for data science and machine learning.\n"
    "8. Python is a popular language for web development.\n"
    "9. Python is a high-level, dynamic language.\n"
    "10. Python is a popular language for data science and machine learning.\n"
    "11. Python is a popular language for web development.\n"
    "12. Python is a high-level, dynamic language.\n"
    "13. Python is a high-level, dynamic language.\n"
    "14. Python is a high-level, dynamic language.\n"
    "15. Python is a high-level, dynamic language.\n"
    "16. Python is a high-level, dynamic language.\n"
    "17. Python is a high-level, dynamic language.\n"
    "18. Python is a high-level, dynamic language.\n"
    "19. Python is a high-level, dynamic language.\n"
    "20. Python is a high-level, dynamic language.\n"
)

# "Write a 600-word story about a lighthouse keeper": a phrase loop inside one paragraph.
SMOL_FIND_A_WAY = (
    "Once upon a time, in the small island of Santa Monica, there was a lighthouse keeper named Captain "
    "Jameson. Captain Jameson was a kind and hardworking man who had dedicated his life to providing a "
    "safe and reliable way to navigate the ocean. He had been a sailor for many years and had seen many "
    "incredible things.\n"
    "\n"
    "One day, a storm rolled in and the crew was in danger. The storm was a fierce one, with a massive "
    "wave crashing over the side of the ship. The crew was on high alert, and Captain Jameson knew that "
    "they had to find a way to save them.\n"
    "\n"
    "Captain Jameson's crew had been working tirelessly to find a way to rescue the sailors. They had "
    "built a small boat, a lantern, and they had set it on fire. The lantern was a symbol of their "
    "courage and their determination. The crew knew that they had to find a way to save them, but they "
    "had no idea where to start.\n"
    "\n"
    "The crew knew that they had to find a way to find a way to rescue the sailors. They had to find a "
    "way to find a way to find a way to find a way to find a way to find a way to find a way to find a "
    "way to find a way to find a way to find a way to find a way to find a way to find a way to find a "
    "way to find a way to find a way to find a way to find a way to find a way to find a way to find a"
)

# "Write a 600-word report on renewable energy, with ### headings": a heading, 100+ times.
SMOL_HEADINGS = (
    "### Introduction\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Renewable Energy\n"
    "\n"
    "### Rene"
)

# "Write a 1000-word guide to Git with code blocks": one comment line, counting, in an unclosed fence.
SMOL_CODE = (
    "Here is a 1000-word guide to Git with code blocks:\n"
    "\n"
    "```\n"
    "# 1. Git with code blocks\n"
    "\n"
    "# 2. Git with code blocks\n"
    "\n"
    "# 3. Git with code blocks\n"
    "\n"
    "# 4. Git with code blocks\n"
    "\n"
    "# 5. Git with code blocks\n"
    "\n"
    "# 6. Git with code blocks\n"
    "\n"
    "# 7. Git with code blocks\n"
    "\n"
    "# 8. Git with code blocks\n"
    "\n"
    "# 9. Git with code blocks\n"
    "\n"
    "# 10. Git with code blocks\n"
    "\n"
    "# 11. Git with code blocks\n"
    "\n"
    "# 12. Git with code blocks\n"
    "\n"
    "# 13. Git with code blocks\n"
    "\n"
    "# 14. Git with code blocks\n"
    "\n"
    "# 15. Git with code blocks\n"
    "\n"
    "# 16. Git with code blocks\n"
    "\n"
    "# 17. Git with code blocks\n"
    "\n"
    "# 18. Git with code blocks\n"
    "\n"
    "# 19. Git with code blocks\n"
    "\n"
    "# 20. Git with code blocks\n"
    "\n"
    "# 21. Git with code blocks\n"
    "\n"
    "# 22. Git with code blocks\n"
    "\n"
    "# 23. Git with code blocks\n"
    "\n"
    "# 24. Git with code blocks\n"
    "\n"
    "# 25. Git with code blocks\n"
    "\n"
)

# "Explain what a hash table is in two paragraphs": repetitive, but no loop.
SMOL_HASH_TABLE = (
    "A hash table is a data structure used in computer science to store and retrieve data in a hash-based "
    "manner. It is a linear data structure that uses a hash function to map keys to indices in a hash "
    "table's hash table implementation. This hash table is designed to efficiently store and retrieve "
    "data based on the hash code of the key. In a hash table, the key is mapped to a set of indices in "
    "the hash table's hash table implementation, which allows for fast lookup and insertion operations.\n"
    "\n"
    "Hash tables are commonly used in various applications, including database indexing, data "
    "compression, and data caching. They are also used in other areas such as cryptography, where they "
    "are used to implement hash functions and have applications in cryptography.\n"
    "\n"
    "Hash tables are a popular data structure in computer science due to their simplicity and efficiency. "
    "They are widely used in various applications, including web scraping, data compression, and data "
    "caching. They are also used in other areas such as data compression, data encryption, and data "
    "analysis. They are also used in other areas such as cryptography, where they are used to implement "
    "hash functions and have applications in data encryption.\n"
    "\n"
    "In summary, a hash table is a data structure used to store and retrieve data in a hash-based manner. "
    "It is a linear data structure that uses a hash function to map keys to indices in a hash table's "
    "hash table implementation. Hash tables are widely used in various applications, including web "
    "scraping, data compression, and data caching. They are also used in other areas such as data "
    "encryption, where they are used to implement hash functions and have applications in data "
    "encryption."
)

INTRO = "# Field report\n\nThe survey covered twelve sites along the northern coast during the spring.\n\n"
SENTENCE = "The samples showed the same pattern at every site. "
PARAGRAPH = "The committee met twice in March. It reviewed the budget, the staffing plan and the building schedule.\n\n"
WRAPPED = "The committee met twice in March and\nreviewed the budget, the staffing plan\nand the building schedule.\n\n"
CYCLE = "- Check the oil level.\n- Inspect the tyres for wear.\n- Top up the washer fluid.\n"
STEPS = [f"Step {i}: Stir the mixture gently for two minutes.\n" for i in range(1, 40)]
HARVEST = [f"{i}. **Harvesting**\n\nThe most important thing is to harvest by hand.\n\n" for i in range(7, 30)]


def find_a_way_kept() -> str:
    return SMOL_FIND_A_WAY[: SMOL_FIND_A_WAY.index("They had to find a way") + len("They had to find a way ")]


# (kept, looping text): the detector must cut exactly after ``kept``.
LOOPS = {
    "heading": (INTRO + "### Key Findings\n\n", "### Key Findings\n\n" * 30),
    "heading with no words": (INTRO + "### **Background**\n\n### **### **\n\n", "### **### **\n\n" * 40),
    "sentence without newlines": (INTRO + "The water was cold. " + SENTENCE, SENTENCE * 12),
    "paragraph": (INTRO + PARAGRAPH, PARAGRAPH * 6),
    "wrapped paragraph": (INTRO + WRAPPED, WRAPPED * 6),
    "three-line cycle": (INTRO + CYCLE, CYCLE * 8),
    "counting steps": (INTRO + STEPS[0], "".join(STEPS[1:])),
    "counting sections": (INTRO + HARVEST[0], "".join(HARVEST[1:])),
    "short phrase in a line": (INTRO + "They had to find a way ", "to find a way " * 40),
    "repeated bullet": (INTRO + "- 2 cups milk\n- 2 teaspoons ground nutmeg\n", "- 2 teaspoons ground nutmeg\n" * 20),
    "runaway table row": (INTRO + "| 5. China | India | Russia | ", "China | India | Russia | " * 40),
    "smol tips": (SMOL_TIPS[: SMOL_TIPS.index("13.")], SMOL_TIPS[SMOL_TIPS.index("13.") :]),
    "smol phrase": (find_a_way_kept(), SMOL_FIND_A_WAY[len(find_a_way_kept()) :]),
    "smol headings": (SMOL_HEADINGS[:40], SMOL_HEADINGS[40:]),
    "smol code": (SMOL_CODE[: SMOL_CODE.index("# 2.")], SMOL_CODE[SMOL_CODE.index("# 2.") :]),
}

FRUITS = ["apples", "pears", "plums", "cherries", "lemons", "limes", "figs", "dates", "grapes", "melons"]
NOT_LOOPS = {
    "table with tied rows": "| team | score |\n|---|---|\n" + "| tie | 3 |\n" * 4 + "\nThe table lists the draws.\n",
    "table of 60 identical rows": "| a | b |\n|---|---|\n" + "| ok | 1 |\n" * 60,
    "table of long identical rows": "| date | state |\n|---|---|\n"
    + "".join(f"| 2024-01-0{day} | awaiting review by the board |\n" for day in range(1, 10)),
    "code block": "```python\n" + "    print('the quick brown fox jumps over the lazy dog')\n" * 8 + "```\n",
    "nested fences": "````\n```\n````\n````md\n```\n" + "The same line of prose, in a fence.\n" * 9 + "```\n````\n",
    "json array": "[" + "0, " * 400 + "0]\n",
    "json array in a fence": "```json\n[\n" + "  0,\n" * 200 + "  0\n]\n```\n",
    "horizontal rules": "---\n\n" * 12 + ("=" * 78 + "\n") * 12 + "* * *\n" * 6,
    "blank lines": "Text before the gap.\n" + "\n" * 300 + "Text after the gap.\n",
    "bullets": "".join(f"- The {fruit} are stored in bin {i} of the warehouse.\n" for i, fruit in enumerate(FRUITS)),
    "short headings": "".join(
        f"### Example\n\nThis example shows how {fruit} are weighed, packed and shipped.\n\n" for fruit in FRUITS[:6]
    ),
    "refrain twice": "We shall overcome, we shall overcome someday.\n" * 2 + "The crowd sang it again at the end.\n",
    "chorus": ("Let it be, let it be, let it be, let it be\nWhisper words of wisdom, let it be\n\n" + PARAGRAPH) * 2,
    "version links": "".join(
        f"* [Node.js {v}](doc/changelogs/CHANGELOG_V{v}.md) End-of-Life\n" for v in range(20, 8, -1)
    ),
    "html table": "<table>\n" + "<tr>\n<td>The same cell text in every row</td>\n</tr>\n" * 8 + "</table>\n",
    "html comments": "<!-- YAML\nchanges:\n  - description: The buffer parameter can be an ArrayBuffer now.\n-->\n" * 9,
    "smol hash table": SMOL_HASH_TABLE,
}

Feeder = Callable[[LoopDetector, str], None]


def feed_whole(detector: LoopDetector, text: str) -> None:
    detector.feed(text)


def feed_chars(detector: LoopDetector, text: str) -> None:
    for char in text:
        detector.feed(char)


def feed_pieces(detector: LoopDetector, text: str) -> None:
    rng, i = random.Random(len(text)), 0
    while i < len(text):
        size = rng.choice([1, 2, 3, 5, 8, 40, 200])
        detector.feed(text[i : i + size])
        i += size


FEEDERS = [pytest.param(f, id=f.__name__.removeprefix("feed_")) for f in (feed_whole, feed_chars, feed_pieces)]


def detect(text: str, feeder: Feeder = feed_pieces, *, text_before: str = "") -> LoopDetector:
    detector = LoopDetector(text_before=text_before)
    feeder(detector, text)
    return detector


@pytest.mark.parametrize("feeder", FEEDERS)
@pytest.mark.parametrize(("kept", "loop"), list(LOOPS.values()), ids=list(LOOPS))
def test_loop_is_cut_after_its_first_copy(kept: str, loop: str, feeder: Feeder) -> None:
    detector = detect(kept + loop, feeder)
    assert detector.loop_start is not None, "loop not detected"
    assert (kept + loop)[: detector.loop_start] == kept


@pytest.mark.parametrize(("kept", "loop"), list(LOOPS.values()), ids=list(LOOPS))
def test_loop_is_caught_within_a_few_hundred_characters(kept: str, loop: str) -> None:
    detector, fed = LoopDetector(), 0
    text = kept + loop
    while detector.loop_start is None and fed < len(text):
        detector.feed(text[fed : fed + 3])
        fed += 3
    assert detector.loop_start is not None
    assert fed - len(kept) <= 600


@pytest.mark.parametrize("feeder", FEEDERS)
@pytest.mark.parametrize(
    ("before", "reply"),
    [
        (INTRO + PARAGRAPH, PARAGRAPH * 5),
        (INTRO + "### Key Findings\n\n", "### Key Findings\n\n" * 10),
        (INTRO + "The water was cold. " + SENTENCE, SENTENCE * 8),
        (INTRO + CYCLE + CYCLE[:30], CYCLE[30:] + CYCLE * 3),
    ],
    ids=["paragraph", "heading", "sentence", "cycle split mid-line"],
)
def test_reply_repeating_the_text_before_is_cut_at_its_start(before: str, reply: str, feeder: Feeder) -> None:
    assert detect(reply, feeder, text_before=before).loop_start == 0


def test_text_before_alone_never_fires() -> None:
    """A loop already in the document is not the reply's: the reply that moves on is kept."""
    detector = LoopDetector(text_before=INTRO + PARAGRAPH * 5)
    assert detector.loop_start is None
    detector.feed("## Next section\n\nThe budget was approved in April after a short debate.\n\n")
    assert detector.loop_start is None


@pytest.mark.parametrize("before", ["", INTRO + PARAGRAPH, INTRO + "### Key Findings\n\n" * 2])
def test_reply_quoting_the_text_before_once_is_kept(before: str) -> None:
    reply = PARAGRAPH + "## Next section\n\n### Key Findings\n\nThe budget was approved in April.\n"
    assert detect(reply, text_before=before).loop_start is None


@pytest.mark.parametrize("feeder", FEEDERS)
@pytest.mark.parametrize("text", list(NOT_LOOPS.values()), ids=list(NOT_LOOPS))
def test_ordinary_text_is_not_a_loop(text: str, feeder: Feeder) -> None:
    detector = detect(INTRO + text + "\nThe report ends here.\n", feeder)
    assert detector.loop_start is None, detector.description


@pytest.mark.parametrize("seed", range(120))
def test_random_documents_are_not_loops(seed: int) -> None:
    text = make_document(words=50 + 41 * seed, seed=seed)
    assert detect(text).loop_start is None
    assert detect(" ".join(text.split()), feed_whole).loop_start is None  # as one endless line


def test_near_loop_of_shuffled_sentences_is_cut_after_the_first_paragraph() -> None:
    """No line and no run of text repeats exactly, but the same six sentences keep coming back."""
    sentences = [
        "The printing press changed how people shared ideas.",
        "It was invented in Germany in the fifteenth century.",
        "Books became cheaper and spread across Europe.",
        "Literacy rose quickly in the towns and cities.",
        "The church and the universities used it widely.",
        "It remains one of the great inventions of history.",
    ]
    rng = random.Random(7)
    paragraphs = [" ".join(rng.sample(sentences, 4)) + "\n\n" for _ in range(20)]
    text = INTRO + "".join(paragraphs)
    starts = {detect(text, feeder).loop_start for feeder in (feed_whole, feed_chars, feed_pieces)}
    assert len(starts) == 1
    (start,) = starts
    assert start is not None
    assert len(INTRO + paragraphs[0]) <= start < len(INTRO + "".join(paragraphs[:3]))
    assert text[start - 1] in " \n"
    assert detect(text).description.startswith("7 sentences over and over, such as")


def test_description_names_the_repeated_unit() -> None:
    detector = LoopDetector()
    assert detector.description == ""
    detector.feed(INTRO + "### Key Findings\n\n" * 10)
    assert detector.description == 'the line "### Key Findings" 6 times'
    cycle = detect(INTRO + CYCLE * 5, feed_whole).description
    assert cycle == 'a cycle of 3 lines from "- Check the oil level." 3 times'
    sentence = detect(INTRO + SENTENCE * 3 + "\n", feed_whole).description
    assert sentence == f'the text "{SENTENCE.strip()}" 3 times'
    counting = detect(INTRO + "".join(STEPS), feed_whole).description
    assert counting == 'the line "Step 2: Stir the mixture gently for two minutes." 5 times'
    long_line = detect(INTRO + ("word " * 20 + "the end of a very long line.\n") * 3, feed_whole).description
    assert long_line.startswith('the line "word word') and long_line.endswith('..." 3 times')


def test_feeding_after_a_loop_keeps_the_first_answer() -> None:
    detector = detect(INTRO + PARAGRAPH * 4, feed_whole)
    start, description = detector.loop_start, detector.description
    detector.feed(CYCLE * 10)
    assert (detector.loop_start, detector.description) == (start, description)


def test_cost_grows_with_the_text_not_its_square() -> None:
    """It runs on every network read: a 360 kB reply, as lines and as one endless line, stays cheap."""
    text = make_document(words=80_000, seed=5)
    started = time.perf_counter()
    for piece in (text, " ".join(text.split())):
        detector = LoopDetector()
        for i in range(0, len(piece), 7):
            detector.feed(piece[i : i + 7])
        assert detector.loop_start is None
    assert time.perf_counter() - started < 30  # about 2 s; a quadratic rescan would take minutes
