"""From what a user asked for to a settled ``DocumentJob``: template, variables, output."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docgen.errors import UsageError
from docgen.finishing import OutputFormat
from docgen.templates import Template, load_template, render, resolve_values

if TYPE_CHECKING:
    from docgen.document import DocumentJob
    from docgen.longform import LongformJob

OUTPUT_SUFFIXES = (".md", ".txt", ".html")


def slugify(text: str, *, limit: int = 60) -> str:
    """A file-name-safe slug: ``"The History of Print!"`` becomes ``the-history-of-print``."""
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text).strip("-_")
    return slug[:limit].rstrip("-_") or "document"


def parse_vars(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--var {pair!r} is not KEY=VALUE", hint="write it as --var audience=engineers")
        values[key.strip()] = value
    return values


def output_path(output: str | None, topic: str | None) -> Path:
    path = Path(output) if output else Path(slugify(topic or "document") + ".md")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"-o {path}: the output must end in {', '.join(OUTPUT_SUFFIXES)}")
    return path


@dataclass(frozen=True)
class Prompt:
    template: Template
    values: dict[str, str]
    system: str
    user: str

    @property
    def target_words(self) -> int | None:
        words = self.values.get("words", "")
        return int(words) if words.isdigit() and int(words) > 0 else None


def build_prompt(
    *,
    template: str,
    topic: str | None,
    words: int | None,
    variables: Mapping[str, str],
    system: str | None,
    defaults: Mapping[str, str] | None = None,
    search: tuple[Path, ...] = (),
) -> Prompt:
    """Load and fill a template; every variable problem is reported at once.

    ``defaults`` (the project config's variables) apply only where the template takes them.
    """
    tpl = load_template(template, search=search)
    known = {v.name for v in tpl.all_variables()}
    given = {k: v for k, v in (defaults or {}).items() if k in known}
    given.update(variables)
    if topic is not None:
        given["topic"] = topic
    if words is not None and "words" in known:
        given["words"] = str(words)  # a template without {{ words }} still gets the target (meter, stopping)
    values = resolve_values(tpl, given)
    return Prompt(tpl, values, system if system is not None else render(tpl.system, values), render(tpl.body, values))


def messages_for(prompt: Prompt) -> tuple[dict[str, str], ...]:
    system = ({"role": "system", "content": prompt.system},) if prompt.system else ()
    return (*system, {"role": "user", "content": prompt.user})


def sampling_for(*, temperature: float | None, max_tokens: int | None) -> dict[str, Any]:
    sampling: dict[str, Any] = {}
    if temperature is not None:
        sampling["temperature"] = temperature
    if max_tokens is not None:
        sampling["max_tokens"] = max_tokens
    return sampling


def document_inputs(prompt: Prompt, *, model: str, sampling: Mapping[str, Any]) -> dict[str, Any]:
    """What shapes the text, for the fingerprint: template, values, system, model, sampling."""
    return {
        "template": prompt.template.text,
        "variables": prompt.values,
        "system": prompt.system,
        "model": model,
        "temperature": sampling.get("temperature"),
    }


def document_job(
    *,
    prompt: Prompt,
    output: Path,
    model: str,
    sampling: Mapping[str, Any],
    words: int | None,
    output_format: OutputFormat | None = None,
    title: str = "",
) -> DocumentJob:
    """The job for ``prompt``; its fingerprint covers the template, values, system, model and temperature."""
    from docgen.document import DocumentJob  # not at the top: it brings httpx, which --dry-run never needs

    return DocumentJob(
        output=output,
        messages=messages_for(prompt),
        sampling=dict(sampling),
        inputs=document_inputs(prompt, model=model, sampling=sampling),
        target_words=words if words is not None else prompt.target_words,
        output_format=output_format or OutputFormat(),
        title=title,
    )


def longform_job(
    *,
    prompt: Prompt,
    output: Path,
    model: str,
    sampling: Mapping[str, Any],
    words: int | None,
    outline: str,
    parallel: int,
    outline_prompt: str,
    section_prompt: str,
    output_format: OutputFormat | None = None,
    title: str = "",
    search: tuple[Path, ...] = (),
) -> LongformJob:
    """The job of ``--outline auto|FILE``: the document's prompt becomes the request."""
    from docgen.longform import LongformJob

    outline_file = None if outline == "auto" else Path(outline)
    if outline_file is not None and not outline_file.is_file():
        raise UsageError(f"--outline {outline}: no such file", hint="give an outline file, or --outline auto")
    return LongformJob(
        output=output,
        request=prompt.user,
        system=prompt.system,
        inputs=document_inputs(prompt, model=model, sampling=sampling),
        sampling=dict(sampling),
        words=words,  # only an explicit --words rescales a user's outline
        default_words=prompt.target_words,
        outline_template=load_template(outline_prompt, search=search),
        section_template=load_template(section_prompt, search=search),
        outline_file=outline_file,
        parallel=parallel,
        output_format=output_format or OutputFormat(),
        title=title,
    )
