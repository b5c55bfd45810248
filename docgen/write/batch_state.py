"""``OUTPUT_DIR/.docgen-batch.json``: which inputs each finished output of a batch came from.

It makes re-runs idempotent: a finished output whose inputs are unchanged is skipped.
Updates are serialised by a thread lock and, across processes, by ``flock`` on a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from docgen.errors import OutputError
from docgen.write.files import atomic_write

STATE_FILE = ".docgen-batch.json"


class BatchState:
    """Output (relative to the output folder) -> fingerprint of its inputs."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self._lock = threading.Lock()

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, relative: str, fingerprint: str) -> None:
        try:
            # other processes on the same folder: the lock is the folder itself, so no lock file is left
            with self._lock, _locked(os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)):
                data = self.read()
                data[relative] = fingerprint
                atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True))
        except OSError as exc:
            raise OutputError(f"cannot record {relative} in {self.path}: {exc.strerror}") from None


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
