"""Canned documents for the scripted server, shared by the tests and the benchmarks (no pytest needed)."""

from __future__ import annotations

import random

_VOCAB = ("press", "paper", "ink", "type", "guild", "city", "book", "print", "trade", "reader", "church", "scholar",
          "market", "letter", "page")


def prose(words: int, seed: int = 0) -> str:
    """Markdown of real sentences and paragraphs under headings, unique enough that any tail locates."""
    rng = random.Random(seed)
    out, count, n = ["# A history of print\n\n"], 0, 0
    while count < words:
        sentences = []
        for _ in range(rng.randint(2, 5)):
            length = rng.randint(6, 14)
            body = " ".join(f"{rng.choice(_VOCAB)}{rng.choice('aeiou')}{rng.randint(10, 99)}" for _ in range(length))
            sentences.append(body[0].upper() + body[1:] + ".")
            count += length
        out.append(" ".join(sentences) + "\n\n")
        n += 1
        if n % 4 == 0:
            out.append(f"## Part {n // 4}\n\n")
    return "".join(out)
