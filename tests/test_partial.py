"""The partial file: torn UTF-8 tails, the round trip of text, the lock, the journal, finishing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docgen.errors import OutputError
from docgen.markdown.wordcount import count_words
from docgen.write.partial import JOURNAL_VERSION, PartialDocument, utf8_complete_length

BLOCK = 1 << 16  # PartialDocument reads the part file in blocks of this size
CHARS = ["a", "é", "中", "😀"]  # 1, 2, 3 and 4 bytes in UTF-8
TEXT = "# Title\n\nalpha beta 中文 naïve 😀 end\n研究 théâtre emoji😀\n"


def _truncations() -> list[tuple[str, int]]:
    return [(ch, cut) for ch in CHARS for cut in range(len(ch.encode()) + 1)]


# -- utf8_complete_length ----------------------------------------------------------------


@pytest.mark.parametrize("prefix", [b"", b"x", "中".encode()])
@pytest.mark.parametrize(("char", "cut"), _truncations())
def test_utf8_complete_length_drops_a_torn_last_character(prefix: bytes, char: str, cut: int) -> None:
    encoded = char.encode()
    complete = cut in (0, len(encoded))
    assert utf8_complete_length(prefix + encoded[:cut]) == len(prefix) + (cut if complete else 0)


def test_utf8_complete_length_at_every_byte_of_mixed_text() -> None:
    data = TEXT.encode()
    boundaries = {len(TEXT[:i].encode()) for i in range(len(TEXT) + 1)}
    for end in range(len(data) + 1):
        keep = utf8_complete_length(data[:end])
        assert keep == max(b for b in boundaries if b <= end)
        data[:keep].decode("utf-8")  # strict: never raises


# -- opening: a torn tail is repaired ------------------------------------------------------


def _output(tmp_path: Path) -> Path:
    return tmp_path / "report.md"


def _part(tmp_path: Path) -> Path:
    return tmp_path / "report.md.part"


@pytest.mark.parametrize(("char", "cut"), [(ch, cut) for ch, cut in _truncations() if cut])
def test_open_truncates_a_torn_multibyte_tail(tmp_path: Path, char: str, cut: int) -> None:
    whole = "hello 中文 ".encode()
    encoded = char.encode()
    _part(tmp_path).write_bytes(whole + encoded[:cut])
    expected = whole + (encoded if cut == len(encoded) else b"")
    with PartialDocument(_output(tmp_path)) as doc:
        assert doc.size == len(expected)
        assert _part(tmp_path).stat().st_size == len(expected)
        assert _part(tmp_path).read_bytes() == expected
        assert doc.read_all() == expected.decode()


def test_open_creates_an_empty_part(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        assert doc.size == 0
        assert _part(tmp_path).read_bytes() == b""
        assert doc.read_all() == ""


def test_reopening_continues_after_the_existing_text(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append("first 中文 ")
    with PartialDocument(_output(tmp_path)) as doc:
        assert doc.size == len("first 中文 ".encode())
        doc.append("second 😀")
        assert doc.read_all() == "first 中文 second 😀"
    assert _part(tmp_path).read_text(encoding="utf-8") == "first 中文 second 😀"


# -- text round trip -----------------------------------------------------------------------


def test_append_size_read_all_round_trip(tmp_path: Path) -> None:
    pieces = ["# Title\n\n", "alpha 中文", " naïve 😀", "\n研究 théâtre", " emoji😀\n"]
    with PartialDocument(_output(tmp_path)) as doc:
        written = ""
        for piece in pieces:
            doc.append(piece)
            written += piece
            assert doc.size == len(written.encode())
            assert _part(tmp_path).read_bytes() == written.encode()  # on disk at once, no buffer
        assert doc.read_all() == written


@pytest.mark.parametrize("max_chars", [1, 2, 3, 5, 10, 25, 1000])
def test_read_tail_returns_the_last_characters(tmp_path: Path, max_chars: int) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append(TEXT)
        assert doc.read_tail(max_chars) == TEXT[-max_chars:]


@pytest.mark.parametrize("start", range(len(TEXT.encode()) + 2))
def test_read_tail_never_returns_text_before_start(tmp_path: Path, start: int) -> None:
    data = TEXT.encode()
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append(TEXT)
        tail = doc.read_tail(1000, start=start)
    after = data[start:]
    assert after.endswith(tail.encode())
    assert len(after) - len(tail.encode()) < 4  # only a torn character's bytes are skipped
    assert "\ufffd" not in tail


def test_read_tail_from_start_at_a_character_boundary(tmp_path: Path) -> None:
    head, body = "前言 preface\n", "正文 body 😀\n"
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append(head + body)
        start = len(head.encode())
        assert doc.read_tail(1000, start=start) == body
        assert doc.read_tail(3, start=start) == body[-3:]


@pytest.mark.parametrize(("text", "stored"), [("\ud83d\ude00", "😀"), ("a\ud800b", "a\ufffdb")])
def test_append_pairs_up_or_replaces_lone_surrogates(tmp_path: Path, text: str, stored: str) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append(text)
        assert doc.size == len(stored.encode())
        assert doc.read_all() == stored


# -- count_words over block boundaries -----------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "char", "before"),
    [
        (" na", "ï", 1),  # a Latin word whose accented letter straddles the boundary
        (" ", "中", 1),
        (" ", "中", 2),
        ("x", "中", 1),
        (" ", "😀", 1),
        (" ", "😀", 2),
        (" ", "😀", 3),
    ],
)
def test_count_words_across_a_block_boundary(tmp_path: Path, lead: str, char: str, before: int) -> None:
    filler = ("lorem ipsum dolor " * (BLOCK // 10))[: BLOCK - before - len(lead)]
    text = filler + lead + char + "ve 研究 more words, 中文 and naïve théâtre 😀 end\n" * 50
    data = text.encode()
    assert len(data) > BLOCK
    at = len((filler + lead).encode())
    assert at < BLOCK < at + len(char.encode())  # the character straddles the first block's end
    _part(tmp_path).write_bytes(data)
    seen: list[str] = []
    with PartialDocument(_output(tmp_path)) as doc:
        counter = doc.count_words(also=seen.append)
    assert counter.words == count_words(text)
    assert "".join(seen) == text
    assert len(seen) == 2


def test_count_words_of_an_empty_part(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        assert doc.count_words().words == 0


# -- the lock ------------------------------------------------------------------------------


def test_a_second_writer_of_the_same_output_is_refused(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as first:
        first.append("mine")
        second = PartialDocument(_output(tmp_path))
        with pytest.raises(OutputError, match="another docgen process") as caught:
            second.__enter__()
        assert caught.value.exit_code == 4
        assert first.read_all() == "mine"
    with PartialDocument(_output(tmp_path)) as again:  # released on close
        assert again.read_all() == "mine"


def test_different_outputs_do_not_share_a_lock(tmp_path: Path) -> None:
    with PartialDocument(tmp_path / "a.md") as a, PartialDocument(tmp_path / "b.md") as b:
        a.append("a")
        b.append("b")
    assert (tmp_path / "a.md.part").read_text() == "a"
    assert (tmp_path / "b.md.part").read_text() == "b"


# -- the journal ---------------------------------------------------------------------------


def test_journal_round_trip(tmp_path: Path) -> None:
    data = {"replies": [{"finish": "length", "chars": 12}], "fingerprint": "abc", "topic": "中文 😀"}
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append("text")
        doc.write_journal(data)
        assert doc.read_journal() == {"version": JOURNAL_VERSION, **data}
    raw = (tmp_path / "report.md.journal").read_text(encoding="utf-8")
    assert "中文 😀" in raw  # written as UTF-8, not \u escapes
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_journal_is_replaced_at_each_checkpoint(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.write_journal({"replies": [1], "old": True})
        doc.write_journal({"replies": [1, 2]})
        assert doc.read_journal() == {"version": JOURNAL_VERSION, "replies": [1, 2]}


def test_missing_journal_reads_as_none(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        assert doc.read_journal() is None


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe{}", b'{"a": 1'])
def test_corrupt_journal_reads_as_unreadable_with_the_reason(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "report.md.journal").write_bytes(content)
    with PartialDocument(_output(tmp_path)) as doc:
        journal = doc.read_journal()
        assert journal is not None and set(journal) == {"unreadable"}
        assert journal["unreadable"] in ("not valid JSON", "not a JSON object")


# -- starting over and finishing -----------------------------------------------------------


def test_discard_keeps_a_backup_and_empties_the_part(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append("old text 中文")
        doc.write_journal({"replies": []})
        doc.discard()
        assert doc.size == 0
        assert (tmp_path / "report.md.part.bak").read_text(encoding="utf-8") == "old text 中文"
        assert _part(tmp_path).read_bytes() == b""
        assert not (tmp_path / "report.md.journal").exists()
        doc.append("new")
        assert doc.read_all() == "new"
    assert _part(tmp_path).read_bytes() == b"new"  # appended at the start, not after the old length


def test_discard_of_an_empty_part_makes_no_backup(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.discard()
        assert doc.size == 0
    assert not (tmp_path / "report.md.part.bak").exists()


def test_finish_moves_the_part_onto_the_output(tmp_path: Path) -> None:
    _output(tmp_path).write_text("an older output")
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append("# Done\n\n中文 😀\n")
        doc.write_journal({"replies": []})
        doc.finish()
    assert _output(tmp_path).read_text(encoding="utf-8") == "# Done\n\n中文 😀\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_finish_with_rendered_text_writes_that_instead(tmp_path: Path) -> None:
    with PartialDocument(_output(tmp_path)) as doc:
        doc.append("# Raw\n")
        doc.write_journal({"replies": []})
        doc.finish("<h1>Raw</h1>\n")
    assert _output(tmp_path).read_text(encoding="utf-8") == "<h1>Raw</h1>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_close_and_drop_if_empty_removes_an_empty_part_and_journal(tmp_path: Path) -> None:
    doc = PartialDocument(_output(tmp_path)).__enter__()
    doc.write_journal({"replies": []})
    assert (tmp_path / "report.md.journal").exists()
    doc.close_and_drop_if_empty()
    assert list(tmp_path.iterdir()) == []


def test_close_and_drop_if_empty_keeps_a_non_empty_part(tmp_path: Path) -> None:
    doc = PartialDocument(_output(tmp_path)).__enter__()
    doc.append("kept")
    doc.write_journal({"replies": []})
    doc.close_and_drop_if_empty()
    assert _part(tmp_path).read_text() == "kept"
    assert json.loads((tmp_path / "report.md.journal").read_text()) == {"version": JOURNAL_VERSION, "replies": []}
    with PartialDocument(_output(tmp_path)) as again:  # and the lock is released
        assert again.read_all() == "kept"
