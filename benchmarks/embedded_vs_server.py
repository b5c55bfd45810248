"""The embedded engine (xllamacpp, in-process) against llama.cpp's own llama-server process.

    python benchmarks/embedded_vs_server.py [--runs 5] [--tokens 256] [--threads 2] [--loads 3]

Both serve SmolLM2-135M-Instruct (the Q4_1 GGUF of ../shared/tools/llama-server.sh smol) with
the same threads, one slot of 8192 tokens and no busy-polling (``--poll 0``, as the script
starts it). The server binary is the one that script builds and caches; it is started here
directly, with the script's flags, so that its load time is timed to 10 ms rather than to
the script's 0.2 s polling. Both stay up while the replies alternate between them, so that
whatever else loads the machine weighs on both alike.

Load: from the start until the server answers (the process spawn for llama-server, the
``EmbeddedEngine.start()`` call for the engine), median of ``--loads``. First token: from
the request until the first text of the streamed reply (the prompt is evaluated each time:
``cache_prompt`` is off). Tokens/s: the reply's tokens after the first, over the time from
the first to the last, on the client's clock; "server tok/s" is the server's own
``timings.predicted_per_second``. Replies are ``--tokens`` long exactly (``ignore_eos``).
Medians of ``--runs`` after one warm-up reply each. A Markdown table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from docgen.server.embedded import EmbeddedEngine  # noqa: E402

SCRIPT = Path(os.environ.get("DOCGEN_LLAMA_SCRIPT", REPO.parent / "shared/tools/llama-server.sh"))
PROMPT = "Write a detailed essay about the history of lighthouses and the people who kept them."
CONTEXT = 8192


@dataclass
class Figures:
    name: str
    loads: list[float] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    server_rates: list[float] = field(default_factory=list)


def _script(command: str) -> str:
    done = subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, check=True, timeout=3600)
    return done.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_server(binary: Path, model: Path, threads: int, figures: Figures) -> Iterator[str]:
    """llama-server on a free loopback port, with llama-server.sh's flags; yields its /v1 URL."""
    port = _free_port()
    flags = ["-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(CONTEXT), "--poll", "0"]
    flags += ["-t", str(threads), "-tb", str(threads), "-np", "1"]
    env = {**os.environ, "LD_LIBRARY_PATH": str(binary.parent)}
    began = time.perf_counter()
    process = subprocess.Popen([str(binary), *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(trust_env=False, timeout=1) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    raise SystemExit(f"llama-server exited with {process.returncode}")
                time.sleep(0.01)
        figures.loads.append(time.perf_counter() - began)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def embedded(model: Path, threads: int, figures: Figures) -> Iterator[str]:
    """The embedded engine; yields its /v1 URL."""
    with EmbeddedEngine(model, threads=threads, context_window=CONTEXT) as engine:
        began = time.perf_counter()
        info = engine.start()
        figures.loads.append(time.perf_counter() - began)
        yield info.base_url


def reply(client: httpx.Client, base_url: str, tokens: int, figures: Figures | None) -> None:
    """One streamed reply of ``tokens`` tokens, timed into ``figures`` (None: a warm-up)."""
    body = {
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "temperature": 0,
        "ignore_eos": True,
        "cache_prompt": False,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sent = time.perf_counter()
    first = last = 0.0
    pieces, usage, timings = 0, 0, dict[str, float]()
    with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = (chunk.get("usage") or {}).get("completion_tokens", usage)
            timings = chunk.get("timings") or timings
            if any((choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or []):
                last = time.perf_counter()
                first, pieces = first or last, pieces + 1
    count = usage or pieces
    if figures is not None:
        figures.first_token.append(first - sent)
        figures.rates.append((count - 1) / (last - first))
        if "predicted_per_second" in timings:
            figures.server_rates.append(float(timings["predicted_per_second"]))


def _median(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    return f"{statistics.median(values) * scale:.{digits}f}" if values else "n/a"


def table(rows: list[Figures], threads: int, tokens: int) -> str:
    lines = [
        f"SmolLM2-135M-Instruct Q4_1, {threads} threads, 1 slot of {CONTEXT} tokens, {tokens}-token replies, "
        f"medians of {len(rows[0].rates)} replies and {len(rows[0].loads)} loads",
        "",
        "| engine | load (s) | first token (ms) | tokens/s (client) | tokens/s (server) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [_median(row.loads, digits=2), _median(row.first_token, 1000, 0), _median(row.rates)]
        lines.append(f"| {row.name} | " + " | ".join([*cells, _median(row.server_rates)]) + " |")
    server, engine = rows
    ratio = statistics.median(engine.rates) / statistics.median(server.rates)
    lines += ["", f"embedded / llama-server tokens/s (client): {ratio:.2f}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    binary, model = Path(_script("path")), Path(_script("smol"))
    server, engine = Figures("llama-server (process)"), Figures("embedded (xllamacpp)")
    for _ in range(args.loads - 1):  # the loads beyond the one that serves the replies below
        with llama_server(binary, model, args.threads, server):
            pass
        with embedded(model, args.threads, engine):
            pass
    with (
        llama_server(binary, model, args.threads, server) as server_url,
        embedded(model, args.threads, engine) as engine_url,
        # a fresh connection for each reply: llama.cpp's HTTP server closes one idle for 5 s, and a
        # reply from the other server takes about that long, so a kept one could close as it is reused
        httpx.Client(trust_env=False, timeout=300, limits=httpx.Limits(max_keepalive_connections=0)) as client,
    ):
        for url in (server_url, engine_url):
            reply(client, url, args.tokens, None)
        pair = [(server_url, server), (engine_url, engine)]
        for run in range(args.runs):
            print(f"reply {run + 1}/{args.runs}", file=sys.stderr)
            for url, figures in pair if run % 2 == 0 else pair[::-1]:  # neither always goes first
                reply(client, url, args.tokens, figures)
    print(table([server, engine], args.threads, args.tokens))


if __name__ == "__main__":
    main()
