"""The programs being compared, each as the command that streams one document to a file."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corpus import MODEL
from measure import Command

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
PROMPT = "Write the document."


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every child: no docgen/OpenAI settings leak in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCGEN_", "OPENAI_", "LLM_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**env, **extra}


@dataclass(frozen=True)
class Client:
    """One way to stream a document: ``command(base_url, words, workdir)`` and where its text lands."""

    name: str
    build: Callable[[str, int, Path], Command]
    trailing_newline: bool = False  # it prints one "\n" after the text (llm does)

    def command(self, base_url: str, words: int, workdir: Path) -> Command:
        return self.build(base_url, words, workdir)

    def output(self, workdir: Path) -> Path:
        return workdir / f"{self.name}.md"

    def produced(self, workdir: Path) -> bytes:
        """The document the client wrote, as it should compare with the expected bytes."""
        data = self.output(workdir).read_bytes()
        return data[:-1] if self.trailing_newline and data.endswith(b"\n") else data


def docgen_write(base_url: str, words: int, output: Path) -> Command:
    """docgen's real ``write`` path, end to end, with a template that sets no length: the one reply
    is the whole job, and what is measured is the transport, not the length control."""
    template = output.parent / "bench-template.md"
    template.write_text("Write about {{ topic }}.\n", encoding="utf-8")
    return Command((PY, "-m", "docgen", "write", "--topic", "bench", "-o", str(output), "--base-url", base_url,
                    "--model", MODEL, "--template", str(template), "--force", "--quiet"),
                   env=child_env(), cwd=str(output.parent))


def _docgen(base_url: str, words: int, workdir: Path) -> Command:
    return docgen_write(base_url, words, workdir / "docgen.md")


def _peer(script: str, name: str) -> Callable[[str, int, Path], Command]:
    def build(base_url: str, words: int, workdir: Path) -> Command:
        return Command((PY, str(HERE / script), base_url, MODEL, str(workdir / f"{name}.md")), env=child_env(),
                       cwd=str(workdir))
    return build


def llm_path() -> str | None:
    """The ``llm`` command, beside this Python or on PATH, if it is installed."""
    beside = Path(PY).parent / "llm"
    return str(beside) if beside.exists() else shutil.which("llm")


def _llm(base_url: str, words: int, workdir: Path) -> Command:
    home = workdir / "llm-home"  # llm reads its models from here; nothing touches the user's own
    home.mkdir(exist_ok=True)
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: bench\n  model_name: {MODEL}\n  api_base: \"{base_url}\"\n", encoding="utf-8")
    return Command((llm_path() or "llm", "prompt", "-m", "bench", "--no-log", PROMPT), stdout=str(workdir / "llm.md"),
                   env=child_env(LLM_USER_PATH=str(home), OPENAI_API_KEY="bench"), cwd=str(workdir))


DOCGEN = Client("docgen", _docgen)
NAIVE = Client("httpx-naive", _peer("peer_httpx.py", "httpx-naive"))
OPENAI_SDK = Client("openai-sdk", _peer("peer_openai.py", "openai-sdk"))
LLM = Client("llm", _llm, trailing_newline=True)


def available(skip: frozenset[str] = frozenset()) -> tuple[list[Client], list[str]]:
    """The clients that can run here, and a note for each one that cannot."""
    clients, skipped = [DOCGEN, NAIVE], []
    if importlib.util.find_spec("openai") is None:
        skipped.append("openai-sdk: the openai package is not installed (pip install openai)")
    else:
        clients.append(OPENAI_SDK)
    if llm_path() is None:
        skipped.append("llm: the llm command is not installed (pip install llm)")
    else:
        clients.append(LLM)
    kept = [c for c in clients if c.name not in skip]
    skipped += [f"{c.name}: skipped on request" for c in clients if c.name in skip]
    return kept, skipped


def llm_version() -> str | None:
    path = llm_path()
    if path is None:
        return None
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False, env=child_env())
    return done.stdout.strip().rsplit(" ", 1)[-1] or None


def has_docgen_batch() -> bool:
    """Whether this docgen has ``docgen batch MANIFEST`` (many documents in one process)."""
    done = subprocess.run((PY, "-m", "docgen", "batch", "--help"), capture_output=True, check=False, env=child_env())
    return done.returncode == 0


def _manifest(n: int, base_url: str, words: int, folder: Path) -> Path:
    jobs = "".join(f'[[jobs]]\ntopic = "bench {i}"\noutput = "doc-{i:02d}.md"\n\n' for i in range(n))
    path = folder / "manifest.toml"
    template = folder / "bench-template.md"
    template.write_text("Write about {{ topic }}.\n", encoding="utf-8")  # it sets no length: transport only
    defaults = f'base_url = "{base_url}"\nmodel = "{MODEL}"\ntemplate = "{template}"'
    path.write_text(f"[defaults]\n{defaults}\n\n{jobs}", encoding="utf-8")
    return path


def batch_jobs(program: str, n: int, base_url: str, words: int, workdir: Path) -> tuple[list[Command], list[Path]]:
    """The commands that write ``n`` documents at once, and the files they write. ``program``:

    - ``docgen batch``: one process, ``docgen batch MANIFEST --jobs n`` (threads, one pool);
    - ``docgen write``: ``n`` ``docgen write`` processes, as before ``docgen batch`` existed;
    - ``httpx-naive``: ``n`` naive loops, the baseline.
    """
    folder = workdir / f"{program.replace(' ', '-')}-{n}"
    shutil.rmtree(folder, ignore_errors=True)  # a fresh folder: no outputs or batch state from a run before
    folder.mkdir()
    outputs = [folder / f"doc-{i:02d}.md" for i in range(n)]
    if program == "docgen batch":
        manifest = _manifest(n, base_url, words, folder)
        return [Command((PY, "-m", "docgen", "batch", str(manifest), "--jobs", str(n), "--quiet"), env=child_env(),
                        cwd=str(folder))], outputs
    if program == "docgen write":
        return [docgen_write(base_url, words, path) for path in outputs], outputs
    if program == NAIVE.name:
        return [Command((PY, str(HERE / "peer_httpx.py"), base_url, MODEL, str(path)), env=child_env(),
                        cwd=str(folder)) for path in outputs], outputs
    raise ValueError(f"unknown batch program {program!r}")


def startup_commands(workdir: Path) -> list[tuple[str, Command]]:
    """What a user waits for before any work: the interpreter floor, then docgen's cheapest commands.

    They run in an empty folder, so no project config (docgen.toml, pyproject.toml) is read.
    """
    script = Path(PY).parent / "docgen"
    version = (str(script), "--version") if script.exists() else (PY, "-m", "docgen", "--version")
    env, cwd = child_env(), str(workdir)
    return [(label, Command(argv, env=env, cwd=cwd)) for label, argv in [
        ("python -c pass", (PY, "-c", "pass")),
        ("python -c 'import httpx'", (PY, "-c", "import httpx")),
        ("docgen --version", version),
        ("python -m docgen --version", (PY, "-m", "docgen", "--version")),
        ("docgen write --dry-run --topic x", (PY, "-m", "docgen", "write", "--dry-run", "--topic", "x")),
    ]]
