"""Asking a server to go on from a partial text, and cleaning the seam.

The modes, from the server's point of view:

- ``vllm``: the text as a final assistant message plus ``continue_final_message:
  true, add_generation_prompt: false`` (vLLM, SGLang).
- ``prefill``: a plain final assistant message, which the server continues
  (llama.cpp, TGI, OpenRouter where the provider supports it).
- ``prefix``: the final assistant message carries ``prefix: true`` (DeepSeek beta).
- ``instruct``: the text as an assistant turn, then a user turn asking to continue
  exactly where it stopped. Works on any server.

At the seam (``OverlapTrimmer``): in instruct mode, a continuation that starts by
repeating the end of the text has the repeat cut, since such models often do; in prefill
mode, an echo of the whole prefilled text is cut, since llama.cpp's server streams it
again before the new text. vllm and prefix continuations are written as they come.
"""

from __future__ import annotations

import re
from typing import Any

MODES = ("auto", "vllm", "prefill", "prefix", "instruct")
CONTINUE_INSTRUCTION = (
    "Your previous reply was cut off. Continue it exactly from where it stops, "
    "mid-sentence if need be. Do not repeat any earlier text, do not add a preamble "
    "or a comment, and keep the same format."
)
MIN_OVERLAP = 12


def repetition_penalties(level: int, *, llama: bool) -> dict[str, float]:
    """Sampling fields that push a model out of a loop, stronger at each ``level`` (1, 2, ...).

    A looping model at temperature 0 loops again whatever the penalty, so the temperature
    rises first. ``frequency_penalty`` and ``presence_penalty`` are OpenAI's fields, which
    vLLM and SGLang take too, and they stay mild: a strong penalty on every token already
    seen bans "the" and "." and a small model answers with symbol soup. llama.cpp applies
    them to the prompt's last tokens as well, so it gets its DRY sampler instead, which
    penalises only the extension of a sequence that already occurred (the loop itself),
    with a light ``repeat_penalty``.
    """
    temperature = min(1.0, 0.5 + 0.15 * level)
    if llama:
        return {
            "temperature": temperature,
            "dry_multiplier": min(1.0, 0.5 + 0.1 * level),
            "dry_base": 1.75,
            "dry_allowed_length": 2,
            "repeat_penalty": 1.1,
        }
    return {
        "temperature": temperature,
        "frequency_penalty": min(0.8, 0.2 * level + 0.2),
        "presence_penalty": min(0.6, 0.2 * level),
    }


def develop_instruction(*, words: int, target: int) -> str:
    """The user turn that asks a model which stopped short to go on developing the document."""
    return (
        f"The document above is about {words} words long, but about {target} were asked for. "
        "Continue it exactly from where it stops: develop the points it has not covered yet, "
        "in the same format and voice. Do not repeat earlier text, do not add a preamble, "
        "and do not conclude yet."
    )


def closing_instruction(*, words: int) -> str:
    """The user turn that asks a model to bring its text to an end, within ``words`` words."""
    return (
        "Your previous reply was cut off. Continue it exactly from where it stops: finish the "
        f"sentence and the point you were making, then bring the text to a natural close in at "
        f"most {words} words. Do not start a new section, do not repeat earlier text, and add "
        "no preamble or comment."
    )


