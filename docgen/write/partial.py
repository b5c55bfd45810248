"""Durable writing: a partial file flushed as text arrives, a journal, an atomic finish.

For an output ``report.md`` the run keeps, beside it:

- ``report.md.part``: the text so far, exactly as streamed. Each network read's text
  is written with one ``write`` system call before the next read is made, so a killed
  process never loses what it had received. It is the source of truth on resume.
- ``report.md.journal``: JSON with what a resume needs (the request without the API
  key, the settings, a fingerprint of the inputs, the replies so far). It is replaced
  atomically at checkpoints and may lag behind the part file.

The part file is locked (``flock``) for the whole run, so two processes never write
the same document. On success: fsync, ``os.replace`` onto the output, fsync the folder,
remove the journal.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docgen.errors import BusyError, OutputError
from docgen.markdown.wordcount import WordCounter
from docgen.server.continuation import from_boundary, tail_begin
from docgen.write.files import atomic_write, sidecar, sync_folder
from docgen.write.mirror import Mirror

JOURNAL_VERSION = 1
_READ_BLOCK = 1 << 16


def utf8_complete_length(tail: bytes) -> int:
    """How many bytes of ``tail`` to keep so it does not end inside a UTF-8 character."""
    for back in range(1, min(4, len(tail)) + 1):
        byte = tail[-back]
        if byte < 0x80:
            return len(tail)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(tail) if back >= need else len(tail) - back
    return len(tail)


class PartialDocument:
    """The partial file and journal of one output; use as a context manager."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.part = sidecar(output, ".part")
        self.journal_path = sidecar(output, ".journal")
        self.backup = sidecar(output, ".part.bak")
        self._fd = -1
        self.size = 0
        self.mirror: Mirror | None = None  # -o -: the text also goes to stdout as it settles

    # -- opening and locking -------------------------------------------------------
    def __enter__(self) -> PartialDocument:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        while True:
            try:  # never through a link planted at the side file: it would write outside the output
                fd = os.open(self.part, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise OutputError(
                        f"{self.part} is a symbolic link; docgen does not write through links",
                        hint="remove it, or choose another -o path",
                    ) from None
                raise OutputError(f"cannot write {self.part}: {exc.strerror}", hint="choose another -o path") from None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OutputError(f"{self.part} is not a regular file", hint="remove it, or choose another -o path")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise BusyError(
                        f"another docgen process is writing {self.output}",
                        hint="wait for it to finish, or choose another -o path",
                    ) from None
                raise OutputError(f"cannot lock {self.part}: {exc.strerror}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.part).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder finished or gave up and the file went away: open the new one
        self._fd = fd
        self.size = self._repair_torn_tail()

    def _repair_torn_tail(self) -> int:
        size = os.fstat(self._fd).st_size
        if size:
            tail = self._read(max(0, size - 4), size)
            keep = utf8_complete_length(tail)
            if keep < len(tail):
                size -= len(tail) - keep
                os.ftruncate(self._fd, size)
        return size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close_and_drop_if_empty(self) -> None:
        """Close; a run that wrote nothing leaves no files (removed while still locked)."""
        if self._fd >= 0 and os.fstat(self._fd).st_size == 0:
            with contextlib.suppress(FileNotFoundError):
                self.part.unlink()
                self.journal_path.unlink(missing_ok=True)
        self.close()

    # -- the journal ---------------------------------------------------------------
    def read_journal(self) -> dict[str, Any] | None:
        """The journal; None when there is none, ``{"unreadable": reason}`` when it cannot be used."""
        try:
            fd = os.open(self.journal_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                data = json.loads(f.read(1 << 24).decode("utf-8"))
        except FileNotFoundError:
            return None
        except OSError as exc:
            return {"unreadable": "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror}
        except ValueError:
            return {"unreadable": "not valid JSON"}
        return data if isinstance(data, dict) else {"unreadable": "not a JSON object"}

    def write_journal(self, data: dict[str, Any]) -> None:
        """Checkpoint: fsync the text, then atomically replace the journal."""
        self.sync()
        payload = json.dumps({"version": JOURNAL_VERSION, **data}, ensure_ascii=False, indent=1)
        try:
            atomic_write(self.journal_path, payload)
        except OSError as exc:
            raise OutputError(f"cannot write the journal {self.journal_path}: {exc.strerror}") from None

    # -- text ------------------------------------------------------------------------
    def append(self, text: str) -> None:
        """Write ``text`` to the part file now (one system call, no user-space buffer)."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from \u escapes: pair them up, else U+FFFD
            data = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8", "replace")
        try:
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            raise OutputError(
                f"cannot write {self.part}: {exc.strerror}",
                hint="free some space",
            ) from None
        self.size += len(data)
        if self.mirror is not None:
            self.mirror.add(data)

    def truncate(self, size: int) -> None:
        """Cut the text back to its first ``size`` bytes (a loop the model wrote is dropped)."""
        size = max(0, min(size, self.size))
        head = self._read(max(0, size - 4), size)  # never inside a character
        size -= len(head) - utf8_complete_length(head)
        try:
            os.ftruncate(self._fd, size)
        except OSError as exc:
            raise OutputError(f"cannot truncate {self.part}: {exc.strerror}") from None
        self.size = size
        if self.mirror is not None:
            self.mirror.cut(size)

    def sync(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise OutputError(f"cannot sync {self.part}: {exc.strerror}", hint="the text so far is kept") from None

    def read_tail(self, max_chars: int, *, start: int = 0) -> str:
        """The last ``max_chars`` characters of the text after byte ``start``."""
        begin = max(start, self.size - max_chars * 4)
        data = self._read(begin, self.size)
        start = 0
        while start < len(data) and start < 4 and 0x80 <= data[start] < 0xC0:
            start += 1
        text = data[start:].decode("utf-8", "replace")
        return text[-max_chars:] if len(text) > max_chars else text

    def read_context(self, budget: int, *, start: int = 0) -> str:
        """The tail of the text after byte ``start`` to send back when continuing (see ``tail_begin``)."""
        begin = tail_begin(self.size, start, budget)
        data = self._read(max(start, begin - 1), self.size)
        at_line_start = begin == start
        if begin > start:
            at_line_start, data = data[:1] == b"\n", data[1:]
        skip = 0
        while skip < len(data) and skip < 4 and 0x80 <= data[skip] < 0xC0:
            skip += 1
        return from_boundary(data[skip:].decode("utf-8", "replace"), at_line_start=at_line_start and not skip)

    def read_all(self) -> str:
        return self._read(0, self.size).decode("utf-8", "replace")

    def _read(self, begin: int, end: int) -> bytes:
        """Bytes ``begin:end`` of the text, through the locked descriptor (never the path again)."""
        chunks, at = [], begin
        while at < end and (chunk := os.pread(self._fd, min(end - at, _READ_BLOCK), at)):
            chunks.append(chunk)
            at += len(chunk)
        return b"".join(chunks)

    def count_words(self, *, also: Callable[[str], None] | None = None) -> WordCounter:
        """Count the words of the text so far, in blocks; ``also`` sees each block too."""
        counter = WordCounter()
        carry, at = b"", 0
        while block := os.pread(self._fd, _READ_BLOCK, at):
            at += len(block)
            block = carry + block
            keep = utf8_complete_length(block)
            carry = block[keep:]
            text = block[:keep].decode("utf-8", "replace")
            counter.add(text)
            if also is not None:
                also(text)
        return counter

    # -- starting over and finishing -------------------------------------------------
    def discard(self) -> Path | None:
        """Keep the current text in a new backup (``.part.bak``, ``.part.bak.1``, ...) and start
        from empty; return the backup. An earlier backup is never overwritten, nor a link followed."""
        backup = None
        try:
            if self.size:
                backup, fd = self._new_backup()
                with os.fdopen(fd, "wb") as dst:
                    at = 0
                    while block := os.pread(self._fd, _READ_BLOCK, at):
                        dst.write(block)
                        at += len(block)
            os.ftruncate(self._fd, 0)
            with contextlib.suppress(FileNotFoundError):
                self.journal_path.unlink()
        except OSError as exc:
            raise OutputError(
                f"cannot start {self.output} over: {exc.strerror}", hint=f"the text is in {self.part}"
            ) from None
        self.size = 0
        return backup

    def _new_backup(self) -> tuple[Path, int]:
        for n in range(1000):
            path = self.backup if n == 0 else sidecar(self.output, f".part.bak.{n}")
            try:
                return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                continue
        raise OutputError(f"too many backups of {self.part}", hint="remove the old .part.bak files")

    def finish(self, rendered: str | bytes | None = None) -> None:
        """Move the finished text onto the output, atomically and durably.

        With ``rendered`` (the text converted to the output's format), the output holds
        that instead of the raw text.
        """
        self.sync()
        try:
            if rendered is None:
                os.replace(self.part, self.output)
                sync_folder(self.output.parent)
            else:
                atomic_write(self.output, rendered)
                self.part.unlink()
            with contextlib.suppress(FileNotFoundError):
                self.journal_path.unlink()
        except OSError as exc:
            raise OutputError(
                f"cannot move the finished text to {self.output}: {exc.strerror}",
                hint=f"the text is kept in {self.part}",
            ) from None
