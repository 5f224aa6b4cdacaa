"""The local-mode and demo commands through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from playbook.cli import cli


def test_plan_revise_approve_status(playbook_checkout):
    repo = playbook_checkout
    runner = CliRunner()
    args = ["--repo", str(repo)]
    result = runner.invoke(cli, ["plan", "Deploy Jellyfin with Traefik", *args])
    assert result.exit_code == 0, result.output
    assert "brief: r1 committed" in result.output
    result = runner.invoke(cli, ["revise", "Use jellyfin.home.example", *args])
    assert result.exit_code == 0 and "brief: r2" in result.output
    result = runner.invoke(cli, ["approve", *args])
    assert result.exit_code == 0 and "prd: r1" in result.output
    result = runner.invoke(cli, ["status", "--json", *args])
    data = json.loads(result.output)
    assert data["stage"] == "awaiting-approval"
    assert [p["status"] for p in data["phases"]] == ["approved", "draft", None, None]
    assert "approve" in data["allowed"]


def test_status_on_the_default_branch_names_the_next_step(playbook_checkout):
    # Formerly an error; on the default branch `status` now says what works there (issue: first run).
    repo = playbook_checkout
    result = CliRunner().invoke(cli, ["status", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "no request is checked out" in result.output and 'playbook plan "<request>"' in result.output
    data = json.loads(CliRunner().invoke(cli, ["status", "--json", "--repo", str(repo)]).output)
    assert data["request"] is None and data["allowed"] == ["plan", "list"]


def test_outside_a_git_repository_every_command_names_the_fix(tmp_path):
    for argv in (["plan", "Deploy Jellyfin"], ["status"], ["approve"], ["revise", "x"], ["list"]):
        result = CliRunner().invoke(cli, [*argv, "--repo", str(tmp_path)])
        assert result.exit_code != 0
        assert "is not inside a git repository" in str(result.exception)
        assert "PLAYBOOK_DIR" in str(result.exception)


def test_demo_end_to_end(tmp_path, repo_root, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_DIR", str(repo_root))
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir)])
    assert result.exit_code == 0, result.output
    playbook = workdir / "homelab-playbook"
    planning = list((playbook / "_bmad-output/planning-artifacts").iterdir())[0]
    for name in ("product-brief.md", "prd.md", "architecture.md", "epics.md"):
        text = (planning / name).read_text()
        assert "status: approved" in text and "model: offline" in text
    stories = list((playbook / "_bmad-output/implementation-artifacts").glob("*/story-*.md"))
    assert stories and "status: done" in stories[0].read_text()
    stack = workdir / "homelab-apps/stacks/dns-pihole/docker-compose.yml"
    assert stack.is_file() and "pihole/pihole:" in stack.read_text()
    from playbook.checks import check_path

    assert not [f for f in check_path(stack.parent, "apps") if f.severity == "error"]
    assert "git revert" in result.output and "Planned offline" in result.output


def test_demo_refuses_a_non_empty_workdir(tmp_path, repo_root, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_DIR", str(repo_root))
    (tmp_path / "x").write_text("keep me")
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path)])
    assert result.exit_code != 0
    assert (tmp_path / "x").read_text() == "keep me"


@pytest.mark.claude
def test_demo_with_the_claude_agent(tmp_path, repo_root, monkeypatch):
    """`playbook demo --agent claude`: the real claude binary (fake Anthropic API) writes the stack."""
    from conftest import node_tool
    from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use
    from playbook.delivery.scaffold import render_stack
    from playbook.demo.agents import DEMO_STACKS

    claude = node_tool(".bin", "claude")
    if not claude.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    workdir = tmp_path / "demo"
    stack_dir = workdir / "homelab-apps" / "stacks" / "dns-pihole"
    with FakeAnthropicAPI() as api:
        api.script([
            *[tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/{name}", "content": content})
              for name, content in render_stack("dns-pihole", **DEMO_STACKS["dns-pihole"]).items()],
            text("Wrote the Pi-hole stack."),
        ])
        for key, value in {"PLAYBOOK_DIR": str(repo_root), "ANTHROPIC_API_KEY": "sk-ant-test",
                           "ANTHROPIC_BASE_URL": api.base_url, "PLAYBOOK_CLAUDE_BIN": str(claude)}.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir), "--agent", "claude"])
    assert result.exit_code == 0, result.output
    assert "Claude Code CLI:" in result.output and "result success" in result.output
    assert (stack_dir / "docker-compose.yml").is_file()
    assert "git revert" in result.output


def test_plan_quick_drafts_the_stories_directly(playbook_checkout):
    repo = playbook_checkout
    runner = CliRunner()
    result = runner.invoke(cli, ["plan", "Bump Pi-hole to 2024.07.0", "--quick", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "stories: r1 committed" in result.output
    data = json.loads(runner.invoke(cli, ["status", "--json", "--repo", str(repo)]).output)
    assert [p["status"] for p in data["phases"]] == ["skipped", "skipped", "skipped", "draft"]
    result = runner.invoke(cli, ["approve", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(cli, ["status", "--json", "--repo", str(repo)]).output)
    assert data["stage"] == "complete"
