"""docgen check: the probe against each continuation flavour, and its cache for auto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llama import LlamaServer
from sse_server import Script

EXPECTED = {"vllm": "vllm", "sglang": "vllm", "llamacpp": "prefill", "deepseek": "prefix", "openai": "instruct",
            "glm": "instruct"}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "probes.json"


@pytest.mark.parametrize("flavour", sorted(EXPECTED))
def test_check_finds_the_continuation_mode(flavour: str, serve, docgen, cache: Path) -> None:
    server = serve(Script(document="The sea is wide and grey today.", flavour=flavour))
    code, out, err = docgen("check", "--base-url", server.base_url, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["continue_mode"] == EXPECTED[flavour]
    assert report["prefill"] is (flavour in ("llamacpp",))
    assert report["first_token_seconds"] is not None and report["stream_options"] is True
    assert json.loads(cache.read_text())[f"{server.base_url} test-model"]["continue_mode"] == EXPECTED[flavour]


def test_check_reports_refused_stream_options_and_reasoning(serve, docgen) -> None:
    server = serve(Script(document="Calm.", flavour="deepseek", stream_options_ok=False, reasoning=3))
    code, out, _ = docgen("check", "--base-url", server.base_url)
    assert code == 0
    assert "stream_options refused" in out and "reasoning      seen" in out


def test_auto_uses_the_cached_probe(tmp_path: Path, serve, docgen) -> None:
    from sse_server import FLAVOUR_PREFILL

    FLAVOUR_PREFILL["custom"] = "prefix"  # a server /models says nothing useful about
    try:
        document = "Lorem " + " ".join(f"w{i}" for i in range(400))
        server = serve(Script(document=document, flavour="custom", cap_chars=600))
        assert docgen("check", "--base-url", server.base_url)[0] == 0
        out = tmp_path / "a.md"
        code, _, err = docgen("write", "--topic", "t", "-o", str(out), "--base-url", server.base_url,
                              "--words", "5000", "--outline", "none")
        assert code == 0, err
        assert out.read_text(encoding="utf-8") == document
        chats = server.recorder.chats
        continued = [r for r in chats if r["body"].get("stream") and r["body"]["messages"][-1].get("prefix")]
        assert continued
    finally:
        del FLAVOUR_PREFILL["custom"]


def test_check_of_an_unreachable_server_exits_like_write(docgen) -> None:
    code, out, _ = docgen("check", "--base-url", "http://127.0.0.1:9/v1")
    assert code == 5 and "cannot connect" in out


@pytest.mark.llama
@pytest.mark.parametrize(("flags", "prefill"), [((), "yes"), (("--no-prefill-assistant",), "no")])
def test_check_against_real_llama_cpp(docgen, flags: tuple[str, ...], prefill: str) -> None:
    server = LlamaServer(*flags).start()
    if server.pid is None:
        pytest.skip(server.why_not)
    try:
        code, out, err = docgen("check", "--base-url", server.base_url)
    finally:
        server.stop()
    assert code == 0, err
    assert f"prefill        {prefill}" in out
