"""Grounding in the user's material, end to end: what goes in the prompt, citations, resume, batch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sse_server import Fault, Script

REPLY = (
    "# Quarterly report\n\nRevenue grew 12% in the third quarter [1], and the north led it [2]. "
    "Costs held steady [1][2]. A figure from nowhere [9].\n"
)


@pytest.fixture
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "q3.md").write_text("# Q3 sales\n\nRevenue grew 12% in Q3, led by the north region.\n", encoding="utf-8")
    (folder / "sales.csv").write_text("region,revenue\nnorth,120\nsouth,80\n", encoding="utf-8")
    return folder


def write(docgen: Any, server: Any, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = docgen("write", "Quarterly report", "--base-url", server.base_url, "--json", "--words", "100000",
                            "--outline", "none", *args)
    return code, (json.loads(out) if out.strip() else {}), err


def test_sources_that_fit_go_in_whole_and_citations_become_a_sources_list(
    notes: Path, serve: Any, docgen: Any
) -> None:
    server = serve(Script(document=REPLY))
    code, summary, err = write(docgen, server, "--source", "notes", "-o", "out/report.md")
    assert code == 0, err
    prompt = server.recorder.chats[0]["body"]["messages"][-1]["content"]
    assert "[1] notes/q3.md\n<<<\n# Q3 sales" in prompt and "[2] notes/sales.csv" in prompt
    assert prompt.index("# Source material") < prompt.index("Quarterly report")  # the stable part first
    text = Path("out/report.md").read_text(encoding="utf-8")
    assert text.startswith(REPLY.rstrip("\n"))
    assert text.endswith(
        "## Sources\n\n- [1] [notes/q3.md](../notes/q3.md), lines 1-3\n"
        "- [2] [notes/sales.csv](../notes/sales.csv), lines 1-3\n"
    )
    assert summary["citations"] == {"cited": [1, 2], "unknown": [9]}
    assert any("[9]" in w for w in summary["warnings"])
    assert summary["sources"] == [
        {"path": "notes/q3.md", "bytes": 61, "chunks": 1},
        {"path": "notes/sales.csv", "bytes": 34, "chunks": 1},
    ]


def test_no_citations_gives_the_material_without_numbers(notes: Path, serve: Any, docgen: Any) -> None:
    server = serve(Script(document=REPLY))
    code, _, err = write(docgen, server, "--source", "notes/q3.md", "--no-citations", "-o", "r.md")
    assert code == 0, err
    prompt = server.recorder.chats[0]["body"]["messages"][-1]["content"]
    assert "notes/q3.md\n<<<" in prompt and "[1]" not in prompt
    assert "## Sources" not in Path("r.md").read_text(encoding="utf-8")


def test_a_corpus_far_larger_than_the_window_puts_the_relevant_file_in_front(
    tmp_path: Path, serve: Any, docgen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus"
    for i in range(400):
        sub = corpus / f"team{i % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(f"Meeting {i}.{k}: the roadmap, hiring and office moves were discussed at length."
                           for k in range(30))
        (sub / f"minutes-{i}.md").write_text(f"# Minutes {i}\n\n{body}\n", encoding="utf-8")
    (corpus / "team7" / "glacier.md").write_text(
        "# Glacier retreat survey\n\nThe Aletsch glacier lost 40 metres of length this year, measured by drone.\n",
        encoding="utf-8",
    )
    size = sum(p.stat().st_size for p in corpus.rglob("*.md"))
    server = serve(Script(document=REPLY))
    code, out, err = docgen("write", "Aletsch glacier retreat", "--source", "corpus", "--base-url", server.base_url,
                            "--context-window", "2048", "--json", "-o", "g.md", "--words", "100000",
                            "--outline", "none")
    assert code == 0, err
    body = server.recorder.chats[0]["body"]
    prompt = "".join(m["content"] for m in body["messages"])
    assert size > 100 * 2048 * 3.5  # over a hundred times the window
    assert "corpus/team7/glacier.md, lines 1-3" in prompt and "Aletsch glacier lost 40 metres" in prompt
    assert len(prompt) / 3.5 + body.get("max_tokens", 0) < 2048  # the request fits the window
    assert json.loads(out)["sources"][0]["path"].startswith("corpus/")


def test_a_changed_source_is_not_continued_silently(notes: Path, serve: Any, docgen: Any) -> None:
    from sse_server import Fault

    server = serve(Script(document=REPLY * 40, faults=[Fault("drop", after=4000)]))
    code, _, err = write(docgen, server, "--source", "notes", "-o", "r.md", "--retries", "0")
    assert code == 10 and Path("r.md.part").exists(), err
    (notes / "q3.md").write_text("# Q3 sales\n\nRevenue grew 15% in Q3.\n", encoding="utf-8")
    sent = len(server.recorder.chats)
    code, _, err = write(docgen, server, "--source", "notes", "-o", "r.md")
    assert code == 4 and "source notes/q3.md" in err, err
    assert len(server.recorder.chats) == sent


def test_bad_sources_are_refused_before_anything_is_sent(notes: Path, serve: Any, docgen: Any) -> None:
    server = serve(Script(document=REPLY))
    code, _, err = write(docgen, server, "--source", "notes/missing.md")
    assert code == 2 and "notes/missing.md" in err and "Traceback" not in err
    code, _, err = write(docgen, server, "--source", "-", "--source", "-")
    assert code == 2 and "standard input" in err
    code, _, err = write(docgen, server, "--var", "audience=@nowhere.txt")
    assert code == 2 and "nowhere.txt" in err
    assert server.recorder.chats == []


def test_a_variable_read_from_a_file(notes: Path, serve: Any, docgen: Any) -> None:
    Path("audience.txt").write_text("the board of directors", encoding="utf-8")
    code, out, err = docgen("write", "t", "--var", "audience=@audience.txt", "--dry-run", "--json")
    assert code == 0, err
    assert "the board of directors" in json.loads(out)["body"]["messages"][-1]["content"]


def test_dry_run_shows_what_goes_where(notes: Path, docgen: Any) -> None:
    code, out, err = docgen("write", "Quarterly report", "--source", "notes", "--dry-run")
    assert code == 0, err
    assert "2 files, 95 bytes; context window 8,192 tokens" in out
    assert "[1] notes/q3.md, lines 1-3" in out and "given: every file whole" in out


@pytest.fixture
def handbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of two long notes and an outline of two sections, one per note; the outline's path."""
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    filler = "\n\n".join(f"Paragraph {k} on general company matters, culture and plans." for k in range(60))
    (docs / "billing.md").write_text(f"# Billing\n\nInvoices are sent on the first Monday.\n\n{filler}\n",
                                     encoding="utf-8")
    (docs / "hiring.md").write_text(f"# Hiring\n\nWe hired nine engineers in Berlin.\n\n{filler}\n", encoding="utf-8")
    plan = tmp_path / "plan.md"
    plan.write_text("# Handbook\n\n## Billing\nHow invoices are sent.\n\n_Budget: 100 words_\n\n"
                    "## Hiring\nHow many engineers were hired, and where.\n\n_Budget: 100 words_\n", encoding="utf-8")
    return plan


