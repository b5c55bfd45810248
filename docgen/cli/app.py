"""The ``docgen`` command group: the project config is loaded once, then a command runs."""

from __future__ import annotations

import click

from docgen import __version__
from docgen.cli.batch_command import batch
from docgen.cli.context import AppState
from docgen.cli.info_commands import check, config_command, models, templates
from docgen.cli.write_commands import outline, preview, write


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="docgen", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Generate long documents with any OpenAI-compatible server, streamed to disk.

    Nothing is lost: re-run an interrupted command and it continues where it stopped.
    Settings come from flags, then environment variables, then ./docgen.toml or
    [tool.docgen] in ./pyproject.toml (see `docgen config`).
    """
    from docgen.inputs.config import find_config

    config = find_config()
    for warning in config.warnings:
        click.echo(f"docgen: warning: {warning}", err=True)
    state = ctx.ensure_object(AppState)
    state.config = config
    ctx.default_map = {name: dict(config.values) for name in ("write", "outline", "batch", "check", "models", "config")}


for command in (write, outline, batch, check, models, config_command, templates, preview):
    cli.add_command(command)
