"""Small file-system steps every writer here shares: side-file names, the folder check,
and the one way a file is replaced (``atomic_write``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from docgen.errors import OutputError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, before any thread starts
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def sidecar(output: Path, suffix: str) -> Path:
    """A file beside ``output`` named after it: ``report.md`` + ``.part``."""
    return output.with_name(output.name + suffix)


SIDE_FILE_ROOM = 24  # the longest name docgen adds to an output's: ".<name>.<8 random>.tmp", ".part.bak.999"


def check_writable(output: Path) -> None:
    """Create the output's folder and prove it writable, before any request is sent."""
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {exc.strerror}", hint="choose another -o path") from None
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(output.name)) + SIDE_FILE_ROOM > name_max:
        raise OutputError(
            f"the file name {output.name[:40]}... is too long",
            hint=f"use at most {name_max - SIDE_FILE_ROOM} bytes, leaving room for docgen's side files",
        )
    if output.is_dir():
        raise OutputError(f"{output} is a folder", hint="give a file name ending in .md, .txt, .html or .docx")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to folder {folder}: permission denied", hint="choose another -o path")


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` all at once, durably; raises ``OSError``.

    The data goes to a temporary file with a unique name beside ``path`` (created with
    ``O_EXCL``, so nothing planted there is followed), which is fsynced and renamed over
    ``path``; then the folder is fsynced. A reader sees the old file or the new one,
    never a mix, and two writers never share a temporary file.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)
