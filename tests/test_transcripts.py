"""One `docgen write --json` per server flavour of wire-formats.md, checked against the wire.

The scripted server records the body of every reply it streams (``wire``). The
expectations (the text, the finish reason, the usage the server counted) come from
decoding that recorded wire with the plain reference decoder of test_chat_stream, never
from constants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_document
from sse_server import Fault, Script
from test_chat_stream import Decoded, reference

FLAVOURS = ("vllm", "sglang", "llamacpp", "ollama", "openai", "glm", "deepseek", "openrouter")
REASONING_KEY = {
    "vllm": "reasoning",
    "ollama": "reasoning",
    "openrouter": "reasoning",
    "sglang": "reasoning_content",
    "llamacpp": "reasoning_content",
    "glm": "reasoning_content",
    "deepseek": "reasoning_content",
}
# what only this flavour's wire shows, to be sure the transcript is the flavour's own
MARKS = {
    "vllm": b'"reasoning": "thinking 0 "',
    "sglang": b"\r\n\r\n",
    "llamacpp": b'"timings"',
    "ollama": b'"reasoning": "thinking 0 "',
    "openai": b'"obfuscation"',
    "glm": b'"delta": {"role": "assistant", "reasoning_content"',
    "deepseek": b": keep-alive\n\n",
    "openrouter": b": OPENROUTER PROCESSING\n\n",
}


def write(docgen: Any, server: Any, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, stdout, stderr = docgen(
        "write",
        "--topic",
        "flavours",
        "-o",
        str(out),
        "--base-url",
        server.base_url,
        "--json",
        "--backoff",
        "0",
        "--timeout",
        "10",
        *extra,
    )
    lines = stdout.splitlines()
    assert len(lines) == (1 if code == 0 else 0), (
        stdout
    )  # stdout holds the summary and nothing else
    return code, json.loads(lines[0]) if lines else {}, stderr


def sent(server: Any) -> list[Decoded]:
    """What the server streamed in each chat reply, decoded by the reference decoder."""
    return [reference(r["wire"]) for r in server.recorder.chats if "wire" in r]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_reply_per_flavour(tmp_path: Path, serve: Any, docgen: Any, flavour: str) -> None:
    document = make_document(400, seed=FLAVOURS.index(flavour))
    reasoning = 0 if flavour == "openai" else 6  # OpenAI's chat completions stream no reasoning
    server = serve(Script(document=document, flavour=flavour, reasoning=reasoning, seed=11))
    out = tmp_path / "doc.md"

    code, summary, stderr = write(docgen, server, out)

    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    [chat] = server.recorder.chats
    [reply] = sent(server)
    assert MARKS[flavour] in chat["wire"]
    assert reply.text == document
    assert reply.reasoning_events == reasoning
    if reasoning:
        assert f'"{REASONING_KEY[flavour]}": "thinking 5 "'.encode() in chat["wire"]
    assert "thinking" not in out.read_text(encoding="utf-8")
    assert reply.finish_reason == "stop"
    assert reply.usage is not None and reply.usage["completion_tokens"] == reply.content_events
    assert summary["finish_reason"] == "stop"
    assert summary["finish_reasons"] == ["stop"]
    assert summary["tokens"] == reply.usage["completion_tokens"]
    assert summary["events"] == reply.content_events
    assert summary["model"] == "test-model"
    assert summary["path"] == str(out)
    assert (summary["continuations"], summary["resumed"], summary["warnings"]) == (0, False, [])
    assert chat["body"]["stream"] is True
    assert chat["body"]["stream_options"] == {"include_usage": True}
    assert chat["body"]["model"] == "test-model"
    assert [m["role"] for m in chat["body"]["messages"]] == ["system", "user"]
    assert not list(tmp_path.glob("doc.md.*"))  # no part file or journal left behind


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replies_cut_at_length_are_continued_and_their_usage_adds_up(
    tmp_path: Path, serve: Any, docgen: Any, flavour: str
) -> None:
    document = make_document(500, seed=20 + FLAVOURS.index(flavour))
    reasoning = 0 if flavour == "openai" else 2
    server = serve(
        Script(document=document, flavour=flavour, reasoning=reasoning, cap_chars=1400, seed=5)
    )
    out = tmp_path / "doc.md"

    code, summary, stderr = write(docgen, server, out)

    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    replies = sent(server)
    assert len(replies) >= 3
    assert [r.finish_reason for r in replies] == ["length"] * (len(replies) - 1) + ["stop"]
    assert summary["finish_reasons"] == [r.finish_reason for r in replies]
    assert summary["continuations"] == len(replies) - 1
    assert all(
        r.usage is not None and r.usage["completion_tokens"] == r.content_events for r in replies
    )
    assert summary["tokens"] == sum(r.usage["completion_tokens"] for r in replies if r.usage)
    assert summary["events"] == sum(r.content_events for r in replies)


@pytest.mark.parametrize("flavour", ["vllm", "llamacpp"])
def test_a_server_that_refuses_stream_options_still_works(
    tmp_path: Path, serve: Any, docgen: Any, flavour: str
) -> None:
    document = make_document(400, seed=3)
    server = serve(
        Script(document=document, flavour=flavour, stream_options_ok=False, cap_chars=1500)
    )
    out = tmp_path / "doc.md"

    code, summary, stderr = write(docgen, server, out)

    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    chats = server.recorder.chats
    assert chats[0]["body"]["stream_options"] == {"include_usage": True}
    assert "wire" not in chats[0]  # refused with a 400, nothing streamed
    assert len(chats) >= 3
    assert all("stream_options" not in c["body"] for c in chats[1:])
    assert all(r.usage is None for r in sent(server))
    assert summary["tokens"] is None  # the server counted nothing, so docgen claims nothing
    assert summary["events"] == sum(r.content_events for r in sent(server))
    assert "stream_options" not in stderr


# finish reasons that end a reply early: (flavour, reason, whether docgen retries it)
EARLY_FINISH = [
    ("glm", "sensitive", False),
    ("glm", "model_context_window_exceeded", False),
    ("glm", "network_error", True),
    ("openai", "content_filter", False),
    ("sglang", "abort", True),
    ("deepseek", "insufficient_system_resource", True),
    ("openrouter", "error", True),
    ("vllm", "a_reason_from_the_future", False),
]


@pytest.mark.parametrize(("flavour", "reason", "retried"), EARLY_FINISH)
def test_non_standard_finish_reasons(
    tmp_path: Path, serve: Any, docgen: Any, flavour: str, reason: str, retried: bool
) -> None:
    document = make_document(300, seed=len(reason))
    server = serve(
        Script(
            document=document, flavour=flavour, faults=[Fault("finish", after=25, reason=reason)]
        )
    )
    out = tmp_path / "doc.md"

    code, summary, stderr = write(docgen, server, out, "--retries", "2")

    assert code == 0, stderr
    replies = sent(server)
    assert replies[0].finish_reason == reason
    if retried:  # a server failure: continued from what reached the file
        assert out.read_bytes() == document.encode()
        assert len(replies) == 2
        assert summary["finish_reason"] == "stop"
    else:  # the model stopped, for its own reason: the text is what it sent
        assert out.read_bytes() == replies[0].text.encode()
        assert document.startswith(replies[0].text) and replies[0].content_events == 25
        assert len(replies) == 1
        assert summary["finish_reason"] == reason
        assert any(reason in w for w in summary["warnings"])
