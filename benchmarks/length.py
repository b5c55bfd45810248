"""Does docgen write the length asked for, end cleanly, and keep a server's prompt cache warm?

    python benchmarks/length.py [--parts scripted,smol,cache] [--before DIR] [--keep DIR]

scripted: a scripted server whose model never stops (it streams four times the target in one
reply, ignoring max_tokens). smol: SmolLM2-135M-Instruct on the real llama.cpp server. cache: the
prompt tokens llama.cpp re-evaluates over a long continuation run of its tiny random-weight model,
read from each reply's ``timings`` by a recording proxy; ``--before DIR`` (a checkout of an older
docgen) runs the same with that code. Tables go to stdout, progress to stderr. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from documents import prose  # noqa: E402
from sse_server import Script, SSEServer  # noqa: E402

from docgen.markdown.ending import ends_cleanly  # noqa: E402
from docgen.markdown.wordcount import count_words, length_score  # noqa: E402

LLAMA = Path(os.environ.get("DOCGEN_LLAMA_SCRIPT", REPO.parent / "shared/tools/llama-server.sh"))
TOPICS = ("The history of the printing press", "Why cities plant trees", "How bees make honey")
PARTS = ("scripted", "smol", "cache")
CHAIN = ("--outline", "none")  # one reply chain: docgen writes by outline above 2,500 words unless told not to
_TIMING = re.compile(rb'"(prompt_n|predicted_n|prompt_tokens)":(\d+)')


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Proxy

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def _forward(self, body: bytes | None) -> None:
        """Pass the request on and the reply back chunk by chunk, noting the numbers in its events."""
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=900)
        skip = ("host", "connection", "content-length", "transfer-encoding")
        upstream.request(self.command, self.path, body=body,
                         headers={k: v for k, v in self.headers.items() if k.lower() not in skip})
        reply = upstream.getresponse()
        seen: dict[str, int] = {}  # counted when it starts: a reply still ending belongs to its own run
        if body is not None and self.path.endswith("/chat/completions"):
            with self.server.lock:
                self.server.replies.append(seen)
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in skip:
                self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pending = b""
        try:
            while chunk := reply.read1(65536):
                *events, pending = (pending + chunk).split(b"\n\n")
                for event in events:
                    seen.update((k.decode(), int(v)) for k, v in _TIMING.findall(event))
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client stopped reading: closing makes llama.cpp stop too
        finally:
            upstream.close()


class Proxy(ThreadingHTTPServer):
    """In front of llama.cpp on ``upstream``: ``base_url`` reaches it, ``replies`` holds each reply's numbers."""

    daemon_threads = True

    def __init__(self, upstream: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream, self.lock = upstream, threading.Lock()
        self.replies: list[dict[str, int]] = []
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # docgen closing a kept-alive connection is no news


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama(port: int, *flags: str, smol: bool = False) -> Iterator[Proxy]:
    """A llama-server of its own on ``port``, behind a recording proxy; stopped (by its PID) at the end."""
    env = {k: v for k, v in os.environ.items() if k != "DOCGEN_LLAMA_MODEL"}
    if smol:
        env["DOCGEN_LLAMA_MODEL"] = "smol"
    done = subprocess.run(["bash", str(LLAMA), "start", str(port), *flags], capture_output=True, text=True,
                          env=env, check=True, timeout=1800)
    pid = int(done.stdout.split()[-1])
    proxy = Proxy(port)
    threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)


