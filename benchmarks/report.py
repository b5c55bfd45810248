"""The machine a run was on, the results as Markdown, and recording them in the README."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from clients import REPO, llm_version
from results import Results

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "unknown"


def machine() -> dict[str, str]:
    return {
        "date": datetime.date.today().isoformat(),
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "docgen": f"{_version('docgen')} (commit {_commit()})",
        "httpx": _version("httpx"),
        "openai": _version("openai"),
        "llm": llm_version() or "not installed",
    }


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else "–"


def markdown(results: Results) -> str:
    """All tables of a run, as Markdown."""
    m = results.machine
    out = [f"Measured {m['date']} on {m['nproc']} × {m['cpu']}, {m['os']}, Python {m['python']}; docgen {m['docgen']}, "
           f"httpx {m['httpx']}, openai {m['openai']}, llm {m['llm']}.", "", f"Command: `{results.command}`", ""]
    if results.sizes:
        out += ["### One document, streamed to a file (median of each)", "",
                "| words | events | on the wire | client | CPU s | CPU × naive | wall s | wall × naive "
                "| peak RSS | exact |",
                "|---:|---:|---:|---|---:|---:|---:|---:|---:|:---:|"]
        for size in results.sizes:
            naive = size.get("httpx-naive")
            for c in size.clients:
                s = c.summary
                out.append(f"| {size.words:,} | {size.events:,} | {size.wire_bytes / 1e6:.1f} MB | {c.client} | "
                           f"{s.cpu:.3f} | {_ratio(s.cpu, naive.summary.cpu if naive else None)} | {s.wall:.3f} | "
                           f"{_ratio(s.wall, naive.summary.wall if naive else None)} | {s.rss_mib:.1f} MiB | "
                           f"{'yes' if c.exact else 'NO'} |")
        out.append("")
    if results.startup:
        out += ["### Startup (median)", "", "| command | wall s | CPU s | peak RSS |", "|---|---:|---:|---:|"]
        out += [f"| `{r.command}` | {r.summary.wall:.3f} | {r.summary.cpu:.3f} | {r.summary.rss_mib:.1f} MiB |"
                for r in results.startup]
        out.append("")
    if results.batch:
        out += [f"### Concurrent streams, {results.batch[0].words:,} words each (median)", "",
                "| streams | program | processes | total CPU s | CPU s per stream | CPU × naive | wall s "
                "| largest RSS | exact |", "|---:|---|---:|---:|---:|---:|---:|---:|:---:|"]
        for b in results.batch:
            base = next((x for x in results.batch if x.streams == b.streams and x.program == "httpx-naive"), None)
            s = b.summary
            out.append(f"| {b.streams} | {b.program} | {b.processes} | {s.cpu:.3f} | {s.cpu / b.streams:.3f} | "
                       f"{_ratio(s.cpu, base.summary.cpu if base else None)} | {s.wall:.3f} | {s.rss_mib:.1f} MiB | "
                       f"{'yes' if b.exact else 'NO'} |")
        out.append("")
    if results.targets:
        out += ["### Targets", "", "| target | measured | limit | met |", "|---|---:|---:|:---:|"]
        verdict = {True: "yes", False: "**no**", None: "n/a"}
        out += [f"| {t.name} | {t.measured} | {t.limit} | {verdict[t.met]} |" for t in results.targets]
        out.append("")
    if results.skipped:
        out += ["Skipped: " + "; ".join(results.skipped) + ".", ""]
    return "\n".join(out)


def record(readme: Path, text: str) -> None:
    """Put ``text`` between the results markers of ``readme`` (appending them if missing)."""
    old = readme.read_text(encoding="utf-8") if readme.exists() else ""
    block = f"{START}\n{text.rstrip()}\n{END}"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + "## Results\n\n" + block + "\n"
    readme.write_text(new, encoding="utf-8")
