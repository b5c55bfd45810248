"""``docgen write`` and ``docgen outline``: options in, one core call, the summary out."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from docgen.cli.context import (
    app_state,
    header_pairs,
    meter_for,
    prompt_from,
    session_from,
    settle_endpoints,
    sources_from,
    template_search,
)
from docgen.cli.engine import LOCAL_URL, server_for, uses_local
from docgen.cli.options import cost_options, generation_options, longform_options, robustness_options, server_options

if TYPE_CHECKING:
    from docgen.cli.preview import LiveFeed, PreviewServer, PreviewState
    from docgen.write.document import WriteResult
    from docgen.write.progress import Progress


@click.command()
@generation_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The .md, .txt, .html or .docx file (default: from the topic); - for stdout.",
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
@click.option("--preview", is_flag=True, help="Serve a live page of the document on 127.0.0.1 as it is written.")
@click.option(
    "--preview-port", type=click.IntRange(min=0, max=65535), default=0, help="Its port (default: a free one)."
)
@cost_options
def write(**opts: Any) -> None:
    """Write a document: stream the model's reply to a file, chunk by chunk."""
    from docgen.cli.dry_run import dry_run_messages
    from docgen.inputs.jobs import job_spec
    from docgen.inputs.prompt import output_path
    from docgen.markdown.finish import OutputFormat
    from docgen.write.mirror import Mirror  # no httpx in it: fine for --dry-run

    app_state().json_errors = opts["as_json"]
    _topic_from_argument(opts)
    settle_endpoints(opts)
    header_pairs(opts)  # checked before anything else, --dry-run included
    if opts["restart"] and opts["resume"]:
        raise click.UsageError("--restart and --resume contradict each other")
    if opts["topic"] is not None and not opts["topic"].strip():
        raise click.UsageError("--topic is empty: say what the document is about")
    if opts["output"] == "":
        raise click.UsageError("-o is empty: give a file name ending in .md, .txt, .html or .docx")
    to_stdout = opts["output"] == "-"
    if to_stdout:
        if opts["as_json"]:
            raise click.UsageError("-o - puts the document on stdout, where --json would go too: choose one")
        if opts["outline"] not in (None, "none"):
            raise click.UsageError("-o - writes one reply chain; outline mode needs -o FILE to keep its sections")
        opts["outline"] = "none"
    prompt = prompt_from(opts)
    output = output_path(None if to_stdout else opts["output"], opts["topic"])
    sampling = sampling_from(opts)
    spec = job_spec(
        prompt=prompt,
        output=output,
        sampling=sampling,
        words=opts["words"],
        outline=opts["outline"],
        parallel=opts["parallel"],
        outline_prompt=opts["outline_prompt"],
        section_prompt=opts["section_prompt"],
        search=template_search(),
        output_format=OutputFormat.for_path(output, toc=opts["toc"], fix=opts["fix"]),
        title=opts["topic"] or "",
        sources=sources_from(opts),
        citations=not opts["no_citations"],
    )
    if opts["parallel"] > 1 and not spec.by_outline:
        raise click.UsageError("--parallel writes sections at once: it needs --outline (auto or FILE)")
    if opts["dry_run"]:
        from docgen.cli.dry_run import dry_run_json, dry_run_text

        show = dry_run_json if opts["as_json"] else dry_run_text
        base_url = LOCAL_URL if uses_local(opts) else opts["base_url"].rstrip("/")
        request = {"base_url": base_url, "output": output, "model": opts["model"]}
        messages, budget = dry_run_messages(spec, model=opts["model"], window=opts["context_window"])
        click.echo(show(**request, sampling=sampling, messages=messages, budget=budget))
        return
    from docgen.write.endpoints import write_anywhere  # httpx comes with it: not for --dry-run

    existing = "restart" if opts["restart"] else "resume" if opts["resume"] else "auto"
    app_state().partial = f"{output}.sections" if spec.by_outline else f"{output}.part"
    with contextlib.ExitStack() as stack:
        mirror: Mirror | None = None
        if to_stdout:  # the partial lives in a private folder; the text goes to stdout as it settles
            folder = Path(tempfile.mkdtemp(prefix="docgen-stdout-"))
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
            spec = dataclasses.replace(spec, output=folder / output.name)
            mirror = Mirror(sys.stdout.buffer)
            app_state().partial, app_state().kept_note = None, "the text so far went to stdout"
        served = stack.enter_context(server_for(opts, slots=opts["parallel"], quiet=opts["quiet"]))
        endpoints = stack.enter_context(session_from(served))
        meter = stack.enter_context(meter_for(opts["quiet"] or opts["as_json"]))
        on_progress: Callable[[Progress], None] = meter
        preview_server = None
        if opts["preview"] and not to_stdout:
            feed, preview_server, on_progress = live_preview(stack, spec.output, meter, port=opts["preview_port"])
        result = write_anywhere(
            endpoints,
            spec=spec,
            existing=existing,
            force=opts["force"],
            on_progress=on_progress,
            track=not to_stdout,
            mirror=mirror,
        )
        if preview_server is not None:
            feed.finish()
            preview_server.drain()  # open pages hear that the document is finished before the server goes
    if to_stdout:
        result = dataclasses.replace(result, path="stdout")
    _report(
        result,
        as_json=opts["as_json"],
        quiet=opts["quiet"],
        target=spec.target_words,
        prices=(opts["price_in"], opts["price_out"]),
    )


