"""``OUTPUT.sections/index.json``: what an outline run has finished, and from which inputs.

A finished section is known by its fingerprint (the run's inputs and its own title,
brief, budget and place as the closing section), not by its file name: after an edit
of the outline, a section whose own line did not change is kept, under its new name
if its number moved, and only the changed or new sections are written. The run's
inputs are recorded too, so that a re-run with another model, template or system is
refused before any request is sent, naming what changed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docgen.errors import OutputError, ResumeError
from docgen.write.files import atomic_write, sidecar

MAX_BACKUPS = 1000


class SectionIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "index.json"
        self.lock = threading.Lock()
        self.unreadable = ""
        data: Any = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                self.unreadable = getattr(exc, "strerror", None) or "not valid JSON"
        if not isinstance(data, dict):
            data, self.unreadable = {}, self.unreadable or "not a JSON object"
        self.outline: str | None = data.get("outline") if isinstance(data.get("outline"), str) else None
        done = data.get("sections")
        done = done if isinstance(done, dict) else {}
        self.done: dict[str, str] = {k: v for k, v in done.items() if isinstance(k, str) and isinstance(v, str)}
        inputs = data.get("inputs")
        self.inputs: dict[str, Any] | None = inputs if isinstance(inputs, dict) else None

    def check_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Refuse to go on with sections written from other inputs, before anything is sent."""
        has_work = bool(self.done) or any(p.name != self.path.name for p in self.folder.iterdir())
        if not has_work:
            return
        if self.unreadable:
            raise ResumeError(
                f"{self.path} is unreadable ({self.unreadable}), so the sections cannot be continued safely",
                hint="use --restart to start over (the old sections are kept in a .sections.bak folder)",
            )
        if self.inputs is None:
            changed = "unknown: written by an older docgen"
        else:
            changed = ", ".join(sorted(k for k in {*self.inputs, *inputs} if self.inputs.get(k) != inputs.get(k)))
        if changed:
            raise ResumeError(
                f"the sections in {self.folder} were written with different inputs (changed: {changed})",
                hint="re-run with the original options to continue, or use --restart to write them again "
                "(the old ones are kept in a .sections.bak folder)",
            )

    def record_inputs(self, inputs: Mapping[str, Any]) -> None:
        """The inputs saved with the next mark: until something is finished, the folder stays empty."""
        with self.lock:
            self.inputs = dict(inputs)

    def finished(self, path: Path, fp: str) -> bool:
        """Whether the section of fingerprint ``fp`` is finished; moves it to ``path`` if it was renumbered."""
        with self.lock:
            if path.exists() and self.done.get(path.name) == fp:
                return True
            old = next((name for name, known in self.done.items() if known == fp and name != path.name), None)
            if old is None or not (self.folder / old).is_file() or path.exists():
                return False
            os.replace(self.folder / old, path)
            del self.done[old]
            self.done[path.name] = fp
            self._save()
            return True

    def stale(self, path: Path, fp: str) -> bool:
        """Whether the section file at ``path`` (finished or begun) was written for another line of the outline."""
        if self.finished(path, fp):
            return False
        if self.done.get(path.name, fp) != fp and path.exists():
            return True
        if not sidecar(path, ".part").exists():
            return False
        try:
            journal = json.loads(sidecar(path, ".journal").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False  # the section's own resume check says what is wrong with it
        return isinstance(journal, dict) and journal.get("fingerprint") not in (None, fp)

    def mark(self, path: Path, fp: str) -> None:
        with self.lock:
            self.done[path.name] = fp
            self._save()

    def mark_outline(self, fp: str) -> None:
        with self.lock:
            self.outline = fp
            self._save()

    def _save(self) -> None:
        record = {"outline": self.outline, "inputs": self.inputs, "sections": self.done}
        try:
            atomic_write(self.path, json.dumps(record, indent=1, ensure_ascii=False))
        except OSError as exc:
            raise OutputError(f"cannot record progress in {self.path}: {exc.strerror}") from None


def back_up_folder(folder: Path) -> Path:
    """Move ``folder`` aside as ``NAME.bak``, ``NAME.bak.1``, ...: a second ``--restart`` keeps the first backup."""
    for n in range(MAX_BACKUPS):
        target = folder.with_name(folder.name + (".bak" if n == 0 else f".bak.{n}"))
        try:
            os.mkdir(target)  # claimed: no other run can take this name; the rename then replaces it
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot back up {folder}: {exc.strerror}") from None
        try:
            os.replace(folder, target)
        except OSError as exc:
            os.rmdir(target)
            raise OutputError(f"cannot back up {folder}: {exc.strerror}") from None
        return target
    raise OutputError(f"too many backups of {folder}", hint="remove the old .sections.bak folders")
