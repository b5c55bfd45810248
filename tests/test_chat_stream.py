"""ChatStreamDecoder: content, reasoning, usage, finish and errors, fast path against slow.

The reference is a decoder written out plainly here: split the whole stream into events
by the WHATWG rules, ``json.loads`` each, and take the fields. Whatever the network
splits, and whether or not docgen's learned-shape fast path kicks in, the decoder must
give the same text and the same counts.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from dataclasses import dataclass
from typing import Any

import pytest

from docgen.errors import StreamError
from docgen.server.chat_stream import ChatStreamDecoder

BOM = b"\xef\xbb\xbf"
BASE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "test-model",
}


@dataclass
class Decoded:
    text: str
    events: int
    content_events: int
    reasoning_events: int
    finish_reason: str | None
    usage: dict[str, Any] | None
    done: bool
    model: str | None


class ReferenceError_(Exception):
    """The reference decoder met an event a client must refuse."""


def sse_payloads(stream: bytes) -> list[bytes]:
    """The data of each complete event of a whole stream, by the WHATWG rules."""
    if stream.startswith(BOM):
        stream = stream[3:]
    payloads: list[bytes] = []
    data: list[bytes] = []
    for line in re.split(rb"\r\n|\r|\n", stream)[:-1]:  # the last piece is unterminated
        if not line:
            if data:
                payloads.append(b"\n".join(data))
                data = []
            continue
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"data":
            data.append(value)
    return payloads


def reference(stream: bytes) -> Decoded:
    """The straightforward decoder: the whole stream at once, each event json.loads'ed."""
    out = Decoded("", 0, 0, 0, None, None, False, None)
    for payload in sse_payloads(stream):
        out.events += 1
        if payload == b"[DONE]":
            out.done = True
            continue
        try:
            obj = json.loads(payload.decode("utf-8"))
        except ValueError as exc:
            raise ReferenceError_(str(exc)) from None
        if obj.get("error"):
            raise ReferenceError_(str(obj["error"]))
        if obj.get("usage"):
            out.usage = obj["usage"]
        if obj.get("model"):
            out.model = obj["model"]
        if not obj.get("choices"):
            continue
        choice = obj["choices"][0]
        delta = choice.get("delta") or {}
        if delta.get("content"):
            out.text += delta["content"]
            out.content_events += 1
        if delta.get("reasoning") or delta.get("reasoning_content"):
            out.reasoning_events += 1
        if choice.get("finish_reason"):
            out.finish_reason = choice["finish_reason"]
    return out


def feed_all(decoder: ChatStreamDecoder, blocks: list[bytes]) -> str:
    """Feed as client.stream_chat does: keep each read's text, then raise a bad event."""
    text = []
    for block in blocks:
        text.append(decoder.feed(block))
        if decoder.failed is not None:
            raise decoder.failed
    return "".join(text)


def run(blocks: list[bytes]) -> tuple[Decoded, ChatStreamDecoder]:
    decoder = ChatStreamDecoder()
    text = feed_all(decoder, blocks)
    return Decoded(
        text,
        decoder.events,
        decoder.content_events,
        decoder.reasoning_events,
        decoder.finish_reason,
        decoder.usage,
        decoder.done,
        decoder.model,
    ), decoder


def decode(*blocks: bytes) -> Decoded:
    return run(list(blocks))[0]


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def event_ends(stream: bytes) -> list[int]:
    """The offsets just after each blank line: where a server's write of whole events ends."""
    return [m.end() for m in re.finditer(rb"\r\n\r\n|\n\n|\r\r", stream)]


