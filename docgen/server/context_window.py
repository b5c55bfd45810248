"""The server's context window, and how many tokens a text will take in it.

docgen keeps every request inside the window: prompt tokens + continuation tail +
``max_tokens`` <= window. Where each server states its window (read in its source):

- llama.cpp: ``GET {root}/props`` -> ``default_generation_settings.n_ctx``, the context of
  one slot (``slots[0].n_ctx``; ``total_slots`` beside it). Newer builds also put ``n_ctx``
  in the ``meta`` of ``/v1/models``; ``meta.n_ctx_train`` is the trained length, not the
  served one, and is never used. With a unified KV cache the slots share one pool, so a
  busy server can still run out mid-stream ("Context size has been exceeded.").
- vLLM and SGLang: ``GET /v1/models`` -> ``max_model_len`` on the base model's card; a
  LoRA card has none and names its base in ``parent``.
- Ollama: ``/api/show`` gives the trained length, the served ``num_ctx`` is far smaller
  and ``/api/ps`` knows it only for a model already loaded: unknown (None).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

import httpx

from docgen.errors import DocgenError
from docgen.server.client import list_models, transport_errors


def discover_context_window(*, client: httpx.Client, base_url: str, model: str) -> int | None:
    """The window the server states for ``model`` in tokens, or None when it does not say.

    Never raises: a server that cannot be asked is a server that did not say.
    """
    base_url = base_url.rstrip("/")
    try:
        models = list_models(client=client, base_url=base_url)
    except DocgenError:
        models = []
    card = _card_for(models, model)
    window = _positive_int(card.get("max_model_len"))
    if window is None and card.get("parent"):
        window = _positive_int(_card_for(models, str(card["parent"])).get("max_model_len"))
    if window is None:
        window = _llama_props_n_ctx(client, base_url)
    if window is None:  # llama.cpp without /props (a proxy that forwards /v1 only)
        meta = card.get("meta")
        window = _positive_int(meta.get("n_ctx")) if isinstance(meta, dict) else None
    return window


def _card_for(models: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """The model's card; the only card when the name does not match (llama.cpp serves any name)."""
    for card in models:
        if card.get("id") == model:
            return card
    return models[0] if len(models) == 1 else {}


def _llama_props_n_ctx(client: httpx.Client, base_url: str) -> int | None:
    root = base_url.removesuffix("/v1")
    url = f"{root}/props"
    try:
        with transport_errors(url):
            response = client.get(url)
        props = response.json() if response.status_code == 200 else None
    except (DocgenError, ValueError):
        return None
    settings = props.get("default_generation_settings") if isinstance(props, dict) else None
    return _positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


# The servers' own words for a request that does not fit (see tests/test_context_window.py
# for the full texts and where each was read). An error about anything else must not match.
_OVERFLOW = re.compile(
    "|".join(
        (
            r"exceed_context_size_error",  # llama.cpp error type, HTTP 400
            r"context size has been exceeded",  # llama.cpp mid-stream, 500
            r"exceeds (?:the )?(?:available )?context size",  # llama.cpp
            r"larger than the max context size",  # older llama.cpp
            r"context_length_exceeded",  # OpenAI error code
            r"maximum context (?:length|size)",  # vLLM, OpenAI, OpenRouter, SGLang, DeepSeek
            r"context length is only",  # vLLM >= 0.18 renderer
            r"longer than the (?:maximum model length|model's context length)",  # vLLM, SGLang
            r"context[ _]?window[ _]?exceeded",  # LiteLLM ContextWindowExceededError, GLM
            r"exceeds the context window",  # OpenAI Responses
            r"max_model_len=\w*=?\d",  # vLLM: max_tokens alone above the window
            r"max_new_tokens`? must be <=",  # TGI
            r"configured context size is",
            r"prompt is too long",  # Anthropic
            r"exceeded max context length",  # Ollama native API
        )
    ),
    re.IGNORECASE,
)

