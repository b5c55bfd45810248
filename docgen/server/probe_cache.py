"""The cache of ``docgen check`` results: the continuation mode found per server and model.

It lives in ``~/.cache/docgen/probes.json`` (``$XDG_CACHE_HOME`` or ``$DOCGEN_CACHE_DIR``
move it) and is what ``--continue-mode auto`` reads first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from docgen.errors import redact
from docgen.write.files import atomic_write


def cache_path() -> Path:
    root = os.environ.get("DOCGEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "docgen"
    )
    return Path(root) / "probes.json"


def cached_mode(base_url: str, model: str) -> str | None:
    """The continuation mode ``docgen check`` found for this server and model, if any."""
    try:
        entry = json.loads(cache_path().read_text(encoding="utf-8")).get(f"{redact(base_url)} {model}")
    except (OSError, ValueError, AttributeError):
        return None
    mode = entry.get("continue_mode") if isinstance(entry, dict) else None
    return mode if isinstance(mode, str) else None


def save_mode(*, base_url: str, model: str, continue_mode: str, modes: dict[str, Any]) -> Path:
    """Record what ``docgen check`` found; returns the cache file. Raises ``OSError``."""
    path = cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data[f"{redact(base_url)} {model}"] = {
        "continue_mode": continue_mode,
        "modes": modes,
        "checked": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1))
    return path