HANDBOOK_SECTIONS = {
    "Now write section 1 of 2": "Invoices go out on Mondays [1].\n",
    "Now write section 2 of 2": "Nine engineers joined [3].\n",
}


def test_outline_sections_each_get_their_own_passages(handbook: Path, serve: Any, docgen: Any) -> None:
    server = serve(Script(document="unused", documents=dict(HANDBOOK_SECTIONS)))
    code, out, err = docgen("write", "Company handbook", "--source", "docs", "--outline", str(handbook), "-o", "h.md",
                            "--base-url", server.base_url, "--context-window", "2048", "--json")
    assert code == 0, err
    prompts = [c["body"]["messages"][-1]["content"] for c in server.recorder.chats]
    first = next(p for p in prompts if "Now write section 1 of 2" in p)
    second = next(p for p in prompts if "Now write section 2 of 2" in p)
    assert "first Monday" in first and "nine engineers in Berlin" not in first
    assert "nine engineers in Berlin" in second and "first Monday" not in second
    summary = json.loads(out)
    assert [s["sources"][0]["path"] for s in summary["sections"]] == ["docs/billing.md", "docs/hiring.md"]
    text = Path("h.md").read_text(encoding="utf-8")
    assert "## Sources" in text and "docs/billing.md" in text.split("## Sources")[1]


def test_a_rerun_outline_reports_the_sources_of_sections_written_before(handbook: Path, serve: Any,
                                                                        docgen: Any) -> None:
    script = Script(document="unused", documents=dict(HANDBOOK_SECTIONS),
                    fail_on={"Now write section 2 of 2": Fault("status", status=401)})
    server = serve(script)
    args = ("write", "Company handbook", "--source", "docs", "--outline", str(handbook), "-o", "h.md",
            "--base-url", server.base_url, "--context-window", "2048", "--json")
    code, _, err = docgen(*args)
    assert code != 0 and not Path("h.md").exists(), err  # section 1 written, section 2 refused
    first_run = len(server.recorder.chats)
    script.fail_on.clear()
    code, out, err = docgen(*args)
    assert code == 0, err
    rerun = server.recorder.chats[first_run:]
    assert rerun and not any("Now write section 1 of 2" in json.dumps(c["body"]) for c in rerun)  # kept, not redone
    summary = json.loads(out)
    given = {s["path"]: s["chunks"] for s in summary["sources"]}
    assert given["docs/billing.md"] >= 1 and given["docs/hiring.md"] >= 1, summary["sources"]


def test_batch_jobs_take_sources_from_the_manifest(tmp_path: Path, serve: Any, docgen: Any) -> None:
    (tmp_path / "shared.md").write_text("# Shared\n\nThe company was founded in 1999.\n", encoding="utf-8")
    (tmp_path / "own.md").write_text("# Own\n\nThe Oslo office opened in 2021.\n", encoding="utf-8")
    manifest = tmp_path / "m.toml"
    manifest.write_text('[defaults]\noutput_dir = "out"\nwords = 100000\noutline = "none"\nsources = ["shared.md"]\n\n'
                        '[[jobs]]\ntopic = "history"\noutput = "a.md"\nsources = ["own.md"]\n', encoding="utf-8")
    server = serve(Script(document=REPLY))
    code, _, err = docgen("batch", str(manifest), "--base-url", server.base_url)
    assert code == 0, err
    prompt = server.recorder.chats[0]["body"]["messages"][-1]["content"]
    assert "founded in 1999" in prompt and "Oslo office" in prompt
    (tmp_path / "own.md").write_text("# Own\n\nThe Oslo office opened in 2022.\n", encoding="utf-8")
    report = tmp_path / "r.json"
    code, _, err = docgen("batch", str(manifest), "--base-url", server.base_url, "--report", str(report))
    assert code == 0 and json.loads(report.read_text())[0]["status"] == "stale", err
    assert os.path.exists(tmp_path / "out" / "a.md")


def test_stdin_as_a_source(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_"))}
    result = subprocess.run([sys.executable, "-m", "docgen", "write", "What changed", "--source", "-", "--dry-run",
                             "--json"], input="commit 1: fix the billing rounding bug\n", capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    prompt = json.loads(result.stdout)["body"]["messages"][-1]["content"]
    assert "[1] <stdin>\n<<<\ncommit 1: fix the billing rounding bug" in prompt