_NUMBER = r"(\d[\d,]*)"
_LIMIT = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"maximum context length is {_NUMBER}",  # vLLM, OpenAI (LiteLLM passes it on)
        rf"context length is only {_NUMBER}",  # vLLM renderer
        rf"maximum model length of {_NUMBER}",  # vLLM input processor
        rf"model's context length \({_NUMBER} tokens\)",  # SGLang
        rf"maximum context (?:length|size) of {_NUMBER}",  # SGLang total check, OpenAI Responses
        rf"maximum context (?:length|size) \({_NUMBER}\)",
        rf"context size \({_NUMBER} tokens\)",  # llama.cpp
        r"\"n_ctx\"\s*:\s*(\d+)",  # llama.cpp's JSON error object
        r"max_model_len=(?:[a-z_]+=)?(\d+)",  # vLLM
        r"max_new_tokens`? must be <= (\d+)",  # TGI
        rf"configured context size is {_NUMBER}",
    )
)


def is_context_error(message: str) -> bool:
    """Whether a server's error text says the request does not fit its context window."""
    return _OVERFLOW.search(message) is not None


def context_limit_from_error(message: str) -> int | None:
    """The window a context-overflow error states, in tokens; None when it states none."""
    if not is_context_error(message):
        return None
    for pattern in _LIMIT:
        found = pattern.search(message)
        if found:
            return _positive_int(int(found.group(1).replace(",", "")))
    return None


# One piece is a run of ASCII letters (with the space before it, which tokenizers fold
# in), a digit, a line break, a run of blanks, one non-ASCII character, or anything else.
_PIECES = re.compile(r" ?[A-Za-z]+|[0-9]|\n|[ \t\r\f\v]+|[^\x00-\x7f]|.", re.DOTALL)
_VOWELS = frozenset("aeiouyAEIOUY")


def estimate_tokens(text: str) -> int:
    """A deliberately high guess at the tokens ``text`` takes, for text not yet sent.

    Too high costs a shorter tail or reply; too low gets the request refused or the
    reply cut off mid-stream, so every rule errs high: a word is a token per three
    letters, plus one per case change and per consonant beyond a pair (identifiers,
    base64, unusual words split finely); each digit and punctuation mark is a token;
    outside ASCII, one token per UTF-8 byte, the most a byte-level or byte-fallback
    tokenizer can spend (CJK 3, emoji 4). ``TokenRate`` replaces it with what the
    server counts.
    """
    total = 0
    for found in _PIECES.finditer(text):
        piece = found.group()
        if piece[-1].isascii() and piece[-1].isalpha():
            total += _word_tokens(piece.lstrip(" "))
        elif not piece.isascii():
            total += len(piece.encode("utf-8"))
        elif piece[0] in " \t\r\f\v" and len(piece) > 1:
            total += math.ceil(len(piece) / 2)
        else:
            total += 1
    return total


def _word_tokens(word: str) -> int:
    tokens = math.ceil(len(word) / 3)
    tokens += sum(1 for a, b in itertools.pairwise(word) if a.islower() and b.isupper())
    streak = 0
    for char in word + "a":
        if char in _VOWELS:
            tokens += max(0, streak - 2)
            streak = 0
        else:
            streak += 1
    return tokens


TRUSTED_CHARS = 4000  # about a thousand tokens of English: enough to trust a learned rate
LEARNED_MARGIN_PERCENT = 10  # the next text is not the one the rate was learned on


@dataclass
class TokenRate:
    """Characters per token, learned from the server's counts of text (a reply and its
    completion tokens). ``tokens_for`` uses the default until something is observed, the
    larger of learned and default until ``TRUSTED_CHARS`` are, then the learned rate.
    """

    default_chars_per_token: float = 1.0  # 3-5x high for English and code; seed CJK by for_text
    chars: int = 0
    tokens: int = 0

    @classmethod
    def for_text(cls, sample: str) -> TokenRate:
        """A rate whose default fits the script of ``sample``, by ``estimate_tokens``."""
        tokens = estimate_tokens(sample)
        return cls(default_chars_per_token=len(sample) / tokens if tokens else 1.0)

    def observe(self, chars: int, tokens: int) -> None:
        """Count ``tokens`` the server spent on ``chars`` characters."""
        if chars > 0 and tokens > 0:
            self.chars += chars
            self.tokens += tokens

    def tokens_for(self, chars: int) -> int:
        """The tokens ``chars`` characters will take, erring high."""
        if chars <= 0:
            return 0
        default = math.ceil(chars / self.default_chars_per_token)
        if not self.tokens:
            return default
        learned = -(-chars * self.tokens * (100 + LEARNED_MARGIN_PERCENT) // (self.chars * 100))
        return max(learned, default) if self.chars < TRUSTED_CHARS else learned
