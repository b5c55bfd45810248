"""Length, endings and loops on real text: SmolLM2-135M-Instruct behind the real llama.cpp server.

The model stops by itself, often far short, and loops the way small models do; what
docgen makes of that is what a user gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama import LlamaServer

from docgen.markdown.ending import ends_cleanly
from docgen.markdown.wordcount import length_score

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def smol() -> Iterator[LlamaServer]:
    server = LlamaServer("-c", "4096", model="smol").start()
    if server.pid is None:
        pytest.skip(server.why_not)
    yield server
    server.stop()


def _write(docgen, smol: LlamaServer, out: Path, *extra: str) -> tuple[int, dict, str]:  # type: ignore[no-untyped-def]
    code, stdout, err = docgen("write", "-o", str(out), "--base-url", smol.base_url, "--temperature", "0",
                               "--json", "--retries", "1", *extra)
    return code, (json.loads(stdout) if stdout.strip() else {}), err


@pytest.mark.parametrize(("topic", "words"), [("The history of the printing press", 300),
                                              ("Why cities plant trees", 600)])
def test_a_real_model_gets_the_length_asked_for_and_a_clean_ending(tmp_path: Path, smol: LlamaServer, docgen,
                                                                  topic: str, words: int) -> None:
    out = tmp_path / "doc.md"
    code, summary, err = _write(docgen, smol, out, "--topic", topic, "--words", str(words), "--template", "article")
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert summary["words"] == pytest.approx(words, rel=0.25), err
    assert length_score(words, summary["words"]) >= 80, err
    assert ends_cleanly(text), text[-300:]
    assert 0 < summary["events"] < words * 4  # tokens generated (paid for) stay near the words kept


def test_a_small_max_tokens_is_continued_to_the_target(tmp_path: Path, smol: LlamaServer, docgen) -> None:
    out = tmp_path / "doc.md"
    code, summary, err = _write(docgen, smol, out, "--topic", "How bees make honey", "--words", "250",
                                "--max-tokens", "60", "--template", "brief")
    assert code == 0, err
    assert summary["continuations"] >= 2
    assert ends_cleanly(out.read_text(encoding="utf-8"))
    assert length_score(250, summary["words"]) >= 70, err