@dataclass
class Doc:
    part: str
    target: int
    label: str  # seed, topic and temperature, or code version
    rc: int = 0
    words: int = 0
    score: float = 0.0
    clean: bool = False
    requests: int = 0
    events: int = 0  # content events streamed to docgen: about one token each
    offered: int = 0  # scripted: the content events the server had ready to send
    loops: int = 0
    seconds: float = 0.0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def write(doc: Doc, base_url: str, workdir: Path, *flags: str, code: Path) -> Doc:
    """Run ``docgen write`` (of the docgen at ``code``) in a folder of its own; fill ``doc`` from its results."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    out = folder / "doc.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_"))} | {"PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "docgen", "write", "-o", str(out), "--base-url", base_url, "--words",
               str(doc.target), "--force", "--json", *flags]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder, timeout=3600)
    doc.seconds, doc.rc = time.perf_counter() - start, done.returncode
    if done.returncode != 0 or not out.exists():
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        doc.error = lines[-1][:160].replace("|", "/")
        part = folder / "doc.md.part"
        doc.words = count_words(part.read_text(encoding="utf-8")) if part.exists() else 0  # what the partial holds
        doc.score = length_score(doc.target, doc.words)
        return doc
    summary = json.loads(done.stdout)
    text = out.read_text(encoding="utf-8")
    doc.words, doc.events = summary["words"], summary["events"]
    doc.score, doc.clean = length_score(doc.target, doc.words), ends_cleanly(text)
    doc.loops = sum("dropped a loop" in w for w in summary["warnings"])
    doc.extra = {"finish_reasons": summary["finish_reasons"], "warnings": summary["warnings"],
                 "tokens": summary["tokens"], "ending": text.rstrip()[-60:]}
    if KEEP:
        out.rename(KEEP[0] / f"{doc.part}-{doc.target}-{re.sub(r'[^a-z0-9.=]+', '-', doc.label.lower())}.md")
    return doc


KEEP: list[Path] = []  # --keep: the folder every document is moved to


def say(doc: Doc) -> None:
    print(f"{doc.part} {doc.target:>6} {doc.label:42} words {doc.words:>6} S_l {doc.score:5.1f} clean {doc.clean!s:5} "
          f"loops {doc.loops} requests {doc.requests:>3} events {doc.events:>6} {doc.seconds:6.1f}s {doc.error}",
          file=sys.stderr, flush=True)


def scripted(targets: list[int], seeds: int, capped: int, workdir: Path, code: Path) -> list[Doc]:
    """Four times the target in one reply; ``capped`` runs of 20,000 words with --max-tokens 4096, where the
    server ends each reply with ``length`` after 4096 × 4 characters, so that several replies are needed."""
    docs = []
    runs = [(w, s, 0) for w in targets for s in range(seeds)] + [(20000, s, 4096) for s in range(capped)]
    for words, seed, cap in runs:
        with SSEServer(Script(document=prose(words * 4, seed=words + seed), seed=seed, cap_chars=cap * 4 or None)) as s:
            flags = ("--topic", "print", "--backoff", "0", *CHAIN) + (("--max-tokens", str(cap)) if cap else ())
            doc = write(Doc("scripted", words, f"seed {seed}" + (f", max-tokens {cap}" if cap else "")),
                        s.base_url, workdir, *flags, code=code)
            doc.requests = len(s.recorder.chats)
            doc.offered = sum(c.get("wire", b"").count(b'"delta": {"content": ') for c in s.recorder.chats)
        docs.append(doc)
        say(doc)
    return docs


def smol(targets: list[int], temperatures: list[float], port: int, workdir: Path, code: Path) -> list[Doc]:
    """Each target on each topic at temperature 0, then on the first topic at each other temperature."""
    runs = [(w, t, 0.0) for w in targets for t in TOPICS]
    runs += [(w, TOPICS[0], temp) for temp in temperatures if temp != 0 for w in targets]
    docs = []
    with llama(port, "-c", "4096", smol=True) as proxy:
        for words, topic, temp in runs:
            before = len(proxy.replies)
            doc = write(Doc("smol", words, f"{topic}, t={temp:g}"), proxy.base_url, workdir, "--topic", topic,
                        "--temperature", str(temp), "--retries", "1", *CHAIN, code=code)
            doc.requests = len(proxy.replies) - before
            docs.append(doc)
            say(doc)
    return docs


def cache(words: int, max_tokens: int, port: int, before: Path | None, workdir: Path, code: Path) -> list[Doc]:
    """A long continuation run on the tiny model, a fresh server each, for this code and ``before``'s."""
    docs = []
    for name, at, chain in [("after", code, CHAIN), *([("before", before, ())] if before else [])]:
        with llama(port, "-c", "8192") as proxy:
            doc = write(Doc("cache", words, name), proxy.base_url, workdir, "--topic", "print", "--max-tokens",
                        str(max_tokens), "--max-continuations", "200", "--context-tail", "12000",
                        "--temperature", "0", *chain, code=at)
            replies = list(proxy.replies)
        doc.requests = len(replies)
        for key in ("prompt_n", "predicted_n", "prompt_tokens"):
            doc.extra[key] = sum(r.get(key, 0) for r in replies)
        doc.extra["timed"] = sum("prompt_n" in r for r in replies)  # replies that ran to their end
        docs.append(doc)
        say(doc)
    return docs


