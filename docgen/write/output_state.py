"""``FOLDER/.docgen-state.json``: which inputs each finished output in a folder came from.

It makes re-runs idempotent, as ``make`` is: a finished output whose inputs are
unchanged is up to date and left alone, by ``write`` and by ``batch``. Keys are paths
relative to the folder. Updates are serialised by a thread lock and, across
processes, by ``flock`` on the folder itself (no lock file is left behind).
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

STATE_FILE = ".docgen-state.json"
OLD_STATE_FILE = ".docgen-batch.json"  # docgen 0.x before ``write`` kept state too: read, then replaced


class OutputState:
    """Output (relative to the folder) -> fingerprint of its inputs."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self.old_path = folder / OLD_STATE_FILE
        self._lock = threading.Lock()

    def read(self) -> dict[str, str]:
        data: dict[str, str] = {}
        for path in (self.old_path, self.path):
            try:
                found = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(found, dict):
                data.update({k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)})
        return data

    def record(self, relative: str, fingerprint: str) -> None:
        try:
            # other processes on the same folder: the lock is the folder itself, so no lock file is left
            with self._lock, _locked(os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)):
                data = self.read()
                data[relative] = fingerprint
                atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True))
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.old_path)
        except OSError as exc:
            raise OutputError(f"cannot record {relative} in {self.path}: {exc.strerror}") from None


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
