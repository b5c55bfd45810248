"""Benchmark docgen against the clients people would otherwise use, on a loopback server.

    python benchmarks/run.py [--sizes 2000,20000,200000] [--runs 5] [--quick] [--write-readme]

See benchmarks/README.md for what is measured and why.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from clients import HERE, NAIVE, Client, available, batch_jobs, has_docgen_batch, startup_commands
from measure import BenchError, Sample, Summary, run, run_together
from report import machine, markdown, record
from results import BatchResult, ClientResult, Results, SizeResult, StartupResult, judge
from stream_server import StreamServer

SECTIONS = ("stream", "startup", "batch")


def _ints(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give one or more positive numbers")
    return values


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=_ints, default=[2000, 20000, 200000], help="document sizes in words")
    p.add_argument("--runs", type=int, help="runs of each client at each size (default 5; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer runs, and batches of 1 and 4 streams only")
    p.add_argument("--startup-runs", type=int, help="runs of each startup command (default 10; 5 with --quick)")
    p.add_argument("--batch", type=_ints, help="concurrent stream counts (default 1,4,16; 1,4 with --quick)")
    p.add_argument("--batch-words", type=int, default=20000, help="words of each concurrent stream")
    p.add_argument("--batch-runs", type=int, help="runs of each batch (default 3; 1 with --quick)")
    p.add_argument("--sections", type=_names, default=list(SECTIONS), help="any of stream,startup,batch")
    p.add_argument("--skip", type=_names, default=[], help="clients to leave out, e.g. openai-sdk,llm")
    p.add_argument("--no-warmup", action="store_true", help="do not run each client once, unmeasured, first")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--write-readme", action="store_true", help="record the tables in benchmarks/README.md")
    args = p.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 5)
    args.startup_runs = args.startup_runs or (5 if args.quick else 10)
    args.batch = args.batch or ([1, 4] if args.quick else [1, 4, 16])
    args.batch_runs = args.batch_runs or (1 if args.quick else 3)
    if unknown := set(args.sections) - set(SECTIONS):
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _check(what: str, produced: bytes, expected: bytes) -> None:
    """Fail the benchmark when a client did not write exactly the served document."""
    if produced == expected:
        return
    at = next((i for i, (a, b) in enumerate(zip(produced, expected, strict=False)) if a != b),
              min(len(produced), len(expected)))
    raise BenchError(f"{what} wrote {len(produced):,} bytes, expected {len(expected):,}; first difference at byte "
                     f"{at:,}: {produced[at:at + 40]!r} instead of {expected[at:at + 40]!r}")


def _measure_client(client: Client, server: StreamServer, words: int, workdir: Path) -> Sample:
    sample = run(client.command(server.base_url(words), words, workdir))
    _check(f"{client.name} ({words:,} words)", client.produced(workdir), server.stream(words).expected)
    client.output(workdir).unlink()
    return sample


def bench_streams(clients: list[Client], server: StreamServer, sizes: list[int], runs: int, workdir: Path,
                  warmup: bool) -> list[SizeResult]:
    """Every client at every size, ``runs`` times, interleaved so drift hits all alike."""
    for words in sizes:
        server.stream(words)  # render before anything is timed
    if warmup:
        for client in clients:
            _measure_client(client, server, min(sizes), workdir)
    samples: dict[tuple[int, str], list[Sample]] = {}
    for r in range(runs):
        for words in sizes:
            for client in clients:
                s = _measure_client(client, server, words, workdir)
                samples.setdefault((words, client.name), []).append(s)
                _say(f"run {r + 1}/{runs} {words:>7,} words {client.name:12} "
                     f"cpu {s.cpu:6.3f}s wall {s.wall:6.3f}s rss {s.rss_mib:5.1f} MiB")
    out = []
    for words in sizes:
        stream = server.stream(words)
        results = tuple(ClientResult(c.name, Summary.of(samples[words, c.name]), True,
                                     tuple(samples[words, c.name])) for c in clients)
        out.append(SizeResult(words, stream.events, len(stream.body), len(stream.expected), results))
    return out


def bench_startup(runs: int, workdir: Path) -> list[StartupResult]:
    commands = startup_commands(workdir)
    for _, command in commands:  # warm the bytecode caches
        run(command)
    samples: dict[str, list[Sample]] = {label: [] for label, _ in commands}
    for _ in range(runs):
        for label, command in commands:
            samples[label].append(run(command))
    for label, got in samples.items():
        _say(f"startup {label:36} wall {Summary.of(got).wall:.3f}s")
    return [StartupResult(label, Summary.of(got)) for label, got in samples.items()]


def bench_batch(server: StreamServer, counts: list[int], words: int, runs: int, workdir: Path) -> list[BatchResult]:
    """``n`` documents at once: by ``docgen batch`` (when it exists), ``n`` docgen processes, ``n`` naive loops."""
    programs = ["docgen write", NAIVE.name]
    if has_docgen_batch():
        programs.insert(0, "docgen batch")
    else:
        _say("docgen has no batch command: measuring separate docgen write processes only")
    expected = server.stream(words).expected
    out = []
    for n in counts:
        for program in programs:
            totals = []
            for r in range(runs):
                commands, outputs = batch_jobs(program, n, server.base_url(words), words, workdir)
                total, _ = run_together(commands)
                for path in outputs:
                    _check(f"{program} in a batch of {n}", path.read_bytes(), expected)
                totals.append(total)
                _say(f"batch run {r + 1}/{runs} {n:>2} × {program:12} cpu {total.cpu:6.3f}s wall {total.wall:6.3f}s")
            out.append(BatchResult(n, words, program, len(commands), Summary.of(totals), True))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clients, skipped = available(frozenset(args.skip))
    results = Results(machine=machine(), skipped=skipped,
                      command="python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None else argv))
    for note in skipped:
        _say(f"skipping {note}")
    try:
        with StreamServer() as server, tempfile.TemporaryDirectory(prefix="docgen-bench-") as tmp:
            workdir = Path(tmp)
            if "stream" in args.sections:
                results.sizes = bench_streams(clients, server, sorted(args.sizes), args.runs, workdir,
                                              not args.no_warmup)
            if "startup" in args.sections:
                results.startup = bench_startup(args.startup_runs, workdir)
            if "batch" in args.sections:
                results.batch = bench_batch(server, args.batch, args.batch_words, args.batch_runs, workdir)
    except BenchError as exc:
        _say(f"benchmark failed: {exc}")
        return 1
    results.targets = judge(results)
    text = markdown(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=1), encoding="utf-8")
    if args.write_readme:
        record(HERE / "README.md", text)
        _say(f"recorded in {HERE / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
