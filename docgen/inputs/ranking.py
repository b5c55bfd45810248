"""Which chunks of the user's sources to show the model: ranked by BM25 (bm25s), then as many as fit.

bm25s (MIT, numpy only) does the ranking. It is imported inside the functions that need it, so
``docgen --help`` and runs without sources never load numpy.

Up to ``full_index_chars`` of text (about a second of indexing), every chunk goes into one
index, built once, and each query is ranked against all of it: plain BM25. A bigger corpus
would take bm25s about 1.3 s per 5 MB to index (26 s for 100 MB on a 2-core machine), so
there each query is answered in two steps instead. First, candidates: every chunk that holds a word of the query,
found by searching one lowercased copy of the corpus in C (about 0.1 s per query word per
100 MB); when there are more than ``candidates``, those holding the most of the query's rarer
words are kept (weighted by their idf over the whole corpus). Then bm25s indexes and ranks
just those. A chunk with none of the query's words scores 0 in BM25, so it is no loss; what
changes is that document frequencies and lengths are counted over the candidates.

Words are maximal runs of letters and digits, lowercased: ``snake_case`` and ``kebab-case``
split into their words, so prose and code meet. Each chunk is indexed with its path and the
headings above it, so ``docs/billing.md`` answers a query about billing. Stop words are
dropped from queries only: in the index they cost little, and chunk lengths stay true.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from docgen.inputs.chunks import Chunk

if TYPE_CHECKING:
    import bm25s  # type: ignore[import-untyped]

FULL_INDEX_CHARS = 4_000_000  # of paths, headings and text: about a second for bm25s to index
CANDIDATES = 500  # bm25s ranks at least this many per query in a big corpus, or twice the chunks asked for
_QUERY_WORDS = 32  # the first so many distinct words of a long query choose the candidates

# bytes.translate() with this table, then split(), is the tokenizer, in C: a regex or a loop in
# Python costs 3 to 10 times as much over 100 MB. Bytes from 0x80 up are UTF-8 letters.
_WORD_BYTES = bytes(byte if chr(byte).isalnum() or byte >= 0x80 else 0x20 for byte in range(256))
_PUNCTUATION = tuple(mark.encode() for mark in "\u00a0\u00ab\u00bb\u00b7\u2013\u2014\u2018\u2019\u201c\u201d\u2026")
_STOP_WORDS = frozenset(
    b"a an and are as at be but by can do does for from has have how if in into is it its no not of on or so such "
    b"than that the their then there these they this to was were what when which who why will with you your".split()
)


def words(text: str) -> list[bytes]:
    """The words of ``text`` as the index sees them: lowercased runs of letters and digits."""
    return _normalized(text).split()


def _normalized(text: str) -> bytes:
    """``text`` lowercased as UTF-8, everything but letters and digits turned into spaces."""
    raw = text.lower().encode("utf-8", "replace")
    if not raw.isascii():
        for mark in _PUNCTUATION:  # dashes and quotes would otherwise glue to the words beside them
            raw = raw.replace(mark, b" ")
    return raw.translate(_WORD_BYTES)


class _Vocabulary(dict[bytes, int]):
    """Numbers words in the order they are first seen; ``map(vocabulary.__getitem__, words)`` runs in C."""

    def __missing__(self, word: bytes) -> int:
        number = self[word] = len(self)
        return number


class _BM25:
    """bm25s over rows of normalized text, one row per chunk."""

    def __init__(self, rows: Sequence[bytes]) -> None:
        vocabulary = _Vocabulary()
        number = vocabulary.__getitem__
        corpus = [list(map(number, row.split())) for row in rows]
        self.vocabulary = dict(vocabulary)
        self.retriever: bm25s.BM25 | None = None
        if self.vocabulary:
            import bm25s  # here, not above: importing numpy takes 0.1 s

            self.retriever = bm25s.BM25()  # Lucene's BM25: k1=1.5, b=0.75, an idf that is never negative
            self.retriever.index((corpus, self.vocabulary), create_empty_token=False, show_progress=False)

    def top(self, terms: Sequence[bytes], limit: int) -> list[tuple[int, float]]:
        """(row, score) of the ``limit`` best rows with a score above 0, best first, ties in row order."""
        known = [self.vocabulary[term] for term in terms if term in self.vocabulary]
        if self.retriever is None or not known:
            return []
        import numpy

        scores = self.retriever.get_scores(known)
        best = numpy.argsort(-scores, kind="stable")[:limit].tolist()
        return [(row, float(scores[row])) for row in best if scores[row] > 0]


class ChunkIndex:
    """Chunks made ready to rank: built once, then asked any number of queries (the topic, each section)."""

    def __init__(
        self, chunks: Sequence[Chunk], *, full_index_chars: int = FULL_INDEX_CHARS, candidates: int = CANDIDATES
    ) -> None:
        self.chunks = list(chunks)
        self._candidates = candidates
        self._full: _BM25 | None = None
        self._corpus = bytearray()  # every chunk's words, between spaces: searched in C, with no Python per chunk
        self._starts: list[int] = []  # where each chunk's words start in it
        self._hits: dict[bytes, list[int]] = {}  # word -> the chunks that hold it, kept for later queries
        if sum(len(chunk.path) + len(chunk.header) + len(chunk.text) for chunk in self.chunks) <= full_index_chars:
            self._full = _BM25([_normalized(_indexed_text(chunk)) for chunk in self.chunks])
            return
        self._corpus += b" "
        for chunk in self.chunks:
            self._starts.append(len(self._corpus))
            self._corpus += _normalized(_indexed_text(chunk))
            self._corpus += b" "
        self._starts.append(len(self._corpus))

    def rank(self, query: str, *, limit: int) -> list[tuple[Chunk, float]]:
        """The ``limit`` chunks that best match ``query``, best first, ties in document order.
        Chunks that share no word with the query are left out."""
        terms = list(dict.fromkeys(word for word in words(query) if word not in _STOP_WORDS and len(word) > 1))
        if not terms or limit <= 0:
            return []
        if self._full is not None:
            return [(self.chunks[row], score) for row, score in self._full.top(terms, limit)]
        picked = self._candidates_for(terms[:_QUERY_WORDS], max(self._candidates, 2 * limit))
        ranker = _BM25([bytes(self._corpus[self._starts[i] : self._starts[i + 1] - 1]) for i in picked])
        return [(self.chunks[picked[row]], score) for row, score in ranker.top(terms, limit)]

    def _candidates_for(self, terms: Sequence[bytes], count: int) -> list[int]:
        """The chunks holding any of ``terms``, in document order; the ``count`` that hold the most
        of the rarer ones when there are more."""
        import numpy

        weights = numpy.zeros(len(self.chunks))
        for term in terms:
            hits = self._chunks_holding(term)
            if hits:
                weights[hits] += math.log(1 + (len(self.chunks) - len(hits) + 0.5) / (len(hits) + 0.5))
        picked = numpy.flatnonzero(weights)
        if len(picked) > count:
            picked = numpy.sort(numpy.argsort(-weights, kind="stable")[:count])
        return [int(i) for i in picked]

    def _chunks_holding(self, term: bytes) -> list[int]:
        """The chunks in which ``term`` is a word, in order: a search of the corpus for `` term ``."""
        if term not in self._hits:
            needle, corpus, starts = b" " + term + b" ", self._corpus, self._starts
            hits: list[int] = []
            at = corpus.find(needle)
            while at >= 0:
                chunk = bisect.bisect_right(starts, at + 1) - 1
                if not hits or hits[-1] != chunk:
                    hits.append(chunk)
                at = corpus.find(needle, at + len(needle) - 1)
            self._hits[term] = hits
        return self._hits[term]


def rank_chunks(chunks: Sequence[Chunk], query: str, *, limit: int) -> list[tuple[Chunk, float]]:
    """The ``limit`` chunks that best match ``query`` by BM25, best first, with their scores."""
    return ChunkIndex(chunks).rank(query, limit=limit)


def select_within(ranked: Sequence[tuple[Chunk, float]], budget_chars: int) -> list[Chunk]:
    """The best chunks whose sizes (headers included) add up to at most ``budget_chars``, taken in
    rank order (one too big is passed over for smaller ones after it), returned in document order."""
    chosen: list[Chunk] = []
    left = budget_chars
    for chunk, _ in ranked:
        if chunk.size <= left:
            chosen.append(chunk)
            left -= chunk.size
    return sorted(chosen, key=lambda chunk: (chunk.path, chunk.start_line, chunk.column))


def _indexed_text(chunk: Chunk) -> str:
    return f"{chunk.path}\n{chunk.header}\n{chunk.text}" if chunk.header else f"{chunk.path}\n{chunk.text}"
