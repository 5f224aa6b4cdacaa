"""playbook.yaml is validated strictly."""

from __future__ import annotations

import copy

import pytest
import yaml

from playbook.config import load_config, parse_config
from playbook.errors import ConfigError


@pytest.fixture
def data(repo_root):
    return yaml.safe_load((repo_root / "playbook.yaml").read_text())


def test_shipped_config_is_valid(repo_root):
    config = load_config(repo_root)
    assert config.route("gemini-pro").model == "gemini-2.5-pro"
    assert [r.alias for r in config.chain("claude-opus")] == ["claude-opus", "claude-sonnet", "gemini-pro", "gemini-flash"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["models"]["gemini-pro"].update(provider="openai"), "openai"),
        (lambda d: d["fallbacks"].update({"gemini-pro": ["nope"]}), "nope"),
        (lambda d: d["prices"].pop("gemini-2.5-pro"), "no price"),
        (lambda d: d["targets"]["apps"].update(repo="not a repo"), "not a repo"),
        (lambda d: d["limits"].update(context_tokens="lots"), "lots"),
    ],
)
def test_every_problem_is_named(data, mutate, needle):
    broken = copy.deepcopy(data)
    mutate(broken)
    with pytest.raises(ConfigError) as exc:
        parse_config(broken, source="playbook.yaml")
    assert needle in str(exc.value) and "playbook.yaml" in str(exc.value)


def test_unknown_alias_names_the_fix(repo_root):
    with pytest.raises(ConfigError, match="add it under `models:`"):
        load_config(repo_root).route("gpt-9")


def test_the_same_file_is_parsed_once_and_an_edit_is_read(tmp_path, repo_root, monkeypatch):
    import playbook.config as config_module

    calls: list[str] = []
    parse = config_module.parse_config
    monkeypatch.setattr(config_module, "parse_config", lambda data, **kw: calls.append(kw["source"]) or parse(data, **kw))
    text = (repo_root / "playbook.yaml").read_text()
    (tmp_path / "playbook.yaml").write_text(text)
    first = load_config(tmp_path)
    assert load_config(tmp_path) is first  # a run reads it twice: validated once
    assert calls == [str(tmp_path / "playbook.yaml")]
    (tmp_path / "playbook.yaml").write_text(text.replace("context_tokens: ", "context_tokens: 1"))
    edited = load_config(tmp_path)
    assert edited is not first and edited.limits.context_tokens != first.limits.context_tokens
    assert len(calls) == 2
    (tmp_path / "playbook.yaml").write_text(text + "surprise: 1\n")
    with pytest.raises(ConfigError, match="surprise"):  # a bad edit is never hidden by the earlier good file
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="surprise"):
        load_config(tmp_path)
