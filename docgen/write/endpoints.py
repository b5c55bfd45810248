"""Several servers of one model: each document goes to the least busy, and moves on when one fails.

A document whose endpoint fails for good (refused, 5xx or 429 after the retries, a server
dead mid-stream) continues its partial on another endpoint: the partial file and its
journal are the same whatever server wrote them, so the result is byte-exact. Each
endpoint keeps its own session: its continuation mode, context window and quirks are its
own. An endpoint that failed is tried last until it works again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

from docgen.errors import ConnectError, StreamError, UnavailableError
from docgen.inputs.jobs import JobSpec
from docgen.server.session import Session
from docgen.write.document import WriteResult
from docgen.write.job import write_job
from docgen.write.mirror import Mirror
from docgen.write.progress import ProgressCallback, ignore_progress

FAILOVER = (ConnectError, UnavailableError, StreamError)  # the server's fault: another one may do


class Endpoints:
    def __init__(self, sessions: Sequence[Session], *, per_endpoint: int = 0) -> None:
        self.sessions = list(sessions)
        self.per_endpoint = per_endpoint  # most documents at once on one endpoint; 0: no cap
        self.busy = [0] * len(self.sessions)
        self.failed = [0] * len(self.sessions)  # failures in a row: a failed endpoint is asked last
        self._models: dict[tuple[int, str], Session] = {}
        self._free = threading.Condition()

    @property
    def first(self) -> Session:
        return self.sessions[0]

    @contextlib.contextmanager
    def lease(self, avoid: set[int]) -> Iterator[int]:
        """An endpoint for one document: not in ``avoid``, under its cap, the least busy and least failing."""
        with self._free:
            while True:
                open_ = [i for i in range(len(self.sessions)) if i not in avoid]
                free = [i for i in open_ if not self.per_endpoint or self.busy[i] < self.per_endpoint]
                if free or not open_:
                    break
                self._free.wait()
            chosen = min(free or range(len(self.sessions)), key=lambda i: (self.failed[i], self.busy[i], i))
            self.busy[chosen] += 1
        try:
            yield chosen
        finally:
            with self._free:
                self.busy[chosen] -= 1
                self._free.notify_all()

    def session(self, index: int, model: str | None) -> Session:
        """Endpoint ``index``'s session, for another model than the run's when a job names one."""
        if not model:
            return self.sessions[index]
        with self._free:
            key = (index, model)
            if key not in self._models:
                self._models[key] = self.sessions[index].for_model(model)
            return self._models[key]

    def answering(self, model: str | None) -> Session:
        """A session whose server says which model it serves (for a fingerprint): the first that answers."""
        error: Exception | None = None
        for index in sorted(range(len(self.sessions)), key=lambda i: self.failed[i]):
            session = self.session(index, model)
            try:
                session.model  # noqa: B018 - asks /models once, then remembered
            except FAILOVER as exc:
                self.outcome(index, ok=False)
                error = exc
                continue
            return session
        assert error is not None
        raise error

    def outcome(self, index: int, *, ok: bool) -> None:
        with self._free:
            self.failed[index] = 0 if ok else self.failed[index] + 1


def write_anywhere(
    endpoints: Endpoints,
    *,
    spec: JobSpec,
    model: str | None = None,
    existing: str = "auto",
    force: bool = False,
    on_progress: ProgressCallback = ignore_progress,
    track: bool = True,
    mirror: Mirror | None = None,
) -> WriteResult:
    """``write_job`` on the least busy endpoint; when that one fails for good, the partial goes on on another."""
    tried: set[int] = set()
    while True:
        with endpoints.lease(tried) as index:
            try:
                result = write_job(
                    session=endpoints.session(index, model),
                    spec=spec,
                    existing=existing if not tried else "auto",  # the partial from the failed endpoint goes on
                    force=force,
                    on_progress=on_progress,
                    track=track,
                    mirror=mirror,
                )
            except FAILOVER:
                endpoints.outcome(index, ok=False)
                tried.add(index)
                if len(tried) == len(endpoints.sessions):
                    raise
                continue
            endpoints.outcome(index, ok=True)
            return result