def splits(stream: bytes, learn_at: int | None = None) -> list[list[bytes]]:
    """Ways a network can hand ``stream`` over: whole, bytewise, by events, by groups of
    events (as a server that writes whole events does), and by groups shifted off the
    event boundaries; each also after a first block of ``learn_at`` bytes."""
    ends = event_ends(stream)
    out = [[stream], bytewise(stream)]
    for k in (1, 2, 3, 5, 8):
        for shift in (0, 1, 7):
            cuts = sorted({min(len(stream), e + shift) for e in ends[k - 1 :: k]})
            if learn_at is not None:
                cuts = sorted({learn_at, *(c for c in cuts if c > learn_at)})
            out.append(
                [
                    stream[a:b]
                    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)
                    if b > a
                ]
            )
    return out


def event(
    obj: Any,
    *,
    ensure_ascii: bool = False,
    separators: tuple[str, str] | None = None,
    eol: bytes = b"\n",
) -> bytes:
    payload = (
        obj
        if isinstance(obj, str)
        else json.dumps(obj, ensure_ascii=ensure_ascii, separators=separators)
    )
    return b"data: " + payload.encode() + eol + eol


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    choice = {
        "index": 0,
        "delta": delta if delta is not None else {},
        "logprobs": None,
        "finish_reason": finish,
    }
    return {**BASE, "choices": [choice], **top}


def content(text: str, **kw: Any) -> bytes:
    return event(chunk({"content": text}), **kw)


USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}

# a stream that has everything: role, reasoning, CJK, emoji, escapes, usage, finish, [DONE]
REPRESENTATIVE = b"".join(
    [
        event(chunk({"role": "assistant", "content": ""})),
        event(chunk({"reasoning_content": "let me think 🤔"})),
        event(chunk({"reasoning": "more"})),
        content("研究"),
        content(" naïve 🎉"),
        content(' "quoted" \\ back\nslash\t'),
        content("\u2028line sep\u0085nel"),
        content("中文", ensure_ascii=True),
        content("emoji😀", ensure_ascii=True),
        b": keep-alive\n\n",
        content("end."),
        event(chunk({}, "stop")),
        event({**BASE, "choices": [], "usage": USAGE}),
        event("[DONE]"),
    ]
)
EXPECTED_TEXT = '研究 naïve 🎉 "quoted" \\ back\nslash\t\u2028line sep\u0085nel中文emoji😀end.'


# -- content at every split point ---------------------------------------------------


def test_the_reference_agrees_with_the_expected_text() -> None:
    ref = reference(REPRESENTATIVE)
    assert ref.text == EXPECTED_TEXT
    assert (ref.events, ref.content_events, ref.reasoning_events) == (13, 7, 2)


def test_the_representative_stream_in_one_feed() -> None:
    assert decode(REPRESENTATIVE) == reference(REPRESENTATIVE)


@pytest.mark.parametrize("cut", range(0, len(REPRESENTATIVE) + 1))
def test_the_representative_stream_split_in_two_at_every_index(cut: int) -> None:
    assert decode(REPRESENTATIVE[:cut], REPRESENTATIVE[cut:]) == reference(REPRESENTATIVE)


def test_the_representative_stream_one_byte_at_a_time() -> None:
    assert run(bytewise(REPRESENTATIVE))[0] == reference(REPRESENTATIVE)


@pytest.mark.parametrize("learn_at", [None, *event_ends(REPRESENTATIVE)[:6]])
def test_the_representative_stream_in_event_aligned_and_shifted_blocks(
    learn_at: int | None,
) -> None:
    for blocks in splits(REPRESENTATIVE, learn_at):
        assert run(blocks)[0] == reference(REPRESENTATIVE), [len(b) for b in blocks]


def test_text_comes_out_of_the_feed_that_completes_its_event_even_mid_utf8() -> None:
    stream = content("研") + content("😀")
    first_end = len(content("研"))
    decoder = ChatStreamDecoder()
    assert decoder.feed(stream[: first_end - 5]) == ""  # the CJK bytes are in, the event is not
    assert decoder.feed(stream[first_end - 5 : first_end + 10]) == "研"
    assert decoder.feed(stream[first_end + 10 : -3]) == ""
    assert decoder.feed(stream[-3:]) == "😀"


