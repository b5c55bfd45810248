"""Planted links and broken side files: nothing outside the output is ever written, nothing is lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sse_server import Script

VICTIM = "precious text that is not docgen's\n"


def _write(docgen, server, out: Path, *extra: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return docgen("write", "--topic", "t", "-o", str(out), "--base-url", server.base_url, *extra)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text(VICTIM, encoding="utf-8")
    return victim


def test_a_link_planted_at_the_partial_is_refused_even_with_restart(tmp_path: Path, serve, docgen, document) -> None:
    server = serve(Script(document=document))
    victim = _victim(tmp_path)
    out = tmp_path / "out.md"
    os.symlink(victim, tmp_path / "out.md.part")
    for extra in ((), ("--restart",)):
        code, _, err = _write(docgen, server, out, *extra)
        assert code == 4 and "symbolic link" in err, err
        assert err.count("\n") == 1
    assert victim.read_text(encoding="utf-8") == VICTIM
    assert not out.exists() and not server.recorder.chats


def test_a_partial_that_is_not_a_file_is_refused(tmp_path: Path, serve, docgen, document) -> None:
    server = serve(Script(document=document))
    os.mkfifo(tmp_path / "out.md.part")
    code, _, err = _write(docgen, server, tmp_path / "out.md")
    assert code == 4 and "not a regular file" in err


def test_a_link_planted_at_the_backup_is_not_followed_and_backups_pile_up(
    tmp_path: Path, serve, docgen, document
) -> None:
    server = serve(Script(document=document, cap_chars=500))
    victim = _victim(tmp_path)
    out = tmp_path / "out.md"
    (tmp_path / "out.md.part").write_text("an old partial\n", encoding="utf-8")
    (tmp_path / "out.md.journal").write_text(json.dumps({"fingerprint": "other"}), encoding="utf-8")
    os.symlink(victim, tmp_path / "out.md.part.bak")
    code, _, err = _write(
        docgen, server, out, "--restart", "--max-continuations", "100", "--words", "100000", "--outline", "none"
    )
    assert code == 0, err
    assert victim.read_text(encoding="utf-8") == VICTIM
    assert (tmp_path / "out.md.part.bak.1").read_text(encoding="utf-8") == "an old partial\n"
    assert out.read_text(encoding="utf-8") == document


def test_a_linked_or_corrupt_journal_is_called_unreadable(tmp_path: Path, serve, docgen, document) -> None:
    server = serve(Script(document=document))
    out = tmp_path / "out.md"
    (tmp_path / "out.md.part").write_text("some text\n", encoding="utf-8")
    (tmp_path / "out.md.journal").write_text("{not json", encoding="utf-8")
    code, _, err = _write(docgen, server, out)
    assert code == 4 and "unreadable (not valid JSON)" in err and "changed:" not in err
    (tmp_path / "out.md.journal").unlink()
    os.symlink(_victim(tmp_path), tmp_path / "out.md.journal")
    code, _, err = _write(docgen, server, out)
    assert code == 4 and "unreadable (a symbolic link)" in err


def test_a_link_planted_where_the_batch_lock_was_is_left_alone(tmp_path: Path, serve, docgen) -> None:
    server = serve(Script(document="A short document.\n"))
    victim = _victim(tmp_path)
    (tmp_path / "out").mkdir()
    os.symlink(victim, tmp_path / "out" / ".docgen-batch.lock")
    manifest = tmp_path / "m.toml"
    manifest.write_text('[defaults]\noutput_dir = "out"\n\n[[jobs]]\ntopic = "a"\noutput = "a.md"\n', encoding="utf-8")
    code, _, err = docgen("batch", str(manifest), "--base-url", server.base_url)
    assert code == 0, err  # the lock is the folder itself now: no lock file is opened, nothing followed
    assert victim.read_text(encoding="utf-8") == VICTIM
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".docgen-batch.lock", ".docgen-state.json", "a.md"]
