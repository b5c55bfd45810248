"""What a user of curl, llm or git tries first: stdout, a positional topic, short flags, any request field."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import docgen_process, make_document
from sse_server import Fault, Script


def test_dash_o_dash_streams_the_document_to_stdout_and_leaves_no_file(tmp_path: Path, serve: Any) -> None:
    document = make_document(6000, seed=31)  # about 50 KB: more than the mirror holds back
    server = serve(Script(document=document, cap_chars=9000, delay=0.002, write_bytes=(200, 400)))
    proc = docgen_process("write", "a topic", "-o", "-", "--base-url", server.base_url, "--backoff", "0",
                          "--words", "100000", cwd=tmp_path)
    first = os.read(proc.stdout.fileno(), 4096)  # streamed: it arrives while the run goes on
    assert proc.poll() is None and document.encode().startswith(first)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert first + rest == document.encode()  # byte-exact across continuations
    assert "wrote stdout:" in err.decode()  # the summary stays on stderr
    assert list(tmp_path.iterdir()) == []  # nothing on disk


def test_dash_o_dash_sends_all_it_has_when_the_run_fails(tmp_path: Path, serve: Any) -> None:
    document = make_document(3000, seed=32)
    server = serve(Script(document=document, faults=[Fault("drop", after=30000)]))
    proc = docgen_process("write", "a topic", "-o", "-", "--base-url", server.base_url, "--retries", "0",
                          "--words", "100000", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode not in (0, 70), err.decode()
    assert len(out) > 100 and document.encode().startswith(out)  # nothing received is lost
    [line] = [x for x in err.decode().splitlines() if x.startswith("docgen: error")]
    assert "the text so far went to stdout" in line
    assert list(tmp_path.iterdir()) == []


def test_dash_o_dash_refuses_what_needs_stdout_or_a_file(docgen: Any) -> None:
    code, _, err = docgen("write", "t", "-o", "-", "--json")
    assert code == 2 and "--json" in err
    code, _, err = docgen("write", "t", "-o", "-", "--outline", "auto")
    assert code == 2 and "outline" in err


def test_a_positional_topic_and_short_flags(docgen: Any) -> None:
    code, out, err = docgen("write", "tide pools", "-m", "my-model", "-t", "article", "-s", "Be brief.",
                            "--dry-run", "--json")
    assert code == 0, err
    body = json.loads(out)["body"]
    assert body["model"] == "my-model"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "tide pools" in body["messages"][-1]["content"]
    assert json.loads(out)["output"] == "tide-pools.md"
    code, _, err = docgen("write", "tide pools", "--topic", "volcanoes", "--dry-run")
    assert code == 2 and "given twice" in err


def test_seed_top_p_and_any_request_field_reach_the_body(docgen: Any) -> None:
    code, out, err = docgen("write", "t", "--seed", "7", "--top-p", "0.9", "--param", "top_k=40",
                            "--param", 'stop=["END"]', "--param", "mode=fast", "--dry-run", "--json")
    assert code == 0, err
    body = json.loads(out)["body"]
    assert (body["seed"], body["top_p"], body["top_k"], body["stop"], body["mode"]) == (7, 0.9, 40, ["END"], "fast")
    for bad, why in (("model=x", "sets this field itself"), ("stream=false", "sets this field itself"),
                     ("nokey", "KEY=VALUE")):
        code, _, err = docgen("write", "t", "--param", bad, "--dry-run")
        assert code == 2 and why in err, err
    code, _, err = docgen("write", "t", "--top-p", "1.5", "--dry-run")
    assert code == 2


def test_request_fields_are_part_of_what_a_partial_was_started_with(
    tmp_path: Path, serve: Any, docgen: Any
) -> None:
    document = make_document(2000, seed=33)
    server = serve(Script(document=document, faults=[Fault("drop", after=8000)]))
    out = tmp_path / "d.md"
    args = ("write", "t", "-o", str(out), "--base-url", server.base_url, "--retries", "0", "--words", "100000",
            "--outline", "none")
    code, _, err = docgen(*args, "--seed", "1")
    assert code != 0 and (tmp_path / "d.md.part").exists(), err
    code, _, err = docgen(*args, "--seed", "2")
    assert code == 4 and "changed: seed" in err
    code, _, err = docgen(*args, "--seed", "1")
    assert code == 0, err
    assert out.read_text(encoding="utf-8") == document
    sent = server.recorder.chats[-1]["body"]
    assert sent["seed"] == 1


def test_docgen_models_lists_what_the_server_serves(serve: Any, docgen: Any) -> None:
    server = serve(Script(document="x", models=["beta-13b", "alpha-7b"]))
    code, out, err = docgen("models", "--base-url", server.base_url)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["alpha-7b", "beta-13b"]
    code, out, _ = docgen("models", "--base-url", server.base_url, "--json")
    assert [m["id"] for m in json.loads(out)] == ["alpha-7b", "beta-13b"]
    code, _, err = docgen("models", "--base-url", "http://127.0.0.1:9/v1", "--connect-timeout", "1")
    assert code == 5 and "Traceback" not in err


def test_config_shows_the_templates_own_length(docgen: Any) -> None:
    code, out, _ = docgen("config")
    assert code == 0
    [words] = [line for line in out.splitlines() if line.startswith("words ")]
    assert words.split()[1] == "3000" and "template report" in words


def test_a_slow_first_byte_still_streams(tmp_path: Path, serve: Any) -> None:
    """The hold-back never holds a short document hostage: it all arrives when the run ends."""
    document = make_document(300, seed=34)
    server = serve(Script(document=document))
    started = time.monotonic()
    proc = docgen_process("write", "short", "-o", "-", "--base-url", server.base_url, "--words", "100000",
                          cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == document.encode() and time.monotonic() - started < 30


def _usage(wire: bytes) -> dict[str, int]:
    for line in reversed(wire.split(b"\n")):
        if line.startswith(b"data: {") and b'"usage"' in line:
            usage = json.loads(line[6:])["usage"]
            if usage:
                return usage
    return {}


def test_what_a_run_cost_counts_every_request(tmp_path: Path, serve: Any, docgen: Any) -> None:
    document = make_document(3000, seed=35)
    server = serve(Script(document=document, cap_chars=5000, faults=[None, Fault("drop", after=3000)]))
    code, out, err = docgen("write", "t", "-o", str(tmp_path / "d.md"), "--base-url", server.base_url,
                            "--backoff", "0", "--words", "100000", "--outline", "none", "--json",
                            "--price-in", "2", "--price-out", "8")
    assert code == 0, err
    summary = json.loads(out)
    # the wire a reply was to send holds its usage; the second reply was dropped before it got there
    counted = [_usage(c["wire"]) for i, c in enumerate(server.recorder.chats) if i != 1]
    assert summary["retries"] == 1 and all(counted)
    assert summary["tokens_estimated"] is True
    assert summary["prompt_tokens"] > sum(u["prompt_tokens"] for u in counted)  # plus the broken one's estimate
    assert summary["completion_tokens"] > sum(u["completion_tokens"] for u in counted)
    expected = (summary["prompt_tokens"] * 2 + summary["completion_tokens"] * 8) / 1e6
    assert summary["cost"] == pytest.approx(expected)
    code, _, err = docgen("write", "t", "-o", str(tmp_path / "e.md"), "--base-url", server.base_url,
                          "--words", "100000", "--outline", "none", "--price-in", "2", "--price-out", "8")
    assert code == 0 and "tokens: " in err and "cost 0.0" in err, err


def test_router_headers_keep_a_document_together(tmp_path: Path, serve: Any, docgen: Any) -> None:
    document = make_document(2000, seed=36)
    server = serve(Script(document=document, cap_chars=3000))
    args = ("--base-url", server.base_url, "--words", "100000", "--outline", "none", "--quiet",
            "--header", "X-Team=docs", "--header", "X-Route-Key=secret-route-key-123")
    assert docgen("write", "one", "-o", str(tmp_path / "a.md"), *args)[0] == 0
    first = [c["headers"] for c in server.recorder.chats]
    assert docgen("write", "two", "-o", str(tmp_path / "b.md"), *args)[0] == 0
    second = [c["headers"] for c in server.recorder.chats[len(first):]]
    assert len(first) > 1 and len({h["X-Session-Id"] for h in first}) == 1  # every continuation: one session
    assert {h["X-Session-Id"] for h in second} != {h["X-Session-Id"] for h in first}
    assert all(h["X-Team"] == "docs" and h["X-Route-Key"] == "secret-route-key-123" for h in first + second)
    server.script.faults = [Fault("status", status=401, body='{"error": {"message": "bad secret-route-key-123"}}')]
    server.recorder.requests.clear()
    code, _, err = docgen("write", "three", "-o", str(tmp_path / "c.md"), *args, "--retries", "0")
    assert code == 6 and "secret-route-key-123" not in err  # a header's value is never shown
    code, _, err = docgen("write", "t", "--header", "novalue", "--dry-run")
    assert code == 2 and "--header" in err
