"""Running a command as a child process and measuring what it cost.

CPU (user + system), wall time and peak RSS come from ``os.wait4`` on that one child,
so nothing else this process does (the server thread, other children) is counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class BenchError(Exception):
    """A measured command failed, or produced the wrong document."""


@dataclass(frozen=True)
class Sample:
    cpu: float  # seconds, user + system
    wall: float  # seconds
    rss_mib: float  # peak resident set size


@dataclass(frozen=True)
class Summary:
    """The median of several samples of one measurement."""

    cpu: float
    wall: float
    rss_mib: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        if not samples:
            raise ValueError("no samples")
        return cls(cpu=statistics.median(s.cpu for s in samples), wall=statistics.median(s.wall for s in samples),
                   rss_mib=statistics.median(s.rss_mib for s in samples), runs=len(samples))


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    stdout: str | None = None  # a file for the child's stdout; else it is discarded
    env: Mapping[str, str] | None = None
    cwd: str | None = None


class _Child:
    def __init__(self, command: Command) -> None:
        self.command = command
        self.stderr = tempfile.TemporaryFile()
        self.stdout = open(command.stdout, "wb") if command.stdout else None  # noqa: SIM115
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(command.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stdout or subprocess.DEVNULL, stderr=self.stderr,
                                     env=dict(command.env) if command.env is not None else None, cwd=command.cwd)

    def reaped(self, status: int, usage: os.struct_rusage) -> Sample:
        """Record how the child ended (it has been waited for); raise if it failed."""
        wall = time.perf_counter() - self.started
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.stdout is not None:
            self.stdout.close()
        self.stderr.seek(0)
        err = self.stderr.read().decode("utf-8", "replace")
        self.stderr.close()
        if self.proc.returncode != 0:
            raise BenchError(f"{' '.join(self.command.argv)} exited {self.proc.returncode}:\n{err[-2000:]}")
        return Sample(cpu=usage.ru_utime + usage.ru_stime, wall=wall, rss_mib=usage.ru_maxrss / 1024)


def run(command: Command) -> Sample:
    """Run one command to completion and measure it."""
    child = _Child(command)
    _, status, usage = os.wait4(child.proc.pid, 0)
    return child.reaped(status, usage)


def run_together(commands: Sequence[Command]) -> tuple[Sample, list[Sample]]:
    """Start all commands at once; return the total (CPU summed, wall to the last, RSS max) and each."""
    started = time.perf_counter()
    children = {child.proc.pid: child for child in map(_Child, commands)}
    samples: dict[int, Sample] = {}
    failure: BenchError | None = None
    while len(samples) < len(children):
        pid, status, usage = os.wait4(-1, 0)
        child = children.get(pid)
        if child is None:
            continue
        try:
            samples[pid] = child.reaped(status, usage)
        except BenchError as exc:
            failure = failure or exc
            samples[pid] = Sample(0.0, 0.0, 0.0)
    if failure is not None:
        raise failure
    wall = time.perf_counter() - started
    each = [samples[pid] for pid in children]
    total = Sample(cpu=sum(s.cpu for s in each), wall=wall, rss_mib=max(s.rss_mib for s in each))
    return total, each
