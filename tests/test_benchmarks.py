"""The benchmark runs end to end at a tiny size and reports sane, byte-checked figures."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORDS = 300


def _run_benchmark(tmp_path: Path) -> tuple[dict[str, Any], str]:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", str(WORDS), "--runs", "1",
         "--startup-runs", "1", "--batch", "1,2", "--batch-words", str(WORDS), "--batch-runs", "1",
         "--no-warmup", "--json", str(results)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(results.read_text(encoding="utf-8")), done.stdout


def _positive(summary: dict[str, Any]) -> None:
    assert summary["runs"] >= 1
    assert summary["cpu"] > 0
    assert summary["wall"] > 0
    assert summary["rss_mib"] > 0


def test_benchmark_at_a_tiny_size(tmp_path: Path) -> None:
    results, table = _run_benchmark(tmp_path)

    [size] = results["sizes"]
    assert size["words"] == WORDS
    assert size["events"] > WORDS  # role, content, finish, usage, [DONE]
    assert size["wire_bytes"] > size["document_bytes"] > 0
    names = [c["client"] for c in size["clients"]]
    expected = ["docgen", "httpx-naive"]
    if importlib.util.find_spec("openai") is not None:
        expected.append("openai-sdk")
    assert names[: len(expected)] == expected
    for client in size["clients"]:
        assert client["exact"] is True, client["client"]
        _positive(client["summary"])

    startup = {s["command"]: s["summary"] for s in results["startup"]}
    assert {"python -c pass", "docgen --version", "docgen write --dry-run --topic x"} <= set(startup)
    for summary in startup.values():
        _positive(summary)
    # the launcher keeps the benchmark's own memory out of the children's peak RSS
    assert startup["python -c pass"]["rss_mib"] < 20

    batches = {(b["streams"], b["program"]) for b in results["batch"]}
    assert {(1, "docgen write"), (2, "docgen write"), (1, "httpx-naive"), (2, "httpx-naive")} <= batches
    for batch in results["batch"]:
        assert batch["exact"] is True
        assert batch["processes"] in (1, batch["streams"])
        _positive(batch["summary"])

    targets = {t["name"]: t for t in results["targets"]}
    cpu = next(t for name, t in targets.items() if name.startswith("docgen CPU vs naive"))
    docgen_cpu, naive_cpu = (c["summary"]["cpu"] for c in size["clients"][:2])
    assert cpu["measured"] == f"{docgen_cpu / naive_cpu:.2f}×"  # the ratio of the figures above, not made up
    assert cpu["met"] is (docgen_cpu / naive_cpu <= float(cpu["limit"].strip("≤ ×")))
    version = targets["docgen --version wall time"]
    assert version["met"] is (startup["docgen --version"]["wall"] <= float(version["limit"].strip("≤ s")))
    growth = next(t for name, t in targets.items() if name.startswith("docgen RSS growth"))
    assert growth["met"] is None  # one size only: growth is not measured, and says so

    assert "| 300 | " in table and "| docgen |" in table
    assert results["machine"]["nproc"] and results["machine"]["python"]
