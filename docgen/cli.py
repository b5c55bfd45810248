"""The command line: the only module that knows click.

It turns options into calls to the core, draws progress on stderr, and maps every
docgen error to its exit code in one place (``run``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from docgen import __version__
from docgen.continuation import MODES as CONTINUE_MODES

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
_RUN: dict[str, str] = {}  # what the error boundary needs to know of the run: the partial file


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--base-url",
                envvar=["DOCGEN_BASE_URL", "OPENAI_BASE_URL"],
                default=DEFAULT_BASE_URL,
                show_default=True,
                help="The server's OpenAI-compatible API root. Env: DOCGEN_BASE_URL, OPENAI_BASE_URL.",
            ),
            click.option(
                "--model",
                envvar="DOCGEN_MODEL",
                help="Model name. Default: the one model the server serves. Env: DOCGEN_MODEL.",
            ),
            click.option(
                "--api-key",
                envvar=["DOCGEN_API_KEY", "OPENAI_API_KEY"],
                show_envvar=False,
                help="Sent as a Bearer token, never written anywhere. Env: DOCGEN_API_KEY, OPENAI_API_KEY.",
            ),
            click.option(
                "--timeout",
                "idle_timeout",
                type=click.FloatRange(min=0.1),
                default=120.0,
                show_default=True,
                envvar="DOCGEN_TIMEOUT",
                help="Idle timeout: seconds without a stream event before the reply is retried.",
            ),
            click.option(
                "--connect-timeout",
                type=click.FloatRange(min=0.1),
                default=10.0,
                show_default=True,
                help="Seconds to wait for a connection.",
            ),
        ]
    ):
        f = option(f)
    return f


def generation_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--topic", help="What the document is about (the template's topic)."),
            click.option(
                "--template",
                default="report",
                show_default=True,
                envvar="DOCGEN_TEMPLATE",
                help="A built-in template name (see `docgen templates`) or a template file.",
            ),
            click.option(
                "--var", "variables", multiple=True, metavar="KEY=VALUE", help="A template variable (repeatable)."
            ),
            click.option(
                "--words", type=click.IntRange(min=1), help="Target length in words (default: the template's)."
            ),
            click.option("--system", help="Replace the template's system prompt."),
            click.option("--temperature", type=click.FloatRange(min=0, max=2), envvar="DOCGEN_TEMPERATURE"),
            click.option(
                "--max-tokens", type=click.IntRange(min=1), envvar="DOCGEN_MAX_TOKENS", help="Tokens per reply."
            ),
        ]
    ):
        f = option(f)
    return f


def robustness_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--continue-mode",
                type=click.Choice(CONTINUE_MODES),
                default="auto",
                show_default=True,
                envvar="DOCGEN_CONTINUE_MODE",
                help="How to ask the server to continue a partial text.",
            ),
            click.option(
                "--max-continuations",
                type=click.IntRange(min=0),
                default=30,
                show_default=True,
                help="Most replies after the first when the model stops at max_tokens.",
            ),
            click.option(
                "--retries",
                type=click.IntRange(min=0),
                default=5,
                show_default=True,
                help="Retries in a row for a failed reply, each continuing the partial.",
            ),
            click.option(
                "--backoff",
                type=click.FloatRange(min=0),
                default=1.0,
                show_default=True,
                help="First retry delay in seconds; it doubles, with jitter.",
            ),
            click.option(
                "--context-tail",
                type=click.IntRange(min=200),
                default=12000,
                show_default=True,
                help="Most characters of the partial text sent back when continuing.",
            ),
        ]
    ):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="docgen", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Generate long documents with any OpenAI-compatible server, streamed to disk.

    Nothing is lost: re-run an interrupted command and it continues where it stopped.
    Settings come from flags, then environment variables, then ./docgen.toml or
    [tool.docgen] in ./pyproject.toml (see `docgen config`).
    """
    from docgen.config import find_config

    config = find_config()
    ctx.obj = config
    ctx.default_map = {name: dict(config.values) for name in ("write", "outline", "batch", "check", "config")}


def _config() -> Any:
    """The project config loaded by the group (a ProjectConfig)."""
    return click.get_current_context().find_root().obj


def _search() -> tuple[Any, ...]:
    folder = _config().templates_dir
    return (folder,) if folder is not None else ()


def longform_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--outline",
                metavar="auto|FILE",
                help="Write by outline: plan one (auto) or use FILE, then write section by section. For 10k-20k words.",
            ),
            click.option(
                "--parallel",
                type=click.IntRange(min=1, max=16),
                default=1,
                show_default=True,
                help="With --outline: sections written at once (each then sees only the outline).",
            ),
            click.option(
                "--outline-prompt", default="outline", show_default=True, help="Template of the outline step."
            ),
            click.option(
                "--section-prompt", default="section", show_default=True, help="Template of the section step."
            ),
            click.option("--toc", is_flag=True, help="Insert a table of contents built from the headings."),
            click.option(
                "--fix", is_flag=True, help="Close a code fence the model left open (prose is never rewritten)."
            ),
        ]
    ):
        f = option(f)
    return f


