"""Templates: the built-ins list and show, user files with a TOML header, plain substitution only.

Prompts are checked through `docgen write --dry-run`, which prints the request body the
server would get, so the test sees exactly what the model would be asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import docgen

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
STEP_TEMPLATES = {"outline", "section"}  # the --outline steps: filled by docgen, not about a topic


def header_of(path: Path) -> dict[str, Any]:
    """The TOML between the +++ fences, read here without docgen's parser."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("+++\n"), path
    return tomllib.loads(text[4 : text.index("\n+++", 3)])


def dry_run(docgen: Any, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run `docgen write --dry-run`; return the code, the request body it printed, and stderr."""
    code, stdout, stderr = docgen(
        "write", "--dry-run", "--base-url", "http://127.0.0.1:9/v1", *args
    )
    if code != 0:
        assert stdout == ""
        return code, None, stderr
    return code, json.loads(stdout.split("## request body\n\n", 1)[1]), stderr


def messages(body: dict[str, Any] | None) -> dict[str, str]:
    assert body is not None
    return {m["role"]: m["content"] for m in body["messages"]}


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


BUILTINS = sorted(p.stem for p in PROMPTS.glob("*.md"))


def test_there_are_built_in_templates() -> None:
    assert {"report", "article", "brief", "tutorial"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_each_built_in_has_a_description_and_topic(name: str) -> None:
    header = header_of(PROMPTS / f"{name}.md")
    assert str(header.get("description", "")).strip()
    variables = header.get("variables", {})
    if name not in STEP_TEMPLATES:
        assert "topic" in variables and "default" not in variables["topic"]
    for spec in variables.values():
        assert str(spec.get("description", "")).strip()


def test_templates_lists_every_built_in_with_its_description_and_variables(docgen: Any) -> None:
    code, stdout, stderr = docgen("templates")
    assert code == 0, stderr
    lines = stdout.splitlines()
    for name in (n for n in BUILTINS if n not in ("outline", "section")):  # outline mode's steps are apart
        header = header_of(PROMPTS / f"{name}.md")
        at = lines.index(f"{name:10} {header['description']}")
        listed = lines[at + 1 : at + 1 + len(header.get("variables", {}))]
        for line, (var, spec) in zip(listed, header.get("variables", {}).items(), strict=True):
            default = f"(default: {spec['default']})" if "default" in spec else "(required)"
            assert line.split()[:1] == [var] and default in line and spec["description"] in line, (
                line
            )


@pytest.mark.parametrize("name", BUILTINS)
def test_templates_show_prints_the_file_exactly(docgen: Any, name: str) -> None:
    code, stdout, stderr = docgen("templates", "show", name)
    assert code == 0, stderr
    assert stdout == (PROMPTS / f"{name}.md").read_text(encoding="utf-8")


def test_templates_show_of_an_unknown_name_is_exit_3(docgen: Any) -> None:
    code, stdout, stderr = docgen("templates", "show", "nosuch")
    assert code == 3 and stdout == ""
    line = one_line(stderr)
    assert "nosuch" in line and all(name in line for name in BUILTINS)


@pytest.mark.parametrize("name", sorted(set(BUILTINS) - STEP_TEMPLATES))
def test_each_document_template_fills_with_just_a_topic(docgen: Any, name: str) -> None:
    code, body, stderr = dry_run(docgen, "--template", name, "--topic", "Tidal power in Scotland")
    assert code == 0, stderr
    header = header_of(PROMPTS / f"{name}.md")
    got = messages(body)
    assert "Tidal power in Scotland" in got["user"]
    assert "{{" not in got["user"] and "{{" not in got.get("system", "")
    for var, spec in header["variables"].items():
        if "default" in spec:
            assert str(spec["default"]) in got["user"] + got.get("system", ""), var
    assert got.get("system", "") == header.get("system", "")


# -- a user's template file ----------------------------------------------------------

USER_TEMPLATE = """+++
description = "A field guide"
system = "You write for {{ audience }}, plainly."
title = "Field guide: {{ topic }}"

[variables.topic]
description = "The species"

[variables.audience]
description = "Who reads it"
default = "hikers"

[variables.region]
description = "Where"
+++

Write a field guide to {{topic}} in {{ region }} for {{  audience  }}.
"""


def test_a_user_template_file_with_a_toml_header(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "guide.md"
    path.write_text(USER_TEMPLATE, encoding="utf-8")
    code, body, stderr = dry_run(
        docgen, "--template", str(path), "--topic", "red kites", "--var", "region=Wales"
    )
    assert code == 0, stderr
    assert messages(body) == {
        "system": "You write for hikers, plainly.",
        "user": "Write a field guide to red kites in Wales for hikers.\n",
    }

    code, body, stderr = dry_run(
        docgen,
        "--template",
        str(path),
        "--topic",
        "red kites",
        "--var",
        "region=Wales",
        "--var",
        "audience=birders",
    )
    assert code == 0, stderr
    assert messages(body)["system"] == "You write for birders, plainly."


def test_a_user_template_with_crlf_line_ends(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "guide.md"
    path.write_bytes(USER_TEMPLATE.replace("\n", "\r\n").encode())
    code, body, stderr = dry_run(
        docgen, "--template", str(path), "--topic", "red kites", "--var", "region=Wales"
    )
    assert code == 0, stderr
    assert messages(body) == {
        "system": "You write for hikers, plainly.",
        # the file is read with universal newlines
        "user": "Write a field guide to red kites in Wales for hikers.\n",
    }


def test_a_user_template_without_a_header(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "bare.txt"
    path.write_text("Tell me about {{ topic }}.", encoding="utf-8")
    code, body, stderr = dry_run(docgen, "--template", str(path), "--topic", "moss")
    assert code == 0, stderr
    assert messages(body) == {"user": "Tell me about moss."}


def test_placeholders_never_evaluate_anything(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "sneaky.md"
    path.write_text(
        "A {{ topic }} B {{ topic.__class__ }} C {topic} D {{topic}} E {{ topic | upper }} "
        "F {{ __import__('os').getcwd() }} G {% if topic %}x{% endif %} H ${topic} "
        "I {{{ topic }}} J {{ 7*7 }}\n",
        encoding="utf-8",
    )
    value = "{{ audience }} {0} {topic} \\1 \\g<0> ${HOME} %s {{ topic }}"
    code, body, stderr = dry_run(docgen, "--template", str(path), "--topic", value)
    assert code == 0, stderr
    assert messages(body)["user"] == (
        f"A {value} B {{{{ topic.__class__ }}}} C {{topic}} D {value} E {{{{ topic | upper }}}} "
        "F {{ __import__('os').getcwd() }} G {% if topic %}x{% endif %} H ${topic} "
        f"I {{{value}}} J {{{{ 7*7 }}}}\n"
    )


def test_missing_variables_are_reported_all_at_once(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "many.md"
    path.write_text("{{ topic }} {{ alpha }} {{ beta }} {{ gamma }} {{ delta }}", encoding="utf-8")
    code, _, stderr = dry_run(docgen, "--template", str(path), "--var", "beta=2")
    assert code == 3
    line = one_line(stderr)
    missing = line.split(": missing ", 1)[1]
    assert missing.startswith("topic, alpha, gamma, delta (")
    assert "--topic" in missing and "--var alpha=" in missing and "--var delta=" in missing


def test_missing_and_unknown_variables_are_reported_together(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "two.md"
    path.write_text("{{ topic }} {{ alpha }}", encoding="utf-8")
    code, _, stderr = dry_run(
        docgen, "--template", str(path), "--topic", "t", "--var", "alpah=1", "--var", "zeta=2"
    )
    assert code == 3
    line = one_line(stderr)
    assert "missing alpha" in line and "alpah" in line and "zeta" in line
    assert "topic, alpha" in line.split("unknown", 1)[1]  # what it does take


def test_an_unknown_variable_of_a_built_in_is_named(docgen: Any) -> None:
    code, _, stderr = dry_run(docgen, "--topic", "t", "--var", "tone=dry")
    assert code == 3
    line = one_line(stderr)
    assert "unknown tone" in line and "report" in line


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('+++\ndescription = "no end"\nWrite {{ topic }}', "not closed"),
        ("+++\ndescription = no quotes\n+++\nWrite {{ topic }}", "TOML"),
        ('+++\n[variables."bad name"]\ndescription = "x"\n+++\nWrite {{ topic }}', "bad name"),
        ("+++\nvariables = 3\n+++\nWrite {{ topic }}", "variables"),
    ],
)
def test_a_broken_template_file_is_exit_3(
    tmp_path: Path, docgen: Any, text: str, says: str
) -> None:
    path = tmp_path / "broken.md"
    path.write_text(text, encoding="utf-8")
    code, _, stderr = dry_run(docgen, "--template", str(path), "--topic", "t")
    assert code == 3
    line = one_line(stderr)
    assert says in line and "broken.md" in line


def test_a_template_file_that_does_not_exist_is_exit_3(tmp_path: Path, docgen: Any) -> None:
    code, _, stderr = dry_run(docgen, "--template", str(tmp_path / "gone.md"), "--topic", "t")
    assert code == 3
    assert "gone.md" in one_line(stderr)


def test_a_template_file_that_is_not_utf8_is_exit_3(tmp_path: Path, docgen: Any) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("Écris sur {{ topic }}".encode("latin-1"))
    code, _, stderr = dry_run(docgen, "--template", str(path), "--topic", "t")
    assert code == 3
    assert "latin1.md" in one_line(stderr)


# -- the entry point ---------------------------------------------------------------------


def test_python_m_docgen_version() -> None:
    for flag in ("--version", "-V"):
        done = subprocess.run(
            [sys.executable, "-m", "docgen", flag],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (
            0,
            f"docgen {docgen.__version__}\n",
            "",
        )


def test_python_m_docgen_templates_show() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "docgen", "templates", "show", "brief"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (PROMPTS / "brief.md").read_bytes()
