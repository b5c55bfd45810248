"""The record of finished outputs: read, written, and the older file name taken over."""

from __future__ import annotations

import json
from pathlib import Path

from docgen.write.output_state import OLD_STATE_FILE, STATE_FILE, OutputState


def test_records_are_kept_per_output(tmp_path: Path) -> None:
    state = OutputState(tmp_path)
    assert state.read() == {}
    state.record("a.md", "1" * 64)
    state.record("sub/b.md", "2" * 64)
    assert OutputState(tmp_path).read() == {"a.md": "1" * 64, "sub/b.md": "2" * 64}


def test_the_older_batch_record_is_read_then_replaced(tmp_path: Path) -> None:
    (tmp_path / OLD_STATE_FILE).write_text(json.dumps({"old.md": "f" * 64}), encoding="utf-8")
    state = OutputState(tmp_path)
    assert state.read() == {"old.md": "f" * 64}  # finished outputs of an older docgen stay up to date
    state.record("new.md", "e" * 64)
    assert not (tmp_path / OLD_STATE_FILE).exists()
    assert json.loads((tmp_path / STATE_FILE).read_text(encoding="utf-8")) == {"new.md": "e" * 64, "old.md": "f" * 64}


def test_a_damaged_record_is_no_record(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("[1, 2", encoding="utf-8")
    assert OutputState(tmp_path).read() == {}
    (tmp_path / STATE_FILE).write_text('{"a.md": 3, "b.md": "x"}', encoding="utf-8")
    assert OutputState(tmp_path).read() == {"b.md": "x"}
