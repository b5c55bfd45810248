"""Every request fits a small context window: the README's batch example against llama.cpp with -c 2048."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama import LlamaServer

pytestmark = pytest.mark.llama
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small() -> Iterator[LlamaServer]:
    server = LlamaServer("-c", "2048").start()
    if server.pid is None:
        pytest.skip(server.why_not)
    yield server
    server.stop()


def test_the_readme_batch_example_fits_a_small_context(tmp_path: Path, small: LlamaServer, docgen) -> None:
    (tmp_path / "examples").mkdir()
    manifest = tmp_path / "examples" / "batch.toml"
    shutil.copy(REPO / "examples" / "batch.toml", manifest)  # its outputs go to ../docs, beside it
    report = tmp_path / "report.json"
    code, _, err = docgen("batch", str(manifest), "--jobs", "2", "--report", str(report),
                          "--base-url", small.base_url, "--backoff", "0", "--max-continuations", "60")
    assert code == 0, err
    results = json.loads(report.read_text(encoding="utf-8"))
    assert [r["status"] for r in results] == ["done"] * 3, results
    for r in results:
        assert Path(r["path"]).read_text(encoding="utf-8").strip()
        assert 0 < r["words"] <= 1.2 * (800 if "incidents" in r["path"] else 2500)  # fitted, and not overlong
    assert "context" not in err.lower()


def test_a_long_continuation_shrinks_its_tail_to_fit(tmp_path: Path, small: LlamaServer, docgen) -> None:
    out = tmp_path / "doc.md"
    code, stdout, err = docgen("write", "--topic", "fits", "-o", str(out), "--base-url", small.base_url,
                               "--words", "1500", "--max-tokens", "200", "--context-tail", "12000", "--json",
                               "--max-continuations", "60")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["continuations"] >= 3
    assert "context" not in err.lower()
