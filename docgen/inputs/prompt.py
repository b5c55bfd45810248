"""From what a user asked for to a prompt: template, variables, sampling, the output path."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docgen.errors import UsageError
from docgen.inputs.templates import Template, load_template, render, resolve_values

if TYPE_CHECKING:
    pass

OUTPUT_SUFFIXES = (".md", ".txt", ".html", ".docx")


def slugify(text: str, *, limit: int = 60) -> str:
    """A file-name-safe slug: ``"The History of Print!"`` becomes ``the-history-of-print``."""
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text).strip("-_")
    return slug[:limit].rstrip("-_") or "document"


def parse_vars(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs; ``KEY=@FILE`` reads the value from a file (``@@`` starts a literal ``@``)."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--var {pair!r} is not KEY=VALUE", hint="write it as --var audience=engineers")
        if value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@"):
            value = _read_var_file(key.strip(), value[1:])
        values[key.strip()] = value
    return values


def _read_var_file(key: str, name: str) -> str:
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"--var {key}=@{name}: no such file", hint="check the path, or write @@ for a literal @"
        ) from None
    except OSError as exc:
        raise UsageError(f"--var {key}=@{name}: cannot read it ({exc.strerror})") from None
    return data.decode("utf-8", "replace")


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


RESERVED_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "n"})  # docgen's own to set


def sampling_for(
    *,
    temperature: float | None,
    max_tokens: int | None,
    top_p: float | None = None,
    seed: int | None = None,
    params: Sequence[str] = (),
) -> dict[str, Any]:
    """The request fields that shape sampling; ``params`` are ``KEY=VALUE`` fields of any name."""
    sampling: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected KEY=VALUE", hint="for example --param top_k=40")
        if key in RESERVED_FIELDS:
            raise UsageError(f"--param {key}: docgen sets this field itself", hint="use the matching option, if any")
        try:
            sampling[key] = json.loads(raw)
        except ValueError:
            sampling[key] = raw  # not JSON: a string, as a shell user means it
    for key, value in (("temperature", temperature), ("max_tokens", max_tokens), ("top_p", top_p), ("seed", seed)):
        if value is not None:
            sampling[key] = value
    return sampling
