"""Shared fixtures. No test can reach a real service or touch the real $HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["fakes.github_fixtures", "fakes.gemini_api", "flow_harness", "claude_box"]

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "node_modules"

_SCRUB = (
    "GITHUB_TOKEN", "GH_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN", "BMAD_DISPATCH_TOKEN", "BMAD_PLAYBOOK_TOKEN", "ANTHROPIC_BASE_URL",
    "PLAYBOOK_GEMINI_BASE_URL", "PLAYBOOK_DIR", "PLAYBOOK_CLAUDE_BIN", "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_ACTIONS", "GITHUB_OUTPUT",
    "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_RUN_ID", "PLAYBOOK_OFFLINE",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in _SCRUB:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Owner")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "owner@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Owner")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "owner@example.invalid")
    # Anything that still tried a real endpoint would need a proxy; there is none.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


def node_tool(*parts: str) -> Path:
    """Path inside node_modules; tests that need it fail loudly if `npm ci` did not run."""
    path = NODE_MODULES.joinpath(*parts)
    if not path.exists() and os.environ.get("CI"):
        raise AssertionError(f"{path} missing: scripts/bootstrap --test must run `npm ci`")
    return path


def run_main(args: list[str]) -> int:
    """`playbook ARGS` in this process, as the console script runs it; its exit code."""
    from playbook.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