def markdown(header: str, rows: list[list[str]]) -> str:
    """A Markdown table; the columns named in ``header`` with a leading ``<`` are left-aligned."""
    names = header.split(" | ")
    align = ["---" if n.startswith("<") else "---:" for n in names]
    lines = [" | ".join(n.lstrip("<") for n in names), " | ".join(align), *(" | ".join(r) for r in rows)]
    return "\n".join(f"| {line} |" for line in lines)


def table(docs: list[Doc]) -> str:
    offered = any(d.offered for d in docs)
    header = ("target | <run | words | S_l | <clean end | requests | events (≈ tokens) | events / word"
              + (" | events offered" if offered else "") + " | loops dropped | seconds | <exit")
    rows = [[f"{d.target:,}", d.label, f"{d.words:,}", f"{d.score:.1f}", "yes" if d.clean else "**no**",
             str(d.requests), f"{d.events:,}", f"{d.events / d.words:.2f}" if d.events else "–",
             *([f"{d.offered:,}"] if offered else []), str(d.loops), f"{d.seconds:.1f}",
             f"**{d.rc}** {d.error}" if d.rc else "0"] for d in docs]
    return markdown(header, rows)


def cache_table(docs: list[Doc]) -> str:
    header = ("<code | requests | words | prompt tokens sent | prompt_n (re-evaluated) | share re-evaluated "
              "| predicted_n | prompt_n per 1,000 generated | seconds")
    return markdown(header, [[d.label, str(d.requests), f"{d.words:,}", f"{e['prompt_tokens']:,}", f"{e['prompt_n']:,}",
                              f"{e['prompt_n'] / max(1, e['prompt_tokens']):.1%}", f"{e['predicted_n']:,}",
                              f"{1000 * e['prompt_n'] / max(1, e['predicted_n']):,.0f}", f"{d.seconds:.0f}"]
                             for d in docs for e in [d.extra]])


def summary(docs: list[Doc]) -> str:
    lines = []
    for part in ("scripted", "smol"):
        if got := [d for d in docs if d.part == part]:
            ratios = [d.words / d.target for d in got]
            events = sum(d.events for d in got) / max(1, sum(d.words for d in got if d.events))
            lines.append(f"- {part}: {len(got)} documents, {sum(d.rc != 0 for d in got)} failed; S_l mean "
                         f"{sum(d.score for d in got) / len(got):.1f}, min {min(d.score for d in got):.1f}, "
                         f"below 90: {sum(d.score < 90 for d in got)}; clean endings {sum(d.clean for d in got)}"
                         f"/{len(got)}; produced/required {min(ratios):.2f}–{max(ratios):.2f}; "
                         f"events per word kept {events:.2f}")
    return "\n".join(lines)


def kind(d: Doc) -> str:
    if d.part == "scripted":
        return "scripted, --max-tokens 4096" if "max-tokens" in d.label else "scripted server (never stops)"
    return f"SmolLM2-135M, {d.label.rsplit(', ', 1)[1]}"


