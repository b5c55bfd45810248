"""Outline mode against the scripted server: plan, sections in order, resume, parallel."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import docgen_process, make_document
from sse_server import Script

OUTLINE = """# The Printing Press

## Origins
Where movable type came from and what Gutenberg combined.

_Budget: 700 words_

## Spread
How presses spread across Europe in fifty years.

_Budget: 1400 words_

## Consequences
What changed for religion, science and states.

_Budget: 900 words_
"""
TITLES = ["Origins", "Spread", "Consequences"]


def sections(seed: int = 0) -> list[str]:
    return [make_document(150, seed=seed + i).replace("# A known document\n\n", "") for i in range(3)]


def script_for(bodies: list[str], **kw: object) -> Script:
    docs: dict[str, str | list[str]] = {"Write an outline": OUTLINE}
    docs.update({f"Now write section {i + 1} of 3": body for i, body in enumerate(bodies)})
    return Script(document="unused", documents=docs, **kw)  # type: ignore[arg-type]


def expected(bodies: list[str]) -> str:
    parts = ["# The Printing Press\n\n"] + [f"## {t}\n\n{b.strip()}\n\n" for t, b in zip(TITLES, bodies, strict=True)]
    return "".join(parts).rstrip("\n") + "\n"


def section_requests(server, n: int) -> list[dict]:
    needle = f"Now write section {n} of 3"
    return [r for r in server.recorder.chats if needle in r["body"]["messages"][-1]["content"]]


def test_outline_then_sections_in_order(tmp_path: Path, serve, docgen) -> None:
    bodies = sections()
    server = serve(script_for(bodies, cap_chars=700))
    out = tmp_path / "press.md"
    code, stdout, err = docgen("write", "--topic", "printing", "--words", "3000", "--outline", "auto", "-o", str(out),
                               "--base-url", server.base_url, "--json")
    assert code == 0, err
    assert out.read_text(encoding="utf-8") == expected(bodies)
    assert (tmp_path / "press.md.outline.md").read_text(encoding="utf-8") == OUTLINE
    assert not (tmp_path / "press.md.sections").exists()
    asked = [r["body"]["messages"][1]["content"] for r in server.recorder.chats]
    order = [next(n for n in (1, 2, 3) if f"section {n} of 3" in a) for a in asked if "Now write section" in a]
    assert order == sorted(order)
    summary = json.loads(stdout)
    assert [s["budget"] for s in summary["sections"]] == [700, 1400, 900]
    assert [s["title"] for s in summary["sections"]] == TITLES
    assert summary["continuations"] > 0  # cap_chars forces sections to continue
    for n, budget in ((1, 700), (2, 1400), (3, 900)):
        prompt = section_requests(server, n)[0]["body"]["messages"][1]["content"]
        assert f"about {budget} words" in prompt and "## Spread" in prompt  # budget and whole outline
    second = section_requests(server, 2)[0]["body"]["messages"][1]["content"]
    assert bodies[0].strip()[-200:] in second  # the end of the text so far
    assert "final section" in section_requests(server, 3)[0]["body"]["messages"][1]["content"]
    assert summary["length_score"] is not None


@pytest.mark.parametrize(("words", "by_outline"), [(2501, True), (2500, False)])
def test_a_long_target_is_written_by_outline_without_asking(
    tmp_path: Path, serve, docgen, words: int, by_outline: bool
) -> None:
    bodies = sections()
    server = serve(script_for(bodies))
    out = tmp_path / "press.md"
    code, _, err = docgen("write", "--topic", "printing", "--words", str(words), "-o", str(out),
                          "--base-url", server.base_url, "--quiet")
    assert code == 0, err
    planned = any("Write an outline" in r["body"]["messages"][1]["content"] for r in server.recorder.chats)
    assert planned is by_outline
    code, _, err = docgen("write", "--topic", "printing", "--words", str(words), "-o", str(tmp_path / "one.md"),
                          "--base-url", server.base_url, "--quiet", "--outline", "none")
    assert code == 0, err
    assert not (tmp_path / "one.md.outline.md").exists()  # --outline none: one reply chain, whatever the length


def test_killed_inside_a_section_resumes_there(tmp_path: Path, serve) -> None:
    bodies = sections(seed=5)
    server = serve(script_for(bodies, slow={"Now write section 2 of 3": 0.01}, write_bytes=(10, 40)))
    out = tmp_path / "press.md"
    args = ("write", "--topic", "printing", "--words", "3000", "--outline", "auto", "-o", str(out),
            "--base-url", server.base_url)
    proc = docgen_process(*args)
    folder = tmp_path / "press.md.sections"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = list(folder.glob("02-*.md.part")) if folder.exists() else []
        if parts and parts[0].stat().st_size > 300:
            break
        time.sleep(0.01)
    proc.kill()
    proc.communicate()
    kept = parts[0].read_bytes()
    assert bodies[1].encode().startswith(kept)
    server.script.slow.clear()
    proc = docgen_process(*args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.read_text(encoding="utf-8") == expected(bodies)
    assert len(section_requests(server, 1)) == 1  # finished sections are never written again
    assert len([r for r in server.recorder.chats if "Write an outline" in r["body"]["messages"][-1]["content"]]) == 1
    resumed = [r for r in server.recorder.chats if r["body"]["messages"][-1]["role"] == "assistant"]
    assert resumed and kept.decode("utf-8", "ignore")[-50:] in resumed[0]["body"]["messages"][-1]["content"]


def test_parallel_sections_are_stitched_in_order(tmp_path: Path, serve, docgen) -> None:
    bodies = sections(seed=9)
    server = serve(script_for(bodies, slow={"Now write section 1 of 3": 0.003}, write_bytes=(80, 120)))
    out = tmp_path / "press.md"
    code, _, err = docgen("write", "--topic", "printing", "--words", "3000", "--outline", "auto", "-o", str(out),
                          "--base-url", server.base_url, "--parallel", "3")
    assert code == 0, err
    assert out.read_text(encoding="utf-8") == expected(bodies)
    first_done = [r for r in server.recorder.chats if "Now write section" in r["body"]["messages"][-1]["content"]]
    assert len(first_done) == 3
    prompt = section_requests(server, 2)[0]["body"]["messages"][-1]["content"]
    assert "neighbouring sections" in prompt and "Where movable type came from" in prompt
    assert "text so far" not in prompt


def test_user_outline_file_in_list_form_is_rebalanced(tmp_path: Path, serve, docgen) -> None:
    bodies = sections(seed=2)
    server = serve(script_for(bodies))
    plan = tmp_path / "plan.md"
    plan.write_text("# The Printing Press\n\n1. **Origins** — where it began (~100 words)\n"
                    "2. **Spread** — how it spread (200 words)\n3. **Consequences** — what changed (100 words)\n",
                    encoding="utf-8")
    out = tmp_path / "press.md"
    code, stdout, err = docgen("write", "--topic", "printing", "--words", "2000", "--outline", str(plan), "-o",
                               str(out), "--base-url", server.base_url, "--json")
    assert code == 0, err
    assert [s["budget"] for s in json.loads(stdout)["sections"]] == [500, 1000, 500]
    assert out.read_text(encoding="utf-8") == expected(bodies)
    assert not [r for r in server.recorder.chats if "Write an outline" in r["body"]["messages"][-1]["content"]]


def test_a_malformed_outline_is_asked_for_again(tmp_path: Path, serve, docgen) -> None:
    bodies = sections(seed=3)
    script = script_for(bodies)
    script.documents["Write an outline"] = ["Sure! Here is some prose with no structure at all.", OUTLINE]
    server = serve(script)
    out = tmp_path / "press.md"
    code, _, err = docgen("write", "--topic", "printing", "--words", "3000", "--outline", "auto", "-o", str(out),
                          "--base-url", server.base_url)
    assert code == 0, err
    assert out.read_text(encoding="utf-8") == expected(bodies)


def test_an_outline_that_stays_malformed_fails_clearly(tmp_path: Path, serve, docgen) -> None:
    script = script_for(sections())
    script.documents["Write an outline"] = ["no outline here"]
    server = serve(script)
    code, _, err = docgen("write", "--topic", "printing", "--outline", "auto", "-o", str(tmp_path / "p.md"),
                          "--base-url", server.base_url)
    assert code == 12
    assert "unusable" in err and "--outline FILE" in err
    assert len(server.recorder.chats) == 3
    assert not (tmp_path / "p.md.sections").exists()  # no empty folder left behind


def test_docgen_outline_writes_only_the_outline(tmp_path: Path, serve, docgen) -> None:
    server = serve(script_for(sections()))
    plan = tmp_path / "plan.md"
    code, _, err = docgen("outline", "--topic", "printing", "--words", "6000", "-o", str(plan),
                          "--base-url", server.base_url)
    assert code == 0, err
    text = plan.read_text(encoding="utf-8")
    assert "## Spread" in text and "_Budget: 2800 words_" in text  # rebalanced to 6000
    assert all("Now write section" not in r["body"]["messages"][-1]["content"] for r in server.recorder.chats)


def test_txt_html_toc_and_fix(tmp_path: Path, serve, docgen) -> None:
    document = (
        "# Title\n\nSome *emphasis* and `code`.\n\n## Part one\n\nText.\n\n"
        "## Part two\n\n```python\n# not a heading\nx = 1\n"
    )
    server = serve(Script(document=document))
    code, _, err = docgen("write", "--topic", "t", "-o", str(tmp_path / "a.md"), "--base-url", server.base_url)
    assert code == 0 and "never closed" in err
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == document
    code, _, err = docgen("write", "--topic", "t", "-o", str(tmp_path / "b.md"), "--base-url", server.base_url,
                          "--fix", "--toc")
    fixed = (tmp_path / "b.md").read_text(encoding="utf-8")
    assert code == 0 and fixed.endswith("x = 1\n```\n") and "## Contents" in fixed and "closed the code fence" in err
    code, _, _ = docgen("write", "--topic", "t", "-o", str(tmp_path / "c.txt"), "--base-url", server.base_url)
    text = (tmp_path / "c.txt").read_text(encoding="utf-8")
    assert code == 0 and "emphasis" in text and "*" not in text and "```" not in text and "# not a heading" in text
    code, _, _ = docgen("write", "--topic", "t", "-o", str(tmp_path / "d.html"), "--base-url", server.base_url)
    page = (tmp_path / "d.html").read_text(encoding="utf-8")
    assert code == 0 and page.startswith("<!DOCTYPE html>") and "<em>emphasis</em>" in page


def test_an_outline_from_other_inputs_is_not_reused(tmp_path: Path, serve, docgen) -> None:
    bodies = sections()
    server = serve(script_for(bodies))
    out = tmp_path / "press.md"
    base = ("--words", "3000", "--outline", "auto", "-o", str(out), "--base-url", server.base_url)
    assert docgen("write", "--topic", "apples", *base)[0] == 0
    code, _, err = docgen("write", "--topic", "volcanoes", "--force", *base)
    assert code == 0, err
    outlines = [r for r in server.recorder.chats if "Write an outline" in r["body"]["messages"][-1]["content"]]
    assert len(outlines) == 2 and "volcanoes" in outlines[1]["body"]["messages"][-1]["content"]


def test_docgen_outline_does_not_overwrite_an_edited_plan(tmp_path: Path, serve, docgen) -> None:
    server = serve(script_for(sections()))
    plan = tmp_path / "plan.md"
    plan.write_text("# My edits\n", encoding="utf-8")
    code, _, err = docgen("outline", "--topic", "printing", "-o", str(plan), "--base-url", server.base_url)
    assert code == 4 and "--force" in err
    assert plan.read_text(encoding="utf-8") == "# My edits\n" and not server.recorder.chats


def test_a_failing_parallel_section_stops_the_others(tmp_path: Path, serve, docgen) -> None:
    from sse_server import Fault

    bodies = [make_document(2000, seed=40 + i) for i in range(3)]
    script = script_for(bodies, slow={"Now write section 2 of 3": 0.005, "Now write section 3 of 3": 0.005},
                        write_bytes=(20, 40))
    script.faults = [None, Fault("status", status=401)]  # the outline, then section 1 of 3
    server = serve(script)
    started = time.monotonic()
    code, _, err = docgen("write", "--topic", "printing", "--words", "3000", "--outline", "auto", "-o",
                          str(tmp_path / "p.md"), "--base-url", server.base_url, "--parallel", "3")
    assert code == 6, err
    assert time.monotonic() - started < 10  # the slow sections were stopped, not finished
    finished = {p.name[:2] for p in (tmp_path / "p.md.sections").glob("*.md")}
    assert not {"02", "03"} <= finished


# -- re-runs: what a finished section depends on --------------------------------------------


def chats_for(server, needle: str) -> int:
    return len([r for r in server.recorder.chats if needle in r["body"]["messages"][-1]["content"]])


def failed_after_section_1(tmp_path: Path, serve, docgen, *extra: str):
    """A run of the user's outline file that finishes section 1 and fails in section 2 (a 401)."""
    from sse_server import Fault

    bodies = sections(seed=60)
    script = script_for(bodies)
    script.fail_on = {"Now write section 2 of 3": Fault("status", status=401)}
    server = serve(script)
    plan = tmp_path / "plan.md"
    plan.write_text(OUTLINE, encoding="utf-8")
    out = tmp_path / "press.md"
    args = ["write", "--topic", "printing", "--outline", str(plan), "-o", str(out), "--base-url", server.base_url]
    code, _, err = docgen(*args, *extra)
    assert code == 6, err
    assert chats_for(server, "Now write section 1 of 3") == 1
    script.fail_on.clear()
    return server, plan, out, args, bodies