@pytest.mark.parametrize("separators", [None, (",", ":")], ids=["spaced", "compact"])
@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["raw", "escaped"])
def test_a_learned_shape_reads_many_events_in_one_block(
    ensure_ascii: bool, separators: Any
) -> None:
    pieces = ["研究", "😀", '"', "\\", "\n", "\t", "\u2028", "é", "plain", "\\n", "\x00", "/"] * 20
    kw = {"ensure_ascii": ensure_ascii, "separators": separators}
    first = b"".join(content(p, **kw) for p in pieces[:2])
    rest = (
        b"".join(content(p, **kw) for p in pieces[2:])
        + event(chunk({}, "stop"), **kw)
        + event("[DONE]")
    )
    stream = first + rest
    got, decoder = run([first, rest])
    assert got == reference(stream)
    assert got.text == "".join(pieces)
    assert getattr(decoder, "_shape", None) is not None  # the fast path was really in play


# -- reasoning ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["reasoning", "reasoning_content"])
def test_reasoning_is_counted_and_kept_out_of_the_content(key: str) -> None:
    stream = (
        event(chunk({"role": "assistant", "content": ""}))
        + b"".join(event(chunk({key: f"thinking {i} "})) for i in range(5))
        + event(chunk({key: ""}))
        + content("Answer.")
        + event(chunk({key: "late thought", "content": " More."}))
        + event(chunk({}, "stop"))
        + event("[DONE]")
    )
    for blocks in splits(stream):
        got = run(blocks)[0]
        assert got.text == "Answer. More."
        assert got.reasoning_events == 6
        assert got.content_events == 2
        assert "thinking" not in got.text and "late thought" not in got.text


def test_openrouter_reasoning_details_stay_out_of_the_content() -> None:
    details = [{"type": "reasoning.text", "text": "secret plan"}]
    stream = (
        event(chunk({"reasoning": "secret plan", "reasoning_details": details}))
        + content("Text.")
        + event(chunk({}, "stop"))
        + event("[DONE]")
    )
    got = decode(stream)
    assert (got.text, got.reasoning_events, got.content_events) == ("Text.", 1, 1)


# -- usage -------------------------------------------------------------------------


def test_usage_in_a_final_chunk_with_no_choices() -> None:
    stream = (
        content("a")
        + event(chunk({}, "stop"))
        + event({**BASE, "choices": [], "usage": USAGE})
        + event("[DONE]")
    )
    got = decode(stream)
    assert (got.usage, got.finish_reason, got.text, got.done) == (USAGE, "stop", "a", True)


def test_usage_with_llama_cpp_timings() -> None:
    final = {
        **BASE,
        "choices": [],
        "usage": USAGE,
        "timings": {"predicted_n": 7, "predicted_ms": 12.5},
    }
    got = decode(content("a") + event(chunk({}, "stop")) + event(final) + event("[DONE]"))
    assert got.usage == USAGE


def test_usage_on_the_finish_chunk() -> None:
    got = decode(content("a") + event(chunk({}, "stop", usage=USAGE)) + event("[DONE]"))
    assert (got.usage, got.finish_reason) == (USAGE, "stop")


def test_openai_usage_null_on_every_chunk_until_the_last() -> None:
    stream = (
        content("a", ensure_ascii=True).replace(b"}\n\n", b', "usage": null}\n\n')
        + event(chunk({}, "stop", usage=None))
        + event({**BASE, "choices": [], "usage": USAGE})
        + event("[DONE]")
    )
    got = decode(stream)
    assert (got.usage, got.text) == (USAGE, "a")


def test_openrouter_repeats_the_finish_reason_with_usage_and_cost() -> None:
    usage = {**USAGE, "cost": 0.0012}
    stream = (
        content("a")
        + event(chunk({}, "stop"))
        + event(chunk({}, "stop", usage=usage))
        + event("[DONE]")
    )
    got = decode(stream)
    assert (got.finish_reason, got.usage, got.content_events, got.text) == ("stop", usage, 1, "a")