@click.command()
@generation_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The outline file (default: from the topic).")
@click.option("--outline-prompt", default="outline", show_default=True, help="Template of the outline step.")
@server_options
@robustness_options
@click.option("--force", is_flag=True, help="Replace an existing outline file.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def outline(**opts: Any) -> None:
    """Write only the outline, to edit and then pass to `docgen write --outline FILE`."""
    from docgen.inputs.jobs import job_spec
    from docgen.inputs.prompt import output_path, slugify
    from docgen.write.outline_plan import write_outline_file

    _topic_from_argument(opts)
    settle_endpoints(opts)
    output = output_path(opts["output"] or slugify(opts["topic"] or "document") + ".outline.md", None)
    spec = job_spec(
        prompt=prompt_from(opts),
        output=output,
        sampling=sampling_from(opts),
        words=opts["words"],
        outline="auto",
        outline_prompt=opts["outline_prompt"],
        search=template_search(),
        sources=sources_from(opts),
        citations=not opts["no_citations"],
    )
    app_state().partial = f"{output}.part"
    with (
        server_for(opts, quiet=opts["quiet"]) as served,
        session_from(served) as endpoints,
        meter_for(opts["quiet"]) as meter,
    ):
        planned = write_outline_file(session=endpoints.first, spec=spec, force=opts["force"], on_progress=meter)
    if not opts["quiet"]:
        click.echo(
            f"wrote {output}: {len(planned.sections)} sections, {planned.total:,} words planned; edit it, then "
            f"run: docgen write --outline {output} ...",
            err=True,
        )


def live_preview(
    stack: contextlib.ExitStack, output: Path, meter: Callable[[Progress], None], *, port: int
) -> tuple[LiveFeed, PreviewServer, Callable[[Progress], None]]:
    """--preview: a page on 127.0.0.1 that shows the document as it is written; its URL goes to stderr."""
    from docgen.cli.preview import LiveFeed, PreviewServer

    feed = LiveFeed(output)
    server = stack.enter_context(PreviewServer(feed, port=port))  # serving from here on
    click.echo(f"preview: {server.url}", err=True)

    def both(p: Progress) -> None:
        feed.on_progress(p)
        meter(p)

    return feed, server, both


@click.command()
@click.argument("document", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, help="Its port (default: a free one).")
def preview(document: Path, port: int) -> None:
    """Serve a live page of DOCUMENT: one another docgen is writing (its .part), or a finished one."""
    from docgen.cli.preview import PreviewServer, state_from_files

    def state() -> PreviewState:
        return state_from_files(document)

    with PreviewServer(state, port=port) as server:
        click.echo(f"preview: {server.url} (Ctrl-C to stop)", err=True)
        while True:
            time.sleep(3600)


def _topic_from_argument(opts: dict[str, Any]) -> None:
    """``docgen write "topic"`` is ``docgen write --topic "topic"``."""
    given = opts.pop("topic_argument", None)
    if given is None:
        return
    if opts["topic"] is not None:
        raise click.UsageError(f"the topic is given twice: {given!r} and --topic {opts['topic']!r}")
    opts["topic"] = given


def sampling_from(opts: dict[str, Any]) -> dict[str, Any]:
    from docgen.inputs.prompt import sampling_for

    return sampling_for(
        temperature=opts["temperature"],
        max_tokens=opts["max_tokens"],
        top_p=opts["top_p"],
        seed=opts["seed"],
        params=opts["params"],
    )


def _report(
    result: WriteResult,
    *,
    as_json: bool,
    quiet: bool,
    target: int | None,
    prices: tuple[float | None, float | None] = (None, None),
) -> None:
    from docgen.cli.summary import summarize, summary_lines

    summary = summarize(result, target=target, prices=prices)
    if result.status == "up to date" and not as_json:
        if not quiet:
            click.echo(
                f"{result.path} is up to date: written before from the same inputs (--force writes it again)", err=True
            )
        return
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        for warning in [*summary["warnings"], *summary["markdown"].get("warnings", [])]:
            click.echo(f"warning: {warning}", err=True)  # stdout is the record; stderr still says what went wrong
        return
    if not quiet:
        for line in summary_lines(summary):
            click.echo(line, err=True)