def test_another_parallel_setting_keeps_the_finished_sections(tmp_path: Path, serve, docgen) -> None:
    server, _, out, args, bodies = failed_after_section_1(tmp_path, serve, docgen)
    code, _, err = docgen(*args, "--parallel", "3")
    assert code == 0, err
    assert chats_for(server, "Now write section 1 of 3") == 1  # not paid for twice
    assert out.read_text(encoding="utf-8") == expected(bodies)


def test_an_edited_outline_of_an_unfinished_run_names_what_is_written_again(tmp_path: Path, serve, docgen) -> None:
    server, plan, out, args, bodies = failed_after_section_1(tmp_path, serve, docgen)
    plan.write_text(OUTLINE.replace("Where movable type came from", "Where printing came from"), encoding="utf-8")
    code, _, err = docgen(*args)
    assert code == 0, err
    assert chats_for(server, "Now write section 1 of 3") == 2  # its line changed
    assert "the outline changed since the last run" in err and "'Origins'" in err
    assert chats_for(server, "Now write section 2 of 3") == 2  # the failed request, then this run's
    assert out.read_text(encoding="utf-8") == expected(bodies)


def test_other_inputs_are_refused_before_anything_is_sent(tmp_path: Path, serve, docgen) -> None:
    server, _, _, args, _ = failed_after_section_1(tmp_path, serve, docgen)
    sent = len(server.recorder.chats)
    code, _, err = docgen(*args, "--temperature", "0.3", "--parallel", "2")
    assert code == 4, err
    assert "changed: temperature" in err and "--restart" in err
    assert len(server.recorder.chats) == sent  # nothing was paid for
    code, _, err = docgen(*args, "--temperature", "0.3", "--restart")
    assert code == 0, err
    assert (tmp_path / "press.md.sections.bak").is_dir()


