"""atomic_write, sidecar names and the output folder check, on real files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from docgen.errors import OutputError
from docgen.write.files import atomic_write, check_writable, sidecar

needs_permissions = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "out.md").write_text("old text")
    folder.chmod(0o500)
    yield folder
    folder.chmod(0o700)  # so pytest can clean up


# -- atomic_write --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        ("plain text\n", b"plain text\n"),
        ("中文 😀 naïve", "中文 😀 naïve".encode()),
        (b"\x00\xffraw", b"\x00\xffraw"),
        ("", b""),
    ],
)
def test_atomic_write_writes_str_and_bytes(tmp_path: Path, data: str | bytes, stored: bytes) -> None:
    path = tmp_path / "out.md"
    atomic_write(path, data)
    assert path.read_bytes() == stored


def test_atomic_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    path.write_text("a much longer old text that must not survive in part")
    atomic_write(path, "new")
    assert path.read_text() == "new"


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    atomic_write(path, "one")
    atomic_write(path, "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md"]


def test_atomic_write_mode_follows_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "out.md"
        atomic_write(path, "text")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["umask022", "umask077", "umask002"]
)
def test_atomic_write_mode_follows_the_process_umask(tmp_path: Path, umask: int, mode: int) -> None:
    # a fresh process, since docgen reads the umask once, when files.py is imported
    path = tmp_path / "out.md"
    code = "import sys; from pathlib import Path; from docgen.write.files import atomic_write; "
    code += "atomic_write(Path(sys.argv[1]), 'text')"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, umask=umask, timeout=30)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_atomic_write_onto_a_folder_fails_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        atomic_write(target, "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md"]  # the temporary file is gone
    assert (target / "inside").read_text() == "kept"


def test_atomic_write_into_a_missing_folder_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        atomic_write(tmp_path / "missing" / "out.md", "text")
    assert list(tmp_path.iterdir()) == []


@needs_permissions
def test_atomic_write_into_a_read_only_folder_keeps_the_old_file(read_only_folder: Path) -> None:
    path = read_only_folder / "out.md"
    with pytest.raises(OSError):
        atomic_write(path, "new text")
    assert path.read_text() == "old text"
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["out.md"]


def test_atomic_write_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("precious")
    planted = tmp_path / (path.name + ".tmp")
    planted.symlink_to(elsewhere)
    atomic_write(path, "new text")
    assert path.read_text() == "new text"
    assert not path.is_symlink()
    assert planted.is_symlink()
    assert os.readlink(planted) == str(elsewhere)
    assert elsewhere.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "out.md", "out.md.tmp"]


def test_atomic_write_replaces_a_symlink_at_the_path_itself(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("precious")
    path = tmp_path / "out.md"
    path.symlink_to(elsewhere)
    atomic_write(path, "new text")
    assert not path.is_symlink()  # the link is replaced by the file; its target is untouched
    assert path.read_text() == "new text"
    assert elsewhere.read_text() == "precious"


# -- sidecar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "suffix", "expected"),
    [
        ("report.md", ".part", "report.md.part"),
        ("report.md", ".journal", "report.md.journal"),
        ("report.md", ".part.bak", "report.md.part.bak"),
        ("docs/报告.txt", ".part", "docs/报告.txt.part"),
        ("noext", ".part", "noext.part"),
    ],
)
def test_sidecar_names_a_file_beside_the_output(tmp_path: Path, output: str, suffix: str, expected: str) -> None:
    assert sidecar(tmp_path / output, suffix) == tmp_path / expected


# -- check_writable ------------------------------------------------------------------------


def test_check_writable_creates_missing_folders(tmp_path: Path) -> None:
    output = tmp_path / "a" / "b" / "c" / "out.md"
    check_writable(output)
    assert output.parent.is_dir()
    assert not output.exists()


def test_check_writable_accepts_an_existing_file(tmp_path: Path) -> None:
    output = tmp_path / "out.md"
    output.write_text("old")
    check_writable(output)
    assert output.read_text() == "old"


def test_check_writable_refuses_a_folder_as_output(tmp_path: Path) -> None:
    output = tmp_path / "out.md"
    output.mkdir()
    with pytest.raises(OutputError, match="is a folder") as caught:
        check_writable(output)
    assert caught.value.exit_code == 4


def test_check_writable_refuses_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(OutputError, match="cannot create folder"):
        check_writable(tmp_path / "blocker" / "sub" / "out.md")


@needs_permissions
def test_check_writable_refuses_a_read_only_folder(read_only_folder: Path) -> None:
    with pytest.raises(OutputError, match="permission denied"):
        check_writable(read_only_folder / "new.md")
