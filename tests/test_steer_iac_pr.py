"""Steering the IaC PR in the target repo: `/revise <feedback>` re-runs the REAL claude binary on the same
branch with the feedback, the story and the current diff; publish adds exactly one commit and updates the PR
body. Only people with write permission on the target repo may steer; only our story PRs are steered."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, node_tool
from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use
from playbook.adapters.github import GitHubForge, GitHubWorkspace
from playbook.config import load_config
from playbook.delivery.payloads import story_key
from playbook.delivery.publish import pr_marker, publish
from playbook.errors import PayloadError
from playbook.intake.steer_flow import decide_steer, parse_pr_command
from playbook.planning import artifacts

CLAUDE = node_tool(".bin", "claude")
APPS, PLAYBOOK = "owner/homelab-apps", "owner/homelab-playbook"
TOKEN = "ghs_canary_target_token_0123456789"
REQUEST = "42-dns-whoami"
STORY = f"_bmad-output/implementation-artifacts/{REQUEST}/story-1-1-whoami-stack.md"
BRANCH = "bmad/story-42-1-1"
COMPOSE = "stacks/app-whoami/docker-compose.yml"
STACK_V1 = "services:\n  app-whoami:\n    image: traefik/whoami:v1.10.1\n    ports: ['8080:80']\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def _story_text() -> str:
    meta = {"schema_version": 1, "kind": "story", "request": REQUEST, "issue": 42, "id": "1.1", "epic": 1,
            "title": "whoami stack", "target": "apps", "service": "app-whoami", "depends_on": [],
            "status": "review", "acceptance_criteria": ["the stack answers on its port"], "revision": 1}
    return artifacts.render(meta, "As the owner I want whoami.\n", "story", source="t")


@pytest.fixture
def setup(fake_github, tmp_path):
    fake_github.add_repo(APPS, {"README.md": "apps\n"})
    fake_github.add_repo(PLAYBOOK, {STORY: _story_text()})
    fake_github.set_identity(TOKEN, "github-actions[bot]", "Bot")
    fake_github.set_permission(APPS, "owner", "write")
    fake_github.set_permission(APPS, "reader", "read")
    fake_github.push(APPS, BRANCH, {COMPOSE: STACK_V1}, "bmad: story 1.1 — whoami stack")
    forge = GitHubForge(APPS, TOKEN, base_url=fake_github.url)
    head = fake_github.branch_head(PLAYBOOK, "main")
    payload = {"v": 1, "playbook_repo": PLAYBOOK, "merge_sha": head, "story_path": STORY, "issue": 42,
               "target": "apps", "order": 2, "key": story_key(PLAYBOOK, STORY, "apps", head)}
    pull = forge.create_pull(BRANCH, "main", "bmad: story 1.1 — whoami stack", pr_marker(payload) + "\nORIGINAL-BODY-MARKER", False)
    playbook = tmp_path / "playbook"
    for name in ("patterns", "skills"):
        shutil.copytree(REPO_ROOT / name, playbook / name)
    shutil.copy(REPO_ROOT / "playbook.yaml", playbook / "playbook.yaml")
    (playbook / STORY).parent.mkdir(parents=True)
    (playbook / STORY).write_text(_story_text())
    return forge, pull, playbook, head


def _checkout(dest: Path) -> Path:
    """A clone-alike of the target: main, and the story branch with the published stack."""
    dest.mkdir()
    _git(dest, "init", "-q", "-b", "main")
    (dest / "README.md").write_text("apps\n")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "init")
    _git(dest, "switch", "-q", "-c", BRANCH)
    (dest / COMPOSE).parent.mkdir(parents=True)
    (dest / COMPOSE).write_text(STACK_V1)
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "story")
    _git(dest, "switch", "-q", "main")
    return dest


def test_pr_command_grammar():
    assert parse_pr_command("/revise use port 8081").feedback == "use port 8081"  # type: ignore[union-attr]
    assert parse_pr_command("/revise").error  # type: ignore[union-attr]
    assert parse_pr_command("/retry").name == "retry"  # type: ignore[union-attr]
    assert parse_pr_command("/review now").error  # type: ignore[union-attr]
    assert parse_pr_command("> /revise x") is None and parse_pr_command("／revise x") is None
    assert parse_pr_command("/approve") is None


def test_only_writers_steer_and_only_story_prs(setup):
    forge, pull, _playbook, head = setup
    command = parse_pr_command("/revise use port 8081")
    assert command is not None
    with pytest.raises(PayloadError, match="below write"):
        decide_steer(forge=forge, pull=pull, command=command, author="reader", author_type="User",
                     bot_login="github-actions[bot]", playbook_head=head)
    with pytest.raises(PayloadError, match="bots"):
        decide_steer(forge=forge, pull=pull, command=command, author="evil[bot]", author_type="Bot",
                     bot_login="github-actions[bot]", playbook_head=head)
    foreign = forge.get_pull(pull.number).__class__(**{**forge.get_pull(pull.number).__dict__, "body": "no marker"})
    with pytest.raises(PayloadError, match="not an open story pull request"):
        decide_steer(forge=forge, pull=foreign, command=command, author="owner", author_type="User",
                     bot_login="github-actions[bot]", playbook_head=head)


@pytest.mark.claude
def test_revise_on_the_iac_pr_adds_one_commit(setup, fake_github, tmp_path, monkeypatch):
    if not CLAUDE.exists():
        pytest.skip("claude binary not installed (run scripts/bootstrap --test)")
    forge, pull, playbook, head = setup
    command = parse_pr_command("/revise use port 8081 on the host")
    assert command is not None
    record = decide_steer(forge=forge, pull=pull, command=command, author="owner", author_type="User",
                          bot_login="github-actions[bot]", playbook_head=head)
    steer = tmp_path / "steer.json"
    steer.write_text(json.dumps(record))
    dev_checkout = _checkout(tmp_path / "dev-target")
    out = tmp_path / "dev-result"
    before = fake_github.commits(APPS, BRANCH)
    with FakeAnthropicAPI() as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
        api.script([tool_use("Edit", {"file_path": f"{CWD}/{COMPOSE}", "old_string": "8080:80",
                                      "new_string": "8081:80"}),
                    text("Changed the host port to 8081.")])
        from playbook.cli import main

        with pytest.raises(SystemExit) as exited:
            main(["dev", "--event-file", str(steer), "--playbook-dir", str(playbook), "--repo-dir", str(dev_checkout),
                  "--out", str(out)])
        prompt = json.dumps(api.main_requests()[0]["messages"])
    assert exited.value.code in (0, 5)  # 5: the minimal stack breaks no diff policy; checks run at publish
    assert "use port 8081 on the host" in prompt and "8080:80" in prompt  # the feedback and the current diff
    assert "Revision 2: apply the owner" in prompt

    publish_checkout = _checkout(tmp_path / "publish-target")
    _git(publish_checkout, "switch", "-q", BRANCH)
    outcome = publish(result_dir=out, repo_dir=publish_checkout, playbook_dir=playbook, config=load_config(playbook),
                      forge=forge, make_workspace=lambda b, base: GitHubWorkspace(forge, b, base_branch=base))
    after = fake_github.commits(APPS, BRANCH)
    assert len(after) == len(before) + 1  # one new commit on the same branch
    assert "8081:80" in fake_github.files_at(APPS, BRANCH)[COMPOSE]
    assert outcome.pull is not None and outcome.pull.number == pull.number
    assert len(fake_github.pulls(APPS)) == 1
    assert "ORIGINAL-BODY-MARKER" not in fake_github.repos[APPS].issues[pull.number].body  # the body was rewritten


def test_the_guard_behind_the_zizmor_ignore_exists():
    from playbook.intake import steer_flow

    source = Path(steer_flow.__file__).read_text()
    assert "authorize_command(forge.permission(author)" in source  # the permission API decides, nothing else
