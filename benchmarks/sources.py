"""How long ``--source`` takes to read, chunk, index and rank a big folder, and how much memory.

    python benchmarks/sources.py [--files 10000] [--megabytes 100] [--corpus DIR] [--one-index] [--runs 3]

Generates an English-shaped folder of Markdown, text, code, CSV, JSON and HTML files in a
temporary folder (or reuses ``--corpus DIR``, generating it there when it is empty), with one
file about the topic the query asks for and its words sprinkled thinly through the rest. Each
case runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own and every import is
paid. Stages: read (walk, read, decode, hash), chunk, import (the library, and numpy), index
(``ChunkIndex``), the first query (the topic), then the mean of five section-like queries.

Cases: docgen's design with bm25s, and the same with rank-bm25 swapped in as the ranker (when it
is installed); with ``--one-index``, also both libraries indexing every chunk of the big folder
at once (the design docgen does not use past 4 MB: about half a minute each here). "handful" is
5 files, 50 KB: what ranking adds to an ordinary run. Tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QUERY = "Tidal turbine gearbox maintenance: inspecting the seals and bearings underwater"
SECTIONS = (
    "Bearings in the nacelle: greasing and checking wear",
    "Why a failed seal matters",
    "Planning a maintenance window for the crews",
    "Underwater inspection methods",
    "Their most common problems, and what each one means for you",  # common words only
)
NEEDLE = "ocean/energy/tidal-turbine-gearbox.md"
_NEEDLE_TEXT = """# Tidal turbine gearbox maintenance

## Inspecting the seals

A tidal turbine gearbox runs underwater for years between visits. Maintenance crews inspect the
seals and bearings of each gearbox, since a failed seal lets seawater into the bearings.

## Bearings

