"""``docgen batch``: every document of a manifest, over one connection pool."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from docgen.cli.context import (
    app_state,
    project_config,
    session_from,
    settle_endpoints,
    stderr_is_live,
    template_search,
)
from docgen.cli.engine import server_for
from docgen.cli.options import cost_options, robustness_options, server_options
from docgen.errors import BatchError

if TYPE_CHECKING:
    from docgen.cli.batch_preview import BatchPreview


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
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
    "--per-endpoint",
    type=click.IntRange(min=1),
    help="With several --base-url: most documents at once on one server (default: no cap; the least busy).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON result per job to this file.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the summary table.")
@click.option(
    "--shard",
    metavar="i/n",
    help="Write only shard i of n (a CI matrix of n machines covers the manifest exactly once).",
)
@click.option(
    "--preview", is_flag=True, help="Serve a live page of the jobs on 127.0.0.1, each linked to its document's page."
)
@click.option(
    "--preview-port", type=click.IntRange(min=0, max=65535), default=0, help="Its port (default: a free one)."
)
@cost_options
@click.pass_context
def batch(ctx: click.Context, /, manifest: Path, **opts: Any) -> None:
    """Write every document of a TOML manifest; re-runs redo only what is unfinished."""
    from docgen.cli.meter import BatchMeter
    from docgen.cli.summary import batch_table
    from docgen.inputs.manifest import batch_specs, load_manifest, parse_shard, shard
    from docgen.write.batch import BatchInterrupted, run_batch, write_report
    from docgen.write.progress import Cancelled

    loaded = load_manifest(manifest)
    if opts["shard"]:
        loaded = shard(loaded, *parse_shard(opts["shard"]))
    for key in ("base_url", "model"):  # flags and env beat the manifest, which beats the project config
        if key in loaded.defaults and ctx.get_parameter_source(key) in (
            ParameterSource.DEFAULT,
            ParameterSource.DEFAULT_MAP,
        ):
            opts[key] = loaded.defaults[key]
    settle_endpoints(opts)
    config = project_config()
    specs = batch_specs(loaded, defaults=config.variables, search=template_search(), config=config.values)
    meter = BatchMeter(sys.stderr, live=stderr_is_live(), total=len(loaded.jobs), enabled=not opts["quiet"])
    interrupted = False
    with contextlib.ExitStack() as stack:
        served = stack.enter_context(server_for(opts, slots=opts["jobs"], quiet=opts["quiet"]))
        endpoints = stack.enter_context(session_from(served, pool_size=opts["jobs"] + 2))
        pages: BatchPreview | None = None
        if opts["preview"]:
            from docgen.cli.batch_preview import serve_batch_preview

            pages = serve_batch_preview(stack, specs, meter, port=opts["preview_port"])
        try:
            results = run_batch(
                manifest=loaded,
                specs=specs,
                endpoints=endpoints,
                jobs=opts["jobs"],
                force=opts["force"],
                fail_fast=opts["fail_fast"],
                observer=pages or meter,
            )
        except BatchInterrupted as stop:  # Ctrl-C, SIGTERM (a cancelled CI job): still say what each job got to
            results, interrupted = stop.results, True
        finally:
            meter.close()
        if pages is not None:
            pages.finish(results, interrupted=interrupted)  # open pages hear how it ended before the server goes
    for line in batch_table(results, (opts["price_in"], opts["price_out"])):
        click.echo(line, err=True)
    if opts["report"] is not None:
        write_report(opts["report"], results)
    if interrupted:
        if any(r.status in ("cancelled", "failed") and r.words for r in results):
            app_state().partial = str(loaded.output_dir)  # the boundary's hint: kept, and how to go on
        raise Cancelled
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise BatchError(
            f"{len(failed)} of {len(results)} jobs failed",
            hint="fix the cause and run the same command again: finished jobs are skipped",
        )
