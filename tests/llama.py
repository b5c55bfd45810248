"""Starting the real llama.cpp server of ../shared/tools/llama-server.sh for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

SCRIPT = Path(
    os.environ.get("DOCGEN_LLAMA_SCRIPT", Path(__file__).resolve().parents[2] / "shared/tools/llama-server.sh")
)


CACHE = Path(os.environ.get("DOCGEN_LLAMA_CACHE", Path.home() / ".cache/docgen-llama"))


def build_once(say: Callable[[str], None]) -> None:
    """Build the server before the first test needs it, saying so: a silent 5-minute wait looks like a hang."""
    if not SCRIPT.is_file() or os.access(CACHE / "bin/llama-server", os.X_OK):
        return
    say(f"building llama.cpp's server once for the integration tests (about 5 minutes; cached in {CACHE}) ...")
    result = subprocess.run(["bash", str(SCRIPT), "build"], capture_output=True, text=True, timeout=1800)
    say("built" if result.returncode == 0 else "the build failed: the llama.cpp tests will be skipped, with the reason")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """A llama-server process on a free loopback port; ``why_not`` says why there is none."""

    def __init__(self, *flags: str, model: str = "tiny") -> None:
        self.flags = flags
        self.model = model  # "tiny": random weights, gibberish; "smol": SmolLM2-135M-Instruct, real English
        self.pid: int | None = None
        self.port = free_port()
        self.why_not = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        if not SCRIPT.is_file():
            self.why_not = f"no llama.cpp tool at {SCRIPT}"
            return self
        env = {**os.environ, "DOCGEN_LLAMA_MODEL": "smol"} if self.model == "smol" else None
        result = subprocess.run(["bash", str(SCRIPT), "start", str(self.port), *self.flags],
                                capture_output=True, text=True, timeout=1800, env=env)
        if result.returncode != 0:
            self.why_not = f"the llama.cpp server could not be built or started: {result.stderr.strip()[-300:]}"
        else:
            self.pid = int(result.stdout.strip().splitlines()[-1])
        return self

    def stop(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            self.pid = None
