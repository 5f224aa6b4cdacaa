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