@cli.command()
@generation_options
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="The .md, .txt or .html file (default: from the topic)."
)
@longform_options
@server_options
@robustness_options
@click.option("--force", is_flag=True, help="Overwrite an existing finished document.")
@click.option("--restart", is_flag=True, help="Discard a partial (kept as .part.bak) and start fresh.")
@click.option("--resume", is_flag=True, help="Insist on continuing a partial; fail if there is none.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("--dry-run", is_flag=True, help="Print the prompt and the request body, then exit. No network.")
def write(**opts: Any) -> None:
    """Write a document: stream the model's reply to a file, chunk by chunk."""
    from docgen import plan

    if opts["restart"] and opts["resume"]:
        raise click.UsageError("--restart and --resume contradict each other")
    prompt = _prompt(opts)
    output = plan.output_path(opts["output"], opts["topic"])
    sampling = plan.sampling_for(temperature=opts["temperature"], max_tokens=opts["max_tokens"])
    base_url = opts["base_url"].rstrip("/")
    if opts["dry_run"]:
        from docgen.summary import dry_run_text

        click.echo(
            dry_run_text(
                base_url=base_url,
                output=output,
                model=opts["model"],
                sampling=sampling,
                messages=list(plan.messages_for(prompt)),
            )
        )
        return
    from docgen.document import preflight, write_document  # httpx comes with these: not for --dry-run
    from docgen.finishing import OutputFormat

    existing = "restart" if opts["restart"] else "resume" if opts["resume"] else "auto"
    if not opts["outline"]:
        preflight(output, existing=existing, force=opts["force"])
    fmt, title = OutputFormat.for_path(output, toc=opts["toc"], fix=opts["fix"]), opts["topic"] or ""
    _RUN["partial"] = f"{output}.sections" if opts["outline"] else f"{output}.part"
    with _session(opts, base_url) as session, _meter(opts["quiet"]) as meter:
        if opts["outline"]:
            long_job = plan.longform_job(
                prompt=prompt,
                output=output,
                model=session.model,
                sampling=sampling,
                words=opts["words"],
                outline=opts["outline"],
                parallel=opts["parallel"],
                outline_prompt=opts["outline_prompt"],
                section_prompt=opts["section_prompt"],
                search=_search(),
                output_format=fmt,
                title=title,
            )
            from docgen.longform import write_longform

            result = write_longform(
                session=session, job=long_job, existing=existing, force=opts["force"], on_progress=meter
            )
        else:
            job = plan.document_job(
                prompt=prompt,
                output=output,
                model=session.model,
                sampling=sampling,
                words=opts["words"],
                output_format=fmt,
                title=title,
            )
            result = write_document(session=session, job=job, force=opts["force"], on_progress=meter, existing=existing)
    _report(result, as_json=opts["as_json"], quiet=opts["quiet"], target=opts["words"] or prompt.target_words)


@cli.command()
@generation_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The outline file (default: from the topic).")
@click.option("--outline-prompt", default="outline", show_default=True, help="Template of the outline step.")
@server_options
@robustness_options
@click.option("--force", is_flag=True, help="Replace an existing outline file.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def outline(**opts: Any) -> None:
    """Write only the outline, to edit and then pass to `docgen write --outline FILE`."""
    from docgen import plan
    from docgen.errors import OutputError
    from docgen.longform import WORDS_PER_SECTION, plan_outline

    prompt = _prompt(opts)
    output = plan.output_path(opts["output"] or plan.slugify(opts["topic"] or "document") + ".outline.md", None)
    if output.exists() and not opts["force"]:
        raise OutputError(f"{output} already exists", hint="use --force to replace it (an edited outline is lost)")
    sampling = plan.sampling_for(temperature=opts["temperature"], max_tokens=opts["max_tokens"])
    _RUN["partial"] = f"{output}.part"
    with _session(opts, opts["base_url"].rstrip("/")) as session, _meter(opts["quiet"]) as meter:
        job = plan.longform_job(
            prompt=prompt,
            output=output,
            model=session.model,
            sampling=sampling,
            words=opts["words"],
            outline="auto",
            parallel=1,
            outline_prompt=opts["outline_prompt"],
            section_prompt="section",
        )
        result = plan_outline(
            session=session,
            job=job,
            output=output,
            words=job.words or job.default_words or WORDS_PER_SECTION * 8,
            on_progress=meter,
        )
    output.write_text(result.to_markdown(), encoding="utf-8")
    if not opts["quiet"]:
        click.echo(
            f"wrote {output}: {len(result.sections)} sections, {result.total:,} words planned; edit it, then "
            f"run: docgen write --outline {output} ...",
            err=True,
        )


@cli.command()
@server_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(as_json: bool, **opts: Any) -> None:
    """Probe the server: models, a tiny streamed reply, stream_options, reasoning, prefill.

    The continuation mode found is cached for `--continue-mode auto`.
    """
    from docgen.client import make_client
    from docgen.probe import as_dict, describe, probe_server, save_mode

    base_url = opts["base_url"].rstrip("/")
    with make_client(
        api_key=opts["api_key"] or _config().api_key,
        connect_timeout=opts["connect_timeout"],
        idle_timeout=opts["idle_timeout"],
    ) as client:
        report = probe_server(client=client, base_url=base_url, model=opts["model"])
    saved = None
    if not report.error and report.modes:
        try:
            saved = save_mode(report)
        except OSError as exc:
            click.echo(
                f"warning: cannot cache the result ({exc.strerror}); --continue-mode auto will not use it", err=True
            )
    if as_json:
        click.echo(json.dumps(as_dict(report), indent=1))
    else:
        for line in describe(report):
            click.echo(line)
        if saved is not None:
            click.echo(f"cached         {saved} (used by --continue-mode auto)")
    if report.exit_code:
        raise click.exceptions.Exit(report.exit_code)


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=__import__("pathlib").Path))
@server_options
@robustness_options
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1, max=64),
    default=2,
    show_default=True,
    help="Documents written at once, over one connection pool.",
)
@click.option("--force", is_flag=True, help="Regenerate finished documents whose inputs changed (stale).")
@click.option("--fail-fast", is_flag=True, help="Stop the other jobs when one fails.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=__import__("pathlib").Path),
    help="Write a JSON result per job to this file.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the summary table.")
