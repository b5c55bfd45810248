"""The context window: what each server flavour states, its overflow texts, the token estimate.

Flavours are played by a small loopback server; the real llama.cpp server (``-m llama``)
checks the window, the overflow texts and the estimate against its tokenizers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from conftest import make_document
from llama import LlamaServer, free_port

from docgen.errors import DocgenError, RejectedError, StreamError
from docgen.server.client import make_client, server_message, stream_chat
from docgen.server.context_window import (
    LEARNED_MARGIN_PERCENT,
    TRUSTED_CHARS,
    TokenRate,
    context_limit_from_error,
    discover_context_window,
    estimate_tokens,
    is_context_error,
)

# ---------------------------------------------------------------- loopback flavours

Routes = dict[str, tuple[int, Any]]  # path -> (status, body: JSON-able, or str/bytes as is)


class FlavourServer:
    """Answers from a table of paths, like one server flavour; anything else is a 404."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.asked: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.answer(self)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.asked.append((handler.command, handler.path))
        status, body = self.routes.get(handler.path, (404, {"detail": "Not Found"}))
        kind = "application/json"
        if isinstance(body, str):
            data, kind = body.encode(), "text/html" if body.startswith("<") else "text/plain"
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> FlavourServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(api_key=None, connect_timeout=2, idle_timeout=5) as c:
        yield c


LLAMA_PROPS = {
    "default_generation_settings": {"params": {"n_predict": -1, "temperature": 0.8}, "n_ctx": 2048},
    "total_slots": 2,
    "model_path": "/models/tiny.gguf",
}


def llama_models(**meta: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": "/models/tiny.gguf",
                "object": "model",
                "owned_by": "llamacpp",
                "meta": {"vocab_type": 1, "n_vocab": 32000, "n_ctx_train": 8192, **meta},
            }
        ],
    }


def vllm_card(name: str, max_model_len: int | None, parent: str | None = None) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": 1,
        "owned_by": "vllm",
        "root": name,
        "parent": parent,
        "max_model_len": max_model_len,
        "permission": [{"id": "modelperm-1", "object": "model_permission"}],
    }


QWEN = "Qwen/Qwen2.5-7B-Instruct"
SGLANG_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "meta-llama/Llama-3.1-8B-Instruct",
            "object": "model",
            "created": 1,
            "owned_by": "sglang",
            "root": "meta-llama/Llama-3.1-8B-Instruct",
            "max_model_len": 131072,
        }
    ],
}
OLLAMA_MODELS = {
    "object": "list",
    "data": [{"id": "llama3.2:latest", "object": "model", "created": 1, "owned_by": "library"}],
}

FLAVOURS: list[tuple[str, Routes, str, int | None]] = [
    # llama.cpp: /props states the slot's context; the trained length beside it is not the window
    ("llamacpp", {"/props": (200, LLAMA_PROPS), "/v1/models": (200, llama_models())}, "tiny", 2048),
    (
        "llamacpp-props-wins-over-meta",
        {"/props": (200, LLAMA_PROPS), "/v1/models": (200, llama_models(n_ctx=4096))},
        "tiny",
        2048,
    ),
    ("llamacpp-meta-only", {"/v1/models": (200, llama_models(n_ctx=4096))}, "tiny", 4096),
    ("llamacpp-old-meta-train-only", {"/v1/models": (200, llama_models())}, "tiny", None),
    ("vllm", {"/v1/models": (200, {"object": "list", "data": [vllm_card(QWEN, 32768)]})}, QWEN, 32768),
    (
        "vllm-lora-takes-its-base",
        {"/v1/models": (200, {"data": [vllm_card(QWEN, 32768), vllm_card("sql-lora", None, QWEN)]})},
        "sql-lora",
        32768,
    ),
    (
        "vllm-unknown-name-among-two",
        {"/v1/models": (200, {"data": [vllm_card(QWEN, 32768), vllm_card("other", 4096)]})},
        "nope",
        None,
    ),
    (
        "sglang",
        {
            "/v1/models": (200, SGLANG_MODELS),
            "/get_model_info": (200, {"model_path": "meta-llama/Llama-3.1-8B-Instruct", "is_generation": True}),
        },
        "meta-llama/Llama-3.1-8B-Instruct",
        131072,
    ),
    (
        "says-nothing",
        {"/v1/models": (200, {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "owned_by": "system"}]})},
        "gpt-4o",
        None,
    ),
    # Ollama's /api/show states the trained length, not the served num_ctx: unknown
    (
        "ollama",
        {
            "/v1/models": (200, OLLAMA_MODELS),
            "/api/show": (200, {"model_info": {"llama.context_length": 131072}, "parameters": "num_ctx 2048"}),
        },
        "llama3.2:latest",
        None,
    ),
    ("props-404-models-404", {}, "m", None),
    ("props-500", {"/props": (500, {"error": {"code": 500, "message": "boom"}})}, "m", None),
    (
        "html-everywhere",
        {"/props": (200, "<html><body>hi</body></html>"), "/v1/models": (200, "<html><body>hi</body></html>")},
        "m",
        None,
    ),
]


