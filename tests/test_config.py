"""Project config: precedence flags > env > file > defaults, and what docgen config shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sse_server import Script


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config_json(docgen, *args: str) -> dict:
    code, out, err = docgen("config", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_precedence_flag_env_file_default(project: Path, docgen, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "docgen.toml").write_text('base_url = "http://file:1/v1"\nmodel = "file-model"\nwords = 900\n'
                                         'temperature = 0.5\n', encoding="utf-8")
    monkeypatch.setenv("DOCGEN_MODEL", "env-model")
    shown = config_json(docgen, "--temperature", "0.1")
    assert shown["temperature"] == {"value": 0.1, "source": "flag"}
    assert shown["model"] == {"value": "env-model", "source": "env DOCGEN_MODEL"}
    assert shown["base_url"]["value"] == "http://file:1/v1" and shown["base_url"]["source"].startswith("config ")
    assert shown["words"]["value"] == 900
    assert shown["retries"] == {"value": 5, "source": "default"}


def test_pyproject_tool_table_and_templates_folder(project: Path, docgen) -> None:
    (project / "team").mkdir()
    (project / "team" / "memo.md").write_text("+++\ndescription = \"A team memo\"\n+++\nMemo on {{ topic }} for "
                                              "{{ audience }}.\n", encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.docgen]\ntemplate = "memo"\n'
                                            'templates = "team"\n[tool.docgen.vars]\naudience = "the board"\n',
                                            encoding="utf-8")
    code, out, err = docgen("write", "--topic", "budgets", "--dry-run")
    assert code == 0, err
    assert "Memo on budgets for the board." in out
    code, out, _ = docgen("templates")
    assert "memo" in out and "A team memo" in out


def test_the_api_key_is_only_read_through_an_env_reference(project: Path, serve, docgen,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "docgen.toml").write_text('api_key = "sk-literal-123456"\n', encoding="utf-8")
    code, _, err = docgen("config")
    assert code == 2 and "must name an environment variable" in err and "sk-literal" not in err
    (project / "docgen.toml").write_text('api_key = "${TEAM_KEY}"\n', encoding="utf-8")
    monkeypatch.setenv("TEAM_KEY", "sk-team-secret-9876")
    shown = config_json(docgen)
    assert shown["api_key"]["value"] == "…9876" and "TEAM_KEY" in shown["api_key"]["source"]
    code, out, _ = docgen("config")
    assert "sk-team-secret" not in out
    server = serve(Script(document="hello world"))
    assert docgen("write", "--topic", "x", "--base-url", server.base_url, "-o", "a.md")[0] == 0
    assert server.recorder.chats[0]["headers"]["Authorization"] == "Bearer sk-team-secret-9876"


def test_a_bad_config_is_one_clear_error(project: Path, docgen) -> None:
    (project / "docgen.toml").write_text('words = "lots"\ncolour = 3\n', encoding="utf-8")
    code, _, err = docgen("write", "--topic", "x", "--dry-run")
    assert code == 2
    assert "words must be int" in err and "unknown key colour" in err and "Traceback" not in err
