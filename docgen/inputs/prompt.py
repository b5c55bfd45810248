"""From what a user asked for to a prompt: template, variables, sampling, the output path."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docgen.errors import UsageError
from docgen.inputs.templates import Template, load_template, render, resolve_values

if TYPE_CHECKING:
    pass

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


def chat_messages(system: str, user: str) -> tuple[dict[str, str], ...]:
    """A conversation of one user turn, after the system prompt when there is one."""
    return (*(({"role": "system", "content": system},) if system else ()), {"role": "user", "content": user})


def messages_for(prompt: Prompt) -> tuple[dict[str, str], ...]:
    return chat_messages(prompt.system, prompt.user)


def sampling_for(*, temperature: float | None, max_tokens: int | None) -> dict[str, Any]:
    sampling: dict[str, Any] = {}
    if temperature is not None:
        sampling["temperature"] = temperature
    if max_tokens is not None:
        sampling["max_tokens"] = max_tokens
    return sampling