@click.pass_context
def batch(ctx: click.Context, /, manifest: Any, **opts: Any) -> None:
    """Write every document of a TOML manifest; re-runs redo only what is unfinished."""
    from click.core import ParameterSource

    from docgen.batch import load_manifest
    from docgen.batch_run import run_batch
    from docgen.errors import BatchError
    from docgen.meter import BatchMeter

    loaded = load_manifest(manifest)
    for key in ("base_url", "model"):  # flags and env beat the manifest, which beats the project config
        if key in loaded.defaults and ctx.get_parameter_source(key) in (
            ParameterSource.DEFAULT,
            ParameterSource.DEFAULT_MAP,
        ):
            opts[key] = loaded.defaults[key]
    live = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    meter = BatchMeter(sys.stderr, live=live, total=len(loaded.jobs), enabled=not opts["quiet"])
    with _session(opts, opts["base_url"].rstrip("/"), pool_size=opts["jobs"] + 2) as session:
        try:
            results = run_batch(
                manifest=loaded,
                session=session,
                jobs=opts["jobs"],
                force=opts["force"],
                fail_fast=opts["fail_fast"],
                meter=meter,
                defaults=_config().variables,
                search=_search(),
                config=_config().values,
            )
        finally:
            meter.close()
    from docgen.summary import batch_table

    for line in batch_table(results):
        click.echo(line, err=True)
    if opts["report"] is not None:
        from docgen.batch import write_report

        write_report(opts["report"], results)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise BatchError(
            f"{len(failed)} of {len(results)} jobs failed",
            hint="fix the cause and run the same command again: finished jobs are skipped",
        )


@cli.command("config")
@generation_options
@server_options
@robustness_options
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@click.pass_context
def config_command(ctx: click.Context, /, as_json: bool, **opts: Any) -> None:
    """Print the settled configuration and where each value came from."""
    from click.core import ParameterSource

    from docgen.config import mask

    config = _config()
    rows = []
    for param in ctx.command.params:
        if param.name in (None, "as_json", "variables"):
            continue
        value = opts[param.name]
        source = ctx.get_parameter_source(param.name)
        if source == ParameterSource.COMMANDLINE:
            where = "flag"
        elif source == ParameterSource.ENVIRONMENT:
            envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
            where = "env " + next((str(v) for v in envvars if os.environ.get(str(v))), "?")
        elif source == ParameterSource.DEFAULT_MAP:
            where = f"config {config.source}"
        else:
            where = "default"
        if param.name == "api_key":
            if value is None and config.api_key_env:
                value, where = config.api_key, f"config {config.source} (env {config.api_key_env})"
            value = mask(value)
        rows.append((param.name, value, where))
    for key, value in config.variables.items():
        rows.append((f"var {key}", value, f"config {config.source}"))
    if config.templates_dir is not None:
        rows.append(("templates", str(config.templates_dir), f"config {config.source}"))
    if as_json:
        click.echo(json.dumps({name: {"value": value, "source": where} for name, value, where in rows}, indent=1))
        return
    click.echo(f"# config file: {config.source or '(none: no docgen.toml or [tool.docgen] here)'}")
    for name, value, where in rows:
        click.echo(f"{name:18} {'' if value is None else value!s:40} {where}")


