"""`playbook skills run`: every skill that does not write code runs offline against a request and commits
its declared output; code-writing skills render their prompt and point at `playbook dev`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from playbook.adapters import git as gitlib
from playbook.cli import cli
from playbook.planning import artifacts
from playbook.planning.skills import load_skills

CODE_SKILLS = ("dev-story", "quick-dev", "claude-delegate")


@pytest.fixture
def planned(playbook_checkout):
    repo = playbook_checkout
    runner = CliRunner()
    assert runner.invoke(cli, ["plan", "Deploy Jellyfin with Traefik", "--repo", str(repo), "--offline"]).exit_code == 0
    for _ in range(4):
        result = runner.invoke(cli, ["approve", "--repo", str(repo), "--offline"])
        assert result.exit_code == 0, result.output
    return repo


def test_every_runnable_skill_runs_and_commits_its_output(planned, repo_root):
    repo = planned
    names = [n for n in load_skills(repo_root / "skills", aliases={"gemini-pro", "gemini-flash", "claude-opus",
                                                                      "claude-sonnet", "offline"})]
    assert len(names) == 33
    runner = CliRunner()
    request = gitlib.current_branch(repo).removeprefix("bmad/")
    for name in names:
        args = ["skills", "run", name, "--repo", str(repo), "--offline"]
        if name in ("code-review", "validate-story", "qa-automate"):
            args += ["--story", "1.1"]
        before = gitlib.head(repo)
        result = runner.invoke(cli, args)
        if name in CODE_SKILLS:
            assert result.exit_code != 0 and "playbook dev" in str(result.exception.fix)  # type: ignore[union-attr]
            assert gitlib.head(repo) == before
            continue
        assert result.exit_code == 0, (name, result.output, result.exception)
        path = repo / artifacts.PLANNING_DIR / request / "runs" / f"{name}.md"
        meta, body = artifacts.parse(path.read_text(), "skill-run", source=str(path))
        assert meta["skill"] == name and meta["model"] == "offline" and body.strip()
        assert gitlib.head(repo) != before and name in gitlib.git(repo, "log", "-1", "--format=%s")
        assert gitlib.git(repo, "status", "--porcelain") == ""


def test_declared_inputs_reach_the_prompt_and_story_is_required(planned):
    repo = planned
    runner = CliRunner()
    result = runner.invoke(cli, ["skills", "run", "check-implementation-readiness", "--repo", str(repo),
                                 "--print-prompt"])
    assert result.exit_code == 0
    assert "## Epics and stories (approved)" in result.output and "## Architecture (approved)" in result.output
    result = runner.invoke(cli, ["skills", "run", "dev-story", "--story", "1.1", "--repo", str(repo),
                                 "--print-prompt"])
    assert result.exit_code == 0 and "## Story 1.1" in result.output
    result = runner.invoke(cli, ["skills", "run", "code-review", "--repo", str(repo), "--offline"])
    assert result.exit_code != 0 and "--story" not in result.output
    assert "/run code-review 1.1" in str(result.exception.fix)  # type: ignore[union-attr]
    result = runner.invoke(cli, ["skills", "run", "no-such-skill", "--repo", str(repo), "--offline"])
    assert result.exit_code != 0 and "skills list" in str(result.exception.fix)  # type: ignore[union-attr]