Bearings in the turbine nacelle are greased and checked for wear during every maintenance window.
"""
_TOPIC = ("tidal", "turbine", "gearbox", "maintenance", "seals", "bearings", "underwater", "inspecting")
_FUNCTION_WORD_LIST = (
    "the of and to a in is that for it as with was on be by this are at from or an have not but which they "
    "you we his her their has had were will would can if there all been one more so what when also its about "
    "into than them only other some could these may then do each our most such over after any where how use"
)
_FUNCTION_WORDS = _FUNCTION_WORD_LIST.split()
_KINDS = ((".md", 55), (".py", 17), (".txt", 12), (".csv", 6), (".json", 6), (".html", 4))
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"


def make_corpus(folder: Path, *, files: int, total_bytes: int, seed: int = 7) -> None:
    """``files`` files of about ``total_bytes`` in all under ``folder``, one of them the needle.

    The words follow English's shape: function words are about 45% of the tokens, and content
    words (made up, Zipf-distributed, shorter when frequent) average about 7 letters. One file
    in the mix is a few MB long, and a hidden folder, an ignored folder and binary files are
    there to be skipped (they are not counted in ``total_bytes``)."""
    rng = random.Random(seed)
    made_up = ("".join(rng.choices(_LETTERS[: rng.randint(8, 26)], k=rng.randint(3, 12))) for _ in range(60_000))
    content = sorted(set(made_up))
    rng.shuffle(content)
    content.sort(key=len)  # frequent words are short
    words = [*_FUNCTION_WORDS, *content]
    weights = [0.45 / len(_FUNCTION_WORDS) * 2 / (1 + rank / 20) for rank in range(len(_FUNCTION_WORDS))]
    weights += [0.55 * 0.16 / (rank + 30) ** 1.0 for rank in range(len(content))]
    cumulative = list(itertools.accumulate(weights))
    sizes = [rng.lognormvariate(0, 0.8) for _ in range(files - 2)]
    big = total_bytes // 25
    scale = (total_bytes - big - len(_NEEDLE_TEXT)) / sum(sizes)
    kinds = [kind for kind, share in _KINDS for _ in range(share)]
    jobs = [(f"logs/big-{n}.txt", float(big)) for n in range(1)]
    for number, size in enumerate(sizes):
        kind = rng.choice(kinds)
        jobs.append((f"area-{number % 97:02d}/part-{number % 13}/doc-{number:05d}{kind}", size * scale))
    for name, size in jobs:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        count = max(20, int(size / 5.1))
        text = rng.choices(words, cum_weights=cumulative, k=count)
        for _ in range(count // 400):  # the query's words, one at a time, here and there
            text[rng.randrange(count)] = rng.choice(_TOPIC)
        path.write_text(_render(path.suffix, text, rng), encoding="utf-8")
    (folder / NEEDLE).parent.mkdir(parents=True, exist_ok=True)
    (folder / NEEDLE).write_text(_NEEDLE_TEXT, encoding="utf-8")
    for skipped in (".git/objects/pack.txt", ".cache/notes.md", "build/out.md"):
        (folder / skipped).parent.mkdir(parents=True, exist_ok=True)
        (folder / skipped).write_text(_NEEDLE_TEXT * 100, encoding="utf-8")
    (folder / ".gitignore").write_text("build/\n*.tmp\n", encoding="utf-8")
    for number in range(min(20, files)):
        (folder / "figures" / f"figure-{number}.png").parent.mkdir(exist_ok=True)
        (folder / "figures" / f"figure-{number}.png").write_bytes(bytes(range(256)) * 40)


def _render(kind: str, words: list[str], rng: random.Random) -> str:
    lines: list[str] = []
    at = 0
    while at < len(words):
        n = rng.randint(8, 16)
        piece = " ".join(words[at : at + n])
        at += n
        if kind == ".md":
            paragraph_end = "\n" if rng.random() < 0.2 else ""
            lines.append(f"\n## {piece[:40]}\n" if rng.random() < 0.05 else piece + paragraph_end)
        elif kind == ".py":
            name = piece.split()[0]
            lines.append(f"\ndef {name}_{at}(value):\n    return {piece.replace(' ', '_')!r}" if rng.random() < 0.2
                         else f"    # {piece}")
        elif kind == ".csv":
            lines.append(",".join(f'"{w}"' if rng.random() < 0.1 else w for w in piece.split()[:6]))
        elif kind == ".json":
            lines.append(f'  {{"id": {at}, "text": {json.dumps(piece)}}},')
        elif kind == ".html":
            lines.append(f"<h2>{piece[:30]}</h2>" if rng.random() < 0.05 else f"<p>{piece}</p>")
        else:
            lines.append(piece + ("\n" if rng.random() < 0.15 else ""))
    if kind == ".csv":
        lines.insert(0, "alpha,beta,gamma,delta,epsilon,zeta")
    if kind == ".json":
        lines = ["[", *lines, '  {"id": -1}', "]"]
    if kind == ".html":
        lines = ["<html><head><title>t</title><style>p{}</style></head><body>", *lines, "</body></html>"]
    return "\n".join(lines) + "\n"


def measure(folder: str, library: str, full_index_chars: int | None) -> dict[str, Any]:
    """Read, chunk, index and rank ``folder`` in this process; the seconds and peak RSS of each stage."""
    from docgen.inputs import ranking
    from docgen.inputs.chunks import split_into_chunks
    from docgen.inputs.sources import read_sources

    if library == "rank-bm25":
        ranking._BM25 = _RankBM25  # type: ignore[assignment,misc]  # the same pipeline, the other library
    stages: dict[str, Any] = {}
    clock = [time.perf_counter(), _cpu()]

    def stage(name: str) -> None:
        now = [time.perf_counter(), _cpu()]
        stages[name] = {"wall": now[0] - clock[0], "cpu": now[1] - clock[1], "rss_mib": _peak_mib()}
        clock[:] = now

    files, _ = read_sources(["."], base=Path(folder))
    stage("read")
    chunks = [chunk for file in files for chunk in split_into_chunks(file)]
    stage("chunk")
    importlib.import_module(library.replace("-", "_"))  # numpy with it: paid once per process
    stage("import")
    options = {} if full_index_chars is None else {"full_index_chars": full_index_chars}
    index = ranking.ChunkIndex(chunks, **options)
    stage("index")
    ranked = index.rank(QUERY, limit=20)
    stage("query")
    for section in SECTIONS:
        ranking.select_within(index.rank(section, limit=20), 40_000)
    stage("sections")
    stages["sections"]["wall"] /= len(SECTIONS)
    stages["sections"]["cpu"] /= len(SECTIONS)
    paths = [chunk.path for chunk, _ in ranked]
    return {
        "files": len(files),
        "megabytes": sum(file.bytes for file in files) / 1e6,
        "chunks": len(chunks),
        "stages": stages,
        "needle_rank": paths.index(NEEDLE) + 1 if NEEDLE in paths else None,
    }


class _RankBM25:
    """docgen's ranker interface (``ranking._BM25``) on rank-bm25's BM25Okapi, to compare the two."""

    def __init__(self, rows: Sequence[bytes]) -> None:
        import rank_bm25  # type: ignore[import-untyped]

        from docgen.inputs import ranking

        vocabulary = ranking._Vocabulary()
        corpus = [list(map(vocabulary.__getitem__, row.split())) for row in rows]
        self.vocabulary = dict(vocabulary)
        self.model = rank_bm25.BM25Okapi(corpus) if self.vocabulary else None

    def top(self, terms: Sequence[bytes], limit: int) -> list[tuple[int, float]]:
        import numpy

        known = [self.vocabulary[term] for term in terms if term in self.vocabulary]
        if self.model is None or not known:
            return []
        scores = self.model.get_scores(known)
        best = numpy.argsort(-scores, kind="stable")[:limit].tolist()
        return [(row, float(scores[row])) for row in best if scores[row] > 0]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run_child(folder: Path, library: str, full_index_chars: int | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(folder), "--library", library]
    if full_index_chars is not None:
        command += ["--full-index-chars", str(full_index_chars)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _handful(folder: Path) -> None:
    """5 files, about 50 KB: the needle and four others (and the files to skip)."""
    make_corpus(folder, files=5, total_bytes=50_000, seed=3)


def _table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    def seconds(value: float) -> str:
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"

    lines = [
        "| case | files | MB | chunks | read | chunk | import | index | 1st query | next query | total | CPU "
        "| peak RSS | needle |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in rows:
        stages = result["stages"]
        total = _total(result)
        cpu = sum(stages[key]["cpu"] for key in ("read", "chunk", "import", "index", "query"))
        peak = max(stage["rss_mib"] for stage in stages.values())
        walls = [seconds(stages[key]["wall"]) for key in ("read", "chunk", "import", "index", "query", "sections")]
        needle = f"#{result['needle_rank']}" if result["needle_rank"] else "missed"
        lines.append(
            f"| {name} | {result['files']} | {result['megabytes']:.3g} | {result['chunks']} | {' | '.join(walls)} "
            f"| **{seconds(total)}** | {seconds(cpu)} | {peak:.0f} MiB | {needle} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--megabytes", type=float, default=100)
    parser.add_argument("--corpus", type=Path, help="the folder to read (generated there when empty)")
    parser.add_argument("--one-index", action="store_true", help="also index every chunk at once, with each library")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; the table shows the median")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--library", default="bm25s", help=argparse.SUPPRESS)
    parser.add_argument("--full-index-chars", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.library, args.full_index_chars)))
        return 0

    with tempfile.TemporaryDirectory(prefix="docgen-sources-") as scratch:
        corpus = args.corpus or Path(scratch) / "corpus"
        if not corpus.exists() or not any(corpus.iterdir()):
            print(f"generating {args.files} files, {args.megabytes:g} MB, in {corpus} ...", file=sys.stderr)
            corpus.mkdir(parents=True, exist_ok=True)
            make_corpus(corpus, files=args.files, total_bytes=int(args.megabytes * 1e6))
        handful = Path(scratch) / "handful"
        _handful(handful)
        libraries = ["bm25s"] + (["rank-bm25"] if _installed("rank_bm25") else [])
        cases: list[tuple[str, Path, str, int | None]] = [
            (f"{library}, {'docgen' if library == 'bm25s' else 'same design'}", corpus, library, None)
            for library in libraries
        ]
        if args.one_index:
            cases += [(f"{library}, one index of all", corpus, library, 10**12) for library in libraries]
        cases += [(f"handful, {library}", handful, library, None) for library in libraries]
        rows = []
        for name, folder, library, full_index_chars in cases:
            print(f"{name} ...", file=sys.stderr)
            runs = sorted((_run_child(folder, library, full_index_chars) for _ in range(args.runs)), key=_total)
            rows.append((name, runs[len(runs) // 2]))
    print(_table(rows))
    return 0


def _total(result: dict[str, Any]) -> float:
    return float(sum(stage["wall"] for name, stage in result["stages"].items() if name != "sections"))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