def plot(docs: list[Doc], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = [d for d in docs if d.part != "cache"]
    lo = min(min(d.target, d.words or d.target) for d in docs) * 0.7
    hi = max(max(d.target, d.words) for d in docs) * 1.4
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.88", label="±10%")
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, label="produced = required")
    for name, marker in zip(dict.fromkeys(kind(d) for d in docs), "os^vDP", strict=False):
        got = [d for d in docs if kind(d) == name and not d.rc]
        ax.scatter([d.target for d in got], [d.words for d in got], marker=marker, s=36, alpha=0.75, label=name,
                   zorder=3)
    if failed := [d for d in docs if d.rc]:
        ax.scatter([d.target for d in failed], [max(d.words, lo * 1.05) for d in failed], marker="x", c="red",
                   s=60, zorder=4, label="docgen failed (words in the partial)")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="required words (--words)",
           ylabel="produced words", title="docgen: required vs produced length, one point per document")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="major", lw=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default=",".join(PARTS), help="any of scripted,smol,cache (default: all)")
    p.add_argument("--targets", type=_ints, default=[300, 2000, 8000, 20000], help="scripted: words")
    p.add_argument("--seeds", type=int, default=3, help="scripted: documents per target")
    p.add_argument("--capped", type=int, default=3, help="scripted: 20,000-word runs with --max-tokens 4096")
    p.add_argument("--smol-targets", type=_ints, default=[150, 300, 600, 1000], help="smol: words")
    p.add_argument("--temperatures", default="0,0.7", help="smol: 0 runs every topic, the others the first topic")
    p.add_argument("--cache-words", type=int, default=20000, help="cache: --words of the long run")
    p.add_argument("--cache-max-tokens", type=int, default=256, help="cache: --max-tokens of each reply")
    p.add_argument("--code", type=Path, default=REPO, help="the docgen to measure (default: this checkout)")
    p.add_argument("--before", type=Path, help="cache: a checkout of the older docgen to compare with")
    p.add_argument("--smol-port", type=int, default=0, help="port of the SmolLM2 server (default: a free one)")
    p.add_argument("--tiny-port", type=int, default=0, help="port of the tiny-model server (default: a free one)")
    p.add_argument("--plot", type=Path, default=HERE / "length.png", help="where the picture goes")
    p.add_argument("--no-plot", action="store_true", help="draw no picture")
    p.add_argument("--keep", type=Path, help="keep every document written in this folder")
    p.add_argument("--json", type=Path, help="also write every document's figures as JSON here")
    args = p.parse_args(argv)
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    if unknown := parts - set(PARTS):
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        KEEP.append(args.keep.resolve())
    docs: list[Doc] = []
    with tempfile.TemporaryDirectory(prefix="docgen-length-") as tmp:
        if "scripted" in parts:
            docs += scripted(args.targets, args.seeds, args.capped, Path(tmp), args.code.resolve())
        if "smol" in parts:
            temps = [float(t) for t in args.temperatures.split(",")]
            docs += smol(args.smol_targets, temps, args.smol_port or free_port(), Path(tmp), args.code.resolve())
        if "cache" in parts:
            docs += cache(args.cache_words, args.cache_max_tokens, args.tiny_port or free_port(), args.before,
                          Path(tmp), args.code.resolve())
    for part, title in (("scripted", "Scripted server, a model that never stops"),
                        ("smol", "SmolLM2-135M-Instruct on llama.cpp")):
        if got := [d for d in docs if d.part == part]:
            print(f"### {title}\n\n{table(got)}\n")
    if got := [d for d in docs if d.part == "cache"]:
        print(f"### Prompt tokens re-evaluated over a long continuation run\n\n{cache_table(got)}\n")
    print(summary(docs))
    if not args.no_plot and any(d.part != "cache" for d in docs):
        plot(docs, args.plot)
        print(f"picture: {args.plot} ({args.plot.stat().st_size // 1024} KB)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([asdict(d) for d in docs], indent=1), encoding="utf-8")
    return 1 if any(d.rc for d in docs) else 0


if __name__ == "__main__":
    sys.exit(main())
