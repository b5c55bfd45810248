"""The continuation modes: the request each sends, the context tail, and the seam trimmer.

The trimmer is fed every way the network could split a reply (whole, one character at a
time, random splits) and must give the same text each time.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from docgen.server.continuation import (
    CONTINUE_INSTRUCTION,
    MIN_OVERLAP,
    OverlapTrimmer,
    continuation_request,
    from_boundary,
    mode_for_server,
    seam_separator,
    tail_begin,
)

TAIL = "Intro line.\nThe quick brown fox jumps over the lazy dog."
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"  # no character repeats: no accidental overlaps


def _whole(text: str) -> list[str]:
    return [text]


def _chars(text: str) -> list[str]:
    return list(text)


def _random(seed: int) -> Callable[[str], list[str]]:
    def split(text: str) -> list[str]:
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 6)))) if len(text) > 1 else []
        bounds = [0, *cuts, len(text)]
        return [text[a:b] for a, b in itertools.pairwise(bounds)]

    return split


CHUNKINGS = pytest.mark.parametrize(
    "chunk",
    [_whole, _chars, _random(1), _random(2), _random(3), _random(4)],
    ids=["whole", "chars", "random1", "random2", "random3", "random4"],
)


def trim(tail: str, reply: str, chunk: Callable[[str], list[str]], *, whole_only: bool = False) -> str:
    """What the trimmer writes for ``reply`` arriving in ``chunk(reply)`` pieces, then the reply's end."""
    trimmer = OverlapTrimmer(tail, whole_only=whole_only)
    pieces = chunk(reply)
    assert "".join(pieces) == reply
    out = "".join(trimmer.feed(piece) for piece in pieces) + trimmer.flush()
    assert trimmer.flush() == ""  # settled: a second flush has nothing left
    return out


# -- instruct mode: the longest repeat of the tail's end is cut ------------------------------


@CHUNKINGS
def test_instruct_cuts_repeat_of_tail_end(chunk: Callable[[str], list[str]]) -> None:
    assert trim(TAIL, "over the lazy dog. Then the fox slept.", chunk) == " Then the fox slept."


@CHUNKINGS
def test_instruct_cuts_the_longest_repeat(chunk: Callable[[str], list[str]]) -> None:
    tail = "The refrain begins: la la la la"
    assert trim(tail, "The refrain begins: la la la la la and more", chunk) == " la and more"


@CHUNKINGS
@pytest.mark.parametrize(
    ("tail", "reply"),
    [
        ("# " + "=" * 40, "=" * 38 + "\n\nNext."),  # a rule split at the seam
        ("| tie | 3 |\n" * 5, "| tie | 3 |\n" * 3 + "| end | 1 |\n"),  # a table of identical rows
        ("values = [0, 0, 0, 0, ", "0, 0, 0, 0, 0]\n"),  # an array
        ("la la la la la la la la", "la la la la la la la la la and more"),
    ],
)
def test_instruct_never_cuts_a_match_that_is_only_periodic(
    chunk: Callable[[str], list[str]], tail: str, reply: str
) -> None:
    assert trim(tail, reply, chunk) == reply  # the text going on, not evidence of a repeat


@CHUNKINGS
def test_a_reply_that_repeats_all_of_a_short_text_is_cut_when_the_tail_is_all_of_it(
    chunk: Callable[[str], list[str]],
) -> None:
    trimmer = OverlapTrimmer("# A R", whole_text=True)
    assert "".join(trimmer.feed(p) for p in chunk("# A Report on things")) + trimmer.flush() == "eport on things"


@CHUNKINGS
def test_instruct_leaves_a_continuation_that_does_not_repeat(chunk: Callable[[str], list[str]]) -> None:
    reply = " Then, a new paragraph begins.\n\nAnd another."
    assert trim(TAIL, reply, chunk) == reply


@CHUNKINGS
def test_instruct_leaves_a_repeat_from_the_middle_of_the_tail(chunk: Callable[[str], list[str]]) -> None:
    reply = "quick brown fox runs away."
    assert trim(TAIL, reply, chunk) == reply


@CHUNKINGS
@pytest.mark.parametrize("overlap", [1, 5, MIN_OVERLAP - 1, MIN_OVERLAP, MIN_OVERLAP + 1, 20, len(ALPHABET)])
def test_instruct_cuts_only_overlaps_of_min_length(chunk: Callable[[str], list[str]], overlap: int) -> None:
    reply = ALPHABET[-overlap:] + "NEW TEXT"
    expected = "NEW TEXT" if overlap >= MIN_OVERLAP else reply
    assert trim(ALPHABET, reply, chunk) == expected


@CHUNKINGS
def test_instruct_reply_that_only_repeats_the_tail_end_writes_nothing(chunk: Callable[[str], list[str]]) -> None:
    assert trim(TAIL, "over the lazy dog.", chunk) == ""


