"""Against the real llama.cpp server: gibberish text, but real framing, finish reasons and prefill."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import docgen_process
from llama import LlamaServer

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    server = LlamaServer().start()
    if server.pid is None:
        pytest.skip(server.why_not)
    yield server
    server.stop()


def test_continues_past_length_several_times(tmp_path: Path, llama: LlamaServer, docgen) -> None:
    out = tmp_path / "doc.md"
    code, stdout, err = docgen("write", "--topic", "printing", "-o", str(out), "--base-url", llama.base_url,
                               "--max-tokens", "24", "--words", "120", "--temperature", "0", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["finish_reasons"].count("length") >= 3
    assert summary["continuations"] == len(summary["finish_reasons"]) - 1
    assert summary["tokens"] >= 24 * 3  # the server's own usage figures
    text = out.read_text(encoding="utf-8")
    assert summary["words"] <= 1.2 * 120 and text  # continued to the target, and not past it
    # gibberish has few sentence ends, so the clean ending can lie far back: then the text is written on
    # from there, and if it is still short after that, the summary says so
    short = any("short of the target" in w for w in summary["warnings"])
    assert summary["words"] >= 0.8 * 120 or short, summary


def test_prefill_does_not_duplicate_the_seam(tmp_path: Path, llama: LlamaServer, docgen) -> None:
    """llama.cpp streams the prefilled text again; docgen must cut it at the seam."""
    out = tmp_path / "doc.md"
    code, stdout, err = docgen("write", "--topic", "seams", "-o", str(out), "--base-url", llama.base_url,
                               "--max-tokens", "16", "--words", "60", "--temperature", "0", "--json",
                               "--continue-mode", "prefill")
    assert code == 0, err
    summary = json.loads(stdout)
    text = out.read_text(encoding="utf-8")
    assert summary["continuations"] >= 2
    # each reply adds at most max_tokens tokens of text; an echoed seam would double the text
    assert len(text.encode()) <= 16 * 24 * (summary["continuations"] + 1)
    first_reply = text[: min(len(text), 30)]
    assert text.count(first_reply) == 1


def test_killed_halfway_then_rerun_keeps_the_partial_and_grows(tmp_path: Path, llama: LlamaServer) -> None:
    out = tmp_path / "doc.md"
    args = ("write", "--topic", "kill me", "-o", str(out), "--base-url", llama.base_url, "--max-tokens", "16",
            "--words", "400", "--temperature", "0", "--quiet", "--max-continuations", "100")
    proc = docgen_process(*args)
    part = tmp_path / "doc.md.part"
    deadline = time.monotonic() + 60
    while (not part.exists() or part.stat().st_size < 200) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.communicate()
    assert part.exists(), "docgen wrote nothing in a minute"
    partial = part.read_bytes()
    proc = docgen_process(*args)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = out.read_bytes()
    assert final.startswith(partial)
    assert len(final) > len(partial)


def test_outline_file_pipeline_end_to_end(tmp_path: Path, llama: LlamaServer, docgen) -> None:
    """The tiny model cannot plan, so the outline is the user's; everything else is real."""
    plan = tmp_path / "plan.md"
    plan.write_text("# Tiny\n\n## First part\nWhat comes first.\n\n_Budget: 60 words_\n\n"
                    "## Second part\nWhat comes next.\n\n_Budget: 90 words_\n", encoding="utf-8")
    out = tmp_path / "doc.md"
    code, stdout, err = docgen("write", "--topic", "tiny", "--outline", str(plan), "-o", str(out),
                               "--base-url", llama.base_url, "--max-tokens", "24", "--temperature", "0", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert [s["title"] for s in summary["sections"]] == ["First part", "Second part"]
    assert [s["budget"] for s in summary["sections"]] == [60, 90]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Tiny\n\n## First part\n\n")
    assert "\n\n## Second part\n\n" in text
    assert summary["continuations"] >= 2  # sections continued past max_tokens
    assert not (tmp_path / "doc.md.sections").exists()
