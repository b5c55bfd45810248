"""The user's own material for ``--source``: files, folders, globs and standard input, read as text.

A folder is walked recursively in name order. Hidden names (a leading ``.``) are skipped, and so is
what the ``.gitignore`` files of the walked folders and of the enclosing git repository ignore,
silently. Globs are matched relative to ``base`` by the same walk. A file named outright is always
read. Symlinked folders are followed once each, so a link loop ends.

Binary files (a NUL byte in the first 8 KB, or a known binary suffix) are skipped and bytes that
are not UTF-8 are replaced, each with one warning per ``--source`` and kind. HTML is read as text,
its headings kept as ``#`` lines; a Word .docx as the Markdown of its text (the ``docx`` extra).
Line endings become ``\\n``: line numbers match an editor's.

``.gitignore`` patterns are matched by pathspec (MPL-2.0, pure Python, no dependencies, already
required by mypy): its ``GitIgnoreSpec`` follows git on ``**``, anchoring, folder-only patterns
and ``!`` negation, which a subset written here would get wrong at the edges.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import io
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from docgen.errors import UsageError

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

STDIN_PATH = "<stdin>"
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024  # past this only the start of a file is read (all of it is hashed)
_SNIFF_BYTES = 8192
_BLOCK = 1024 * 1024
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_BINARY_WORDS = (
    ".png .jpg .jpeg .gif .bmp .ico .icns .tif .tiff .webp .avif .heic .psd .pdf .eps .zip .gz .tgz .bz2 .xz "
    ".zst .7z .rar .tar .jar .war .whl .egg .deb .rpm .dmg .iso .apk .exe .dll .so .dylib .o .a .lib .obj .class "
    ".pyc .pyo .pyd .wasm .bin .woff .woff2 .ttf .otf .eot .mp3 .mp4 .m4a .wav .flac .ogg .opus .avi .mov .mkv "
    ".webm .sqlite .sqlite3 .db .npy .npz .pkl .pickle .parquet .feather .onnx .pt .safetensors .gguf .doc .docx "
    ".xls .xlsx .ppt .pptx .odt .ods .odp .epub"
)
_BINARY_SUFFIXES = frozenset(_BINARY_WORDS.split())


@dataclass(frozen=True)
class SourceFile:
    path: str  # as the user and the model see it: relative to base when under it, else as given
    text: str
    bytes: int  # the size of the whole file
    sha256: str  # of the whole file's raw bytes, for fingerprints


@dataclass
class _Notes:
    """What one ``--source`` skipped or repaired, said once per kind rather than once per file."""

    spec: str
    kinds: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, path: str) -> None:
        self.kinds.setdefault(kind, []).append(path)

    def warnings(self) -> list[str]:
        out = []
        for kind, paths in self.kinds.items():
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            out.append(f"--source {self.spec}: {kind}: {shown}")
        return out


def read_sources(
    specs: Sequence[str],
    *,
    base: Path = Path("."),
    stdin: BinaryIO | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> tuple[list[SourceFile], list[str]]:
    """The text files that ``specs`` name, in spec order, each once, and the warnings worth showing.

    Raises ``UsageError`` naming the source when one is missing, unreadable, a broken link, a glob
    matching nothing or empty, or when ``-`` is given twice. A file in a folder that cannot be read
    is skipped with a warning instead. Paths are read relative to ``base``."""
    if sum(spec == "-" for spec in specs) > 1:
        raise UsageError("--source - is given twice", hint="standard input can be read only once")
    if "" in specs:
        raise UsageError("--source is empty", hint="give a file, a folder, a glob, or - for standard input")
    files: list[SourceFile] = []
    warnings: list[str] = []
    seen: set[tuple[int, int]] = set()
    for spec in specs:
        notes = _Notes(spec)
        if spec == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            found = _text_file(STDIN_PATH, *_read(stream, STDIN_PATH, max_file_bytes, notes), notes)
            files.extend([found] if found else [])
        else:
            paths = 0
            for path, shown, named in _paths(spec, base, notes):
                paths += 1
                found = _read_once(path, shown, named=named, seen=seen, notes=notes, max_bytes=max_file_bytes)
                files.extend([found] if found else [])
            if not paths and not notes.kinds:
                warnings.append(f"--source {spec}: no file to read there (hidden and .gitignored files are skipped)")
        warnings.extend(notes.warnings())
    return files, warnings


def _paths(spec: str, base: Path, notes: _Notes) -> Iterator[tuple[str, str, bool]]:
    """(path, path as shown, named outright) for each file that ``spec`` stands for, in order."""
    given = os.path.expanduser(spec)
    path = os.path.join(base, given)
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(f"--source {spec}: a broken link", hint=f"it points to {os.readlink(path)}, which is missing")
    if os.path.isdir(path):
        yield from _walk(path, _shown(given, base), notes)
    elif os.path.exists(path):
        yield path, _shown(given, base), True
    elif glob.has_magic(given):
        yield from _glob(given, base, notes)
    else:
        raise UsageError(
            f"--source {spec}: no such file or folder",
            hint=f"paths are read relative to {os.path.abspath(base)}; quote a glob such as 'notes/*.md'",
        )


def _glob(pattern: str, base: Path, notes: _Notes) -> Iterator[tuple[str, str, bool]]:
    """The files matching a glob, found by the same walk as a folder's, so links cannot loop and
    ``.gitignore`` applies. A matched folder stands for everything in it, as it would in a shell."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    start = os.path.join(*parts[:fixed]) if fixed else "."
    if not os.path.isdir(os.path.join(base, start)):
        raise UsageError(f"--source {pattern}: no such folder as {start}", hint=f"read in {os.path.abspath(base)}")
    from pathspec import GitIgnoreSpec  # here: only folders and globs need it

    spec = GitIgnoreSpec.from_lines(["/" + "/".join(parts[fixed:])])  # gitignore's *, ** and [] are a glob's
    shown_start = _shown(start, base)
    matched = False
    for path, shown, _ in _walk(os.path.join(base, start), shown_start, notes):
        if spec.match_file(shown[len(shown_start) + 1 :] if shown_start else shown):
            matched = True
            yield path, shown, False
    if not matched:
        raise UsageError(f"--source {pattern}: no file matches", hint=f"it is matched in {os.path.abspath(base)}")


