"""Shared fixtures: a scripted loopback server, a known document, and docgen runners."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sse_server import Script, SSEServer

from docgen.cli import run

_WORDS = ["alpha", "beta", "gamma", "δέλτα", "研究", "🎉", "naïve", "zeta", "théâtre", "中文", "emoji😀", "end"]


def make_document(words: int = 1500, seed: int = 1) -> str:
    """A Markdown document with CJK, emoji and accents, unique enough that any tail locates."""
    rng = random.Random(seed)
    paragraphs, count = ["# A known document\n"], 0
    while count < words:
        n = rng.randint(20, 60)
        paragraphs.append(" ".join(f"{rng.choice(_WORDS)}{rng.randint(0, 9999)}" for _ in range(n)) + "\n")
        count += n
        if rng.random() < 0.2 and count < words:  # never last: a heading with nothing under it is dropped
            paragraphs.append(f"## Section {count - n}\n")
    return "\n".join(paragraphs)


def pytest_collection_finish(session: pytest.Session) -> None:
    """When llama.cpp tests are to run and its server is not built yet, build it first, and say so."""
    if any(item.get_closest_marker("llama") for item in session.items):
        from llama import build_once

        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        build_once(lambda line: reporter.write_line(line) if reporter is not None else None)


@pytest.fixture
def document() -> str:
    return make_document()


@pytest.fixture
def serve() -> Iterator[object]:
    """``serve(Script(...))`` starts a server that stops at the end of the test."""
    servers: list[SSEServer] = []

    def start(script: Script) -> SSEServer:
        server = SSEServer(script).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def docgen(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run docgen in-process through its real entry point; returns (code, stdout, stderr)."""
    for var in ("DOCGEN_BASE_URL", "OPENAI_BASE_URL", "DOCGEN_MODEL", "DOCGEN_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def docgen_process(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[bytes]:
    """Start docgen as a real process (for signals and kills)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_"))}
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "docgen", *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