def test_no_usage_when_the_server_sends_none() -> None:
    got = decode(content("a") + event(chunk({}, "stop")) + event("[DONE]"))
    assert got.usage is None


# -- finish reasons and [DONE] -------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [
        "stop",
        "length",
        "tool_calls",
        "content_filter",
        "function_call",
        "abort",
        "sensitive",
        "network_error",
        "model_context_window_exceeded",
        "insufficient_system_resource",
        "error",
        "a_reason_from_the_future",
    ],
)
def test_every_finish_reason_is_reported_and_none_crashes(reason: str) -> None:
    got = decode(content("a") + event(chunk({}, reason)) + event("[DONE]"))
    assert (got.finish_reason, got.text, got.done) == (reason, "a", True)


def test_finish_reason_stays_none_until_the_end() -> None:
    decoder = ChatStreamDecoder()
    decoder.feed(content("a") + content("b"))
    assert (decoder.finish_reason, decoder.done) == (None, False)
    decoder.feed(event(chunk({"content": "c"}, "length")))
    assert (decoder.finish_reason, decoder.done) == ("length", False)
    decoder.feed(event("[DONE]"))
    assert decoder.done


def test_content_on_the_finish_chunk_is_kept() -> None:
    got = decode(content("a") + event(chunk({"content": "b"}, "stop")) + event("[DONE]"))
    assert (got.text, got.content_events, got.finish_reason) == ("ab", 2, "stop")


def test_glm_repeats_the_role_in_every_delta() -> None:
    stream = b"".join(
        event(chunk({"role": "assistant", "content": c}), ensure_ascii=True)
        for c in ["", "研", "究", "!"]
    )
    stream += event(chunk({"role": "assistant"}, "stop", usage=USAGE), ensure_ascii=True)
    for blocks in splits(stream):
        got = run(blocks)[0]
        assert (got.text, got.content_events, got.usage) == ("研究!", 3, USAGE)


# -- errors -------------------------------------------------------------------------

