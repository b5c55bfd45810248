"""SSEDecoder against the WHATWG event-stream rules, at every way a stream can be split."""

from __future__ import annotations

import pytest

from docgen.server.sse import SSEDecoder

BOM = b"\xef\xbb\xbf"


def decode(*blocks: bytes) -> list[bytes]:
    """Every event's data from feeding ``blocks`` in order to one decoder."""
    decoder = SSEDecoder()
    events: list[bytes] = []
    for block in blocks:
        events.extend(decoder.feed(block))
    return events


def bytewise(stream: bytes) -> list[bytes]:
    return decode(*(stream[i : i + 1] for i in range(len(stream))))


# -- line ends ------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_line_end_ends_lines_and_events(eol: bytes) -> None:
    stream = b"data: one" + eol + eol + b"data: two" + eol + b"data: lines" + eol + eol
    assert decode(stream) == [b"one", b"two\nlines"]
    assert bytewise(stream) == [b"one", b"two\nlines"]


def test_mixed_line_ends_in_one_stream() -> None:
    stream = b"data: a\r\n\ndata: b\r\rdata: c\n\r\ndata: d\r\n\r\n"
    assert decode(stream) == [b"a", b"b", b"c", b"d"]


def test_cr_at_the_end_of_one_feed_and_lf_at_the_start_of_the_next_is_one_line_end() -> None:
    # one line end, so "a" and "b" are two data lines of one event, not two events
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [b"a\nb"]
    assert decode(b"data: a\r\n\r", b"\ndata: b\r\n\r\n") == [b"a", b"b"]


def test_a_cr_then_an_empty_feed_then_an_lf_is_still_one_line_end() -> None:
    # feed(b"") must not make the decoder forget that the last feed ended in CR
    assert decode(b"data: a\r", b"", b"\ndata: b\n\n") == [b"a\nb"]


def test_a_lone_cr_followed_by_another_cr_in_the_next_feed_is_a_blank_line() -> None:
    assert decode(b"data: a\r", b"\rdata: b\r", b"\r") == [b"a", b"b"]


# -- fields ---------------------------------------------------------------------------


def test_comments_are_ignored_before_between_and_inside_events() -> None:
    stream = (
        b": keep-alive\n\n: OPENROUTER PROCESSING\n\ndata: a\n: inside\ndata: b\n\n"
        b":\n\n:no space\n\n"
    )
    assert decode(stream) == [b"a\nb"]


def test_multi_line_data_is_joined_with_lf() -> None:
    assert decode(b"data: 1\ndata: 2\ndata: 3\n\n") == [b"1\n2\n3"]
    assert decode(b"data:\ndata: x\ndata:\n\n") == [b"\nx\n"]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode(b"data:x\n\n") == [b"x"]
    assert decode(b"data:  x \n\n") == [b" x "]
    assert decode(b"data:\tx\n\n") == [b"\tx"]
    assert decode(b"data: a: b\n\n") == [b"a: b"]


def test_a_field_line_with_no_colon_is_the_field_with_an_empty_value() -> None:
    assert decode(b"data\ndata: x\n\n") == [b"\nx"]
    assert decode(b"data\ndata\n\n") == [b"\n"]


def test_unknown_and_non_data_fields_are_ignored() -> None:
    stream = (
        b"event: message\nid: 7\nretry: 3000\nfoo: bar\nDATA: upper\n data: indented\n"
        b"data: kept\n\n"
    )
    assert decode(stream) == [b"kept"]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\n\nid: 5\n\nretry: 10\n\n\n\n\ndata: x\n\n") == [b"x"]


def test_an_unterminated_event_at_eof_is_discarded() -> None:
    assert decode(b"data: a\n\ndata: b\n") == [b"a"]
    assert decode(b"data: a\n\ndata: b") == [b"a"]
    assert decode(b"data: a\n\ndata: b\r") == [b"a"]


def test_llama_cpp_error_field_line_is_passed_on_as_error_data() -> None:
    stream = b'error: {"code": 500, "message": "boom"}\n\n'
    assert decode(stream) == [b'{"error":{"code": 500, "message": "boom"}}']


