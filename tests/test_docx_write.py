"""docgen write -o report.docx: the Markdown streams into the .part as always, Word gets the finished text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import make_document
from sse_server import Fault, Script

docx = pytest.importorskip("docx")

DOCUMENT = (
    "# Printing in Europe\n\nThe press changed *everything* in **fifty** years.\n\n## Spread\n\n"
    "- Mainz\n- Venice\n\n| city | year |\n|---|---|\n| Mainz | 1450 |\n\n```\nprint('hi')\n```\n"
)


def test_a_docx_document_with_a_table_of_contents_and_a_resume(tmp_path: Path, serve: Any, docgen: Any) -> None:
    body = make_document(3000, seed=80).removeprefix("# A known document\n")  # unique: any tail locates
    server = serve(Script(document=DOCUMENT + body, faults=[Fault("drop", after=6000)]))
    out = tmp_path / "press.docx"
    args = ("write", "Printing", "-o", str(out), "--base-url", server.base_url, "--words", "100000",
            "--outline", "none", "--toc", "--backoff", "0", "--quiet")
    code, _, err = docgen(*args, "--retries", "0")
    assert code == 10 and (tmp_path / "press.docx.part").read_text(encoding="utf-8").startswith("# Printing")
    code, _, err = docgen(*args)
    assert code == 0, err
    document = docx.Document(str(out))
    styles = [(p.style.name, p.text) for p in document.paragraphs if p.text.strip()]
    assert styles[0] == ("Title", "Printing in Europe")
    assert ("Heading 1", "Spread") in styles and ("List Bullet", "Mainz") in styles
    assert document.tables[0].cell(1, 0).text == "Mainz"
    assert 'TOC \\o "1-3"' in document.element.xml
    assert not (tmp_path / "press.docx.part").exists()
    code, _, err = docgen(*args)
    assert code == 0 and "up to date" not in err  # --quiet: nothing said, and nothing written again