@CHUNKINGS
def test_instruct_reply_that_echoes_the_whole_tail(chunk: Callable[[str], list[str]]) -> None:
    assert trim(TAIL, TAIL + " More.", chunk) == " More."


def test_instruct_holds_back_while_it_could_still_be_a_repeat() -> None:
    trimmer = OverlapTrimmer(TAIL)
    assert trimmer.feed("over the ") == ""
    assert trimmer.feed("lazy") == ""
    assert trimmer.feed(" dog. It") == " It"  # "over the lazy dog." is cut at the seam
    assert trimmer.feed(" slept.") == " slept."  # settled: written as it comes


def test_flush_returns_text_still_held_at_the_end_of_a_reply() -> None:
    trimmer = OverlapTrimmer(TAIL)
    assert trimmer.feed("quick brown fox") == ""  # occurs in the tail, so it could be a repeat
    assert trimmer.flush() == "quick brown fox"  # but not of the tail's end: kept
    assert trimmer.flush() == ""


def test_flush_of_a_short_held_text_keeps_it() -> None:
    trimmer = OverlapTrimmer(TAIL)
    assert trimmer.feed("dog.") == ""
    assert trimmer.flush() == "dog."  # shorter than MIN_OVERLAP: a coincidence, left alone


def test_after_settling_a_repeat_of_the_tail_passes_through() -> None:
    trimmer = OverlapTrimmer(TAIL)
    assert trimmer.feed("Fresh text. ") == "Fresh text. "
    assert trimmer.feed(TAIL) == TAIL
    assert trimmer.flush() == ""


@pytest.mark.parametrize("whole_only", [False, True])
@CHUNKINGS
def test_empty_tail_passes_everything_through(chunk: Callable[[str], list[str]], whole_only: bool) -> None:
    trimmer = OverlapTrimmer("", whole_only=whole_only)
    assert trimmer.settled
    reply = "Anything at all."
    assert [trimmer.feed(piece) for piece in chunk(reply)] == chunk(reply)  # nothing held back
    assert trimmer.flush() == ""


@pytest.mark.parametrize("whole_only", [False, True])
def test_empty_pieces_are_harmless(whole_only: bool) -> None:
    trimmer = OverlapTrimmer(TAIL, whole_only=whole_only)
    assert trimmer.feed("") == ""
    assert trimmer.flush() == ""


# -- prefill mode (whole_only): only an echo of the whole tail is cut -------------------------


@CHUNKINGS
def test_prefill_cuts_the_echoed_tail_then_writes_new_text(chunk: Callable[[str], list[str]]) -> None:
    assert trim(TAIL, TAIL + " Then the fox slept.", chunk, whole_only=True) == " Then the fox slept."


@CHUNKINGS
def test_prefill_echo_alone_writes_nothing(chunk: Callable[[str], list[str]]) -> None:
    assert trim(TAIL, TAIL, chunk, whole_only=True) == ""


@CHUNKINGS
def test_prefill_leaves_a_repeat_of_only_the_tail_end(chunk: Callable[[str], list[str]]) -> None:
    reply = "over the lazy dog. Then the fox slept."
    assert trim(TAIL, reply, chunk, whole_only=True) == reply


@CHUNKINGS
def test_prefill_leaves_a_continuation_that_does_not_repeat(chunk: Callable[[str], list[str]]) -> None:
    reply = " Then the fox slept."
    assert trim(TAIL, reply, chunk, whole_only=True) == reply


@CHUNKINGS
def test_prefill_cuts_an_echo_shorter_than_min_overlap(chunk: Callable[[str], list[str]]) -> None:
    # whole_only does not apply MIN_OVERLAP: a short tail echoed at the start is cut too
    assert trim("Hi.", "Hi. There.", chunk, whole_only=True) == " There."


@CHUNKINGS
def test_prefill_incomplete_echo_at_end_of_reply_is_kept(chunk: Callable[[str], list[str]]) -> None:
    assert trim(TAIL, TAIL[:20], chunk, whole_only=True) == TAIL[:20]


def test_prefill_holds_back_the_echo_until_it_is_whole() -> None:
    trimmer = OverlapTrimmer(TAIL, whole_only=True)
    assert trimmer.feed(TAIL[:10]) == ""
    assert trimmer.feed(TAIL[10:]) == ""  # the whole echo: cut, and settled
    assert trimmer.settled
    assert trimmer.feed(" New.") == " New."


def test_prefill_diverging_echo_is_written_in_full() -> None:
    trimmer = OverlapTrimmer(TAIL, whole_only=True)
    assert trimmer.feed(TAIL[:10]) == ""
    assert trimmer.feed("X") == TAIL[:10] + "X"


# -- cut_tail ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 10, 100, 1000])
def test_the_tail_begins_at_the_start_while_the_text_fits(size: int) -> None:
    assert tail_begin(size, 0, 1000) == 0
    assert tail_begin(size + 50, 50, 1000) == 50


