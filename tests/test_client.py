"""The one mapping of HTTP error statuses to docgen errors, and the server's words in them."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest

from docgen.errors import (
    AuthError,
    DocgenError,
    NotFoundError,
    RejectedError,
    ServerError,
    UnavailableError,
)
from docgen.server.client import error_for_status, server_message

URL = "http://127.0.0.1:8000/v1/chat/completions"
NO_HEADERS = httpx.Headers()


# -- error_for_status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "exit_code"),
    [
        (400, RejectedError, 8),
        (401, AuthError, 6),
        (403, AuthError, 6),
        (404, NotFoundError, 7),
        (405, RejectedError, 8),
        (408, UnavailableError, 9),
        (409, UnavailableError, 9),
        (413, RejectedError, 8),
        (422, RejectedError, 8),
        (429, UnavailableError, 9),
        (500, UnavailableError, 9),
        (501, UnavailableError, 9),
        (502, UnavailableError, 9),
        (503, UnavailableError, 9),
        (504, UnavailableError, 9),
        (599, UnavailableError, 9),
    ],
)
def test_status_maps_to_error_class_and_exit_code(status: int, kind: type[ServerError], exit_code: int) -> None:
    error = error_for_status(status, b'{"error": {"message": "the reason"}}', URL, NO_HEADERS)
    assert type(error) is kind
    assert error.exit_code == exit_code
    assert error.status == status
    assert error.url == URL
    assert error.retryable is (kind is UnavailableError)
    assert error.message == f"{URL} answered {status}: the reason"
    assert error.hint
    assert str(error) == f"{error.message}; {error.hint}"


@pytest.mark.parametrize(("status", "phrase"), [(404, "Not Found"), (503, "Service Unavailable"), (400, "Bad Request")])
def test_empty_body_uses_the_reason_phrase(status: int, phrase: str) -> None:
    error = error_for_status(status, b"", URL, NO_HEADERS)
    assert error.message == f"{URL} answered {status}: {phrase}"


def test_errors_are_docgen_errors() -> None:
    for status in (401, 404, 422, 503):
        assert isinstance(error_for_status(status, b"", URL, NO_HEADERS), DocgenError)


# -- retry_after ---------------------------------------------------------------------------


def _retry_after(headers: dict[str, str], status: int = 429) -> float | None:
    return error_for_status(status, b"", URL, httpx.Headers(headers)).retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after": "30"}, 30.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"retry-after-ms": "-10"}, 0.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),  # the finer one wins
        ({"retry-after-ms": "lots", "Retry-After": "9"}, 9.0),  # an unreadable ms falls back
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({"Retry-After": "nan"}, 0.0),
        ({"Retry-After": "inf"}, float("inf")),  # the caller caps the wait
    ],
)
def test_retry_after_header_values(headers: dict[str, str], expected: float | None) -> None:
    assert _retry_after(headers) == expected


def test_retry_after_http_date_in_the_future() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    retry_after = _retry_after({"Retry-After": when})
    assert retry_after is not None
    assert 115 <= retry_after <= 121  # the date has whole seconds


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retry_after_is_read_for_every_retried_status(status: int) -> None:
    assert _retry_after({"Retry-After": "3"}, status) == 3.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_retry_after_is_not_read_for_other_statuses(status: int) -> None:
    assert _retry_after({"Retry-After": "3"}, status) is None


# -- server_message ------------------------------------------------------------------------


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_json({"error": {"message": "model 'x' not found", "type": "invalid_request_error"}}), "model 'x' not found"),
        (_json({"error": {"detail": "bad key"}}), "bad key"),
        (_json({"error": {"msg": "too long"}}), "too long"),
        (_json({"error": {"code": 5}}), "{'code': 5}"),
        (_json({"detail": "Not authenticated"}), "Not authenticated"),
        (_json({"detail": "Not Found", "error": "ignored"}), "Not Found"),
        (_json({"error": "rate limited"}), "rate limited"),
        (_json({"message": "top-level message"}), "top-level message"),
        (_json({"error": None}), '{"error": null}'),
        (_json(["a", "list"]), '["a", "list"]'),
        (_json({"error": {"message": "Über 中文 😀"}}), "Über 中文 😀"),
        (b"plain text error", "plain text error"),
        (b"", ""),
        (b"   \n\t ", ""),
    ],
)
def test_server_message_takes_the_servers_words(body: bytes, message: str) -> None:
    assert server_message(body) == message


def test_server_message_reads_a_fastapi_validation_list() -> None:
    body = _json({"detail": [
        {"loc": ["body", "model"], "msg": "field required", "type": "value_error.missing"},
        {"loc": ["body", "messages", 0, "role"], "msg": "unexpected value", "type": "value_error"},
        {"msg": "no place given"},
    ]})
    assert server_message(body) == "model: field required; messages.0.role: unexpected value; no place given"


def test_a_json_message_that_starts_with_a_bracket_is_not_an_html_page() -> None:
    for said in ("<think> tags are not allowed here", "<unk> is not a valid token"):
        assert server_message(_json({"error": {"message": said}})) == said


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
        b"\n  <html>\n<head><title>404</title></head></html>",
        b"<h1>Error</h1>",
    ],
)
def test_server_message_html_body_becomes_a_phrase(body: bytes) -> None:
    assert server_message(body) == "an HTML page"


@pytest.mark.parametrize(
    ("length", "expected_length", "ellipsis"),
    [(299, 299, False), (300, 300, False), (301, 301, True), (5000, 301, True)],
)
def test_server_message_is_cut_to_300_characters(length: int, expected_length: int, ellipsis: bool) -> None:
    message = server_message(("x" * length).encode())
    assert len(message) == expected_length
    assert message.endswith("…") is ellipsis
    assert message.rstrip("…") == "x" * min(length, 300)


def test_server_message_cuts_a_long_json_message() -> None:
    message = server_message(_json({"error": {"message": "word " * 200}}))
    assert len(message) == 301
    assert message.endswith("…")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"line one\n\nline   two\r\n\tline three  ", "line one line two line three"),
        (_json({"error": {"message": "multi\nline\n\n  message"}}), "multi line message"),
    ],
)
def test_server_message_collapses_whitespace_to_one_line(body: bytes, message: str) -> None:
    assert server_message(body) == message


def test_whitespace_is_collapsed_before_the_cut() -> None:
    message = server_message(("a" + " " * 50).encode() * 10)
    assert message == " ".join(["a"] * 10)


@pytest.mark.parametrize(
    "body", [b"\xff\xfe bad \xc3", b"\xc3\x28 error", b'{"error": {"message": "bad \xff byte"}}', b"\x80" * 1000]
)
def test_server_message_survives_invalid_utf8(body: bytes) -> None:
    message = server_message(body)
    assert isinstance(message, str)
    assert "\n" not in message
    assert len(message) <= 301


def test_server_message_replaces_invalid_bytes() -> None:
    assert server_message(b"bad \xff byte") == "bad \ufffd byte"
    assert server_message(b'{"error": {"message": "bad \xff byte"}}') == "bad \ufffd byte"


def test_error_for_status_quotes_an_html_page_politely() -> None:
    error = error_for_status(502, b"<html><body>nginx</body></html>", URL, NO_HEADERS)
    assert error.message == f"{URL} answered 502: an HTML page"