@pytest.mark.parametrize(("routes", "model", "expected"), [f[1:] for f in FLAVOURS], ids=[f[0] for f in FLAVOURS])
def test_discovers_what_each_flavour_states(
    client: httpx.Client, routes: Routes, model: str, expected: int | None
) -> None:
    with FlavourServer(routes) as server:
        assert discover_context_window(client=client, base_url=server.base_url, model=model) == expected
        assert ("POST", "/api/show") not in server.asked


@pytest.mark.parametrize(
    "body",
    [
        b"not json{",
        b"null",
        b"[1, 2]",
        b'{"default_generation_settings": "x"}',
        b'{"default_generation_settings": {"n_ctx": "2048"}}',
        b'{"default_generation_settings": {"n_ctx": -1}}',
        b'{"default_generation_settings": {"n_ctx": 0}}',
        b'{"default_generation_settings": {"n_ctx": true}}',
        b'{"default_generation_settings": {"n_ctx": 2048.5}}',
        b'{"default_generation_settings": {"n_ctx": null}}',
    ],
)
def test_junk_props_is_unknown(client: httpx.Client, body: bytes) -> None:
    with FlavourServer({"/props": (200, body)}) as server:
        assert discover_context_window(client=client, base_url=server.base_url, model="m") is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json{",
        b"null",
        b"[1, 2]",
        b'{"data": "x"}',
        b'{"data": [{"id": "m", "max_model_len": "4096"}]}',
        b'{"data": [{"id": "m", "max_model_len": 0}]}',
        b'{"data": [{"id": "m", "max_model_len": false}]}',
        b'{"data": [{"id": "m", "meta": [1]}]}',
        b'{"data": [{"id": "m", "parent": "m2"}]}',
    ],
)
def test_junk_model_list_is_unknown(client: httpx.Client, body: bytes) -> None:
    with FlavourServer({"/v1/models": (200, body)}) as server:
        assert discover_context_window(client=client, base_url=server.base_url, model="m") is None


def test_props_is_asked_at_the_root_even_with_a_trailing_slash(client: httpx.Client) -> None:
    with FlavourServer({"/props": (200, LLAMA_PROPS), "/v1/models": (200, llama_models())}) as server:
        assert discover_context_window(client=client, base_url=server.base_url + "/", model="x") == 2048
        assert ("GET", "/props") in server.asked and ("GET", "/v1/props") not in server.asked


def test_a_server_that_is_not_there_is_unknown(client: httpx.Client) -> None:
    port = free_port()  # nothing listens: connection refused, which is not worth failing a run over
    assert discover_context_window(client=client, base_url=f"http://127.0.0.1:{port}/v1", model="m") is None


# ---------------------------------------------------------------- the servers' overflow texts

