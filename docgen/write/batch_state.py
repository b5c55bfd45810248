"""``OUTPUT_DIR/.docgen-batch.json``: which inputs each finished output of a batch came from.

It makes re-runs idempotent: a finished output whose inputs are unchanged is skipped.
Updates are serialised by a thread lock and, across processes, by ``flock`` on a lock file.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
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
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC  # never through a planted link
            with self._lock, os.fdopen(os.open(self.path.with_suffix(".lock"), flags, 0o644), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # other processes on the same folder
                data = self.read()
                data[relative] = fingerprint
                atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True))
        except OSError as exc:
            raise OutputError(f"cannot record {relative} in {self.path}: {exc.strerror}") from None
