"""The commands that inspect rather than write: ``check``, ``models``, ``config`` and ``templates``."""

from __future__ import annotations

import json
import os
from typing import Any

import click
from click.core import ParameterSource

from docgen.cli.context import header_pairs, project_config, settle_endpoints, template_search
from docgen.cli.engine import server_for
from docgen.cli.options import cost_options, generation_options, robustness_options, server_options
from docgen.errors import redact


@click.command()
@server_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(as_json: bool, **opts: Any) -> None:
    """Probe the server: models, a tiny streamed reply, stream_options, reasoning, prefill.

    The continuation mode found is cached for `--continue-mode auto`.
    """
    from docgen.cli.check_report import as_dict, describe
    from docgen.server.client import make_client
    from docgen.server.probe import probe_server
    from docgen.server.probe_cache import save_mode

    settle_endpoints(opts)

    with (
        server_for(opts) as served,
        make_client(
            api_key=None if served.get("engine") else served["api_key"] or project_config().api_key,
            connect_timeout=served["connect_timeout"],
            idle_timeout=served["idle_timeout"],
            engine=bool(served.get("engine")),
            headers=header_pairs(served),
        ) as client,
    ):
        report = probe_server(client=client, base_url=served["base_url"].rstrip("/"), model=served["model"])
    saved = None
    if not report.error and report.modes and not served.get("engine"):  # an engine's port lives one command
        try:
            saved = save_mode(
                base_url=report.base_url, model=report.model, continue_mode=report.continue_mode, modes=report.modes
            )
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


@click.command()
@server_options
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def models(as_json: bool, **opts: Any) -> None:
    """List the models the server serves (GET /models), with their context length when it says."""
    from docgen.server.client import list_models, make_client

    settle_endpoints(opts)

    with (
        server_for(opts, quiet=as_json) as server,
        make_client(
            api_key=None if server.get("engine") else server["api_key"] or project_config().api_key,
            connect_timeout=server["connect_timeout"],
            idle_timeout=server["idle_timeout"],
            engine=bool(server.get("engine")),
            headers=header_pairs(server),
        ) as client,
    ):
        served = list_models(client=client, base_url=server["base_url"].rstrip("/"))
    rows = [(str(m["id"]), _context_length(m), str(m.get("owned_by") or "")) for m in served]
    rows.sort()
    if as_json:
        records = [{"id": name, "context": context, "owned_by": owner or None} for name, context, owner in rows]
        click.echo(json.dumps(records, indent=1, ensure_ascii=False))
        return
    width = max(len(name) for name, _, _ in rows)
    for name, context, owner in rows:
        tokens = f"{context:,} tokens" if context else ""
        click.echo(f"{name:{width}}  {tokens:14}  {owner}".rstrip())


def _context_length(card: dict[str, Any]) -> int | None:
    """What a model card says of the context window: vLLM/SGLang ``max_model_len``, OpenRouter ``context_length``."""
    for key in ("max_model_len", "context_length", "context_window"):
        value = card.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


@click.command("config")
@generation_options
@server_options
@robustness_options
@cost_options
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@click.pass_context
def config_command(ctx: click.Context, /, as_json: bool, **opts: Any) -> None:
    """Print the settled configuration and where each value came from."""
    from docgen.inputs.config import mask

    config = project_config()
    rows = []
    for param in ctx.command.params:
        if param.name in (None, "as_json", "variables", "topic_argument"):
            continue
        value = opts[param.name]
        if param.name == "base_url":
            value = ", ".join(redact(v) for v in value) if value else "(none: the embedded engine)"
        elif isinstance(value, tuple):
            value = " ".join(value) or None
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
        if param.name == "words" and value is None:
            value, where = _template_words(str(opts["template"]))
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


def _template_words(name: str) -> tuple[str | None, str]:
    """The length a template asks for when --words is not given, and where that comes from."""
    from docgen.errors import DocgenError
    from docgen.inputs.templates import load_template

    try:
        template = load_template(name, search=template_search())
    except DocgenError:
        return None, "default (the template cannot be loaded)"
    default = next((v.default for v in template.all_variables() if v.name == "words"), None)
    return default, f"template {name}" if default is not None else "default (the template sets no length)"


@click.group(invoke_without_command=True)
@click.pass_context
def templates(ctx: click.Context) -> None:
    """List the templates (built-in, and the project's), with their descriptions and variables."""
    if ctx.invoked_subcommand is not None:
        return
    from docgen.inputs.templates import builtin_names, load_template

    steps = ("outline", "section")  # outline mode's own prompts, not documents to ask for
    names = sorted({*builtin_names(), *(p.stem for d in template_search() for p in d.glob("*.md"))} - set(steps))
    for name in names:
        tpl = load_template(name, search=template_search())
        click.echo(f"{name:10} {tpl.description}")
        for var in tpl.all_variables():
            default = f" (default: {var.default})" if var.default is not None else " (required)"
            click.echo(f"{'':10}   {var.name}{default}  {var.description}")
    click.echo(f"\noutline mode's own prompts: {', '.join(steps)} (override with --outline-prompt, --section-prompt)")


@templates.command("show")
@click.argument("name")
def templates_show(name: str) -> None:
    """Print a template's file."""
    from docgen.inputs.templates import load_template

    click.echo(load_template(name, search=template_search()).text, nl=False)