# Real llama.cpp texts, recorded from the server of tests/llama.py (llama-cpp-python 0.3.36's
# llama.cpp, build b1-0c1e570) with -c 2048; the live tests below check they still read so.
LLAMA_400_BODY = (
    '{"error":{"code":400,"message":"request (3028 tokens) exceeds the available context size '
    '(2048 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":3028,'
    '"n_ctx":2048}}'
)
LLAMA_400 = "request (3028 tokens) exceeds the available context size (2048 tokens), try increasing it"
LLAMA_MID_STREAM = '{"error":{"code":500,"message":"Context size has been exceeded.","type":"server_error"}}'

OVERFLOWS: list[tuple[str, int | None]] = [
    # llama.cpp (tools/server/server-context.cpp, server-task.cpp adds n_prompt_tokens / n_ctx)
    (LLAMA_400, 2048),
    (LLAMA_400_BODY, 2048),
    (f"http://127.0.0.1:8080/v1/chat/completions answered 400: {LLAMA_400}", 2048),  # docgen's RejectedError
    (LLAMA_MID_STREAM, None),
    ("Context size has been exceeded.", None),
    ("the server reported an error mid-stream: Context size has been exceeded. (code 500)", None),  # docgen's
    ("the request exceeds the available context size, try increasing it", None),  # before the counts
    ("input (5000 tokens) is larger than the max context size (4096 tokens). skipping", 4096),  # older builds
    (
        '{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it",'
        '"type":"exceed_context_size_error","n_prompt_tokens":828,"n_ctx":512}}',
        512,
    ),
    # vLLM, by version (entrypoints/openai serving_engine.py; renderers/params.py; v1/engine/input_processor.py)
    (
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the "
        "messages, 1000 in the completion). Please reduce the length of the messages or completion.",
        4096,
    ),
    (
        "This model's maximum context length is 4096 tokens. However, your request has 5000 input tokens. "
        "Please reduce the length of the input messages.",
        4096,
    ),
    (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is 4096 "
        "tokens and your request has 2778 input tokens (8000 > 4096 - 2778). None",
        4096,
    ),
    (
        "This model's maximum context length is 131072 tokens. However, you requested 65536 output tokens and your "
        "prompt contains at least 65537 input tokens, for a total of at least 131073 tokens. Please reduce the length "
        "of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=65537)",
        131072,
    ),
    (
        "You passed 5000 input tokens and requested 100 output tokens. However, the model's context length is only "
        "4096 tokens, resulting in a maximum input length of 3996 tokens. Please reduce the length of the input "
        "prompt.",
        4096,
    ),
    (
        "You passed 50000 input characters and requested 100 output tokens. However, the model's context length is "
        "only 4096 tokens, resulting in a maximum input length of 3996 tokens (at most 39960 characters). Please "
        "reduce the length of the input prompt.",
        4096,
    ),
    (
        "The decoder prompt (length 5000) is longer than the maximum model length of 4096. Make sure that "
        "`max_model_len` is no smaller than the number of text tokens.",
        4096,
    ),
    (
        "The decoder prompt (length 4096) plus the number of requested output tokens (at least 1) is longer than the "
        "maximum model length of 4096. Make sure that `max_model_len` is no smaller than the number of text tokens "
        "(prompt + requested output tokens).",
        4096,
    ),
    ("max_tokens=20000 cannot be greater than max_model_len=8192. Please request fewer output tokens.", 8192),
    (
        "max_tokens=20000cannot be greater than max_model_len=max_total_tokens=8192. Please request fewer output "
        "tokens.",
        8192,
    ),
    # SGLang (srt/managers/tokenizer_manager.py, _validate_one_request)
    ("The input (5000 tokens) is longer than the model's context length (4096 tokens).", 4096),
    (
        "Requested token count exceeds the model's maximum context length of 4096 tokens. You requested a total of "
        "5000 tokens: 4000 tokens from the input messages and 1000 tokens for the completion. Please reduce the "
        "number of tokens in the input messages or the completion to fit within the limit.",
        4096,
    ),
    # OpenAI and the OpenAI-shaped hosts
    (
        '{"error": {"message": "This model\'s maximum context length is 8192 tokens. However, your messages resulted '
        'in 9000 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", "param": '
        '"messages", "code": "context_length_exceeded"}}',
        8192,
    ),
    ("context_length_exceeded", None),
    ("Your input exceeds the context window of this model. Please adjust your input and try again.", None),
    ("This endpoint's maximum context length is 65536 tokens. However, you requested about 90000 tokens", 65536),
    ("Input length (265330) exceeds model's maximum context length (262144).", 262144),
    # LiteLLM wraps the provider's words in ContextWindowExceededError (litellm/exceptions.py)
    (
        "litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: OpenAIException - "
        "Error code: 400 - {'error': {'message': \"This model's maximum context length is 128000 tokens. However, "
        "your messages resulted in 419624 tokens. Please reduce the length of the messages.\", 'type': "
        "'invalid_request_error', 'param': 'messages', 'code': 'context_length_exceeded'}}",
        128000,
    ),
    (
        "litellm.ContextWindowExceededError: litellm.BadRequestError: Hosted_vllmException - Input length 9000 "
        "exceeds model limit",
        None,
    ),
    (
        "Error: 503 litellm.ServiceUnavailableError: litellm.MidStreamFallbackError: litellm.APIConnectionError: "
        "OpenAIException - Requested token count exceeds the model's maximum context length of 131072 tokens.",
        131072,
    ),
    # others: TGI, Ollama's native API (the number is the excess, not the window), Anthropic
    ("`inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 1000 `max_new_tokens`", 4096),
    ("prompt too long; exceeded max context length by 100918 tokens", None),
    ("prompt is too long: 213462 tokens > 200000 maximum", None),
    ("Prompt has 256468 tokens, but the configured context size is 256,000 tokens", 256000),
]

