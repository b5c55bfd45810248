from pathlib import Path

from sse_server import Script


def test_write_produces_the_document_byte_for_byte(tmp_path: Path, serve, docgen, document: str) -> None:
    server = serve(Script(document=document))
    out = tmp_path / "doc.md"
    code, _stdout, stderr = docgen("write", "--topic", "x", "-o", str(out), "--base-url", server.base_url)
    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    assert not (tmp_path / "doc.md.part").exists()
    assert not (tmp_path / "doc.md.journal").exists()