# -- BOM ------------------------------------------------------------------------------


def test_one_leading_bom_is_stripped() -> None:
    assert decode(BOM + b"data: x\n\n") == [b"x"]


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_leading_bom_split_across_feeds_is_stripped(cut: int) -> None:
    stream = BOM + b"data: x\n\n"
    assert decode(stream[:cut], stream[cut:]) == [b"x"]
    assert decode(b"", stream[:cut], b"", stream[cut:]) == [b"x"]
    assert bytewise(stream) == [b"x"]


def test_only_one_bom_is_stripped() -> None:
    # the second BOM is part of the first line's field name, so that line is ignored
    assert decode(BOM + BOM + b"data: x\n\ndata: y\n\n") == [b"y"]


def test_a_bom_later_in_the_stream_is_data() -> None:
    assert decode(b"data: x\n\ndata: " + BOM + b"y\n\n") == [b"x", BOM + b"y"]


def test_bytes_that_only_start_like_a_bom_are_kept() -> None:
    assert decode(b"\xef", b"data: x\n\n") == []  # the line's name is b"\xefdata": unknown
    assert decode(b"\xef\xbb", b"\n\ndata: y\n\n") == [b"y"]


# -- what is not a line end ----------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"],
    ids=["LS", "PS", "NEL", "VT", "FF", "FS", "GS", "RS"],
)
def test_unicode_and_ascii_separators_inside_data_are_not_line_breaks(char: str) -> None:
    value = f'{{"content": "a{char}b"}}'.encode()
    stream = b"data: " + value + b"\n\n"
    assert decode(stream) == [value]
    assert bytewise(stream) == [value]


# -- every split point -----------------------------------------------------------------

REPRESENTATIVE = (
    BOM
    + b": keep-alive\r\n\r\n"
    + b'data: {"content": "\xe7\xa0\x94\xe7\xa9\xb6 \xf0\x9f\x8e\x89 na\xc3\xafve"}\n\n'
    + b"data:no-space\r\n"
    + b"data: second line \xe2\x80\xa8 still one line \xc2\x85 too\r\r"
    + b"event: ping\nid: 3\nretry: 5\n\n"
    + b"data\n"
    + b"data: after an empty-valued field\r"
    + b"\n"
    + b"unknown: field\n"
    + b": comment: with colon\n"
    + b"\n"
    + b"data: [DONE]\r\n\r\n"
    + b"data: never finished"
)
EXPECTED = [
    b'{"content": "\xe7\xa0\x94\xe7\xa9\xb6 \xf0\x9f\x8e\x89 na\xc3\xafve"}',
    b"no-space\nsecond line \xe2\x80\xa8 still one line \xc2\x85 too",
    b"\nafter an empty-valued field",
    b"[DONE]",
]


def test_the_representative_stream_in_one_piece() -> None:
    assert decode(REPRESENTATIVE) == EXPECTED


@pytest.mark.parametrize("cut", range(len(REPRESENTATIVE) + 1))
def test_the_representative_stream_split_in_two_at_every_index(cut: int) -> None:
    assert decode(REPRESENTATIVE[:cut], REPRESENTATIVE[cut:]) == EXPECTED


def test_the_representative_stream_one_byte_at_a_time() -> None:
    assert bytewise(REPRESENTATIVE) == EXPECTED


@pytest.mark.parametrize("size", [2, 3, 5, 7, 13, 64])
def test_the_representative_stream_in_fixed_size_feeds(size: int) -> None:
    blocks = [REPRESENTATIVE[i : i + size] for i in range(0, len(REPRESENTATIVE), size)]
    assert decode(*blocks) == EXPECTED


def test_the_representative_stream_split_in_three_at_every_pair_of_indices() -> None:
    n = len(REPRESENTATIVE)
    for first in range(0, n + 1, 3):
        for second in range(first + 1, n + 1, 7):
            parts = REPRESENTATIVE[:first], REPRESENTATIVE[first:second], REPRESENTATIVE[second:]
            assert decode(*parts) == EXPECTED, (first, second)


def test_events_come_out_of_the_feed_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n\ndata: c") == [b"a", b"b"]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [b"c"]
