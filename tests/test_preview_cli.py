"""docgen write --preview and docgen preview FILE: the page's URL on stderr, the text as it is written."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import docgen_process, make_document
from sse_server import Script


def url_from(proc: Any) -> str:
    deadline = time.monotonic() + 30
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(rb"preview: (http://127\.0\.0\.1:\d+/\S+/)", line)
        if match:
            return match.group(1).decode()
    raise AssertionError(f"no preview URL on stderr (last line {line!r})")


def test_write_with_preview_serves_the_growing_document(tmp_path: Path, serve: Any) -> None:
    document = make_document(1500, seed=90)
    server = serve(Script(document=document, delay=0.003, write_bytes=(300, 600)))  # about two seconds
    out = tmp_path / "doc.md"
    proc = docgen_process("write", "t", "-o", str(out), "--base-url", server.base_url, "--words", "1200",
                          "--outline", "none", "--preview", "--quiet")
    try:
        url = url_from(proc)
        assert httpx.get(url.rsplit("/", 2)[0] + "/", timeout=5).status_code == 404  # the token is the key
        seen = b""
        with httpx.stream("GET", url + "events", timeout=30) as events:
            for chunk in events.iter_bytes():
                seen += chunk
                if b"event: done" in seen:
                    break
        assert b"A known document" in seen and b"event: done" in seen
    finally:
        proc.communicate(timeout=60)  # also closes its pipes
    assert proc.returncode == 0
    assert document.startswith(out.read_text(encoding="utf-8").rstrip("\n")[:5000])


def test_preview_follows_another_runs_partial(tmp_path: Path) -> None:
    (tmp_path / "doc.md.part").write_text("# Half a report\n\nThe first paragraph is here.\n", encoding="utf-8")
    proc = docgen_process("preview", str(tmp_path / "doc.md"))
    try:
        url = url_from(proc)
        with httpx.stream("GET", url + "events", timeout=10) as events:
            seen = b""
            for chunk in events.iter_bytes():
                seen += chunk
                if b"first paragraph" in seen:
                    break
        assert b"first paragraph" in seen
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 130