def test_an_unreadable_index_is_said_to_be_unreadable(tmp_path: Path, serve, docgen) -> None:
    server, _, _, args, _ = failed_after_section_1(tmp_path, serve, docgen)
    (tmp_path / "press.md.sections" / "index.json").write_text("{not json", encoding="utf-8")
    sent = len(server.recorder.chats)
    code, _, err = docgen(*args)
    assert code == 4 and "unreadable" in err and "changed:" not in err, err
    assert len(server.recorder.chats) == sent


def test_a_second_restart_keeps_the_first_backup(tmp_path: Path, serve, docgen) -> None:
    from sse_server import Fault

    server, _, _, args, _ = failed_after_section_1(tmp_path, serve, docgen)
    server.script.fail_on = {"Now write section 2 of 3": Fault("status", status=401)}
    assert docgen(*args, "--restart")[0] == 6  # section 1 written again, then the same failure
    first = sorted(p.name for p in (tmp_path / "press.md.sections.bak").iterdir())
    assert any(name.startswith("01-") and name.endswith(".md") for name in first)
    server.script.fail_on.clear()
    assert docgen(*args, "--restart")[0] == 0
    assert sorted(p.name for p in (tmp_path / "press.md.sections.bak").iterdir()) == first
    assert (tmp_path / "press.md.sections.bak.1").is_dir()
