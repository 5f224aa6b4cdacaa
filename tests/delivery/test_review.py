"""The read-only code review: the REAL claude binary with read-only tools reviews the change; the review is
posted through PyGithub as a COMMENT (never an approval); a critical finding turns the PR into a draft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, node_tool
from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use
from playbook.adapters.github import GitHubForge
from playbook.config import load_config
from playbook.delivery.review import REVIEW_FILE, post_review, run_review
from playbook.planning import artifacts
from playbook.settings import Settings

CLAUDE = node_tool(".bin", "claude")
needs_claude = pytest.mark.skipif(not CLAUDE.exists() and not os.environ.get("CI"), reason="npm ci has not run")
REQUEST = "42-dns-pihole"
STORY_REL = f"_bmad-output/implementation-artifacts/{REQUEST}/story-1-1-pihole-stack.md"
FINDINGS = {"findings": [
    {"severity": "critical", "file": "stacks/dns-pihole/docker-compose.yml", "line": 3,
     "message": "WEBPASSWORD is committed in clear; move it to .env"},
    {"severity": "minor", "file": "stacks/dns-pihole/README.md", "line": 1, "message": "say how to roll back"},
]}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    root = tmp_path / "playbook"
    shutil.copytree(REPO_ROOT / "patterns", root / "patterns")
    shutil.copytree(REPO_ROOT / "skills" / "code-review", root / "skills" / "code-review")
    shutil.copy(REPO_ROOT / "playbook.yaml", root / "playbook.yaml")
    meta = {"schema_version": 1, "kind": "story", "request": REQUEST, "issue": 42, "id": "1.1", "epic": 1,
            "title": "Pi-hole stack", "target": "apps", "service": "dns-pihole", "depends_on": [],
            "status": "review", "acceptance_criteria": ["the stack exists"], "revision": 1}
    story = root / STORY_REL
    story.parent.mkdir(parents=True)
    story.write_text(artifacts.render(meta, "As the owner I want Pi-hole.\n", "story", source="t"))
    return root


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    repo = tmp_path / "homelab-apps"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("apps\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "init")
    _git(repo, "switch", "-q", "-c", "bmad/story-42-1-1")
    (repo / "stacks" / "dns-pihole").mkdir(parents=True)
    (repo / "stacks" / "dns-pihole" / "docker-compose.yml").write_text("services:\n  pihole:\n    WEBPASSWORD: x\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "story")
    return repo


@needs_claude
def test_review_runs_read_only_and_a_write_attempt_changes_nothing(playbook_dir, repo_dir, tmp_path, monkeypatch):
    with FakeAnthropicAPI() as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
        target = repo_dir / "stacks" / "dns-pihole" / "docker-compose.yml"
        in_copy = f"{CWD}/stacks/dns-pihole/docker-compose.yml"  # the review runs in a scratch copy
        api.script([
            tool_use("Read", {"file_path": in_copy}),
            tool_use("Write", {"file_path": in_copy, "content": "services: {}\n"}),  # not an available tool
            text("# Code review: story 1.1\n\n## Verdict\n\nrequest changes\n\n```json\n"
                 + json.dumps(FINDINGS) + "\n```\n"),
        ])
        settings = Settings.from_env(os.environ, root=playbook_dir)
        record = run_review(story_path=Path(STORY_REL), playbook_dir=playbook_dir, repo_dir=repo_dir, base_ref="main",
                            kind="apps", settings=settings, config=load_config(playbook_dir), out_dir=tmp_path / "out")
        offered = {t["name"] for body in api.main_requests() for t in body.get("tools") or []}
        first_read = api.tool_results()[0]
    assert "WEBPASSWORD: x" in first_read  # reading inside the checkout works
    assert target.read_text() == "services:\n  pihole:\n    WEBPASSWORD: x\n"  # the write never happened
    # only read tools are offered to the model (the CLI adds an inert placeholder of its own)
    assert {"Read", "Grep"} <= offered and offered - {"DeferredToolPlaceholder"} <= {"Read", "Glob", "Grep", "LS"}
    assert not offered & {"Write", "Edit", "MultiEdit", "Bash"}
    assert record["error"] is None and [f["severity"] for f in record["findings"]] == ["critical", "minor"]
    assert json.loads((tmp_path / "out" / REVIEW_FILE).read_text()) == record
    prompt = api.main_requests()[0]["messages"][0]["content"]
    text_of = json.dumps(prompt)
    assert "WEBPASSWORD: x" in text_of and "Code review" in text_of  # the diff and the skill are in the prompt


def test_the_review_is_a_comment_and_critical_keeps_the_pr_draft(fake_github, tmp_path):
    repo, token = "owner/homelab-apps", "ghs_review_token_0123456789"
    fake_github.add_repo(repo, {"README.md": "apps\n"})
    fake_github.set_identity(token, "github-actions[bot]", "Bot")
    fake_github.push(repo, "bmad/story-42-1-1", {"stacks/dns-pihole/docker-compose.yml": "services: {}\n"}, "story")
    forge = GitHubForge(repo, token, base_url=fake_github.url)
    pull = forge.create_pull("bmad/story-42-1-1", "main", "bmad: story 1.1", "body", False)
    record = {"story": "1.1", "head": "a" * 40, "findings": FINDINGS["findings"], "error": None}
    fake_github.reset_calls()
    note = post_review(forge, pull, record)
    assert "converted to a draft" in note
    (review,) = fake_github.repos[repo].pulls[pull.number].reviews
    assert review["event"] == "COMMENT"
    assert "#### Critical (1)" in review["body"] and "`stacks/dns-pihole/docker-compose.yml:3`" in review["body"]
    assert review["body"].index("#### Critical") < review["body"].index("#### Minor")
    assert fake_github.repos[repo].pulls[pull.number].draft
    assert fake_github.count("POST", "/graphql") == 1
    assert not fake_github.conformance_errors
    # the same head is never reviewed twice; a clean review of a ready PR leaves it ready
    assert "already reviewed" in post_review(forge, pull, record)
    assert len(fake_github.repos[repo].pulls[pull.number].reviews) == 1
    clean = {"story": "1.1", "head": "b" * 40, "findings": [], "error": None}
    ready = forge.find_pull("bmad/story-42-1-1")
    assert ready is not None
    assert "0 findings" in post_review(forge, ready, clean)
    assert fake_github.repos[repo].pulls[pull.number].reviews[-1]["event"] == "COMMENT"


@needs_claude
def test_the_review_reads_nothing_outside_the_checkout(playbook_dir, repo_dir, tmp_path, monkeypatch):
    """The review's file tools are path-scoped like the dev run's: a hostile diff that asks it to read
    the runner's files gets denials, and nothing from outside reaches the model or the findings."""
    outside = tmp_path / "runner-home" / ".credentials"
    outside.parent.mkdir()
    outside.write_text("CANARY-outside-the-checkout-7f3a\n")
    env_file = tmp_path / "runner-temp" / "set_env_1"
    env_file.parent.mkdir()
    env_file.write_text("CANARY-github-env-91c2\n")
    with FakeAnthropicAPI() as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
        api.script([
            tool_use("Read", {"file_path": str(outside)}),
            tool_use("Read", {"file_path": str(repo_dir / ".." / "runner-temp" / "set_env_1")}),
            tool_use("Grep", {"pattern": "CANARY", "path": str(tmp_path)}),
            tool_use("Glob", {"pattern": "**/*", "path": str(outside.parent)}),
            tool_use("Read", {"file_path": "/proc/self/environ"}),
            text("# Code review\n\n```json\n{\"findings\": []}\n```\n"),
        ])
        settings = Settings.from_env(os.environ, root=playbook_dir)
        record = run_review(story_path=Path(STORY_REL), playbook_dir=playbook_dir, repo_dir=repo_dir, base_ref="main",
                            kind="apps", settings=settings, config=load_config(playbook_dir), out_dir=tmp_path / "out")
        results = "\n".join(api.tool_results())
        sent = json.dumps(api.main_requests())
    for secret in ("outside-the-checkout-7f3a", "github-env-91c2"):
        assert secret not in results and secret not in sent
    assert "sk-ant-test" not in results
    assert record["error"] is None and record["findings"] == []
