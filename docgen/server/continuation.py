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

from typing import Any

MODES = ("auto", "vllm", "prefill", "prefix", "instruct")
CONTINUE_INSTRUCTION = (
    "Your previous reply was cut off. Continue it exactly from where it stops, "
    "mid-sentence if need be. Do not repeat any earlier text, do not add a preamble "
    "or a comment, and keep the same format."
)
MIN_OVERLAP = 12


def continuation_request(
    *, messages: list[dict[str, Any]], partial: str, mode: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages and extra body fields that ask the server to continue ``partial``."""
    assistant: dict[str, Any] = {"role": "assistant", "content": partial}
    if mode == "vllm":
        return [*messages, assistant], {"continue_final_message": True, "add_generation_prompt": False}
    if mode == "prefix":
        return [*messages, {**assistant, "prefix": True}], {}
    if mode == "instruct":
        return [*messages, assistant, {"role": "user", "content": CONTINUE_INSTRUCTION}], {}
    return [*messages, assistant], {}


def cut_tail(text: str, max_chars: int) -> str:
    """The end of ``text`` to send as context: at most ``max_chars``, from a line start."""
    if len(text) <= max_chars:
        return text
    tail = text[-max_chars:]
    newline = tail.find("\n")
    return tail[newline + 1 :] if 0 <= newline < max_chars // 2 else tail


def mode_for_server(owned_by: str) -> str:
    """The continuation mode ``auto`` picks from ``/models`` ``owned_by``, without a probe."""
    owner = owned_by.lower()
    if owner in ("vllm", "sglang"):
        return "vllm"
    if owner in ("llamacpp", "llama.cpp"):
        return "prefill"
    return "instruct"


class OverlapTrimmer:
    """Removes the start of a continuation that repeats the end of the text before it.

    Holds back only while everything received so far still occurs in the tail, so it
    could still be a repeat; then cuts the longest prefix that equals the tail's end
    (at least ``MIN_OVERLAP`` characters, to leave coincidences alone).
    """

    def __init__(self, tail: str, *, whole_only: bool = False) -> None:
        self.tail = tail
        self.whole_only = whole_only  # cut only a repeat of the whole tail (an echoed prefill)
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
        if self.whole_only:
            overlap = len(tail) if held.startswith(tail) else 0
        elif len(held) >= MIN_OVERLAP:
            probe = held[:MIN_OVERLAP]
            at = tail.find(probe)
            while at >= 0:
                k = len(tail) - at
                if k <= len(held) and held.startswith(tail[at:]):
                    overlap = k
                    break
                at = tail.find(probe, at + 1)
        return held[overlap:]
