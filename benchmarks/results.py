"""What a benchmark run found, and the targets it is judged against."""

from __future__ import annotations

from dataclasses import dataclass, field

from measure import Sample, Summary

CPU_RATIO_LIMIT = 0.75  # docgen's CPU / the naive httpx loop's, on the largest document
RSS_LIMIT_MIB = 40.0
RSS_GROWTH_LIMIT_MIB = 5.0  # "flat": from the smallest document to the largest
VERSION_LIMIT_S = 0.15


@dataclass(frozen=True)
class ClientResult:
    client: str
    summary: Summary
    exact: bool  # every run wrote exactly the expected bytes
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class SizeResult:
    words: int
    events: int
    wire_bytes: int
    document_bytes: int
    clients: tuple[ClientResult, ...]

    def get(self, client: str) -> ClientResult | None:
        return next((c for c in self.clients if c.client == client), None)


@dataclass(frozen=True)
class StartupResult:
    command: str
    summary: Summary


@dataclass(frozen=True)
class BatchResult:
    streams: int
    words: int
    program: str  # "docgen batch", "docgen write" or "httpx-naive"
    processes: int
    summary: Summary  # cpu: all processes together; wall: until the last finished; rss: the largest process
    exact: bool


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    limit: str
    met: bool | None  # None: not measured in this run


@dataclass
class Results:
    machine: dict[str, str]
    command: str
    sizes: list[SizeResult] = field(default_factory=list)
    startup: list[StartupResult] = field(default_factory=list)
    batch: list[BatchResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def judge(results: Results) -> list[Target]:
    """The issue's targets, each with the figure this run measured."""
    targets: list[Target] = []
    if results.sizes:
        largest, smallest = results.sizes[-1], results.sizes[0]
        docgen, naive = largest.get("docgen"), largest.get("httpx-naive")
        if docgen and naive:
            ratio = docgen.summary.cpu / naive.summary.cpu
            targets.append(Target(f"docgen CPU vs naive httpx loop, {largest.words:,} words", f"{ratio:.2f}×",
                                  f"≤ {CPU_RATIO_LIMIT}×", ratio <= CPU_RATIO_LIMIT))
        rss = [c.summary.rss_mib for s in results.sizes if (c := s.get("docgen"))]
        if rss:
            targets.append(Target("docgen peak RSS, any size", f"{max(rss):.1f} MiB", f"≤ {RSS_LIMIT_MIB:g} MiB",
                                  max(rss) <= RSS_LIMIT_MIB))
        first, last = smallest.get("docgen"), largest.get("docgen")
        if first and last:
            growth = last.summary.rss_mib - first.summary.rss_mib
            flat_name = f"docgen RSS growth, {smallest.words:,} → {largest.words:,} words"
            targets.append(Target(flat_name, f"{growth:+.1f} MiB", f"≤ {RSS_GROWTH_LIMIT_MIB:g} MiB",
                                  growth <= RSS_GROWTH_LIMIT_MIB if len(results.sizes) > 1 else None))
    version = next((s for s in results.startup if s.command == "docgen --version"), None)
    if version:
        targets.append(Target("docgen --version wall time", f"{version.summary.wall:.3f} s",
                              f"≤ {VERSION_LIMIT_S} s", version.summary.wall <= VERSION_LIMIT_S))
    return targets
