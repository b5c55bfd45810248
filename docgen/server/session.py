"""What one run shares: the pooled HTTP client, the model, and the server's quirks."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx

from docgen.errors import DocgenError
from docgen.server.client import choose_model, list_models, make_client
from docgen.server.context_window import discover_context_window
from docgen.server.continuation import mode_for_server
from docgen.server.probe_cache import cached_mode


@dataclass(frozen=True)
class Policy:
    """How hard to try. Nothing here changes the text a model is asked for."""

    idle_timeout: float = 120.0
    retries: int = 5
    backoff: float = 1.0
    max_continuations: int = 30
    continue_mode: str = "auto"
    context_tail: int = 12000
    context_window: int | None = None  # tokens; None: asked of the server


class Session:
    """What all documents of one run share: the client, the server's quirks as learned.

    The model is settled on first use: given, or the one model ``/models`` lists. Nothing
    is sent before that, so checks that need no server come first.
    """

    def __init__(self, *, client: httpx.Client, base_url: str, model: str | None, policy: Policy) -> None:
        self.client = client
        self.base_url = base_url
        self.policy = policy
        self.include_usage = True  # a server property: learned once, shared by every document
        self._model = model
        self._owned_by: str | None = None
        self._mode: str | None = None if policy.continue_mode == "auto" else policy.continue_mode
        self._window: int | None = policy.context_window
        self._window_known = policy.context_window is not None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        """The model's name; asks ``/models`` for the only one when none was given."""
        with self._lock:
            if self._model is None:
                self._model, self._owned_by = choose_model(client=self.client, base_url=self.base_url)
            return self._model

    def context_window(self) -> int | None:
        """The model's context window in tokens: --context-window, else what the server says, else None."""
        if not self._window_known:
            window = discover_context_window(client=self.client, base_url=self.base_url, model=self.model)
            self._window, self._window_known = window, True
        return self._window

    def known_context_window(self) -> int | None:
        """The window if it is already known (given, asked or learned), without asking the server."""
        return self._window if self._window_known else self.policy.context_window

    def learn_context_window(self, tokens: int) -> None:
        """A context error named the window: believe it over a guess."""
        self._window, self._window_known = tokens, True

    def for_model(self, model: str) -> Session:
        """A session for another model of the same server, over the same connection pool."""
        return Session(client=self.client, base_url=self.base_url, model=model, policy=self.policy)

    def continue_mode(self) -> str:
        """The continuation mode. ``auto`` is settled on first use: what ``docgen check`` found for
        this server and model, else what ``/models`` says of who serves it (see continuation.py)."""
        if self._mode is None:
            model = self.model
            mode = cached_mode(self.base_url, model)
            if mode is None:
                owner = self._owned_by
                if owner is None:
                    try:
                        models = list_models(client=self.client, base_url=self.base_url)
                        owner = next((str(m.get("owned_by", "")) for m in models if m["id"] == model), "")
                    except DocgenError:
                        owner = ""
                mode = mode_for_server(owner)
            self._mode = mode
        return self._mode


@contextlib.contextmanager
def open_sessions(
    *,
    base_urls: Sequence[str],
    model: str | None,
    api_key: str | None,
    policy: Policy,
    connect_timeout: float = 10.0,
    pool_size: int = 10,
    engine: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> Iterator[list[Session]]:
    """One session per endpoint, over one pooled client (its pool is per host)."""
    with make_client(
        api_key=api_key,
        connect_timeout=connect_timeout,
        idle_timeout=policy.idle_timeout,
        pool_size=pool_size * len(base_urls),
        engine=engine,
        headers=headers,
    ) as client:
        yield [Session(client=client, base_url=url, model=model, policy=policy) for url in base_urls]
