"""Run one command and report what it alone cost: CPU, wall time and peak RSS.

On Linux a child's ``ru_maxrss`` starts from its parent's memory: fork copies the
parent's resident pages into the child's count, vfork and exec carry the parent's
high-water mark, and the figure is a maximum that never goes down. Measured straight
from the benchmark process, which holds whole streams of 50 MB, even ``python -c pass``
would show over 100 MB. So this launcher, a bare ``python -S -I`` that imports nothing
but ``os``, ``sys`` and ``time``, is the parent instead: it forks, execs the command,
reaps it with ``os.wait4`` and writes one line to the file descriptor it was given:

    EXIT_CODE CPU_SECONDS WALL_SECONDS MAXRSS_KIB START END

CPU is user + system of the command and its reaped children; START and END are
``time.monotonic()`` readings, comparable across processes.

Usage: python -S -I spawn.py FD COMMAND [ARG...]
"""

import os
import sys
import time


def main() -> None:
    fd, argv = int(sys.argv[1]), sys.argv[2:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(fd)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(2, f"cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    end = time.monotonic()
    cpu = usage.ru_utime + usage.ru_stime
    line = (
        f"{os.waitstatus_to_exitcode(status)} {cpu!r} {end - start!r} {usage.ru_maxrss} {start!r} {end!r} "
        f"{usage.ru_utime!r} {usage.ru_stime!r} {usage.ru_nvcsw} {usage.ru_nivcsw}\n"  # user, system, switches
    )
    os.write(fd, line.encode())


if __name__ == "__main__":
    main()
