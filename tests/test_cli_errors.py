"""Every way a run can go wrong: one clear line on stderr, the documented exit code, no text lost.

Exit codes (docgen/errors.py, README): 2 usage, 3 template, 4 output, 5 connect, 6 auth,
7 not found, 8 rejected, 9 unavailable after retries, 10 stream failed after retries,
130 interrupted.
"""

from __future__ import annotations

import gc
import json
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import docgen_process, make_document
from sse_server import Fault, Script
from test_chat_stream import sse_payloads

QUICK = ("--backoff", "0", "--retries", "0", "--timeout", "5", "--quiet")


@pytest.fixture(autouse=True)
def no_leaked_sockets() -> Iterator[None]:
    """Each run closes its connections, whatever went wrong: no socket is left to the GC."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()  # what earlier tests left is not this test's doing
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaked, leaked


def one_line(stderr: str) -> str:
    """The single non-blank line of ``stderr``; fails on anything more, or a traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def write(docgen: Any, url: str, out: Path, *extra: str) -> tuple[int, str, str]:
    return docgen("write", "--topic", "errors", "-o", str(out), "--base-url", url, *extra)


def streamed_before_failure(wire: bytes) -> str:
    """The content of the events a client could decode before the stream went wrong."""
    text = []
    for payload in sse_payloads(wire):
        if payload == b"[DONE]":
            break
        try:
            obj = json.loads(payload.decode("utf-8"))
        except ValueError:
            break
        if not isinstance(obj, dict) or obj.get("error"):
            break
        choices = obj.get("choices") or [{}]
        text.append((choices[0].get("delta") or {}).get("content") or "")
    return "".join(text)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def leftovers(folder: Path) -> list[str]:
    """What a run left in ``folder``, but the record of finished outputs, which is meant to stay."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".docgen-state.json")


# -- bad input: nothing is sent, nothing is written ------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["write", "--bogus"], "--bogus"),
        (["write", "--topic", "t", "--temperature", "9"], "--temperature"),
        (["write", "--topic", "t", "--words", "0"], "--words"),
        (["write", "--topic", "t", "--restart", "--resume"], "--restart"),
        (["wrtie", "--topic", "t"], "wrtie"),
        (["write", "--topic", "t", "--var", "audience"], "audience"),
        (["write", "--topic", "t", "-o", "report.pdf"], "report.pdf"),
        (["write", "--topic", "t", "--base-url", "ftp://example.com/v1"], "ftp://example.com/v1"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    tmp_path: Path, docgen: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], names: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = docgen(*args)
    assert code == 2
    assert names in one_line(stderr)
    assert stdout == ""
    assert leftovers(tmp_path) == []


def test_missing_template_variables_are_named_all_at_once(tmp_path: Path, docgen: Any) -> None:
    template = tmp_path / "three.md"
    template.write_text(
        '+++\ndescription = "needs three"\n[variables.audience]\ndescription = "who"\n+++\n'
        "{{ topic }} for {{ audience }} in {{ region }} by {{ deadline }}\n",
        encoding="utf-8",
    )
    code, _, stderr = docgen("write", "--template", str(template), "-o", str(tmp_path / "x.md"), "--var", "region=EU")
    assert code == 3
    line = one_line(stderr)
    for name in ("topic", "audience", "deadline"):
        assert name in line
    assert "region" not in line.split(": missing ", 1)[1].split("(")[0]  # given, so not missing
    assert "--topic" in line and "--var audience=" in line and "--var deadline=" in line
    assert leftovers(tmp_path) == ["three.md"]


def test_unknown_variables_are_named_with_the_ones_the_template_takes(tmp_path: Path, docgen: Any) -> None:
    code, _, stderr = docgen(
        "write",
        "--topic",
        "t",
        "-o",
        str(tmp_path / "x.md"),
        "--var",
        "audiense=me",
        "--var",
        "colour=red",
        "--base-url",
        closed_port_url(),
    )
    assert code == 3
    line = one_line(stderr)
    assert "audiense" in line and "colour" in line
    assert "audience" in line.split("audiense", 1)[1]  # what it does take, to spot the typo
    assert leftovers(tmp_path) == []


def test_an_unknown_template_names_the_choices(tmp_path: Path, docgen: Any) -> None:
    code, _, stderr = docgen("write", "--topic", "t", "-o", str(tmp_path / "x.md"), "--template", "nosuch")
    assert code == 3
    line = one_line(stderr)
    assert "nosuch" in line and "report" in line and "article" in line


def test_an_output_under_a_regular_file_is_exit_4_before_any_request(
    tmp_path: Path, serve: Any, docgen: Any, document: str
) -> None:
    server = serve(Script(document=document))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    for out in (blocker / "doc.md", blocker / "deeper" / "doc.md"):
        code, _, stderr = write(docgen, server.base_url, out, *QUICK)
        assert code == 4
        assert "not-a-folder" in one_line(stderr)
    assert server.recorder.requests == []
    assert leftovers(tmp_path) == ["not-a-folder"]


def test_an_existing_output_needs_force(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document))
    out = tmp_path / "doc.md"
    out.write_text("my earlier work\n")
    code, _, stderr = write(docgen, server.base_url, out, *QUICK)
    assert code == 4
    line = one_line(stderr)
    assert str(out) in line and "--force" in line
    assert out.read_text() == "my earlier work\n"
    assert server.recorder.requests == []
    assert leftovers(tmp_path) == ["doc.md"]

    code, _, stderr = write(docgen, server.base_url, out, *QUICK, "--force")
    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    assert leftovers(tmp_path) == ["doc.md"]


def test_a_finished_output_from_the_same_inputs_is_up_to_date(
    tmp_path: Path, serve: Any, docgen: Any, document: str
) -> None:
    """As make does: the same command again is rc 0 and touches nothing; other inputs still need --force."""
    server = serve(Script(document=document))
    out = tmp_path / "doc.md"
    assert write(docgen, server.base_url, out, "--backoff", "0")[0] == 0
    stamp, sent = out.stat().st_mtime_ns, len(server.recorder.chats)
    code, stdout, stderr = write(docgen, server.base_url, out, "--backoff", "0")
    assert code == 0, stderr
    assert stderr.strip() == f"{out} is up to date: written before from the same inputs (--force writes it again)"
    assert out.stat().st_mtime_ns == stamp and len(server.recorder.chats) == sent
    code, stdout, _ = write(docgen, server.base_url, out, "--json")
    assert code == 0 and json.loads(stdout)["status"] == "up to date"
    code, _, stderr = write(docgen, server.base_url, out, "--temperature", "0.2")
    assert code == 4 and "written from other inputs" in stderr and "--force" in stderr
    assert len(server.recorder.chats) == sent and out.stat().st_mtime_ns == stamp
    code, _, stderr = write(docgen, server.base_url, out, "--temperature", "0.2", "--force", "--quiet")
    assert code == 0, stderr
    assert write(docgen, server.base_url, out, "--temperature", "0.2")[0] == 0  # up to date again
    assert sorted(p.name for p in tmp_path.iterdir()) == [".docgen-state.json", "doc.md"]


# -- choosing the model ----------------------------------------------------------------


def test_the_one_served_model_is_used(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document, models=["only-model-7b"]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK)
    assert code == 0, stderr
    assert server.recorder.requests[0]["path"] == "/v1/models"
    assert [c["body"]["model"] for c in server.recorder.chats] == ["only-model-7b"]


def test_several_served_models_are_listed_and_exit_2(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document, models=["alpha-7b", "beta-13b", "gamma-70b"]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK)
    assert code == 2
    line = one_line(stderr)
    assert "alpha-7b" in line and "beta-13b" in line and "gamma-70b" in line and "--model" in line
    assert server.recorder.chats == []
    assert leftovers(tmp_path) == []


def test_no_served_model_is_exit_7(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document, models=[]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK)
    assert code == 7
    assert "--model" in one_line(stderr)
    assert server.recorder.chats == []


def test_model_flag_skips_the_model_list(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document, models=["a", "b"]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK, "--model", "b")
    assert code == 0, stderr
    assert [r["path"] for r in server.recorder.requests] == ["/v1/chat/completions"]
    assert server.recorder.chats[0]["body"]["model"] == "b"


# -- dry run ---------------------------------------------------------------------------


def test_dry_run_prints_the_prompt_and_body_and_sends_nothing(
    tmp_path: Path, serve: Any, docgen: Any, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    server = serve(Script(document=document))
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = docgen(
        "write",
        "--topic",
        "Tides of Saturn",
        "--base-url",
        server.base_url,
        "--words",
        "1234",
        "--temperature",
        "0.3",
        "--dry-run",
    )
    assert code == 0, stderr
    assert stderr == ""
    assert stdout.startswith(f"# POST {server.base_url}/chat/completions -> tides-of-saturn.md\n")
    head, body_text = stdout.split("## request body\n\n")
    body = json.loads(body_text)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3
    [system, user] = body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "Tides of Saturn" in user["content"] and "1234" in user["content"]
    assert f"## system\n\n{system['content']}\n" in head
    assert f"## user\n\n{user['content']}\n" in head
    assert server.recorder.requests == []
    assert leftovers(tmp_path) == []


# -- the server cannot be reached or refuses ------------------------------------------


@pytest.mark.parametrize("model", [[], ["--model", "m", "--retries", "1"]], ids=["listing-models", "streaming"])
def test_connection_refused_is_exit_5(tmp_path: Path, docgen: Any, model: list[str]) -> None:
    url = closed_port_url()
    code, _, stderr = write(docgen, url, tmp_path / "doc.md", *QUICK, *model)
    assert code == 5
    line = one_line(stderr)
    assert url in line and "refused" in line
    assert leftovers(tmp_path) == []


def test_a_host_that_does_not_resolve_is_exit_5(tmp_path: Path, docgen: Any) -> None:
    code, _, stderr = write(docgen, "http://nonexistent.invalid/v1", tmp_path / "doc.md", *QUICK)
    assert code == 5
    assert "nonexistent.invalid" in one_line(stderr)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "code", "said"),
    [
        (401, 6, "invalid api key"),
        (403, 6, "forbidden for this key"),
        (404, 7, "the model does not exist"),
        (422, 8, "temperature out of range"),
    ],
)
def test_a_refusal_is_its_exit_code_with_the_servers_words(
    tmp_path: Path, serve: Any, docgen: Any, document: str, status: int, code: int, said: str
) -> None:
    body = json.dumps({"error": {"message": said, "type": "invalid_request_error"}})
    server = serve(Script(document=document, faults=[Fault("status", status=status, body=body)] * 3))
    got, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK, "--retries", "2")
    assert got == code
    line = one_line(stderr)
    assert said in line and str(status) in line
    assert len(server.recorder.chats) == 1  # not worth a retry
    assert leftovers(tmp_path) == []


def test_a_400_is_exit_8_with_the_servers_words(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    body = json.dumps({"error": {"message": "max_tokens is too large: 999999", "code": 400}})
    server = serve(Script(document=document, faults=[Fault("status", status=400, body=body)] * 3))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK)
    assert code == 8
    line = one_line(stderr)
    assert "max_tokens is too large" in line and "400" in line
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [429, 503])
def test_busy_after_the_retries_is_exit_9(tmp_path: Path, serve: Any, docgen: Any, document: str, status: int) -> None:
    server = serve(Script(document=document, faults=[Fault("status", status=status)] * 3))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK, "--retries", "1")
    assert code == 9
    line = one_line(stderr)
    assert str(status) in line and "overloaded, try later" in line
    assert len(server.recorder.chats) == 2  # the first try and one retry
    assert leftovers(tmp_path) == []


def test_busy_after_a_partial_keeps_it_and_says_how_to_continue(
    tmp_path: Path, serve: Any, docgen: Any, document: str
) -> None:
    faults = [
        Fault("drop", after=4000),
        Fault("status", status=429),
        Fault("status", status=503),
    ]
    server = serve(Script(document=document, faults=faults))
    out = tmp_path / "doc.md"
    code, _, stderr = write(docgen, server.base_url, out, *QUICK, "--retries", "2")
    assert code == 9
    line = one_line(stderr)
    part = tmp_path / "doc.md.part"
    assert str(part) in line and "run the same command again to continue" in line
    kept = part.read_bytes()
    assert kept and document.encode().startswith(kept)


def test_an_html_page_instead_of_a_stream_is_exit_8(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    page = "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
    fault = Fault("status", status=200, body=page, content_type="text/html; charset=utf-8")
    server = serve(Script(document=document, faults=[fault] * 3))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK, "--retries", "2")
    assert code == 8
    line = one_line(stderr)
    assert "HTML" in line and "--base-url" in line and "nginx" not in line
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["text/plain", "application/json", "text/event-stream"])
def test_a_200_body_that_is_not_a_chat_stream_is_exit_10(
    tmp_path: Path, serve: Any, docgen: Any, document: str, kind: str
) -> None:
    server = serve(Script(document=document, faults=[Fault("status", status=200, body="hello", content_type=kind)]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK)
    assert code == 10
    one_line(stderr)
    assert leftovers(tmp_path) == []


# -- the stream breaks: exit 10, the partial holds exactly what was streamed -----------------

BAD_UTF8 = b'data: {"choices": [{"index": 0, "delta": {"content": "bad \xff byte"}, "finish_reason": null}]}\n\n'
GARBAGE = b"<<this is not an event stream>>\r\n\r\n\x00\x01 what\n"

BREAKS = {
    "error-event": Fault("error_event", after=30),
    "malformed-json": Fault("malformed", after=30),
    "invalid-utf8": Fault("raw", after=30, raw=BAD_UTF8),
    "malformed-sse": Fault("raw", after=30, raw=GARBAGE),
    "dropped": Fault("drop", after=5000),
    "stalled": Fault("stall", after=5000, seconds=5),
    "keep-alives-only": Fault("stall", after=5000, seconds=5, keepalive=True),
}


def sent_before_the_break(chat: dict[str, Any], fault: Fault) -> str:
    wire = chat["wire"]
    if fault.kind in ("drop", "stall"):
        wire = wire[: fault.after]
    elif fault.kind == "raw":
        wire = wire[: len(wire) - len(fault.raw)]
    return streamed_before_failure(wire)


SMALL_WRITES, ONE_WRITE = (1, 300), (1 << 16, 1 << 16)
# Where the bad event itself ends the text, a read that holds it and the events before it
# shows whether those are kept; with small writes that depends on how TCP reads coalesce,
# so those kinds run with one write, which makes the outcome certain.
BREAK_CASES = [
    pytest.param(name, writes, id=f"{name}-{'small' if writes == SMALL_WRITES else 'one'}-write")
    for name in sorted(BREAKS)
    for writes in (SMALL_WRITES, ONE_WRITE)
    if writes == ONE_WRITE or name not in ("error-event", "malformed-json", "invalid-utf8")
]


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (Fault("stall", after=5000, seconds=3, keepalive=True), "sent only keep-alives for 0.5s"),
        (Fault("stall", after=5000, seconds=3, trickle=True), "sent a trickle of bytes but no complete event for 0.5s"),
    ],
    ids=["keep-alives", "trickle"],
)
def test_an_idle_stream_is_described_as_it_was(
    tmp_path: Path, serve: Any, docgen: Any, document: str, fault: Fault, said: str
) -> None:
    server = serve(Script(document=document, faults=[fault]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK, "--timeout", "0.5")
    assert code == 10
    assert said in one_line(stderr)


@pytest.mark.parametrize(("name", "writes"), BREAK_CASES)
def test_a_broken_stream_is_exit_10_and_keeps_exactly_what_was_streamed(
    tmp_path: Path, serve: Any, docgen: Any, document: str, name: str, writes: tuple[int, int]
) -> None:
    fault = BREAKS[name]
    server = serve(Script(document=document, faults=[fault], write_bytes=writes))
    out = tmp_path / "doc.md"
    args = (*QUICK, "--timeout", "0.5")
    code, _, stderr = write(docgen, server.base_url, out, *args)

    assert code == 10
    line = one_line(stderr)
    part = tmp_path / "doc.md.part"
    assert f"the partial text is kept in {part}" in line
    assert "run the same command again to continue: docgen write" in line
    [chat] = server.recorder.chats
    streamed = sent_before_the_break(chat, fault)
    assert streamed and document.startswith(streamed)
    assert part.read_bytes() == streamed.encode()  # all of it, and nothing else
    assert not out.exists()

    server.script = Script(document=document)  # the server is well again: the same command continues
    code, _, stderr = write(docgen, server.base_url, out, *args)
    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    assert leftovers(tmp_path) == ["doc.md"]


def test_a_mid_stream_error_after_the_retries_is_exit_10_with_the_partial(
    tmp_path: Path, serve: Any, docgen: Any, document: str
) -> None:
    # the first reply gets somewhere, the next two fail at once: two failures in a row
    faults = [
        Fault("error_event", after=20),
        Fault("error_event", after=0),
        Fault("error_event", after=0),
    ]
    # one write: the error event arrives in the same read as the text before it
    server = serve(Script(document=document, faults=faults, write_bytes=ONE_WRITE))
    out = tmp_path / "doc.md"
    code, _, stderr = write(docgen, server.base_url, out, *QUICK, "--retries", "2")
    assert code == 10
    line = one_line(stderr)
    assert "the engine crashed" in line and "run the same command again to continue" in line
    assert len(server.recorder.chats) == 3
    streamed = "".join(streamed_before_failure(c["wire"]) for c in server.recorder.chats)
    assert streamed and document.startswith(streamed)
    part = tmp_path / "doc.md.part"
    assert part.exists(), "the streamed text was not kept"
    assert part.read_bytes() == streamed.encode()


def test_without_quiet_there_is_still_exactly_one_error_line(
    tmp_path: Path, serve: Any, docgen: Any, document: str
) -> None:
    faults = [Fault("error_event", after=30), Fault("error_event", after=0)]
    server = serve(Script(document=document, faults=faults))
    code, stdout, stderr = write(docgen, server.base_url, tmp_path / "doc.md", "--backoff", "0", "--retries", "1")
    assert code == 10
    assert "Traceback" not in stderr and stdout == ""
    errors = [line for line in stderr.splitlines() if line.startswith("docgen: error")]
    assert len(errors) == 1 and stderr.splitlines()[-1] == errors[0], stderr


def test_an_error_reports_only_its_own_runs_partial(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document, faults=[Fault("drop", after=4000)]))
    first = tmp_path / "first.md"
    code, _, _ = write(docgen, server.base_url, first, *QUICK)
    assert code == 10 and (tmp_path / "first.md.part").exists()

    # a later run in the same process that fails before writing anything
    code, _, stderr = docgen("write", "--topic", "t", "-o", str(tmp_path / "second.md"), "--template", "nosuch")
    assert code == 3
    line = one_line(stderr)
    assert "first.md" not in line and "partial" not in line


# -- interrupted ------------------------------------------------------------------------


def wait_for_text(part: Path, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if part.exists() and part.stat().st_size > 50:
            return
        time.sleep(0.02)
    raise AssertionError(f"{part} never got any text")


@pytest.mark.parametrize(
    "signum",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
    ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"],
)
def test_an_interrupted_run_exits_130_keeps_the_partial_and_gives_the_command(
    tmp_path: Path, serve: Any, docgen: Any, document: str, signum: int
) -> None:
    server = serve(Script(document=document, delay=0.01, write_bytes=(20, 60)))
    out = tmp_path / "doc.md"
    args = [
        "write",
        "--topic",
        "slow one",
        "-o",
        str(out),
        "--base-url",
        server.base_url,
        "--backoff",
        "0",
    ]
    proc = docgen_process(*args)
    try:
        wait_for_text(tmp_path / "doc.md.part")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    stderr = err.decode()
    assert "Traceback" not in stderr
    [line] = [line for line in stderr.splitlines() if "interrupted" in line]
    part = tmp_path / "doc.md.part"
    assert f"the partial text is kept in {part}" in line
    assert "run the same command again to continue: docgen write --topic 'slow one' -o" in line
    kept = part.read_bytes()
    assert kept and document.encode().startswith(kept)
    assert (tmp_path / "doc.md.journal").exists()

    server.script = Script(document=document)
    code, _, stderr = docgen(*args, "--quiet")
    assert code == 0, stderr
    assert out.read_bytes() == document.encode()
    assert leftovers(tmp_path) == ["doc.md"]


@pytest.mark.parametrize(
    "flag",
    [
        ("--temperature", "nan"),
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--connect-timeout", "nan"),
        ("--backoff", "nan"),
        ("--backoff", "inf"),
    ],
)
def test_a_number_that_is_not_finite_is_a_bad_flag(tmp_path: Path, docgen: Any, flag: tuple[str, str]) -> None:
    code, _, stderr = write(docgen, "http://127.0.0.1:9/v1", tmp_path / "doc.md", *flag)
    assert code == 2 and "not a finite number" in stderr and "Traceback" not in stderr
    assert stderr.count("\n") == 1


@pytest.mark.parametrize("content", ["5", "[1, 2]", '{"text": "x"}'])
def test_content_that_is_not_text_is_a_malformed_stream(
    tmp_path: Path, serve: Any, docgen: Any, document: str, content: str
) -> None:
    event = b'data: {"choices":[{"index":0,"delta":{"content":' + content.encode() + b'},"finish_reason":null}]}\n\n'
    server = serve(Script(document=document, faults=[Fault("raw", after=20, raw=event)]))
    code, _, stderr = write(docgen, server.base_url, tmp_path / "doc.md", *QUICK)
    assert code == 10 and "content is not text" in stderr and "Traceback" not in stderr
    assert document.encode().startswith((tmp_path / "doc.md.part").read_bytes())  # what came first is kept


def test_a_file_name_too_long_is_an_output_error(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document))
    code, _, stderr = write(docgen, server.base_url, tmp_path / ("x" * 300 + ".md"), *QUICK)
    assert code == 4 and "Traceback" not in stderr and stderr.count("\n") == 1


def test_a_nul_in_a_batch_output_name_is_a_manifest_error(tmp_path: Path, docgen: Any) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[jobs]]\ntopic = "a"\noutput = "a\\u0000b.md"\n', encoding="utf-8")
    code, _, stderr = docgen("batch", str(manifest), "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2 and "NUL" in stderr


def test_dry_run_with_json_prints_the_request_as_json(docgen: Any) -> None:
    code, stdout, _ = docgen("write", "--topic", "t", "--dry-run", "--json", "--base-url", "http://u:pw@h:1/v1")
    assert code == 0
    record = json.loads(stdout)
    assert record["url"] == "http://u:***@h:1/v1/chat/completions"
    assert record["body"]["messages"][-1]["role"] == "user" and record["body"]["stream"] is True


def test_a_failed_run_with_json_prints_an_error_object(tmp_path: Path, docgen: Any) -> None:
    code, stdout, stderr = write(docgen, "http://127.0.0.1:9/v1", tmp_path / "doc.md", "--json", *QUICK)
    assert code == 5
    record = json.loads(stdout)
    assert record["exit_code"] == 5 and "cannot connect" in record["error"] and record["partial"] is None
    assert "cannot connect" in stderr


def test_json_keeps_stderr_free_of_meter_lines(tmp_path: Path, serve: Any, docgen: Any, document: str) -> None:
    server = serve(Script(document=document))
    code, stdout, stderr = write(docgen, server.base_url, tmp_path / "doc.md", "--json")
    assert code == 0 and json.loads(stdout)["words"] > 0
    assert "writing" not in stderr and "wrote " not in stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--topic", "  "), "--topic is empty"),
        (("--topic", "t", "-o", ""), "-o is empty"),
        (("--topic", "t", "--parallel", "3"), "needs --outline"),
    ],
)
def test_empty_or_pointless_options_are_refused(docgen: Any, args: tuple[str, ...], said: str) -> None:
    code, _, stderr = docgen("write", *args, "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2 and said in stderr


def test_templates_lists_documents_not_outline_steps(docgen: Any) -> None:
    code, stdout, _ = docgen("templates")
    listed = [line.split()[0] for line in stdout.splitlines() if line and not line.startswith(" ")]
    assert code == 0 and "report" in listed and "outline" not in listed[:-1] and "section" not in listed[:-1]
    assert "outline mode's own prompts: outline, section" in stdout


def test_the_project_config_is_found_from_a_subfolder(tmp_path: Path, docgen: Any, monkeypatch: Any) -> None:
    (tmp_path / "docgen.toml").write_text('model = "from-above"\napi_key = "${DOCGEN_TEST_UNSET_KEY}"\n')
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "docs" / "deep")
    monkeypatch.delenv("DOCGEN_TEST_UNSET_KEY", raising=False)
    code, stdout, stderr = docgen("config")
    assert code == 0 and "from-above" in stdout and str(tmp_path / "docgen.toml") in stdout
    assert "DOCGEN_TEST_UNSET_KEY" in stderr and "not set" in stderr


def test_a_full_disk_keeps_the_text_and_says_once_how_to_go_on(tmp_path: Path, serve: Any) -> None:
    """A file size limit plays the full disk: the write fails, the partial stays, one hint to continue."""
    import resource

    document = make_document(6000, seed=77)
    server = serve(Script(document=document))
    out = tmp_path / "doc.md"
    args = ("write", "--topic", "full", "-o", str(out), "--base-url", server.base_url, "--words", "100000",
            "--outline", "none", "--retries", "0", "--quiet")

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    proc = docgen_process(*args, preexec_fn=small_disk)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err.decode()
    line = one_line(err.decode())
    assert "free some space" in line and line.count("the same command") == 1
    kept = (tmp_path / "doc.md.part").read_bytes()
    assert len(kept) > 10000 and document.encode().startswith(kept)
    proc = docgen_process(*args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out.read_text(encoding="utf-8") == document


@pytest.mark.parametrize("missing", ["engine", "model"])
def test_no_server_and_no_engine_says_the_three_ways_forward(
    tmp_path: Path, docgen: Any, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """A machine without the local extra (or its demo model) and no server configured: exit 2, one line."""
    import docgen.server.embedded as embedded

    # the packages are installed in this venv: playing their absence is the only way to reach this path
    monkeypatch.setattr(embedded, "engine_available", lambda: missing != "engine")
    monkeypatch.setattr(embedded, "demo_model", lambda: None)
    monkeypatch.chdir(tmp_path)
    code, _, stderr = docgen("write", "a topic", "--words", "100")
    assert code == 2
    line = one_line(stderr)
    assert "no server is configured" in line
    assert "pip install 'docgen[local]'" in line and "--model PATH.gguf" in line and "--base-url URL" in line
    assert leftovers(tmp_path) == []