def continuation_request(
    *, messages: list[dict[str, Any]], partial: str, mode: str, instruction: str = CONTINUE_INSTRUCTION
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages and extra body fields that ask the server to continue ``partial``.

    ``instruction`` is the user turn of ``instruct`` mode.
    """
    assistant: dict[str, Any] = {"role": "assistant", "content": partial}
    if mode == "vllm":
        return [*messages, assistant], {"continue_final_message": True, "add_generation_prompt": False}
    if mode == "prefix":
        return [*messages, {**assistant, "prefix": True}], {}
    if mode == "instruct":
        return [*messages, assistant, {"role": "user", "content": instruction}], {}
    return [*messages, assistant], {}


def tail_begin(size: int, start: int, budget: int) -> int:
    """Where the context tail begins, in bytes of the text: at most ``budget`` bytes before ``size``.

    It moves forward in steps of a quarter of the budget, not with every byte written, so
    consecutive continuation prompts share a long prefix and a server's prefix cache
    (llama.cpp, vLLM, SGLang) re-evaluates only what is new.
    """
    over = size - start - budget
    if over <= 0:
        return start
    step = max(1, budget // 4)
    return start + -(-over // step) * step


def from_boundary(text: str, *, at_line_start: bool) -> str:
    """``text`` from its first line start (in the first half), else its first word start."""
    if at_line_start:
        return text
    newline = text.find("\n")
    if 0 <= newline < len(text) // 2:
        return text[newline + 1 :]
    space = next((i for i, c in enumerate(text[:80]) if c.isspace()), -1)
    return text[space + 1 :] if space >= 0 else text


def mode_for_server(owned_by: str) -> str:
    """The continuation mode ``auto`` picks from ``/models`` ``owned_by``, without a probe."""
    owner = owned_by.lower()
    if owner in ("vllm", "sglang"):
        return "vllm"
    if owner in ("llamacpp", "llama.cpp"):
        return "prefill"
    return "instruct"


_WORD_BOUNDARY = re.compile(r"[.!?…,;:][\"'”’)\]*_]*\Z")  # punctuation that a space always follows
_SENTENCE_DONE = re.compile(r"[.!?…][\"'”’)\]*_]*\Z")
_HEADING_START = re.compile(r"#{1,6} ")


def seam_separator(before: str, after: str, *, paragraph: bool) -> str:
    """What goes between the text so far and an instruct-mode reply that starts right against it.

    A model asked in a new turn to continue starts with a word, not the space before it, and
    SmolLM2 glued sentences (``nature."The document``). Only after punctuation that a space
    always follows, and before a letter or an opening mark, is a separator certain: elsewhere
    the reply may be finishing a word or a number. With ``paragraph`` (a model asked to develop
    a text it ended itself), a reply after a sentence end or a heading starts a new paragraph.
    ``before`` is the end of the text, its last line at least."""
    if not before or not after or before[-1].isspace() or after[0].isspace():
        return ""
    if _HEADING_START.match(after) or (paragraph and before.rpartition("\n")[2].startswith("#")):
        return "\n\n"  # a heading starts a block; after a heading the model ended on, the text goes under it
    if not _WORD_BOUNDARY.search(before) or not (after[0].isalpha() or after[0] in "\"'“‘([*_#-"):
        return ""
    return "\n\n" if paragraph and _SENTENCE_DONE.search(before) else " "


class OverlapTrimmer:
    """Removes the start of a continuation that repeats the end of the text before it.

    Holds back only while everything received so far still occurs in the tail, so it
    could still be a repeat; then cuts the longest prefix that equals the tail's end (at
    least ``MIN_OVERLAP`` characters, to leave coincidences alone). A match is evidence of
    a repeat only where the text is not periodic: in a rule of ``=``, a table of identical
    rows or ``0, 0, 0``, a continuation that matches the tail's end is the text going on
    just as well, so nothing is cut. When the tail is all the text there is, a reply that starts
    with all of it repeats it, however short it is.
    """

    def __init__(self, tail: str, *, whole_only: bool = False, whole_text: bool = False) -> None:
        self.tail = tail
        self.whole_only = whole_only  # cut only a repeat of the whole tail (an echoed prefill)
        self.whole_text = whole_text  # the tail is the whole text so far
        self.held = ""
        self.settled = not tail

    def feed(self, text: str) -> str:
        if self.settled:
            return text
        self.held += text
        could_repeat = self.tail.startswith(self.held) if self.whole_only else self.held in self.tail
        if len(self.held) < len(self.tail) and could_repeat:
            return ""
        return self.flush()

    def flush(self) -> str:
        """Settle now (the reply ended) and return what is left to write."""
        if self.settled:
            return ""
        self.settled = True
        held, tail = self.held, self.tail
        self.held = ""
        overlap = 0
        if self.whole_only or (self.whole_text and held.startswith(tail)):
            overlap = len(tail) if held.startswith(tail) else 0
        elif len(held) >= MIN_OVERLAP:
            probe = held[:MIN_OVERLAP]
            at = tail.find(probe)
            while at >= 0:
                k = len(tail) - at
                repeat = tail[at:]
                if k <= len(held) and held.startswith(repeat) and not (_periodic(repeat) or _text_goes_on(tail, k)):
                    overlap = k
                    break
                at = tail.find(probe, at + 1)
        return held[overlap:]


def _periodic(text: str) -> bool:
    """Is ``text`` two or more copies of a shorter unit (``====``, ``ab ab ab``)? By the KMP prefix function."""
    border = [0] * len(text)
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        border[i] = k + (text[i] == text[k])
    return bool(text) and len(text) - border[-1] <= len(text) // 2


def _text_goes_on(tail: str, k: int) -> bool:
    """Would a reply that starts with the tail's last ``k`` characters be the text simply going on?

    So it is when those characters also end ``p`` <= ``k`` characters earlier: the text is
    periodic there (a rule, identical rows, ``0, 0, 0``), and its next characters are the
    same whether the model repeats or goes on. That is no evidence of a repeat.
    """
    return tail.find(tail[-k:], max(0, len(tail) - 2 * k), len(tail) - 1) >= 0
