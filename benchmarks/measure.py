"""Running a command as a child process and measuring what it alone cost.

Each command runs under ``spawn.py``, a tiny launcher that reaps it with ``os.wait4``
(see there why a launcher is needed for an honest peak RSS). So CPU (user + system),
wall time and peak RSS are the command's own: nothing this process does, the server
thread included, is counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_SPAWN = str(Path(__file__).resolve().with_name("spawn.py"))


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
    stdout: str | None = None  # a file for the command's stdout; else it is discarded
    env: Mapping[str, str] | None = None
    cwd: str | None = None


class _Child:
    """One command running under the launcher."""

    def __init__(self, command: Command) -> None:
        self.command = command
        self._read, write = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish)
        stdout = open(command.stdout, "wb") if command.stdout else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                (sys.executable, "-S", "-I", _SPAWN, str(write), *command.argv), pass_fds=(write,),
                stdin=subprocess.DEVNULL, stdout=stdout or subprocess.DEVNULL, stderr=self._stderr,
                env=dict(command.env) if command.env is not None else None, cwd=command.cwd)
        finally:
            os.close(write)
            if stdout is not None:
                stdout.close()

    def finish(self) -> tuple[Sample, float, float]:
        """Wait for the command; its sample, start and end. Raises if it failed."""
        self.proc.wait()
        with os.fdopen(self._read, "rb") as pipe:
            report = pipe.read().decode()
        self._stderr.seek(0)
        err = self._stderr.read().decode("utf-8", "replace")
        self._stderr.close()
        fields = report.split()
        if len(fields) != 10 or fields[0] != "0":
            code = fields[0] if fields else f"launcher {self.proc.returncode}"
            raise BenchError(f"{' '.join(self.command.argv)} exited {code}:\n{err[-2000:]}")
        cpu, wall, rss_kib, start, end = map(float, fields[1:6])
        return Sample(cpu=cpu, wall=wall, rss_mib=rss_kib / 1024), start, end


def run(command: Command) -> Sample:
    """Run one command to completion and measure it."""
    return _Child(command).finish()[0]


def run_together(commands: Sequence[Command]) -> tuple[Sample, list[Sample]]:
    """Start all commands at once; return the total (CPU summed, wall to the last, RSS max) and each."""
    children = [_Child(command) for command in commands]
    finished, failure = [], None
    for child in children:  # wait for every one, even after a failure
        try:
            finished.append(child.finish())
        except BenchError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
    each = [sample for sample, _, _ in finished]
    wall = max(end for _, _, end in finished) - min(start for _, start, _ in finished)
    return Sample(cpu=sum(s.cpu for s in each), wall=wall, rss_mib=max(s.rss_mib for s in each)), each
