"""Prompt templates: Markdown files with a TOML header, filled by plain substitution.

A template looks like this::

    +++
    description = "A structured report with an executive summary"
    system = "You are a careful analyst."          # optional
    [variables.topic]
    description = "What the report is about"
    [variables.audience]
    description = "Who will read it"
    default = "an informed general reader"
    +++
    Write a report on {{ topic }} for {{ audience }} ...

``{{ name }}`` is the only syntax: the value is pasted in, nothing is evaluated, so a
template cannot run code. Any other ``{{`` is left as it is. A placeholder that is used
but not declared is a required variable.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from docgen.errors import TemplateError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FENCE = "+++"


@dataclass(frozen=True)
class Variable:
    name: str
    description: str = ""
    default: str | None = None


@dataclass(frozen=True)
class Template:
    name: str
    source: str  # "built-in" or a file path
    text: str  # the whole file, for the fingerprint and `templates show`
    body: str
    description: str = ""
    system: str = ""
    variables: tuple[Variable, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def used_names(self) -> list[str]:
        """Every placeholder name in the body and system prompt, in first-use order."""
        seen: dict[str, None] = {}
        for text in (self.system, self.body):
            for m in PLACEHOLDER.finditer(text):
                seen.setdefault(m.group(1))
        return list(seen)

    def all_variables(self) -> list[Variable]:
        """Declared variables, then undeclared placeholders (which are required)."""
        declared = {v.name: v for v in self.variables}
        extra = [Variable(n) for n in self.used_names() if n not in declared]
        return [*self.variables, *extra]


def parse_template(text: str, *, name: str, source: str) -> Template:
    """Parse a template file's text."""
    header: dict[str, Any] = {}
    body = text
    if text.startswith(_FENCE):
        first_nl = text.find("\n")
        end = text.find("\n" + _FENCE, first_nl)
        if first_nl < 0 or end < 0:
            raise TemplateError(f"template {name}: the +++ header is not closed", hint="end it with a +++ line")
        try:
            header = tomllib.loads(text[first_nl + 1 : end])
        except tomllib.TOMLDecodeError as exc:
            raise TemplateError(f"template {name}: bad TOML header: {exc}") from None
        body = text[end + len(_FENCE) + 1 :].lstrip("\r\n")
    variables = []
    raw_vars = header.pop("variables", {})
    if not isinstance(raw_vars, dict):
        raise TemplateError(f"template {name}: [variables] must be a table")
    for var_name, spec in raw_vars.items():
        if not PLACEHOLDER.fullmatch("{{" + var_name + "}}"):
            raise TemplateError(f"template {name}: {var_name!r} is not a valid variable name")
        spec = spec if isinstance(spec, dict) else {"default": spec}
        default = spec.get("default")
        variables.append(
            Variable(var_name, str(spec.get("description", "")), None if default is None else str(default))
        )
    description = str(header.pop("description", ""))
    system = str(header.pop("system", ""))
    return Template(name, source, text, body, description, system, tuple(variables), header)


def render(text: str, values: dict[str, str]) -> str:
    """Fill ``{{ name }}`` placeholders; every name must be in ``values``."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def resolve_values(template: Template, given: dict[str, str]) -> dict[str, str]:
    """Merge defaults with ``given``; name every missing and unknown variable at once."""
    known = {v.name: v for v in template.all_variables()}
    unknown = sorted(k for k in given if k not in known)
    values = {v.name: v.default for v in known.values() if v.default is not None}
    values.update((k, v) for k, v in given.items() if k in known)
    missing = [n for n in known if n not in values]
    problems = []
    if missing:
        flags = ", ".join("--topic" if n == "topic" else f"--var {n}=..." for n in missing)
        problems.append(f"missing {', '.join(missing)} (give {flags})")
    if unknown:
        problems.append(f"unknown {', '.join(unknown)} (it takes: {', '.join(known) or 'no variables'})")
    if problems:
        raise TemplateError(f"template {template.name}: " + "; ".join(problems))
    return values


def builtin_dir() -> Path:
    return Path(str(resources.files("docgen.prompts")))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.md"))


def load_template(spec: str, *, search: tuple[Path, ...] = ()) -> Template:
    """Find a template by file path, then in ``search`` folders, then among the built-ins."""
    path = Path(spec).expanduser()
    looks_like_path = "/" in spec or "\\" in spec or path.suffix in (".md", ".txt", ".toml")
    candidates = [path] if looks_like_path else [*(d / f"{spec}.md" for d in search), builtin_dir() / f"{spec}.md"]
    for candidate in candidates:
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"cannot read template {candidate}: {exc}") from None
            source = "built-in" if candidate.parent == builtin_dir() else str(candidate)
            return parse_template(text, name=candidate.stem if not looks_like_path else spec, source=source)
    if looks_like_path:
        raise TemplateError(f"template file {spec} does not exist")
    names = sorted({*builtin_names(), *(p.stem for d in search for p in d.glob("*.md"))})
    raise TemplateError(f"no template named {spec!r}", hint=f"choose one of: {', '.join(names)}, or give a file path")