ERRORS = {
    "vllm": [
        event(
            {"error": {"message": "the engine crashed", "type": "InternalServerError", "code": 500}}
        ),
        event("[DONE]"),
    ],
    "sglang": [
        event(
            {
                "error": {
                    "object": "error",
                    "message": "the engine crashed",
                    "type": "BadRequestError",
                    "param": None,
                    "code": 400,
                }
            }
        ),
        event("[DONE]"),
    ],
    "llamacpp": [
        event({"error": {"code": 500, "message": "the engine crashed", "type": "server_error"}})
    ],
    "llamacpp-old": [
        b'error: {"code": 500, "message": "the engine crashed", "type": "server_error"}\n\n'
    ],
    "openai": [
        event(
            {
                "error": {
                    "message": "the engine crashed",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )
    ],
    "openrouter": [
        event(
            {
                **chunk({"content": ""}, "error"),
                "error": {"code": 502, "message": "the engine crashed"},
            }
        )
    ],
    "plain-string": [event({"error": "the engine crashed"})],
}


@pytest.mark.parametrize("flavour", sorted(ERRORS))
def test_a_mid_stream_error_raises_stream_error_with_the_servers_message(flavour: str) -> None:
    head = content("Some ") + content("text")
    stream = head + b"".join(ERRORS[flavour])
    for blocks in splits(stream, len(head)):
        decoder = ChatStreamDecoder()
        with pytest.raises(StreamError) as info:
            feed_all(decoder, blocks)
        assert "the engine crashed" in str(info.value)
        assert info.value.exit_code == 10 and info.value.retryable


def test_an_error_message_keeps_the_servers_code() -> None:
    with pytest.raises(StreamError, match=r"the engine crashed \(code 500\)"):
        decode(b"".join(ERRORS["vllm"]))


def test_a_null_error_field_is_not_an_error() -> None:
    got = decode(event({**chunk({"content": "a"}), "error": None}) + event("[DONE]"))
    assert got.text == "a"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"choices": [{"delta": {"content": "oops"',
        b"{'single': 'quotes'}",
        b'{"choices": [{"delta": {"content": "a"}}]} trailing',
        b"<html>",
    ],
    ids=["truncated", "single-quotes", "trailing", "html"],
)
def test_malformed_json_raises_stream_error(payload: bytes) -> None:
    stream = content("a") + b"data: " + payload + b"\n\n"
    for blocks in splits(stream, len(content("a"))):
        with pytest.raises(StreamError, match="malformed JSON"):
            run(blocks)


@pytest.mark.parametrize("payload", [b"42", b"null", b'"text"', b"[1, 2]"])
def test_json_that_is_not_an_object_raises_stream_error(payload: bytes) -> None:
    with pytest.raises(StreamError):
        decode(b"data: " + payload + b"\n\n")


@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\xc3", b"\xe4\xb8", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"],
    ids=["ff", "truncated-2", "truncated-3", "surrogate", "overlong", "5-byte"],
)
def test_invalid_utf8_in_an_event_raises_stream_error(bad: bytes) -> None:
    head = content("a") + content("b")
    broken = content("Q").replace(b'"Q"', b'"x' + bad + b'y"')
    stream = head + broken + content("c")
    for blocks in splits(stream, len(head)):
        with pytest.raises(StreamError, match="UTF-8"):
            run(blocks)


def test_invalid_utf8_split_across_two_events_raises_stream_error() -> None:
    # each event alone is invalid UTF-8; only their concatenation would decode
    head = content("a") + content("b")
    tail = (
        content("Q").replace(b'"Q"', b'"\xe4\xb8"')
        + content("Q").replace(b'"Q"', b'"\xad"')
        + event(chunk({}, "stop"))
        + event("[DONE]")
    )
    for blocks in splits(head + tail, len(head)):
        with pytest.raises(StreamError):
            run(blocks)


# -- fast path against slow path: targeted shape changes ------------------------------


def _compare(stream: bytes, learn_at: int) -> None:
    """However the network splits ``stream``, the decoder equals the reference."""
    expected = reference(stream)
    for blocks in splits(stream, learn_at) + splits(stream):
        assert run(blocks)[0] == expected, [len(b) for b in blocks]


def test_shape_change_created_changes_mid_stream() -> None:
    a = b"".join(content(c) for c in "abc")
    b = b"".join(event({**chunk({"content": c}), "created": 1700000001}) for c in "def")
    c = b"".join(content(c) for c in "ghi")
    _compare(a + b + c + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_shape_change_obfuscation_field_of_varying_length() -> None:
    rng = random.Random(5)
    stream = b"".join(
        event(
            {**chunk({"content": f"w{i} "}), "usage": None, "obfuscation": "x" * rng.randint(1, 3)},
            ensure_ascii=True,
        )
        for i in range(60)
    )
    stream += event({**chunk({}, "stop"), "usage": None}) + event(
        {**BASE, "choices": [], "usage": USAGE}
    )
    _compare(stream + event("[DONE]"), len(content("w0 ")) * 3)


def test_shape_change_role_appears_and_disappears() -> None:
    a = b"".join(content(c) for c in "abc")
    b = b"".join(event(chunk({"role": "assistant", "content": c})) for c in "def")
    _compare(a + b + a + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_shape_change_model_name_changes() -> None:
    a = b"".join(content(c) for c in "abc")
    b = b"".join(event({**chunk({"content": c}), "model": "other-model"}) for c in "def")
    stream = a + b + event({**chunk({}, "stop"), "model": "other-model"}) + event("[DONE]")
    _compare(stream, len(a))
    assert decode(stream).model == "other-model"


def test_shape_change_content_key_order_and_spacing() -> None:
    a = b"".join(content(c) for c in "abc")
    compact = b"".join(content(c, separators=(",", ":")) for c in "def")
    reordered = b"".join(
        event({"choices": [{"finish_reason": None, "delta": {"content": c}, "index": 0}], **BASE})
        for c in "ghi"
    )
    _compare(a + compact + reordered + a + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_shape_change_logprobs_appear() -> None:
    a = b"".join(content(c) for c in "abc")
    lp = {"content": [{"token": "x", "logprob": -0.1, "bytes": [120], "top_logprobs": []}]}
    b = b"".join(
        event(
            {
                **BASE,
                "choices": [
                    {"index": 0, "delta": {"content": c}, "logprobs": lp, "finish_reason": None}
                ],
            }
        )
        for c in "def"
    )
    _compare(a + b + a + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_shape_change_to_crlf_line_ends() -> None:
    a = b"".join(content(c) for c in "abc")
    b = b"".join(content(c, eol=b"\r\n") for c in "def")
    _compare(a + b + a + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_comments_and_other_fields_between_learned_events() -> None:
    a = b"".join(content(c) for c in "abc")
    b = (
        b": keep-alive\n\n"
        + content("d")
        + b"event: message\nid: 9\n"
        + content("e")
        + b": OPENROUTER PROCESSING\n\n"
    )
    _compare(a + b + a + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_a_multi_line_data_event_after_learning() -> None:
    a = b"".join(content(c) for c in "abc")
    obj = json.dumps(chunk({"content": "split"}), indent=1).encode().replace(b"\n", b"\ndata: ")
    _compare(a + b"data: " + obj + b"\n\n" + a + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_empty_content_events_between_learned_events_are_not_content() -> None:
    # vLLM sends "content": "" while its detokenizer holds back part of a character
    a = b"".join(content(c) for c in "abc")
    b = b"".join(content(c) for c in ["", "d", "", "", "e", ""])
    _compare(a + b + event(chunk({}, "stop")) + event("[DONE]"), len(a))


def test_raw_control_characters_are_decoded_the_same_however_the_stream_is_split() -> None:
    # a raw TAB inside a JSON string is not valid JSON; fast and slow path must agree on it
    a = b"".join(content(c) for c in "abc")
    bad = content("Q").replace(b'"Q"', b'"x\ty"')
    stream = a + bad + event(chunk({}, "stop")) + event("[DONE]")
    outcomes = []
    for blocks in splits(stream, len(a)):
        try:
            outcomes.append(run(blocks)[0])
        except StreamError:
            outcomes.append(None)
    assert outcomes == [outcomes[0]] * len(outcomes)


def test_escaped_surrogate_halves_in_two_events_give_the_same_text_however_split() -> None:
    a = b"".join(content(c) for c in "abc")
    halves = content("\ud83d", ensure_ascii=True) + content("\ude00", ensure_ascii=True)
    stream = a + halves + event(chunk({}, "stop")) + event("[DONE]")
    texts = [ascii(run(blocks)[0].text) for blocks in splits(stream, len(a))]
    assert texts == [texts[0]] * len(texts)


# -- fast path against slow path: random documents --------------------------------------

ALPHABET = [
    "a",
    "b",
    "z",
    " ",
    "  ",
    ".",
    "é",
    "ß",
    "研",
    "究",
    "中文",
    "😀",
    "🎉",
    "👩‍💻",
    '"',
    "\\",
    "\\n",
    "\n",
    "\t",
    "\r",
    "\u2028",
    "\u2029",
    "\u0085",
    "/",
    "\x00",
    "\x7f",
    "{",
    "}",
    '":"',
    "content",
    "data: ",
]


def random_stream(rng: random.Random, events: int) -> tuple[bytes, str]:
    ensure_ascii = rng.random() < 0.5
    separators = rng.choice([None, (",", ":")])
    eol = b"\r\n" if rng.random() < 0.1 else b"\n"

    def emit(obj: Any) -> bytes:
        return event(obj, ensure_ascii=ensure_ascii, separators=separators, eol=eol)

    top: dict[str, Any] = dict(BASE)
    role = False
    parts = [BOM] if rng.random() < 0.1 else []
    parts.append(emit(chunk({"role": "assistant", "content": ""})))
    for i in range(rng.choice([0, 0, 3])):
        parts.append(emit(chunk({"reasoning_content": f"thinking {i}"})))
    text: list[str] = []
    for _ in range(events):
        roll = rng.random()
        if roll < 0.01:
            top["created"] += 1
        elif roll < 0.02:
            top["obfuscation"] = "x" * rng.randint(1, 4)
        elif roll < 0.025:
            top.pop("obfuscation", None)
        elif roll < 0.03:
            role = not role
        elif roll < 0.035:
            top["system_fingerprint"] = rng.choice(["fp_1", "fp_2"])
        elif roll < 0.04:
            parts.append(b": keep-alive" + eol + eol)
        elif roll < 0.045:
            parts.append(emit(chunk({"reasoning": "hmm"})))
        piece = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
        text.append(piece)
        delta = {"role": "assistant", "content": piece} if role else {"content": piece}
        parts.append(emit({**top, "choices": chunk(delta)["choices"]}))
    parts.append(emit({**top, "choices": chunk({}, "stop")["choices"]}))
    parts.append(emit({**top, "choices": [], "usage": USAGE}))
    parts.append(b"data: [DONE]" + eol + eol)
    return b"".join(parts), "".join(text)


def random_blocks(rng: random.Random, stream: bytes) -> list[bytes]:
    """Blocks of 1 .. ~70000 bytes; half the time cut where events end, as a server writes.

    Tiny blocks are kept to small streams (at most ~5000 blocks a stream), for speed.
    """
    largest = max(round(2 ** rng.uniform(0, 16.1)), len(stream) // 2500)
    ends = event_ends(stream) if rng.random() < 0.5 else []
    blocks, pos = [], 0
    while pos < len(stream):
        end = pos + rng.randint(1, largest)
        if ends:
            at = bisect.bisect_left(ends, end)
            end = ends[at] if at < len(ends) else len(stream)
        blocks.append(stream[pos:end])
        pos = end
    return blocks


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_equals_reference_on_random_documents(seed: int) -> None:
    rng = random.Random(seed)
    stream, text = random_stream(rng, rng.choice([20, 60, 400, 2500]))
    expected = reference(stream)
    assert expected.text == text
    learned = 0
    for _ in range(4):
        blocks = random_blocks(rng, stream)
        got, decoder = run(blocks)
        assert got == expected, f"blocks of up to {max(map(len, blocks))} bytes"
        learned += getattr(decoder, "_shape", None) is not None
    assert learned  # the fast path was in play at least once


def test_fast_path_equals_reference_on_a_large_stream_in_large_blocks() -> None:
    rng = random.Random(99)
    stream, _ = random_stream(rng, 12000)
    expected = reference(stream)
    for size in (70000, 65536, 16384, 4097):
        blocks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert run(blocks)[0] == expected, size
    ends = event_ends(stream)
    for every in (500, 37):
        cuts = ends[every - 1 :: every]
        blocks = [
            stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True) if b > a
        ]
        assert run(blocks)[0] == expected, every


@pytest.mark.parametrize("bad", [b'data: {"error": {"message": "boom"}}\n\n', b"data: {not json\n\n",
                                 b'data: {"choices": [{"delta": {"content": "\xe4\xb8"}}]}\n\n'])
def test_text_before_a_bad_event_in_the_same_read_is_kept(bad: bytes) -> None:
    head = b"".join(content(c) for c in ["Kept ", "text ", "中文"])
    decoder = ChatStreamDecoder()
    assert decoder.feed(head + bad + content("lost")) == "Kept text 中文"
    assert isinstance(decoder.failed, StreamError)
    with pytest.raises(StreamError):
        decoder.feed(content("more"))