def test_the_tail_moves_in_quarter_steps_so_prompts_share_a_prefix() -> None:
    budget = 1000
    begins = [tail_begin(size, 0, budget) for size in range(1000, 5000, 7)]
    assert all(size - begin <= budget for size, begin in zip(range(1000, 5000, 7), begins, strict=True))
    assert set(begins) <= set(range(0, 5000, 250))  # only ever on a step
    moves = sum(1 for a, b in itertools.pairwise(begins) if a != b)
    assert moves == 16  # 4000 bytes of growth, one move per 250: not one per write


def test_a_tail_begins_at_a_line_start_when_one_is_in_its_first_half() -> None:
    assert from_boundary("cond line\nthird line and more", at_line_start=False) == "third line and more"
    assert from_boundary("whole line\nnext", at_line_start=True) == "whole line\nnext"


def test_a_tail_without_an_early_newline_begins_at_a_word() -> None:
    assert from_boundary("ord and then the rest of it", at_line_start=False) == "and then the rest of it"
    assert from_boundary("x" * 100, at_line_start=False) == "x" * 100  # no word boundary near: kept whole


# -- continuation_request ------------------------------------------------------------------

MESSAGES = [{"role": "system", "content": "Write well."}, {"role": "user", "content": "Write about foxes."}]


def test_vllm_request_continues_the_final_message() -> None:
    messages, extra = continuation_request(messages=MESSAGES, partial="The fox", mode="vllm")
    assert messages == [*MESSAGES, {"role": "assistant", "content": "The fox"}]
    assert extra == {"continue_final_message": True, "add_generation_prompt": False}


def test_prefix_request_marks_the_assistant_message() -> None:
    messages, extra = continuation_request(messages=MESSAGES, partial="The fox", mode="prefix")
    assert messages == [*MESSAGES, {"role": "assistant", "content": "The fox", "prefix": True}]
    assert extra == {}


def test_instruct_request_appends_a_user_turn() -> None:
    messages, extra = continuation_request(messages=MESSAGES, partial="The fox", mode="instruct")
    assert messages == [
        *MESSAGES,
        {"role": "assistant", "content": "The fox"},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
    assert extra == {}


@pytest.mark.parametrize("mode", ["prefill", "auto", "anything-else"])
def test_prefill_and_other_modes_send_a_plain_final_message(mode: str) -> None:
    messages, extra = continuation_request(messages=MESSAGES, partial="The fox", mode=mode)
    assert messages == [*MESSAGES, {"role": "assistant", "content": "The fox"}]
    assert extra == {}


@pytest.mark.parametrize("mode", ["vllm", "prefix", "instruct", "prefill"])
def test_continuation_request_leaves_the_messages_alone(mode: str) -> None:
    messages = [dict(m) for m in MESSAGES]
    continuation_request(messages=messages, partial="The fox", mode=mode)
    assert messages == MESSAGES


# -- mode_for_server -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owned_by", "mode"),
    [
        ("vllm", "vllm"),
        ("vLLM", "vllm"),
        ("sglang", "vllm"),
        ("SGLang", "vllm"),
        ("llamacpp", "prefill"),
        ("llama.cpp", "prefill"),
        ("LlamaCpp", "prefill"),
        ("openai", "instruct"),
        ("deepseek", "instruct"),
        ("system", "instruct"),
        ("", "instruct"),
        ("vllm-fork", "instruct"),
    ],
)
def test_mode_for_server(owned_by: str, mode: str) -> None:
    assert mode_for_server(owned_by) == mode


@pytest.mark.parametrize(
    ("before", "after", "paragraph", "separator"),
    [
        ('trees and nature."', "The document grew.", True, "\n\n"),  # a develop turn after a full stop
        ("the end.", "Then came more.", False, " "),  # a continuation turn after a full stop
        ("first, second,", "third and fourth.", True, " "),  # mid-sentence: a space, never a paragraph
        ("as follows:", "**bold** start", False, " "),
        ("the power of", "human ingenuity.", False, ""),  # may be mid-word: left alone
        ("inge", "nuity and more.", False, ""),
        ("version 3.", "5 came later.", False, ""),  # a number may go on after its point
        ("the end.", " Then more.", True, ""),  # the reply brought its own space
        ("the end.\n", "Then more.", True, ""),
        ("Text.\n\n## Part 1", "Inki87 wrote.", True, "\n\n"),  # a heading the model ended on is complete
        ("Text.\n\n## Part 1", "0 and more.", False, ""),  # cut off there: it may go on
        ("the power of", "## Next part", False, "\n\n"),  # a heading is a block, never the rest of a word
        ("the end.", "#hashtag", False, " "),
        ("", "Start.", True, ""),
    ],
)
def test_seam_separator(before: str, after: str, paragraph: bool, separator: str) -> None:
    assert seam_separator(before, after, paragraph=paragraph) == separator
