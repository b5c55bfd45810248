"""What the commands of one invocation share: the project config, and what the error boundary
needs to know of the run (where its partial text is kept).

An ``AppState`` is made per invocation by ``boundary.run`` and reaches the commands as
click's context object: no module-level state.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported where used: --help and --version need none of them, --dry-run no httpx
    from docgen.cli.meter import Meter
    from docgen.inputs.config import ProjectConfig
    from docgen.inputs.prompt import Prompt
    from docgen.inputs.sources import SourceFile
    from docgen.write.endpoints import Endpoints


def _no_config() -> ProjectConfig:
    from docgen.inputs.config import ProjectConfig

    return ProjectConfig()


@dataclass
class AppState:
    config: ProjectConfig = field(default_factory=_no_config)
    partial: str | None = None  # the partial file or sections folder of the run, for the re-run hint
    kept_note: str | None = None  # where the text went instead, when there is no partial to continue (-o -)
    json_errors: bool = False  # --json: a failure is also an error object on stdout


def app_state() -> AppState:
    state = click.get_current_context().find_root().obj
    assert isinstance(state, AppState)
    return state


def project_config() -> ProjectConfig:
    return app_state().config


def template_search() -> tuple[Path, ...]:
    """Where templates are looked for before the built-ins: the project's templates folder."""
    folder = project_config().templates_dir
    return (folder,) if folder is not None else ()


def prompt_from(opts: dict[str, Any]) -> Prompt:
    """The filled template of a command's options (every variable problem reported at once)."""
    from docgen.inputs.prompt import build_prompt, parse_vars

    return build_prompt(
        template=opts["template"],
        topic=opts["topic"],
        words=opts["words"],
        variables=parse_vars(opts["variables"]),
        system=opts["system"],
        defaults=project_config().variables,
        search=template_search(),
    )


def sources_from(opts: dict[str, Any]) -> tuple[SourceFile, ...]:
    """The user's material (--source, docgen.toml's sources), read before anything is sent; warnings said."""
    if not opts.get("sources"):
        return ()
    from docgen.inputs.sources import read_sources

    if "-" in opts["sources"] and sys.stdin.isatty():
        raise click.UsageError("--source - reads standard input, which is a terminal here: pipe something in")
    files, warnings = read_sources(list(opts["sources"]), stdin=sys.stdin.buffer)
    for warning in warnings:
        click.echo(f"docgen: warning: {warning}", err=True)
    return tuple(files)


@contextlib.contextmanager
def session_from(opts: dict[str, Any], *, pool_size: int = 10) -> Iterator[Endpoints]:
    """The endpoints (one session each) over one connection pool, from the server and robustness options."""
    from docgen.server.session import Policy, open_sessions
    from docgen.write.endpoints import Endpoints

    policy = Policy(
        idle_timeout=opts["idle_timeout"],
        retries=opts["retries"],
        backoff=opts["backoff"],
        max_continuations=opts["max_continuations"],
        continue_mode=opts["continue_mode"],
        context_tail=opts["context_tail"],
        context_window=opts["context_window"],
    )
    with open_sessions(
        base_urls=opts.get("base_urls") or [opts["base_url"].rstrip("/")],
        model=opts["model"],
        api_key=None if opts.get("engine") else opts["api_key"] or project_config().api_key,
        policy=policy,
        connect_timeout=opts["connect_timeout"],
        pool_size=pool_size,
        engine=bool(opts.get("engine")),
        headers=header_pairs(opts),
    ) as sessions:
        yield Endpoints(sessions, per_endpoint=opts.get("per_endpoint") or 0)


def settle_endpoints(opts: dict[str, Any]) -> None:
    """--base-url may be given several times, or as a comma-separated list (flag, environment, config,
    manifest): ``base_urls`` gets them all, ``base_url`` the first (None: no server configured)."""
    given = opts.get("base_url")
    items = [given] if isinstance(given, str) else list(given or ())
    urls = [u.strip().rstrip("/") for item in items for u in str(item).split(",") if u.strip()]
    opts["base_urls"], opts["base_url"] = urls, (urls[0] if urls else None)


def header_pairs(opts: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """--header KEY=VALUE, as (name, value) pairs."""
    pairs = []
    for item in opts.get("headers") or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError("--header expects KEY=VALUE, for example --header X-Team=docs")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def stderr_is_live() -> bool:
    """Is stderr a terminal that can redraw a line?"""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def meter_for(quiet: bool) -> Meter:
    """The progress display: a context manager that is the ``on_progress`` callback."""
    from docgen.cli.meter import Meter

    live = stderr_is_live()
    return Meter(sys.stderr, live=live, color=live and "NO_COLOR" not in os.environ, enabled=not quiet)