NOT_OVERFLOWS = [
    "Unrecognized request argument supplied: stream_options",
    "Stream options can only be defined when `stream=True`.",
    "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options', 'continuous_usage'), 'msg': 'Extra inputs are "
    "not permitted', 'input': True}]",
    "Unrecognized request argument supplied: continue_final_message",
    "max_tokens must be at least 1, got 0.",
    "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, "
    "Requested 2000. Please try again in 2s.",
    "Invalid 'messages[0].content': string too long. Expected a string with maximum length 10485760, but got a "
    "string with length 10485761 instead.",
    "The model `gpt-5` does not exist.",
    "Assistant response prefill is incompatible with enable_thinking.",
    "Cannot have 2 or more assistant messages at the end of the list.",
    "Loading model",
    "The requested return_hidden_states mode exceeds the server maximum `last`.",
    "Image count 5 exceeds limit 4 per request.",
    "http://127.0.0.1:8080/v1/chat/completions answered 400: an HTML page",
    "",
]


@pytest.mark.parametrize(("message", "limit"), OVERFLOWS)
def test_overflow_texts_are_recognised_and_their_window_read(message: str, limit: int | None) -> None:
    assert is_context_error(message)
    assert context_limit_from_error(message) == limit


@pytest.mark.parametrize("message", NOT_OVERFLOWS)
def test_other_errors_are_not_overflows(message: str) -> None:
    assert not is_context_error(message)
    assert context_limit_from_error(message) is None


def test_the_window_comes_from_the_server_message_of_a_body() -> None:
    assert server_message(LLAMA_400_BODY.encode()) == LLAMA_400
    assert context_limit_from_error(server_message(LLAMA_400_BODY.encode())) == 2048


