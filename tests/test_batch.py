"""docgen batch: concurrent jobs with faults, idempotent re-runs, path safety, races."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import docgen_process, make_document
from sse_server import Fault, Script


def manifest(tmp_path: Path, jobs: list[dict], defaults: str = 'output_dir = "out"') -> Path:
    lines = [f"[defaults]\n{defaults}\n"]
    for job in jobs:
        lines.append("[[jobs]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in job.items()))
    path = tmp_path / "docs.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def six_docs() -> dict[str, str]:
    return {f"topic {i} ": make_document(300, seed=100 + i) for i in range(6)}


def test_concurrent_jobs_with_faults_are_all_byte_exact(tmp_path: Path, serve, docgen) -> None:
    docs = six_docs()
    faults = [None, Fault("drop", after=900), None, Fault("status", status=503), Fault("error_event", after=10)]
    server = serve(Script(document="unused", documents=docs, faults=faults, cap_chars=900))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)],
                    defaults='output_dir = "out"\nwords = 100000\noutline = "none"')
    report = tmp_path / "report.json"
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--jobs", "4", "--backoff", "0",
                          "--report", str(report))
    assert code == 0, err
    for i, text in enumerate(docs.values()):
        assert (tmp_path / "out" / f"doc{i}.md").read_text(encoding="utf-8") == text
    assert not (tmp_path / "out" / ".docgen-batch.lock").exists()  # nothing left over
    results = json.loads(report.read_text(encoding="utf-8"))
    assert [r["status"] for r in results] == ["done"] * 6
    assert all(r["words"] > 0 and r["continuations"] > 0 for r in results)
    assert "status" in err and "done" in err  # the summary table


def test_reruns_skip_finished_jobs_and_report_stale_ones(tmp_path: Path, serve, docgen) -> None:
    docs = six_docs()
    server = serve(Script(document="unused", documents=docs))
    jobs = [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)]
    path = manifest(tmp_path, jobs)
    assert docgen("batch", str(path), "--base-url", server.base_url)[0] == 0
    before = len(server.recorder.chats)
    report = tmp_path / "r.json"
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--report", str(report))
    assert code == 0, err
    assert len(server.recorder.chats) == before  # nothing was asked again
    assert {r["status"] for r in json.loads(report.read_text())} == {"skipped"}
    jobs[2]["temperature"] = 0.5  # this job's inputs change
    path = manifest(tmp_path, jobs)
    code, _, _ = docgen("batch", str(path), "--base-url", server.base_url, "--report", str(report))
    statuses = [r["status"] for r in json.loads(report.read_text())]
    assert code == 0 and statuses[2] == "stale" and statuses.count("skipped") == 5
    assert len(server.recorder.chats) == before
    code, _, _ = docgen("batch", str(path), "--base-url", server.base_url, "--report", str(report), "--force")
    assert code == 0 and len(server.recorder.chats) == before + 1  # only the stale job is written again
    statuses = [r["status"] for r in json.loads(report.read_text())]
    assert statuses[2] == "done" and statuses.count("skipped") == 5


def test_a_failed_job_does_not_stop_the_others_and_a_rerun_finishes_it(tmp_path: Path, serve, docgen) -> None:
    docs = six_docs()
    server = serve(Script(document="unused", documents=docs, faults=[Fault("status", status=401)]))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)])
    report = tmp_path / "r.json"
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--jobs", "1", "--report", str(report))
    assert code == 11, err
    statuses = [r["status"] for r in json.loads(report.read_text())]
    assert statuses == ["failed"] + ["done"] * 5
    assert json.loads(report.read_text())[0]["exit_code"] == 6
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--report", str(report))
    assert code == 0, err
    assert [r["status"] for r in json.loads(report.read_text())] == ["done"] + ["skipped"] * 5
    assert (tmp_path / "out" / "doc0.md").read_text(encoding="utf-8") == next(iter(docs.values()))


def test_fail_fast_cancels_the_rest(tmp_path: Path, serve, docgen) -> None:
    docs = six_docs()
    server = serve(Script(document="unused", documents=docs, faults=[Fault("status", status=404)]))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)])
    report = tmp_path / "r.json"
    code, _, _ = docgen("batch", str(path), "--base-url", server.base_url, "--jobs", "1", "--fail-fast",
                        "--report", str(report))
    assert code == 11
    statuses = [r["status"] for r in json.loads(report.read_text())]
    assert statuses[0] == "failed" and set(statuses[1:]) == {"cancelled"}


@pytest.mark.parametrize(("output", "why"), [
    ("../escape.md", "climbs out"),
    ("/tmp/abs.md", "absolute"),
    ("link/x.md", "symlink"),
])
def test_paths_cannot_escape_the_output_folder(tmp_path: Path, serve, docgen, output: str, why: str) -> None:
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path, tmp_path / "out" / "link")
    server = serve(Script(document="x"))
    path = manifest(tmp_path, [{"topic": "a", "output": "fine.md"}, {"topic": "b", "output": output}])
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url)
    assert code == 2
    assert "job 2" in err and "'output'" in err and why in err
    assert server.recorder.requests == []


def test_manifest_errors_name_the_job_and_field(tmp_path: Path, serve, docgen) -> None:
    server = serve(Script(document="x"))
    path = manifest(tmp_path, [{"topic": "a", "output": "a.md"}, {"topic": "b", "output": "a.md"},
                               {"topic": "c", "output": "c.md", "words": "many"}, {"topic": "d"},
                               {"topic": "e", "output": "e.md", "colour": "red"}])
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url)
    assert code == 2
    assert "job 2 (b): field 'output' 'a.md' is also the output of job 1" in err
    assert "job 3 (c): field 'words' must be int" in err
    assert "job 4 (d): field 'output' is required" in err
    assert "job 5 (e): unknown field 'colour'" in err
    assert server.recorder.requests == []


def test_two_processes_racing_on_the_same_manifest(tmp_path: Path, serve) -> None:
    docs = {f"topic {i} ": make_document(250, seed=200 + i) for i in range(3)}
    server = serve(Script(document="unused", documents=docs, delay=0.0005, write_bytes=(40, 80)))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)])
    args = ("batch", str(path), "--base-url", server.base_url, "--jobs", "3", "--quiet")
    first = docgen_process(*args)
    time.sleep(0.3)
    second = docgen_process(*args)
    _, _err1 = first.communicate(timeout=60)
    _, err2 = second.communicate(timeout=60)
    assert {first.returncode, second.returncode} <= {0, 11}
    if second.returncode == 11:
        assert b"another docgen process is writing" in err2
    proc = docgen_process(*args)  # whatever happened, a re-run finishes cleanly
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    for i, text in enumerate(docs.values()):
        assert (tmp_path / "out" / f"doc{i}.md").read_text(encoding="utf-8") == text
    assert not list((tmp_path / "out").glob("*.part"))


def test_two_writes_racing_on_one_output(tmp_path: Path, serve) -> None:
    document = make_document(800, seed=3)
    server = serve(Script(document=document, delay=0.001, write_bytes=(40, 80)))
    out = tmp_path / "doc.md"
    args = ("write", "--topic", "t", "-o", str(out), "--base-url", server.base_url, "--quiet")
    first = docgen_process(*args)
    while not (tmp_path / "doc.md.part").exists():
        time.sleep(0.01)
    second = docgen_process(*args)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 4 and b"another docgen process is writing" in err
    assert b"run the same command again" not in err  # it would not help while the other one runs
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert out.read_text(encoding="utf-8") == document


def test_project_config_settings_reach_batch_jobs(tmp_path: Path, serve, docgen, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docgen.toml").write_text('template = "brief"\nmax_tokens = 77\n', encoding="utf-8")
    server = serve(Script(document="A short brief."))
    jobs = [{"topic": "a", "output": "a.md"}, {"topic": "b", "output": "b.md", "template": "article"}]
    path = manifest(tmp_path, jobs)
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--jobs", "1")
    assert code == 0, err
    first, second = (r["body"] for r in server.recorder.chats)
    assert first["max_tokens"] == 77 and "briefing note" in first["messages"][-1]["content"]
    assert "long-form article" in second["messages"][-1]["content"]  # the manifest beats the config


def test_duplicate_job_names_are_refused(tmp_path: Path, serve, docgen) -> None:
    server = serve(Script(document="x"))
    path = manifest(tmp_path, [{"name": "intro", "topic": "a", "output": "a.md"},
                               {"name": "intro", "topic": "b", "output": "b.md"}])
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url)
    assert code == 2 and "job 2 (intro): field 'name'" in err


def test_sigterm_stops_every_job_keeps_their_partials_and_still_reports(tmp_path: Path, serve) -> None:
    """What a cancelled CI job sends: each job stops cleanly, the table and --report say how far it got."""
    import signal

    from docgen.markdown.wordcount import count_words

    docs = {f"topic {i} ": make_document(400, seed=200 + i) for i in range(3)}
    server = serve(Script(document="unused", documents=docs, delay=0.01, write_bytes=(20, 60)))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)],
                    defaults='output_dir = "out"\nwords = 100000\noutline = "none"')
    report = tmp_path / "report.json"
    args = ("batch", str(path), "--base-url", server.base_url, "--jobs", "3", "--report", str(report))
    proc = docgen_process(*args)
    try:
        deadline = time.monotonic() + 20
        parts = [tmp_path / "out" / f"doc{i}.md.part" for i in range(3)]
        while not all(p.exists() and p.stat().st_size > 100 for p in parts):
            assert time.monotonic() < deadline, "the jobs never got going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err_bytes = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    err = err_bytes.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "nothing was written" not in err
    [line] = [line for line in err.splitlines() if line.startswith("docgen: interrupted")]
    assert f"partial texts are kept in {tmp_path / 'out'}" in line and "docgen batch" in line
    assert "3/3" not in err  # nothing was finished
    results = json.loads(report.read_text(encoding="utf-8"))
    assert [r["status"] for r in results] == ["cancelled"] * 3
    for result, part, text in zip(results, parts, docs.values(), strict=True):
        kept = part.read_text(encoding="utf-8")
        assert text.startswith(kept) and result["words"] == count_words(kept) > 0
        assert result["seconds"] > 0 and result["error"] == "interrupted"
    server.script = Script(document="unused", documents=docs)  # the same command finishes them, byte-exact
    proc = docgen_process(*args)
    _, err_bytes = proc.communicate(timeout=60)
    assert proc.returncode == 0, err_bytes.decode()
    for i, text in enumerate(docs.values()):
        assert (tmp_path / "out" / f"doc{i}.md").read_text(encoding="utf-8") == text
    assert "3 jobs: 3 written" in err_bytes.decode()


def test_the_totals_count_up_to_date_jobs(tmp_path: Path, serve, docgen) -> None:
    docs = six_docs()
    server = serve(Script(document="unused", documents=docs))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)])
    (tmp_path / "out").mkdir()
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--jobs", "1")
    assert code == 0, err
    (tmp_path / "out" / "doc5.md").unlink()
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url)
    assert code == 0, err
    assert "6 jobs: 1 written, 5 up to date" in err
    assert "1/6 written, 5 up to date, 0 running, 0 failed" in err  # the meter's last line


def test_the_batch_totals_say_what_it_cost(tmp_path: Path, serve, docgen) -> None:
    docs = {f"topic {i} ": make_document(200, seed=300 + i) for i in range(2)}
    server = serve(Script(document="unused", documents=docs))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)],
                    defaults='output_dir = "out"\nwords = 100000\noutline = "none"')
    report = tmp_path / "r.json"
    code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--report", str(report),
                          "--price-in", "1", "--price-out", "1")
    assert code == 0, err
    results = json.loads(report.read_text(encoding="utf-8"))
    prompt, completion = sum(r["prompt_tokens"] for r in results), sum(r["completion_tokens"] for r in results)
    assert prompt > 0 and completion > 0
    [total] = [line for line in err.splitlines() if line.startswith("2 jobs:")]
    assert f"{prompt:,} prompt + {completion:,} completion tokens; cost {(prompt + completion) / 1e6:.4f}" in total


def test_shards_cover_the_manifest_exactly_once(tmp_path: Path, serve, docgen) -> None:
    docs = {f"topic {i} ": make_document(60, seed=400 + i) for i in range(10)}
    server = serve(Script(document="unused", documents=docs))
    path = manifest(tmp_path, [{"topic": t, "output": f"doc{i}.md"} for i, t in enumerate(docs)],
                    defaults='output_dir = "out"\nwords = 100000\noutline = "none"')
    written: list[set[str]] = []
    for i in (1, 2, 3):
        before = {p.name for p in (tmp_path / "out").glob("*.md")} if (tmp_path / "out").exists() else set()
        code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--shard", f"{i}/3")
        assert code == 0, err
        written.append({p.name for p in (tmp_path / "out").glob("*.md")} - before)
    assert set().union(*written) == {f"doc{i}.md" for i in range(10)}
    assert sum(len(w) for w in written) == 10  # disjoint
    sent = len(server.recorder.chats)
    assert docgen("batch", str(path), "--base-url", server.base_url, "--shard", "2/3")[0] == 0
    assert len(server.recorder.chats) == sent  # a re-run of a shard is idempotent
    for bad in ("0/3", "4/3", "x", "1/0"):
        code, _, err = docgen("batch", str(path), "--base-url", server.base_url, "--shard", bad)
        assert code == 2 and "--shard" in err
