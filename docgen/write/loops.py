"""Notice a model stuck in a loop while its reply streams, so the repeats can be dropped early.

SmolLM2-135M wrote a heading line 189 times, a numbered list whose items all say "Python is a high-level,
dynamic language.", one paragraph again and again, and "to find a way" for 4,000 characters of one line.
Three rules catch that, each cheap per character and tuned to stay silent on ordinary Markdown, because
cutting a good document is worse than letting a loop run a little longer:

1. Line cycles. For each cycle length p <= 8 a counter holds how many lines in a row equal the line p
   before (blank lines skipped, whitespace collapsed): O(8) per line, no rescans. Table rows, HTML, code
   fences and lines without words (but headings: SmolLM2 wrote "### **### **" forty times) are data, not
   prose, so a table of 60 identical rows never fires. A
   cycle with >= 25 characters or >= 5 words of prose is a loop at 3 copies, a shorter one (a heading) at
   6 in a row. Lines equal but for their first number in their first 120 characters ("Step 12: ...")
   need 2 copies more: counting loops are real, but so are lists of versions. Code lines with words
   need 12 copies.
2. Repeats inside a line. Every 256 characters the end of the line (at most 4,000 characters) is tested
   for a period: earlier occurrences of its last 12 characters give candidates, checked by slice
   comparison at C speed. A unit as long as above (with >= 3 real words) is a loop at 3 copies, one of
   >= 2 real words at 8 ("0, 0, 0" and "no, no" never). Table rows need 8 copies whatever the unit.
3. Near-loops, the same few sentences reshuffled: of the last 24 prose sentences of >= 5 words, at most
   8 distinct, the newest one a repeat. A count per sentence in the window keeps a new sentence O(1).

Every character of every reply passes through here, so the per-line and per-sentence work is kept to
a few C-level string and regex calls (measured on the 200,000-word benchmark: see benchmarks/README.md).

The cut keeps the first copy: at the line start of the second copy for line cycles, else at the next
sentence (or word) start inside the second copy.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

_CHECK_EVERY = 256  # characters between in-line checks; text fed whole is taken in steps this size
_WINDOW = 4000  # characters of the current line kept for the in-line check
_MAX_CYCLE = 8
_LONG_CHARS, _LONG_WORDS = 25, 5
_LONG_COPIES, _SHORT_LINE_COPIES, _CODE_COPIES, _COUNTING_EXTRA, _SHORT_INLINE_COPIES = 3, 6, 12, 2, 8
_PROBE, _MAX_CANDIDATES = 12, 16
_SENTENCES, _MAX_DISTINCT, _REPEAT_SHARE = 24, 8, 0.75

_LETTER = r"[^\W\d_]"
_WORD = re.compile(rf"{_LETTER}{{2,}}")
_FENCE = re.compile(r"`{3,}|~{3,}|<!--")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)")
_SENTENCE_START = re.compile(r"(?<=[.!?]\s)\S")
_WORD_START = re.compile(r"(?<=\s)\S")
_NUMBER = re.compile(r"\d+")
_NUMBER_WITHIN = 120  # characters of a line searched for the number a counting loop changes
_ODD_SPACE = re.compile(r"[^\S ]| {2}")  # whitespace that " ".join(s.split()) would change
_FOUR_WORDS = re.compile(rf"(?:(?<!{_LETTER}){_LETTER}{{2,}}(?!{_LETTER}).*?){{4}}", re.S)  # 4 _WORD matches


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to make, and there is one per line
class _Line:
    keys: tuple[str, str]  # the line with whitespace collapsed; the same with its first number masked
    start: int
    text: str
    chars: int  # characters of prose: 0 for data
    words: int
    code: bool  # a line of code with words in it


def _is_long(chars: int, words: int) -> bool:
    return chars >= _LONG_CHARS or words >= _LONG_WORDS


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f'"{text}"' if len(text) <= 60 else f'"{text[:57]}..."'


def _find_period(t: str, *, min_copies: int) -> tuple[int, int, int] | None:
    """The shortest qualifying unit that the end of ``t`` repeats: (start of its first copy, length, copies)."""
    n, end, periods = len(t), len(t) - 1, list[int]()
    probe = t[-_PROBE:]
    for _ in range(_MAX_CANDIDATES if n >= 2 * _PROBE else 0):
        i = t.rfind(probe, 0, end)
        if i < 0:
            return None
        end, d = i + _PROBE - 1, n - _PROBE - i
        unit = t[n - d :]
        if 2 * d > n or t[n - 2 * d : n - d] != unit:
            continue
        if any(d % q == 0 and t[n - d : n - q] == t[n - d + q :] for q in periods):
            continue  # a multiple of a shorter unit already judged
        periods.append(d)
        copies = 2
        while (copies + 1) * d <= n and t[n - (copies + 1) * d : n - copies * d] == unit:
            copies += 1
        space = re.search(r"\s+", unit)  # judge the unit from a word start: the end of t may split a word
        unit = unit[space.end() :] + unit[: space.end()] if space else unit
        words = len(_WORD.findall(unit))
        long = words >= 3 and _is_long(len(unit.strip()), len(unit.split()))
        if words >= 2 and copies >= max(_LONG_COPIES if long else _SHORT_INLINE_COPIES, min_copies):
            j = n - copies * d
            while j > 0 and t[j - 1] == t[j - 1 + d]:
                j -= 1
            return j, d, copies
    return None


class LoopDetector:
    """Watch a streamed reply for degenerate repetition (see the module docstring for the rules)."""

    def __init__(self, *, text_before: str = "") -> None:
        tail = text_before[-_WINDOW:]
        self._pos = -len(tail)  # offsets count from the start of the reply
        self._line_start = self._buf_start = self._sent_from = self._scanned = self._checked = self._pos
        self._pieces: list[str] = []
        self._pending: list[str] = []  # fed, not yet looked at
        self._pending_len = 0
        self._buf_len = 0
        self._fence = ""  # what opened the code fence or HTML comment we are in
        self._lines: deque[_Line] = deque(maxlen=_MAX_CYCLE + 1)
        self._keys: tuple[deque[str], ...] = (deque(maxlen=_MAX_CYCLE), deque(maxlen=_MAX_CYCLE))  # per key kind
        self._runs = ([0] * (_MAX_CYCLE + 1), [0] * (_MAX_CYCLE + 1))  # per key kind and cycle length
        self._second: tuple[list[_Line | None], ...] = ([None] * (_MAX_CYCLE + 1), [None] * (_MAX_CYCLE + 1))
        self._sentences: deque[tuple[str, int]] = deque(maxlen=_SENTENCES)
        self._sentence_counts: dict[str, int] = {}
        self._loop_start: int | None = None
        self._description = ""
        self._live = False  # the text before only primes the counters: it is never cut
        self.feed(tail)
        self._live = True

    @property
    def loop_start(self) -> int | None:
        """Offset in the reply where the repeats start (the first copy stays), or None while there is no loop."""
        return self._loop_start

    @property
    def description(self) -> str:
        """What repeats, for a message; empty while there is no loop."""
        return self._description

    def feed(self, text: str) -> None:
        """Take the next piece of the reply; pieces may split lines, words or characters anywhere.

        Pieces are gathered until a line ends or a check is due, so a stream of one-token pieces
        costs an append each; a loop is seen at most ``_CHECK_EVERY`` characters later."""
        self._pending.append(text)
        self._pending_len += len(text)
        if self._pending_len < _CHECK_EVERY and "\n" not in text:
            return
        text = "".join(self._pending)
        self._pending, self._pending_len = [], 0
        for i in range(0, len(text), _CHECK_EVERY):
            if self._loop_start is not None:
                return
            *lines, rest = text[i : i + _CHECK_EVERY].split("\n")
            for line in lines:
                self._append(line)
                self._end_line()
            self._append(rest)
            if self._pos - self._checked >= _CHECK_EVERY:
                self._check_line(final=False)

    def _append(self, piece: str) -> None:
        self._pieces.append(piece)
        self._buf_len += len(piece)
        self._pos += len(piece)
        if self._buf_len > 2 * _WINDOW:  # an endless line: its end is enough, for the key too
            text = "".join(self._pieces)
            self._pieces, self._buf_len = [text[-_WINDOW:]], _WINDOW
            self._buf_start += len(text) - _WINDOW

    def _end_line(self) -> None:
        text = "".join(self._pieces)
        stripped = text.strip()
        if stripped:  # a blank line (every paragraph break) has nothing to check
            self._check_line(final=True)
        marker = _FENCE.match(stripped)
        fence = marker.group() if marker else ""
        if stripped:
            # whitespace collapsed; an endless line is known by its end; most lines have nothing to collapse
            odd = len(stripped) > _WINDOW or _ODD_SPACE.search(stripped)
            key = " ".join(text[-_WINDOW:].split()) if odd else stripped
            worded = bool(_WORD.search(stripped))
            heading = not (fence or self._fence) and stripped.startswith("#")  # a heading is never data
            data = bool(fence or self._fence) or stripped.startswith(("|", "<")) or not (worded or heading)
            chars, words = (0, 0) if data else (len(key), key.count(" ") + 1)
            code = worded and not fence and self._fence not in ("", "<!--")
            number = _NUMBER.search(key, 0, _NUMBER_WITHIN)  # "Step 12:", "Day 3 -": counters come early
            masked = key[: number.start()] + "#" + key[number.end() :] if number else key
            self._add_line(_Line((key, masked), self._line_start, stripped, chars, words, code))
        if "<!--" in (fence, self._fence) and self._fence in ("", "<!--"):  # a comment ends on any line
            self._fence = "" if "-->" in stripped else "<!--"
        elif not self._fence or (fence.startswith(self._fence) and fence == stripped):  # a bare, long enough close
            self._fence = "" if self._fence else fence
        self._pos += 1
        self._line_start = self._buf_start = self._sent_from = self._scanned = self._checked = self._pos
        self._pieces, self._buf_len = [], 0

    def _add_line(self, line: _Line) -> None:
        lines = self._lines
        lines.append(line)
        n = len(lines)
        for kind, runs in enumerate(self._runs):
            key, before = line.keys[kind], self._keys[kind]  # ``before``: the keys of the last 8 lines
            if any(runs) or key in before:  # else no run is going and nothing starts one: the counts stay 0
                for p in range(1, _MAX_CYCLE + 1):
                    runs[p] = runs[p] + 1 if n > p and key == lines[-1 - p].keys[kind] else 0
                    if runs[p] == 1:
                        self._second[kind][p] = line
            before.append(key)
        for p in range(1, _MAX_CYCLE + 1):
            if self._runs[0][p] < 2 * p and self._runs[1][p] < 2 * p:
                continue  # fewer than 3 copies of any cycle of p lines: nothing can fire
            last = list(lines)[-p:]
            chars, words = sum(x.chars for x in last), sum(x.words for x in last)
            needed = _LONG_COPIES if _is_long(chars, words) else _SHORT_LINE_COPIES
            if not chars and any(x.code for x in last):
                chars, needed = 1, _CODE_COPIES  # code repeats itself more than prose does
            for kind, runs in enumerate(self._runs):
                if any(p % q == 0 and runs[q] >= runs[p] for q in range(1, p)):
                    continue  # the same repeat, seen as a shorter cycle
                copies, second = 1 + runs[p] // p, self._second[kind][p]
                if chars and second and copies >= needed + kind * _COUNTING_EXTRA:
                    what = "the line" if p == 1 else f"a cycle of {p} lines from"
                    self._fire(second.start, f"{what} {_quote(second.text)} {copies} times")
                    return

    def _check_line(self, *, final: bool) -> None:
        self._checked = self._pos
        text = "".join(self._pieces)
        self._pieces = [text]
        if self._fence or text.lstrip().startswith(("```", "~~~", "<")):
            return
        row = text.lstrip().startswith("|")  # a table row repeats cells: only an endless run of them is a loop
        if not row:
            self._scan_sentences(text, final=final)
        base = max(len(text) - _WINDOW, 0)
        found = _find_period(text[base:], min_copies=_SHORT_INLINE_COPIES if row else 0)
        if found:
            first, d, copies = found
            cut = _SENTENCE_START.search(text, base + first + d, base + first + 2 * d)
            cut = cut or _WORD_START.search(text, base + first + d, base + first + 2 * d)
            at = cut.start() if cut else base + first + d
            self._fire(self._buf_start + at, f"the text {_quote(text[at : at + d])} {copies} times")

    def _scan_sentences(self, text: str, *, final: bool) -> None:
        buf = self._buf_start
        start = max(self._sent_from - buf, 0)
        scan_from = max(start, self._scanned - buf - 8)  # a line without sentence ends is read once
        self._scanned = buf + len(text)
        ends = [m.end() for m in _SENTENCE_END.finditer(text, scan_from)]
        if final:
            ends.append(len(text))
        window, counts = self._sentences, self._sentence_counts  # the window's sentences, and a count of each
        for end in ends:  # one pass per sentence of the whole reply: kept tight
            if end <= start:
                continue
            raw, start = text[start:end], end
            sentence = raw.strip()  # a repeat repeats its spacing too: no need to collapse it, as lines do
            # a sentence of 5 words or more, 4 of them real words, is prose
            if sentence.count(" ") < _LONG_WORDS - 1 or not _FOUR_WORDS.search(sentence):
                continue
            if len(window) == _SENTENCES:
                gone = window[0][0]
                if counts[gone] == 1:
                    del counts[gone]
                else:
                    counts[gone] -= 1
            window.append((sentence, buf + end - len(raw.lstrip())))
            seen = counts[sentence] = counts.get(sentence, 0) + 1
            if seen > 1 and len(window) == _SENTENCES and len(counts) <= _MAX_DISTINCT:
                self._near_loop()  # a repeat, in a window of few distinct sentences
        self._sent_from = buf + start

    def _near_loop(self) -> None:
        texts = [s for s, _ in self._sentences]
        repeats = [s in texts[:i] for i, s in enumerate(texts)]
        for i, (s, at) in enumerate(self._sentences):
            if repeats[i] and sum(repeats[i:]) >= _REPEAT_SHARE * (len(texts) - i):
                self._fire(at, f"{len(set(texts))} sentences over and over, such as {_quote(s)}")
                return

    def _fire(self, start: int, description: str) -> None:
        if self._live and self._loop_start is None:
            self._loop_start = max(start, 0)
            self._description = description
