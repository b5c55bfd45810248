"""The benchmark document and its wire form: a vLLM-shaped SSE stream, pre-rendered.

The document is deterministic Markdown of exactly ``words`` words (headings,
paragraphs, commas, quotes, a few non-ASCII words). It is cut into events the way a
tokenizer would: mostly one word per event, two short words now and then, long
words in two pieces, punctuation and paragraph breaks on their own. That gives
about 1.2 events per word, as real model output does.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

MODEL = "bench"
BLOCK = 64 * 1024  # bytes per HTTP chunk the server writes
_CREATED = 1_700_000_000
_ID = "chatcmpl-3b6f0c2e9a1d4f7e8c5b2a0d9e6f1c3a"


def _split(words: str) -> tuple[str, ...]:
    return tuple(words.split())


_HEAD = f'{{"id":"{_ID}","object":"chat.completion.chunk","created":{_CREATED},"model":"{MODEL}","choices":'

_SHORT = _split("a an as at be by do go he if in is it me my no of on or so to up us we the and for "
                "but not you all any can had her was one our out day get has him his how man new now "
                "old see two way who boy did its let put say she too use")
_COMMON = _split("time people year work world school state family student group country problem hand "
                 "part place case week company system program question government number night point "
                 "home water room mother area money story fact month lot right study book eye job word "
                 "business issue side kind head house service friend father power hour game line end "
                 "member law car city community name president team minute idea kid body information "
                 "back parent face others level office door health person art war history party result "
                 "change morning reason research girl guy moment air teacher force education stream "
                 "server client parser buffer socket thread")
_LONG = _split("implementation understanding configuration documentation performance approximately "
               "particularly independently responsibility relationship international environmental "
               "infrastructure communication organization development representative significantly "
               "characteristics administration")
_ACCENTED = _split("café naïve façade résumé Zürich über coöperate São Kraków — “quoted” déjà")


@dataclass(frozen=True)
class Stream:
    """One document and everything a server sends for it."""

    words: int
    text: str
    events: int  # SSE events, including role, finish, usage and [DONE]
    body: bytes  # the SSE bytes, unframed
    blocks: tuple[bytes, ...]  # the body framed for chunked transfer encoding, BLOCK bytes each

    @property
    def expected(self) -> bytes:
        return self.text.encode("utf-8")


def _word(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.42:
        return rng.choice(_SHORT)
    if roll < 0.93:
        return rng.choice(_COMMON)
    if roll < 0.99:
        return rng.choice(_LONG)
    return rng.choice(_ACCENTED)


def document_pieces(words: int) -> list[str]:
    """The document as the contents of its events, in order; exactly ``words`` words."""
    rng = random.Random(words)
    pieces: list[str] = []
    left = words
    paragraphs = 0
    while left > 0:
        if paragraphs % 5 == 0:  # a heading every five paragraphs
            title = [_word(rng).capitalize() for _ in range(min(left, rng.randint(2, 4)))]
            if pieces:
                pieces.append("\n\n")
            pieces += ["## " + title[0], *(" " + w for w in title[1:])]
            left -= len(title)
        for sentence in range(rng.randint(3, 6)):
            if left <= 0:
                break
            if sentence == 0:
                pieces.append("\n\n")
            n = min(left, rng.randint(6, 18))
            left -= n
            for i in range(n):
                pieces += _tokens(_word(rng), capital=i == 0, lead="" if i == sentence == 0 else " ", rng=rng)
                if 0 < i < n - 1 and rng.random() < 0.08:
                    pieces.append(",")
            pieces.append("." if rng.random() < 0.9 else "?")
        paragraphs += 1
    pieces.append("\n")
    return _merge_short(pieces, rng)


def _tokens(word: str, *, capital: bool, lead: str, rng: random.Random) -> list[str]:
    if capital:
        word = word.capitalize()
    elif rng.random() < 0.02:
        word = f'"{word}"'
    if len(word) >= 9:  # a long word is two tokens
        cut = len(word) // 2
        return [lead + word[:cut], word[cut:]]
    return [lead + word]


def _merge_short(pieces: list[str], rng: random.Random) -> list[str]:
    """Put two short words in one event now and then ("one or two words per event")."""
    out: list[str] = []
    for piece in pieces:
        if (out and piece.startswith(" ") and len(piece) <= 4 and out[-1].startswith(" ")
                and len(out[-1]) <= 4 and rng.random() < 0.5):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def _event(choices: str, extra: str = "") -> bytes:
    return f"data: {_HEAD}{choices}{extra}}}\n\n".encode()


def _delta(content: str) -> str:
    return json.dumps(content, ensure_ascii=False)


def render(words: int) -> Stream:
    """Pre-render the whole stream for a document of ``words`` words."""
    pieces = document_pieces(words)
    role = _event('[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]')
    content = [
        _event(f'[{{"index":0,"delta":{{"content":{_delta(p)}}},"logprobs":null,"finish_reason":null}}]')
        for p in pieces
    ]
    finish = _event('[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]')
    usage = _event("[]", f',"usage":{{"prompt_tokens":40,"total_tokens":{40 + len(pieces)},'
                         f'"completion_tokens":{len(pieces)}}}')
    body = b"".join([role, *content, finish, usage, b"data: [DONE]\n\n"])
    blocks = tuple(b"%x\r\n%s\r\n" % (len(body[i : i + BLOCK]), body[i : i + BLOCK])
                   for i in range(0, len(body), BLOCK))
    return Stream(words=words, text="".join(pieces), events=len(pieces) + 4, body=body, blocks=blocks)