# The .gitignore files in force in a folder, outermost first (so the deepest match wins), each with
# the path from its own folder down to this one.
_Rules = tuple[tuple["GitIgnoreSpec", str], ...]


def _walk(root: str, shown: str, notes: _Notes) -> Iterator[tuple[str, str, bool]]:
    """The files under ``root`` sorted by path, depth first, visiting each real folder once."""
    try:
        info = os.stat(root)
        listing, own = _listing(root)
    except OSError as exc:
        raise _unreadable(notes.spec, exc) from None
    visited = {(info.st_dev, info.st_ino)}
    stack = [(iter(listing), shown, _with_own(_rules_above(root), root, own))]
    while stack:
        entries, folder, rules = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        shown_path = _join(folder, entry.name)
        try:
            is_dir = entry.is_dir()
            if not is_dir and not entry.is_file():
                if entry.is_symlink() and not os.path.exists(entry.path):
                    notes.add("skipped broken links", shown_path)
                continue  # sockets, pipes and devices: reading one could block forever
            if rules and _ignored(rules, entry.name, is_dir=is_dir):
                continue
            if not is_dir:
                yield entry.path, shown_path, False
                continue
            key = (entry.stat().st_dev, entry.stat().st_ino)
            if key not in visited:  # a symlinked folder seen before: a loop, or a second way in
                visited.add(key)
                sublisting, own = _listing(entry.path)
                stack.append((iter(sublisting), shown_path, _with_own(_descend(rules, entry.name), entry.path, own)))
        except OSError:
            notes.add("skipped unreadable entries", shown_path)


def _listing(folder: str) -> tuple[list[os.DirEntry[str]], bool]:
    """The entries of ``folder`` that are not hidden, by name, and whether it has a ``.gitignore``."""
    with os.scandir(folder) as scan:
        entries = list(scan)
    shown = sorted((entry for entry in entries if not entry.name.startswith(".")), key=lambda entry: entry.name)
    return shown, any(entry.name == ".gitignore" for entry in entries)


def _ignored(rules: _Rules, name: str, *, is_dir: bool) -> bool:
    verdict: bool | None = None
    for spec, prefix in rules:
        include = spec.check_file(prefix + name + ("/" if is_dir else "")).include
        verdict = include if include is not None else verdict
    return bool(verdict)


def _descend(rules: _Rules, name: str) -> _Rules:
    return tuple((spec, f"{prefix}{name}/") for spec, prefix in rules)


def _with_own(rules: _Rules, folder: str, has_gitignore: bool = True) -> _Rules:
    if has_gitignore:
        from pathspec import GitIgnoreSpec

        try:
            with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as handle:
                return (*rules, (GitIgnoreSpec.from_lines(handle.read().splitlines()), ""))
        except OSError:  # unreadable, or gone: it cannot ignore anything then
            pass
    return rules


def _rules_above(folder: str) -> _Rules:
    """The rules in force in ``folder`` from the folders above it, up to the root of its git repository."""
    start = Path(os.path.abspath(folder))
    top = next((above for above in (start, *start.parents) if os.path.lexists(above / ".git")), start)
    rules: _Rules = ()
    for name in start.relative_to(top).parts:
        rules = _descend(_with_own(rules, str(top)), name)
        top = top / name
    return rules


