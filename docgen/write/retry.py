"""Waiting before a retry: exponential backoff with jitter, or what the server asked for."""

from __future__ import annotations

import random
import time

from docgen.errors import DocgenError
from docgen.server.session import Policy
from docgen.write.progress import Progress, ProgressCallback

BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 300.0


def backoff_delay(attempt: int, base: float, retry_after: float | None) -> float:
    """Seconds before retry ``attempt`` (1-based): ``Retry-After`` when given, else doubling with jitter."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    return float(min(BACKOFF_CAP, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


def wait_to_retry(
    exc: DocgenError, attempt: int, *, policy: Policy, progress: Progress, on_progress: ProgressCallback
) -> None:
    """Wait before retry ``attempt``, reporting progress every half second (a caller cancels by raising)."""
    delay = backoff_delay(attempt, policy.backoff, getattr(exc, "retry_after", None))
    progress.phase = "retrying"
    progress.note = f"{exc.message} (retry {attempt}/{policy.retries} in {delay:.0f}s)"
    end = time.monotonic() + delay
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.5, left))
        on_progress(progress)
    progress.note = ""
