"""`playbook dev --story ID --target-dir DIR`: the dev step into a local target checkout."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import node_tool
from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use
from playbook.adapters import git as gitlib
from playbook.cli import main
from playbook.delivery.scaffold import render_stack
from playbook.planning import local
from playbook.settings import Settings

CLAUDE = node_tool(".bin", "claude")
needs_claude = pytest.mark.skipif(not CLAUDE.exists() and not os.environ.get("CI"), reason="npm ci has not run")
PIHOLE = "Deploy Pi-hole with Traefik ingress, Authentik SSO, Prometheus metrics and Restic backups"


def playbook(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out + captured.err


@pytest.fixture
def planned(playbook_checkout: Path) -> tuple[Path, str]:
    """The Pi-hole request planned and approved offline: (checkout, story id)."""
    planner = local.build_planner(Settings.from_env({}, root=playbook_checkout), root=playbook_checkout, offline=True)
    local.plan(playbook_checkout, PIHOLE, planner)
    for _ in range(4):
        local.approve(playbook_checkout, planner)
    state = local.status(playbook_checkout)
    story = next(s for s in state.stories if s.service == "dns-pihole")
    return playbook_checkout, story.id


@pytest.fixture
def target(tmp_path: Path) -> Path:
    repo = gitlib.init_repo(tmp_path / "homelab-apps")
    (repo / "README.md").write_text("apps\n")
    (repo / "stacks").mkdir()
    (repo / "stacks" / ".gitkeep").write_text("")
    gitlib.git(repo, "add", "-A")
    gitlib.git(repo, "commit", "-q", "-m", "init")
    return repo


def state_of(repo: Path) -> tuple[str, str | None, str, str]:
    return (gitlib.current_branch(repo), gitlib.head(repo), gitlib.git(repo, "branch", "--list"),
            gitlib.git(repo, "status", "--porcelain", "-uall"))


def test_without_claude_the_offline_scaffolder_commits_the_story_on_its_branch(planned, target, tmp_path, capsys):
    repo, story = planned
    out = tmp_path / "out"
    code, output = playbook("dev", "--story", story, "--target-dir", str(target), "--playbook-dir", str(repo),
                            "--out", str(out), capsys=capsys)
    assert code == 0, output
    assert "agent: the OFFLINE scaffolder, no model (no Claude credentials" in output
    branch = f"bmad/story-1-{story.replace('.', '-')}"
    assert gitlib.current_branch(target) == branch and gitlib.git(target, "status", "--porcelain") == ""
    assert gitlib.git(target, "log", "-1", "--format=%s").startswith(f"bmad: story {story}")
    committed = gitlib.git(target, "show", "--name-only", "--format=", "HEAD").split()
    assert "stacks/dns-pihole/docker-compose.yml" in committed
    assert "checks: 0 errors" in output
    result = json.loads((out / "result.json").read_text())
    assert result["session_id"] == "offline" and result["cost_usd"] == 0 and result["violations"] == []
    report = (out / "report.md").read_text()
    assert f"story {story}" in report and "`playbook check` passed" in report


def test_playbook_dir_comes_from_the_environment_and_json_is_printed(planned, target, monkeypatch, tmp_path, capsys):
    repo, story = planned
    monkeypatch.setenv("PLAYBOOK_DIR", str(repo))
    monkeypatch.chdir(tmp_path)
    code, output = playbook("dev", "--story", story, "--target-dir", str(target), "--json", capsys=capsys)
    assert code == 0, output
    data = json.loads(output)
    assert data["agent"] == "offline" and data["commit"] == gitlib.head(target)
    assert "stacks/dns-pihole/docker-compose.yml" in data["files"]


def test_a_failed_dev_step_leaves_the_target_as_it_was(planned, target, capsys):
    repo, story = planned
    config = repo / "playbook.yaml"
    config.write_text(config.read_text().replace("max_files: 40", "max_files: 1"))  # the stack has more files
    before = state_of(target)
    code, output = playbook("dev", "--story", story, "--target-dir", str(target), "--playbook-dir", str(repo),
                            capsys=capsys)
    assert code != 0 and "diff policy" in output
    assert state_of(target) == before


def test_refusals_name_the_fix(planned, target, playbook_checkout, capsys):
    repo, story = planned
    code, output = playbook("dev", "--story", "9.9", "--target-dir", str(target), "--playbook-dir", str(repo),
                            capsys=capsys)
    assert code != 0 and "no story 9.9" in output
    (target / "scratch.txt").write_text("mine")
    code, output = playbook("dev", "--story", story, "--target-dir", str(target), "--playbook-dir", str(repo),
                            capsys=capsys)
    assert code != 0 and "uncommitted changes" in output and (target / "scratch.txt").read_text() == "mine"
    (target / "scratch.txt").unlink()
    code, output = playbook("dev", "--story", story, "--target-dir", str(target / "stacks"),
                            "--playbook-dir", str(repo), capsys=capsys)
    assert code != 0 and "not the root of a git checkout" in output
    code, output = playbook("dev", "--story", story, "--target-dir", str(target), "--playbook-dir", str(repo),
                            "--agent", "claude", capsys=capsys)
    assert code != 0 and "ANTHROPIC_API_KEY" in output
    assert gitlib.git(target, "branch", "--list").strip() == "* main"
    code, output = playbook("dev", "--story", story, "--playbook-dir", str(repo), capsys=capsys)
    assert code != 0 and "--repo-dir" in output  # the Actions form still needs its options


def test_a_story_not_yet_approved_is_refused(playbook_checkout, target, capsys):
    planner = local.build_planner(Settings.from_env({}, root=playbook_checkout), root=playbook_checkout, offline=True)
    local.plan(playbook_checkout, PIHOLE, planner)
    for _ in range(3):
        local.approve(playbook_checkout, planner)  # stories drafted, not approved
    story = local.status(playbook_checkout).stories[0].id
    code, output = playbook("dev", "--story", story, "--target-dir", str(target),
                            "--playbook-dir", str(playbook_checkout), capsys=capsys)
    assert code != 0 and "not approved for development" in output and "playbook approve" in output


@pytest.fixture
def claude(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI() as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
        yield api


@pytest.mark.claude
@needs_claude
def test_the_real_claude_cli_is_confined_like_in_actions(planned, target, tmp_path, claude, capsys):
    repo, story = planned
    from playbook.delivery.offline_dev import KNOWN_STACKS

    claude.script([
        tool_use("Write", {"file_path": f"{CWD}/.github/workflows/x.yml", "content": "on: push\n"}),
        *[tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/{name}", "content": content})
          for name, content in render_stack("dns-pihole", **KNOWN_STACKS["dns-pihole"]).items()],
        text("Wrote the Pi-hole stack."),
    ])
    out = tmp_path / "out"
    code, output = playbook("dev", "--story", story, "--target-dir", str(target), "--playbook-dir", str(repo),
                            "--out", str(out), capsys=capsys)
    assert code == 5, output  # the workflow write broke the policy: reverted and reported, like in Actions
    assert "agent: the Claude Code CLI" in output and "policy: .github/" in output
    assert not (target / ".github").exists()
    committed = gitlib.git(target, "show", "--name-only", "--format=", "HEAD").split()
    assert "stacks/dns-pihole/docker-compose.yml" in committed and not any(p.startswith(".github") for p in committed)
    assert "Incomplete:" in (out / "report.md").read_text()