def _read_once(
    path: str, shown: str, *, named: bool, seen: set[tuple[int, int]], notes: _Notes, max_bytes: int
) -> SourceFile | None:
    """The file at ``path`` as text, or None when it was read before, is binary or cannot be read."""
    docx = os.path.splitext(path)[1].lower() == ".docx"
    if os.path.splitext(path)[1].lower() in _BINARY_SUFFIXES and not docx:
        notes.add("skipped binary files", shown)
        return None
    try:
        with open(path, "rb", buffering=0) as handle:
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) in seen:
                return None
            seen.add((info.st_dev, info.st_ino))
            regular = stat.S_ISREG(info.st_mode)
            read = _read(handle, shown, max_bytes, notes, expected=info.st_size if regular else None)
    except OSError as exc:
        if named:
            raise _unreadable(shown, exc) from None
        notes.add("skipped unreadable files", shown)
        return None
    return _word_file(shown, *read, notes) if docx else _text_file(shown, *read, notes)


def _word_file(shown: str, raw: bytes, size: int, sha256: str, notes: _Notes) -> SourceFile | None:
    """A .docx as the Markdown of its text (python-docx, the ``docx`` extra), or None with a note."""
    from docgen.markdown.docx_text import DocxUnreadable, docx_to_markdown

    try:
        text = docx_to_markdown(io.BytesIO(raw))
    except DocxUnreadable as exc:
        notes.add(f"skipped .docx files: {exc}", shown)
        return None
    return SourceFile(path=shown, text=text, bytes=size, sha256=sha256)


def _read(
    handle: BinaryIO, shown: str, max_bytes: int, notes: _Notes, *, expected: int | None = None
) -> tuple[bytes, int, str]:
    """The first ``max_bytes`` (cut at a line's end when more follow), and the size and sha256 of the
    whole of a regular file (one of ``expected`` size), the rest read in blocks so memory stays flat.
    A pipe or a device is read no further than one block past ``max_bytes``: it might never end."""
    raw = _read_up_to(handle, max_bytes, first=_BLOCK if expected is None else expected + 1)
    digest, size = hashlib.sha256(raw), len(raw)
    more = _read_up_to(handle, _BLOCK) if size >= max_bytes else b""
    if more:
        raw = raw[: raw.rfind(b"\n") + 1 or len(raw)]  # a cut mid-character would look like bad UTF-8
        notes.add(f"longer than {max_bytes / 1024 / 1024:g} MB, only the start is read", shown)
    while more:
        digest.update(more)
        size += len(more)
        more = _read_up_to(handle, _BLOCK) if expected is not None else b""
    return raw, size, digest.hexdigest()


def _read_up_to(handle: BinaryIO, limit: int, *, first: int = _BLOCK) -> bytes:
    """Up to ``limit`` bytes, fewer only at the end; the first read asks for ``first`` (the size the
    file says it has, plus one to see its end: some files, in /proc say, claim 0)."""
    parts, left, step = [], limit, max(1, first)
    while left > 0 and (part := handle.read(min(left, step))):
        parts.append(part)
        left -= len(part)
        step = _BLOCK
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _unreadable(shown: str, exc: OSError) -> UsageError:
    return UsageError(f"--source {shown}: cannot read it ({exc.strerror})", hint="check its permissions")


def _text_file(shown: str, raw: bytes, size: int, sha256: str, notes: _Notes) -> SourceFile | None:
    """``raw`` decoded: None for binary, bad UTF-8 replaced (and noted), HTML turned into text."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16", errors="replace")  # before the NUL check, which UTF-16 would fail
    elif b"\0" in raw[:_SNIFF_BYTES]:
        notes.add("skipped binary files", shown)
        return None
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("utf-8-sig", errors="replace")
            notes.add("not UTF-8, undecodable bytes read as \ufffd", shown)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if shown.lower().endswith(_HTML_SUFFIXES):
        from docgen.markdown.html_text import html_to_text

        text = html_to_text(text)
    return SourceFile(path=shown, text=text, bytes=size, sha256=sha256)


def _shown(given: str, base: Path) -> str:
    """``given`` as the user sees it: relative to ``base`` when it lies under it, else as given."""
    absolute, top = os.path.abspath(os.path.join(base, given)), os.path.abspath(base)
    if absolute == top:
        return ""
    if absolute.startswith(top.rstrip(os.sep) + os.sep):
        return Path(os.path.relpath(absolute, top)).as_posix()
    return Path(given).as_posix()


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name
