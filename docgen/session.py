"""What one run shares: the pooled HTTP client, the model, and the server's quirks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from docgen.client import choose_model, list_models, make_client
from docgen.continuation import mode_for_server
from docgen.errors import DocgenError


@dataclass(frozen=True)
class Policy:
    """How hard to try. Nothing here changes the text a model is asked for."""

    idle_timeout: float = 120.0
    retries: int = 5
    backoff: float = 1.0
    max_continuations: int = 30
    continue_mode: str = "auto"
    context_tail: int = 12000


class Session:
    """What all documents of one run share: the client, the server's quirks as learned."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        model: str,
        policy: Policy,
        owned_by: str | None = None,
        probed_mode: str | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.model = model
        self.policy = policy
        self.include_usage = True  # a server property: learned once, shared by every document
        self._owned_by = owned_by
        self._mode = policy.continue_mode if policy.continue_mode != "auto" else probed_mode

    def for_model(self, model: str) -> Session:
        """A session for another model of the same server, over the same connection pool."""
        from docgen.probe import cached_mode

        probed = cached_mode(self.base_url, model) if self.policy.continue_mode == "auto" else None
        return Session(client=self.client, base_url=self.base_url, model=model, policy=self.policy, probed_mode=probed)

    def continue_mode(self) -> str:
        """The continuation mode; ``auto`` is settled on first use (see continuation.py)."""
        if self._mode is None:
            owner = self._owned_by
            if owner is None:
                try:
                    models = list_models(client=self.client, base_url=self.base_url)
                    owner = next((str(m.get("owned_by", "")) for m in models if m["id"] == self.model), "")
                except DocgenError:
                    owner = ""
            self._mode = mode_for_server(owner)
        return self._mode


@contextlib.contextmanager
def open_session(
    *,
    base_url: str,
    model: str | None,
    api_key: str | None,
    policy: Policy,
    connect_timeout: float = 10.0,
    pool_size: int = 10,
) -> Iterator[Session]:
    """A pooled client and a Session, with the model settled (asking ``/models`` if needed)."""
    from docgen.probe import cached_mode

    with make_client(
        api_key=api_key, connect_timeout=connect_timeout, idle_timeout=policy.idle_timeout, pool_size=pool_size
    ) as client:
        owned_by = None
        if not model:
            model, owned_by = choose_model(client=client, base_url=base_url)
        probed = cached_mode(base_url, model) if policy.continue_mode == "auto" else None
        yield Session(
            client=client, base_url=base_url, model=model, policy=policy, owned_by=owned_by, probed_mode=probed
        )
