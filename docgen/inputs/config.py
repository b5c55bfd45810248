"""Project configuration: ``docgen.toml`` in the current folder, or ``[tool.docgen]`` in
``pyproject.toml``, so a team can commit its setup and run plain ``docgen write``.

Precedence, highest first: flags, environment variables, this file, built-in defaults.
An API key never comes from the file itself: ``api_key = "${ENV_VAR}"`` names the
variable to read it from, and a literal key is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docgen.errors import UsageError

# file key -> (option name, type)
KEYS: dict[str, tuple[str, type]] = {
    "base_url": ("base_url", str),
    "model": ("model", str),
    "template": ("template", str),
    "words": ("words", int),
    "temperature": ("temperature", float),
    "max_tokens": ("max_tokens", int),
    "system": ("system", str),
    "timeout": ("idle_timeout", float),
    "connect_timeout": ("connect_timeout", float),
    "continue_mode": ("continue_mode", str),
    "retries": ("retries", int),
    "max_continuations": ("max_continuations", int),
    "context_tail": ("context_tail", int),
    "context_window": ("context_window", int),
    "outline_prompt": ("outline_prompt", str),
    "section_prompt": ("section_prompt", str),
    "price_in": ("price_in", float),
    "price_out": ("price_out", float),
}
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class ProjectConfig:
    source: str = ""  # the file it came from, or "" when there is none
    values: dict[str, Any] = field(default_factory=dict)  # option name -> value
    variables: dict[str, str] = field(default_factory=dict)  # template variables ([vars])
    templates_dir: Path | None = None
    api_key_env: str | None = None
    warnings: tuple[str, ...] = ()  # worth saying, not worth stopping for

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


def find_config(folder: Path | None = None) -> ProjectConfig:
    """The project config of ``folder`` (default: the current folder) or the nearest folder above
    it, as ruff and pytest find theirs: ``docgen.toml``, else ``[tool.docgen]`` in ``pyproject.toml``."""
    start = (folder or Path.cwd()).resolve()
    for here in (start, *start.parents):
        own = here / "docgen.toml"
        if own.is_file():
            return _parse(_load(own), own)
        pyproject = here / "pyproject.toml"
        if pyproject.is_file():
            table = _load(pyproject).get("tool", {}).get("docgen")
            if isinstance(table, dict):
                return _parse(table, pyproject, prefix="tool.docgen.")
    return ProjectConfig()


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _parse(table: dict[str, Any], path: Path, prefix: str = "") -> ProjectConfig:
    values: dict[str, Any] = {}
    problems = []
    warnings: list[str] = []
    for key, raw in table.items():
        if key in ("vars", "templates", "api_key"):
            continue
        if key == "base_url":  # one URL, or a list of servers of one model
            urls = [raw] if isinstance(raw, str) else raw
            if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
                problems.append(f"{prefix}base_url must be a URL or a list of URLs")
            else:
                values["base_url"] = tuple(urls)
            continue
        if key == "sources":  # paths relative to the config file, like templates
            if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                problems.append(f"{prefix}sources must be a list of paths")
            else:
                values["sources"] = tuple(x if x == "-" else str(path.parent / x) for x in raw)
            continue
        if key not in KEYS:
            problems.append(f"unknown key {prefix}{key}")
            continue
        name, kind = KEYS[key]
        try:
            if kind is int and (isinstance(raw, bool) or not isinstance(raw, int)):
                raise ValueError
            values[name] = kind(raw)
        except (TypeError, ValueError):
            problems.append(f"{prefix}{key} must be {kind.__name__}, not {raw!r}")
    variables = table.get("vars", {})
    if not isinstance(variables, dict):
        problems.append(f"{prefix}vars must be a table")
        variables = {}
    api_key_env = None
    if "api_key" in table:
        match = _ENV_REF.match(str(table["api_key"]))
        if match is None:
            problems.append(
                f'{prefix}api_key must name an environment variable, like "${{DOCGEN_API_KEY}}": '
                "a key in a committed file leaks"
            )
        else:
            api_key_env = match.group(1)
            if api_key_env not in os.environ:
                warnings.append(f"{path}: {prefix}api_key names ${{{api_key_env}}}, which is not set: no key is sent")
    templates_dir = None
    if "templates" in table:
        templates_dir = (path.parent / str(table["templates"])).resolve()
        if not templates_dir.is_dir():
            problems.append(f"{prefix}templates: {templates_dir} is not a folder")
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    variables = {str(k): str(v) for k, v in variables.items()}
    return ProjectConfig(str(path), values, variables, templates_dir, api_key_env, tuple(warnings))


def mask(secret: str | None) -> str:
    """A key as it may be shown: its last four characters only."""
    if not secret:
        return "(none)"
    return "…" + secret[-4:] if len(secret) > 8 else "****"