def _prompt(opts: dict[str, Any]) -> Any:
    from docgen import plan

    return plan.build_prompt(
        template=opts["template"],
        topic=opts["topic"],
        words=opts["words"],
        variables=plan.parse_vars(opts["variables"]),
        system=opts["system"],
        defaults=_config().variables,
        search=_search(),
    )


def _session(opts: dict[str, Any], base_url: str, pool_size: int = 10) -> Any:
    from docgen.session import Policy, open_session

    policy = Policy(
        idle_timeout=opts["idle_timeout"],
        retries=opts["retries"],
        backoff=opts["backoff"],
        max_continuations=opts["max_continuations"],
        continue_mode=opts["continue_mode"],
        context_tail=opts["context_tail"],
    )
    return open_session(
        base_url=base_url,
        model=opts["model"],
        api_key=opts["api_key"] or _config().api_key,
        policy=policy,
        connect_timeout=opts["connect_timeout"],
        pool_size=pool_size,
    )


def _meter(quiet: bool) -> Any:
    """The progress display: a context manager whose value is the ``on_progress`` callback."""
    from docgen.meter import Meter

    live = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    return Meter(sys.stderr, live=live, color=live and "NO_COLOR" not in os.environ, enabled=not quiet)


def _report(result: Any, *, as_json: bool, quiet: bool, target: int | None) -> None:
    from docgen.summary import summarize, summary_lines

    summary = summarize(result, target=target)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    if not quiet:
        for line in summary_lines(summary):
            click.echo(line, err=True)


@cli.group(invoke_without_command=True)
@click.pass_context
def templates(ctx: click.Context) -> None:
    """List the templates (built-in, and the project's), with their descriptions and variables."""
    if ctx.invoked_subcommand is not None:
        return
    from docgen.templates import builtin_names, load_template

    names = sorted({*builtin_names(), *(p.stem for d in _search() for p in d.glob("*.md"))})
    for name in names:
        tpl = load_template(name, search=_search())
        click.echo(f"{name:10} {tpl.description}")
        for var in tpl.all_variables():
            default = f" (default: {var.default})" if var.default is not None else " (required)"
            click.echo(f"{'':10}   {var.name}{default}  {var.description}")


@templates.command("show")
@click.argument("name")
def templates_show(name: str) -> None:
    """Print a template's file."""
    from docgen.templates import load_template

    click.echo(load_template(name, search=_search()).text, nl=False)


def _on_sigterm(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


def run(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code: the one error-to-exit-code boundary."""
    from docgen.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, DocgenError, ResumeError
    from docgen.events import Cancelled

    signal.signal(signal.SIGTERM, _on_sigterm)
    _RUN.clear()
    try:
        code = cli.main(args=argv, prog_name="docgen", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "docgen"
        click.echo(f"docgen: error: {exc.format_message()} (see '{command} --help')", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"docgen: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt, Cancelled):
        click.echo("\ndocgen: interrupted; " + _kept_hint(argv), err=True)
        return EXIT_INTERRUPTED
    except DocgenError as exc:
        hint = exc.hint
        if _RUN.get("partial") and os.path.exists(str(_RUN["partial"])) and not isinstance(exc, ResumeError):
            hint = (hint + "; " if hint else "") + _kept_hint(argv)
        click.echo(f"docgen: error: {exc.message}" + (f" ({hint})" if hint else ""), err=True)
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if os.environ.get("DOCGEN_DEBUG"):
            raise
        click.echo(
            f"docgen: internal error: {type(exc).__name__}: {exc} (please report it; set DOCGEN_DEBUG=1 "
            "for the traceback)",
            err=True,
        )
        return EXIT_INTERNAL


def _kept_hint(argv: list[str] | None) -> str:
    """Where the partial text is and the command that continues it, if a run left one."""
    import shlex

    part = _RUN.get("partial")
    if part is None or not os.path.exists(part):
        return "nothing was written"
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):  # the key is never printed
        if arg == "--api-key" and i + 1 < len(args):
            args[i + 1] = "KEY"
        elif arg.startswith("--api-key="):
            args[i] = "--api-key=KEY"
    what = "the sections written so far are" if part.endswith(".sections") else "the partial text is"
    return f"{what} kept in {part}; run the same command again to continue: docgen " + shlex.join(args)


def main() -> NoReturn:
    sys.exit(run())
