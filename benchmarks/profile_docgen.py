"""Where docgen's time goes: profiles of one large document, and of its imports.

    python benchmarks/profile_docgen.py [--words 200000] [--out DIR]

Writes to DIR (default: a temporary folder, printed at the end):

- ``pyinstrument.txt``: the sampled call tree of ``docgen write`` (needs pyinstrument);
- ``cprofile.txt``: the functions with the most self time, with call counts;
- ``importtime-*.txt``: ``python -X importtime`` of ``docgen --version`` and of
  ``docgen write --dry-run``, the slowest imports first.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from clients import PY, child_env, docgen_write
from stream_server import StreamServer

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _docgen_args(server: StreamServer, words: int, out: Path) -> list[str]:
    return list(docgen_write(server.base_url(words), words, out / "profiled.md").argv[3:])  # after "-m docgen"


def pyinstrument(server: StreamServer, words: int, out: Path) -> Path:
    report = out / "pyinstrument.txt"
    subprocess.run([PY, "-m", "pyinstrument", "--no-color", "-o", str(report), "-m", "docgen",
                    *_docgen_args(server, words, out)], check=True, env=child_env(), cwd=out)
    return report


def cprofile(server: StreamServer, words: int, out: Path) -> Path:
    stats, report = out / "cprofile.pstats", out / "cprofile.txt"
    subprocess.run([PY, "-m", "cProfile", "-o", str(stats), "-m", "docgen", *_docgen_args(server, words, out)],
                   check=True, env=child_env(), cwd=out)
    script = ("import pstats, sys; s = pstats.Stats(sys.argv[1], stream=sys.stdout); "
              "s.sort_stats('tottime').print_stats(30); s.sort_stats('cumulative').print_stats(30)")
    with open(report, "w", encoding="utf-8") as f:
        subprocess.run([PY, "-c", script, str(stats)], check=True, stdout=f)
    return report


def importtime(label: str, argv: Sequence[str], out: Path) -> Path:
    """``-X importtime`` of a command: the total, then the slowest imports by cumulative time."""
    done = subprocess.run([PY, "-X", "importtime", *argv], capture_output=True, text=True, check=True,
                          env=child_env(), cwd=out)
    rows = [(int(m[2]), int(m[1]), len(m[3]) // 2, m[4]) for line in done.stderr.splitlines()
            if (m := _IMPORT_LINE.match(line))]
    total = sum(cumulative for cumulative, _, depth, _ in rows if depth == 0)
    lines = [f"python -X importtime {' '.join(argv)}", f"total of top-level imports: {total / 1000:.1f} ms", "",
             f"{'cumulative ms':>13} {'self ms':>8}  module (indent: imported by the line above)"]
    lines += [f"{c / 1000:13.1f} {s / 1000:8.1f}  {'  ' * d}{name}"
              for c, s, d, name in sorted(rows, reverse=True)[:40]]
    report = out / f"importtime-{label}.txt"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--words", type=int, default=200_000, help="size of the profiled document")
    p.add_argument("--out", type=Path, help="folder for the reports (default: a new temporary folder)")
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="docgen-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    reports = [importtime("version", ["-m", "docgen", "--version"], out),
               importtime("dry-run", ["-m", "docgen", "write", "--dry-run", "--topic", "x"], out)]
    with StreamServer() as server:
        server.stream(args.words)
        if importlib.util.find_spec("pyinstrument") is not None:
            reports.append(pyinstrument(server, args.words, out))
        else:
            print("pyinstrument is not installed: skipping its profile (pip install pyinstrument)", file=sys.stderr)
        reports.append(cprofile(server, args.words, out))
    for report in reports:
        print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