# ---------------------------------------------------------------- the estimate and the learned rate


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("the", 1),
        (" the", 1),
        ("2023", 4),
        ("研究中文", 12),
        ("🎉", 4),
        ("a.b", 3),
        ("\n\n", 2),
        ("    x", 3),
        ("tokensFor", 5),
        ("xqzvbk", 6),
    ],
)
def test_estimate_rules(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_estimate_errs_high_on_english() -> None:
    text = make_document(words=400, seed=3)
    assert estimate_tokens(text) >= len(text) / 4
    assert estimate_tokens("The quick brown fox jumps over the lazy dog.") >= 12  # 12 on both real tokenizers below


def test_rate_falls_back_to_its_default_until_observed() -> None:
    rate = TokenRate()
    assert rate.tokens_for(300) == 300
    assert rate.tokens_for(0) == 0
    rate.observe(0, 10)
    rate.observe(10, 0)
    assert (rate.chars, rate.tokens) == (0, 0)
    assert TokenRate.for_text("研究中文" * 5).tokens_for(20) == 60  # a UTF-8 byte each


def test_rate_takes_the_higher_figure_until_it_has_seen_enough() -> None:
    rate = TokenRate(default_chars_per_token=4.0)
    rate.observe(100, 60)  # the server counted more than the default guessed
    assert rate.tokens_for(100) == 66
    rate = TokenRate(default_chars_per_token=2.0)
    rate.observe(400, 100)  # and less: still the default, early on
    assert rate.tokens_for(400) == 200


def test_rate_trusts_what_it_learned_once_it_has_seen_enough() -> None:
    rate = TokenRate.for_text("The quick brown fox jumps over the lazy dog.")
    rate.observe(TRUSTED_CHARS // 2, TRUSTED_CHARS // 8)
    rate.observe(TRUSTED_CHARS // 2, TRUSTED_CHARS // 8)
    assert rate.tokens_for(4000) == 1000 * (100 + LEARNED_MARGIN_PERCENT) // 100
    assert rate.tokens_for(4000) < estimate_tokens("word " * 800)


# ---------------------------------------------------------------- the real llama.cpp server


def _start(*flags: str, smol: bool = False) -> Iterator[LlamaServer]:
    with pytest.MonkeyPatch.context() as mp:
        if smol:
            mp.setenv("DOCGEN_LLAMA_MODEL", "smol")
        server = LlamaServer(*flags).start()
    if server.pid is None:
        pytest.skip(server.why_not)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    """Four slots sharing one 2048-token KV pool (llama.cpp's default -np auto, unified cache)."""
    yield from _start("-c", "2048")


@pytest.fixture(scope="module")
def llama_two_slots() -> Iterator[LlamaServer]:
    """Two slots of 2048 each, split from -c 4096."""
    yield from _start("-np", "2", "-c", "4096")


@pytest.fixture(scope="module")
def smol() -> Iterator[LlamaServer]:
    """SmolLM2's byte-level BPE vocabulary, beside the tiny model's SentencePiece one."""
    yield from _start("-c", "2048", smol=True)


def _root(server: LlamaServer) -> str:
    return server.base_url.removesuffix("/v1")


@pytest.mark.llama
@pytest.mark.parametrize(("fixture", "slots"), [("llama", 4), ("llama_two_slots", 2)])
def test_real_llama_window_is_one_slot(
    request: pytest.FixtureRequest, client: httpx.Client, fixture: str, slots: int
) -> None:
    server: LlamaServer = request.getfixturevalue(fixture)
    props = client.get(f"{_root(server)}/props").json()
    assert props["default_generation_settings"]["n_ctx"] == 2048
    assert props["total_slots"] == slots
    meta = client.get(f"{server.base_url}/models").json()["data"][0]["meta"]
    assert meta["n_ctx_train"] != 2048  # the trained length: not the window
    assert discover_context_window(client=client, base_url=server.base_url, model="any") == 2048


@pytest.mark.llama
def test_real_llama_refuses_an_over_long_prompt(llama: LlamaServer, client: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "hello world " * 1500}], "max_tokens": 8, "stream": True}
    raw = client.post(f"{llama.base_url}/chat/completions", json=body)
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["type"] == "exceed_context_size_error" and error["n_ctx"] == 2048
    assert re.fullmatch(
        r"request \(\d+ tokens\) exceeds the available context size \(2048 tokens\), try "
        r"increasing it",
        error["message"],
    )
    assert context_limit_from_error(raw.text) == 2048
    with pytest.raises(RejectedError) as refused:
        stream_chat(
            client=client,
            base_url=llama.base_url,
            body=body,
            idle_timeout=30,
            on_text=lambda _: None,
            on_tick=lambda _: None,
        )
    assert is_context_error(str(refused.value))
    assert context_limit_from_error(str(refused.value)) == 2048


@pytest.mark.llama
def test_real_llama_runs_out_of_its_shared_cache_mid_stream(llama: LlamaServer) -> None:
    """Three requests that each fit a slot, but not the shared 2048-token pool together."""
    body = {
        "messages": [{"role": "user", "content": "hello world " * 400}],
        "max_tokens": 1500,
        "stream": True,
        "ignore_eos": True,
    }
    start, failures = threading.Barrier(3), []

    def one() -> None:
        with make_client(api_key=None, connect_timeout=2, idle_timeout=60) as own:
            start.wait()
            try:
                stream_chat(
                    client=own,
                    base_url=llama.base_url,
                    body=body,
                    idle_timeout=60,
                    on_text=lambda _: None,
                    on_tick=lambda _: None,
                )
            except DocgenError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if not failures:
        pytest.skip("the server ran the three requests one after another")
    for failure in failures:
        assert isinstance(failure, StreamError)
        assert "Context size has been exceeded." in str(failure)
        assert is_context_error(str(failure))
        assert context_limit_from_error(str(failure)) is None


TEXTS = {
    "english": (
        "The printing press, invented by Johannes Gutenberg around 1440, transformed how knowledge spread "
        "across Europe. Books became cheaper, literacy rose, and ideas moved in months."
    ),
    "python": (
        "def tokens_for(self, chars: int) -> int:\n    if self._chars < 4096:\n"
        "        return max(self._a(chars), b(chars))\n    return math.ceil(chars / self.rate * 1.1)  # margin\n"
    ),
    "markdown": (
        "# Setup\n\n1. Run `pip install docgen`.\n- **Note:** see [docs](https://example.com/d?p=2#top).\n"
        "| flag | default |\n|---|---|\n| `--timeout` | 300 |\n"
    ),
    "json": (
        '{"error":{"code":400,"message":"request (828 tokens) exceeds the available context size (512 tokens)",'
        '"n_prompt_tokens":828,"n_ctx":512}}'
    ),
    "numbers": "In 2023 the revenue was 1,234,567.89 USD (up 12.5%); IDs: 0x7f3a9c, 192.168.100.254.",
    "german": "Übermäßige Größenänderungen führen häufig zu Verzögerungen bei öffentlichen Bekanntmachungen.",
    "russian": "Быстрая коричневая лиса прыгает через ленивую собаку. Съешь же ещё этих мягких булок.",
    "chinese": "研究人员发现，印刷术的普及极大地促进了知识的传播。书籍变得更便宜，识字率提高。",
    "japanese": "活版印刷の発明は、ヨーロッパにおける知識の広がり方を大きく変えました。",
    "korean": "인쇄술의 발명은 유럽 전역에서 지식이 퍼지는 방식을 바꾸었습니다. 책은 더 저렴해졌습니다.",
    "emoji": "Party time 🎉🎉 with friends 😀👍🏽 and family 👨‍👩‍👧‍👦! 🚀✨🔥 done ✅",
    "docgen-document": make_document(words=300, seed=7),
}


@pytest.mark.llama
@pytest.mark.parametrize("fixture", ["llama", "smol"])
@pytest.mark.parametrize("name", list(TEXTS))
def test_estimate_is_at_least_the_real_token_count(
    request: pytest.FixtureRequest, client: httpx.Client, fixture: str, name: str
) -> None:
    server: LlamaServer = request.getfixturevalue(fixture)
    text = TEXTS[name]
    real = len(client.post(f"{_root(server)}/tokenize", json={"content": text}).json()["tokens"])
    assert 0 < real <= estimate_tokens(text)
