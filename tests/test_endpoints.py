"""Several servers of one model: spread, failover mid-document, byte-exact."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from conftest import make_document
from sse_server import Fault, Script


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def test_a_server_dying_mid_document_hands_the_partial_to_another(tmp_path: Path, serve: Any, docgen: Any) -> None:
    document = make_document(3000, seed=50)
    failing = serve(Script(document=document, faults=[Fault("drop", after=12000)] * 20))
    healthy = serve(Script(document=document))
    out = tmp_path / "doc.md"
    code, stdout, err = docgen("write", "t", "-o", str(out), "--base-url", failing.base_url, "--base-url",
                               healthy.base_url, "--retries", "1", "--backoff", "0", "--words", "100000",
                               "--outline", "none", "--json")
    assert code == 0, err
    assert out.read_bytes() == document.encode()  # byte-exact across two servers
    assert len(failing.recorder.chats) == 2  # the first request, and its one retry
    handed = healthy.recorder.chats[0]["body"]["messages"][-1]
    assert handed["role"] == "assistant" and document.startswith(handed["content"])  # it continued the partial
    assert json.loads(stdout)["words"] > 0


def test_a_batch_spreads_over_servers_and_skips_a_dead_one(tmp_path: Path, serve: Any, docgen: Any) -> None:
    docs = {f"topic {i} ": make_document(300, seed=60 + i) for i in range(6)}
    one, two = serve(Script(document="unused", documents=docs, delay=0.002)), serve(
        Script(document="unused", documents=docs, delay=0.002)
    )
    lines = ['[defaults]\noutput_dir = "out"\nwords = 100000\noutline = "none"\n']
    lines += [f'[[jobs]]\ntopic = "{t}"\noutput = "d{i}.md"\n' for i, t in enumerate(docs)]
    manifest = tmp_path / "m.toml"
    manifest.write_text("\n".join(lines), encoding="utf-8")
    code, _, err = docgen("batch", str(manifest), "--base-url", f"{one.base_url},{two.base_url}", "--jobs", "4",
                          "--per-endpoint", "2")
    assert code == 0, err
    assert one.recorder.chats and two.recorder.chats  # both took documents
    for i, text in enumerate(docs.values()):
        assert (tmp_path / "out" / f"d{i}.md").read_text(encoding="utf-8") == text
    for p in (tmp_path / "out").glob("*.md"):
        p.unlink()
    (tmp_path / "out" / ".docgen-state.json").unlink()
    code, _, err = docgen("batch", str(manifest), "--base-url", dead_url(), "--base-url", two.base_url,
                          "--retries", "0", "--connect-timeout", "1")
    assert code == 0, err
    for i, text in enumerate(docs.values()):
        assert (tmp_path / "out" / f"d{i}.md").read_text(encoding="utf-8") == text


def test_every_server_down_is_one_clear_error(tmp_path: Path, docgen: Any) -> None:
    code, _, err = docgen("write", "t", "-o", str(tmp_path / "d.md"), "--base-url", dead_url(), "--base-url",
                          dead_url(), "--model", "m", "--retries", "0", "--connect-timeout", "1", "--quiet")
    assert code == 5 and err.count("\n") == 1 and "Traceback" not in err


def test_servers_from_the_environment_and_the_config(tmp_path: Path, serve: Any, docgen: Any, monkeypatch) -> None:
    document = make_document(200, seed=70)
    a, b = serve(Script(document=document)), serve(Script(document=document))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docgen.toml").write_text(f'base_url = ["{a.base_url}", "{b.base_url}"]\n', encoding="utf-8")
    code, out, _ = docgen("config", "--json")
    assert json.loads(out)["base_url"]["value"] == f"{a.base_url}, {b.base_url}"
    monkeypatch.setenv("DOCGEN_BASE_URL", f"{b.base_url},{a.base_url}")
    code, _, err = docgen("write", "t", "-o", "d.md", "--words", "100000", "--outline", "none", "--quiet")
    assert code == 0, err
    assert b.recorder.chats and not a.recorder.chats  # the environment's first server, the least busy
