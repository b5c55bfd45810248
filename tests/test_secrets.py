"""The API key goes to the server as a Bearer token and nowhere else: no file, no output.

Each run happens in a fresh folder; afterwards every byte of every file under it, and
everything printed, is searched for the key.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import docgen_process
from sse_server import Fault, Script

SECRET = "sk-SECRET-7f3a9c21d0e4b865"


def assert_nowhere(folder: Path, *outputs: str | bytes, skip: tuple[str, ...] = ()) -> None:
    """SECRET is in no file under ``folder`` (recursively) and in none of ``outputs``."""
    needle = SECRET.encode()
    files = [p for p in folder.rglob("*") if p.is_file() and p.name not in skip]
    for path in files:
        assert needle not in path.read_bytes(), f"the key is in {path}"
    for output in outputs:
        text = output if isinstance(output, bytes) else output.encode()
        assert needle not in text, f"the key is in the output: {text[-400:]!r}"


def bearer_everywhere(server: Any) -> None:
    assert server.recorder.requests
    for request in server.recorder.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers.get("authorization") == f"Bearer {SECRET}", request["path"]


def key_args(how: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if how == "flag":
        return ["--api-key", SECRET]
    monkeypatch.setenv(how, SECRET)
    return []


KEY_SOURCES = ["flag", "DOCGEN_API_KEY", "OPENAI_API_KEY"]


@pytest.mark.parametrize("how", KEY_SOURCES)
def test_a_successful_run_sends_the_key_and_keeps_it_nowhere(
    tmp_path: Path,
    serve: Any,
    docgen: Any,
    document: str,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    server = serve(Script(document=document, cap_chars=4000))  # a few replies, a few journal checkpoints
    out = tmp_path / "out" / "doc.md"
    code, stdout, stderr = docgen(
        "write",
        "--topic",
        "t",
        "-o",
        str(out),
        "--base-url",
        server.base_url,
        "--json",
        "--backoff",
        "0",
        *key_args(how, monkeypatch),
    )
    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    assert len(server.recorder.chats) >= 2
    bearer_everywhere(server)
    assert_nowhere(tmp_path, stdout, stderr)


@pytest.mark.parametrize("how", KEY_SOURCES)
def test_a_failed_run_keeps_the_key_out_of_the_partial_journal_and_message(
    tmp_path: Path,
    serve: Any,
    docgen: Any,
    document: str,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    server = serve(
        Script(
            document=document,
            faults=[Fault("drop", after=4000), Fault("drop", after=0)],
        )
    )
    out = tmp_path / "doc.md"
    code, stdout, stderr = docgen(
        "write",
        "--topic",
        "t",
        "-o",
        str(out),
        "--base-url",
        server.base_url,
        "--backoff",
        "0",
        "--retries",
        "1",
        *key_args(how, monkeypatch),
    )
    assert code == 10
    assert (tmp_path / "doc.md.part").stat().st_size > 0
    assert (tmp_path / "doc.md.journal").exists()
    assert "run the same command again" in stderr
    bearer_everywhere(server)
    assert_nowhere(tmp_path, stdout, stderr)


@pytest.mark.parametrize("how", KEY_SOURCES)
def test_an_interrupted_run_keeps_the_key_out_of_files_and_output(
    tmp_path: Path, serve: Any, document: str, how: str
) -> None:
    server = serve(Script(document=document, delay=0.01, write_bytes=(20, 60)))
    out = tmp_path / "doc.md"
    args = ["write", "--topic", "t", "-o", str(out), "--base-url", server.base_url]
    env = {}
    if how == "flag":
        args += ["--api-key", SECRET]
    else:
        env[how] = SECRET
    proc = docgen_process(*args, env=env)
    part = tmp_path / "doc.md.part"
    try:
        deadline = time.monotonic() + 15
        while not (part.exists() and part.stat().st_size > 50) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert part.stat().st_size > 50
    assert b"run the same command again" in stderr
    bearer_everywhere(server)
    assert_nowhere(tmp_path, stdout, stderr)


def test_a_dry_run_does_not_print_the_key(tmp_path: Path, docgen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = docgen("write", "--topic", "t", "--dry-run", "--api-key", SECRET)
    assert code == 0, stderr
    assert "## request body" in stdout
    assert_nowhere(tmp_path, stdout, stderr)


def test_a_rejected_key_is_not_echoed(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    body = '{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}'
    server = serve(Script(document=document, faults=[Fault("status", status=401, body=body)]))
    code, stdout, stderr = docgen(
        "write",
        "--topic",
        "t",
        "-o",
        str(tmp_path / "doc.md"),
        "--base-url",
        server.base_url,
        "--api-key",
        SECRET,
    )
    assert code == 6
    assert "Incorrect API key provided" in stderr
    assert_nowhere(tmp_path, stdout, stderr)


def test_a_key_named_by_the_project_config_is_sent_and_kept_nowhere(
    tmp_path: Path, serve: Any, docgen: Any, document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(Script(document=document))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_TEAM_KEY", SECRET)
    (tmp_path / "docgen.toml").write_text(f'base_url = "{server.base_url}"\napi_key = "${{MY_TEAM_KEY}}"\n')
    code, stdout, stderr = docgen("write", "--topic", "t", "-o", "doc.md", "--json")
    assert code == 0, stderr
    bearer_everywhere(server)
    assert_nowhere(tmp_path, stdout, stderr)


def test_a_literal_key_in_the_project_config_is_refused_without_echoing_it(
    tmp_path: Path, docgen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docgen.toml").write_text(f'api_key = "{SECRET}"\n')
    code, stdout, stderr = docgen("write", "--topic", "t", "-o", "doc.md")
    assert code == 2
    assert "api_key" in stderr
    assert_nowhere(tmp_path, stdout, stderr, skip=("docgen.toml",))


URL_PASSWORD = "hunter2-url-secret"


def test_a_server_that_echoes_the_bearer_token_is_not_repeated(tmp_path: Path, serve, docgen) -> None:
    body = f'{{"error": {{"message": "invalid token: Bearer {SECRET} (and sk-OTHERKEY123456)"}}}}'
    server = serve(Script(document="unused", faults=[Fault("status", status=401, body=body)]))
    code, out, err = docgen(
        "write",
        "--topic",
        "t",
        "-o",
        str(tmp_path / "a.md"),
        "--base-url",
        server.base_url,
        "--api-key",
        SECRET,
        "--json",
    )
    assert code == 6
    assert "Bearer ***" in err and "sk-***" in err
    assert_nowhere(tmp_path, out, err)
    assert "OTHERKEY123456" not in err


def test_a_password_in_the_url_is_masked_in_every_message_dry_run_and_probe_cache(
    tmp_path: Path, serve, docgen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCGEN_CACHE_DIR", str(tmp_path / "cache"))
    server = serve(Script(document="A short text.\n", faults=[Fault("status", status=503)] * 3))
    url = server.base_url.replace("http://", f"http://user:{URL_PASSWORD}@")
    out = tmp_path / "a.md"
    code, stdout, err = docgen(
        "write", "--topic", "t", "-o", str(out), "--base-url", url, "--retries", "1", "--backoff", "0", "--json"
    )
    assert code == 9 and "user:***@" in err
    code2, dry, err2 = docgen("write", "--topic", "t", "--base-url", url, "--dry-run")
    assert code2 == 0 and "user:***@" in dry
    server.script = Script(document="A short text.\n")
    code3, report, err3 = docgen("check", "--base-url", url, "--json")
    assert code3 == 0, err3
    assert (tmp_path / "cache" / "probes.json").exists()
    for text in (stdout, err, dry, err2, report, err3):
        assert URL_PASSWORD not in text
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or URL_PASSWORD.encode() not in path.read_bytes(), path
