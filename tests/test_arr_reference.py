"""The *arr reference: several stories across both targets, delivered in dependency order through the
same dispatch → dev → publish → deployed code as GitHub runs — offline, and with the REAL claude binary."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import node_tool
from playbook.adapters import git as gitlib
from playbook.checks import check_path
from playbook.cli import cli
from playbook.planning import artifacts

ARR_STACKS = ("media-qbittorrent", "media-prowlarr", "media-sonarr", "media-radarr")


def _stories(workdir: Path) -> dict[str, artifacts.Story]:
    found = {}
    for path in (workdir / "homelab-playbook" / artifacts.IMPLEMENTATION_DIR).glob("*/story-*.md"):
        story = artifacts.load_story(path)
        found[story.id] = story
    return found


def _merge_order(repo: Path) -> list[str]:
    return gitlib.git(repo, "log", "--merges", "--reverse", "--format=%s").splitlines()


def test_demo_reference_arr_offline(tmp_path, repo_root, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_DIR", str(repo_root))
    workdir = tmp_path / "arr"
    result = CliRunner().invoke(cli, ["demo", "--reference", "arr", "--workdir", str(workdir)])
    assert result.exit_code == 0, result.output
    stories = _stories(workdir)
    assert sorted(stories) == ["1.1", "2.1", "2.2", "2.3", "2.4"]
    assert {s.status for s in stories.values()} == {"done"}
    assert stories["1.1"].target == "infra" and all(stories[i].target == "apps" for i in ("2.1", "2.2", "2.3", "2.4"))
    assert set(stories["2.3"].depends_on) == {"1.1", "2.1", "2.2"}
    assert "The The" not in result.output and "Deploy the Sonarr stack" in result.output

    infra, apps = workdir / "homelab-infra", workdir / "homelab-apps"
    assert [line.split(" from ")[1] for line in _merge_order(infra)] == ["bmad/story-1-1-1"]
    assert [line.split(" from ")[1] for line in _merge_order(apps)] == [
        "bmad/story-1-2-1", "bmad/story-1-2-2", "bmad/story-1-2-3", "bmad/story-1-2-4"]
    # infra merged before the first apps story was even dispatched: commit times in the playbook say so
    log = gitlib.git(workdir / "homelab-playbook", "log", "--reverse", "--format=%s", "main").splitlines()
    assert log.index("bmad: story 1.1 deployed via demo/homelab-infra#1") < log.index(
        "bmad: story 2.1 in review as demo/homelab-apps#1")
    assert log.index("bmad: story 2.2 deployed via demo/homelab-apps#2") < log.index(
        "bmad: story 2.3 in review as demo/homelab-apps#3")

    assert not [f for f in check_path(infra, "infra") if f.severity == "error"]
    for stack in ARR_STACKS:
        assert not [f for f in check_path(apps / "stacks" / stack, "apps") if f.severity == "error"]
        assert (apps / "terraform" / "portainer" / f"stack-{stack}.tf").is_file()
    assert not [f for f in check_path(apps / "terraform" / "portainer", "apps") if f.severity == "error"]
    assert (infra / "terraform" / "media-host" / "main.tf").is_file()
    assert (infra / "ansible" / "roles" / "media_host" / "tasks" / "main.yml").is_file()


def _files_for(story_id: str, service: str, kind: str) -> dict[str, str]:
    """What a good Claude run writes for a story: the offline agent's files, read back."""
    from playbook.demo.agents import write_host, write_stack

    story = artifacts.Story(id=story_id, epic=1, title="t", target=kind, service=service, depends_on=(),
                            status="in-progress", acceptance_criteria=("a",), body="", issue=None, request="1-x",
                            path="p", metadata={})
    scratch = Path(tempfile.mkdtemp(prefix="arr-files-"))
    try:
        written = write_host(scratch, story) if kind == "infra" else write_stack(scratch, story)
        return {p: (scratch / p).read_text() for p in written}
    finally:
        shutil.rmtree(scratch)


@pytest.mark.claude
@pytest.mark.slow
def test_arr_delivered_in_order_by_the_real_claude_binary(tmp_path, repo_root, monkeypatch):
    from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use

    claude = node_tool(".bin", "claude")
    if not claude.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    workdir = tmp_path / "arr"
    runs = [("1.1", "media-host", "infra"), ("2.1", "media-qbittorrent", "apps"), ("2.2", "media-prowlarr", "apps"),
            ("2.3", "media-sonarr", "apps"), ("2.4", "media-radarr", "apps")]
    turns = []
    for story_id, service, kind in runs:
        files = _files_for(story_id, service, kind)
        if kind == "apps" and story_id != "2.1":  # the shared terraform/portainer root exists after 2.1
            files = {p: t for p, t in files.items() if "/stack-" in p or p.startswith("stacks/")}
        turns += [tool_use("Write", {"file_path": f"{CWD}/{p}", "content": t}) for p, t in sorted(files.items())]
        turns.append(text(f"Implemented story {story_id}."))
    with FakeAnthropicAPI() as api:
        api.script(turns)
        for key, value in {"PLAYBOOK_DIR": str(repo_root), "ANTHROPIC_API_KEY": "sk-ant-test",
                           "ANTHROPIC_BASE_URL": api.base_url, "PLAYBOOK_CLAUDE_BIN": str(claude)}.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(cli, ["demo", "--reference", "arr", "--workdir", str(workdir),
                                          "--agent", "claude"])
        assert api.exhausted == 0
    assert result.exit_code == 0, result.output
    assert result.output.count("Claude Code CLI:") == 5 and result.output.count("result success") == 5
    dev_lines = [line for line in result.output.splitlines() if line.startswith("==> dev: story")]
    assert [line.split()[3] for line in dev_lines] == ["1.1", "2.1", "2.2", "2.3", "2.4"]
    assert {s.status for s in _stories(workdir).values()} == {"done"}
    apps = workdir / "homelab-apps"
    for stack in ARR_STACKS:
        assert not [f for f in check_path(apps / "stacks" / stack, "apps") if f.severity == "error"]
