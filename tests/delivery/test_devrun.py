"""`playbook dev`: story → context → the real claude binary (against the fake API) → diff policy → result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO_ROOT, node_tool
from fakes.anthropic_api import CWD, FakeAnthropicAPI, text, tool_use
from playbook.adapters.claude_cli import ClaudeResult
from playbook.cli import main
from playbook.config import load_config
from playbook.delivery.devrun import PATCH_FILE, PROMPT_FILE, RESULT_FILE, build_prompt, run_dev
from playbook.delivery.payloads import story_key
from playbook.errors import PayloadError, ValidationError
from playbook.planning import artifacts
from playbook.ports import Usage
from playbook.settings import Settings

CLAUDE = node_tool(".bin", "claude")
needs_claude = pytest.mark.skipif(not CLAUDE.exists() and not os.environ.get("CI"), reason="npm ci has not run")
REQUEST = "42-dns-pihole"
STORY_REL = f"_bmad-output/implementation-artifacts/{REQUEST}/story-1-1-pihole-stack.md"
SECRET_IN_ENV_FILE = "whoami-real-password-canary"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _story(target: str = "apps") -> str:
    meta = {
        "schema_version": 1, "kind": "story", "request": REQUEST, "issue": 42, "id": "1.1", "epic": 1,
        "title": "Pi-hole stack", "target": target, "service": "dns-pihole", "depends_on": [],
        "status": "ready-for-dev", "acceptance_criteria": ["stacks/dns-pihole/docker-compose.yml exists"],
        "revision": 1,
    }
    return artifacts.render(meta, "## Story\n\nAs the owner I want Pi-hole behind Traefik.\n", "story", source="t")


@pytest.fixture
def playbook_dir(tmp_path: Path) -> Path:
    root = tmp_path / "playbook"
    shutil.copytree(REPO_ROOT / "patterns", root / "patterns")
    shutil.copytree(REPO_ROOT / "skills" / "dev-story", root / "skills" / "dev-story")
    shutil.copy(REPO_ROOT / "playbook.yaml", root / "playbook.yaml")
    story = root / STORY_REL
    story.parent.mkdir(parents=True)
    story.write_text(_story())
    planning = root / "_bmad-output" / "planning-artifacts" / REQUEST
    planning.mkdir(parents=True)
    (planning / "architecture.md").write_text("# Architecture\n\nARCH-MARKER: Pi-hole on the docker host.\n")
    (root / "_bmad-output" / "topology.yaml").write_text("nodes: [TOPOLOGY-MARKER]\n")
    return root


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    repo = tmp_path / "homelab-apps"
    (repo / "stacks" / "whoami").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("apps\n")
    (repo / "stacks" / "whoami" / "docker-compose.yml").write_text("services:\n  whoami: {}  # EXAMPLE-MARKER\n")
    (repo / "stacks" / "whoami" / ".env.sample").write_text("PASSWORD=change-me\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    (repo / "stacks" / "whoami" / ".env").write_text(f"PASSWORD={SECRET_IN_ENV_FILE}\n")  # untracked, real
    (repo / ".git" / "info" / "exclude").write_text(".env\n")
    return repo


@pytest.fixture
def fake() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI() as api:
        yield api


@pytest.fixture
def claude_env(monkeypatch: pytest.MonkeyPatch, fake: FakeAnthropicAPI) -> FakeAnthropicAPI:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("PLAYBOOK_CLAUDE_BIN", str(CLAUDE))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_canary_must_not_leak")
    return fake


def _dev(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(["dev", *args])
    return int(exited.value.code or 0)


def _result(out: Path) -> dict[str, Any]:
    return json.loads((out / RESULT_FILE).read_text())


# --------------------------------------------------------------------------- real binary


@pytest.mark.claude
@needs_claude
def test_dev_writes_the_stack_and_records_the_result(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, claude_env: FakeAnthropicAPI
) -> None:
    compose = repo_dir / "stacks" / "dns-pihole" / "docker-compose.yml"
    claude_env.script([tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/docker-compose.yml",
                                          "content": "services:\n  pihole: {}\n"}),
                       text("Wrote stacks/dns-pihole/docker-compose.yml")])
    out = tmp_path / "out"

    rc = _dev("--story", str(playbook_dir / STORY_REL), "--playbook-dir", str(playbook_dir),
              "--repo-dir", str(repo_dir), "--out", str(out))

    assert rc == 0
    assert compose.read_text() == "services:\n  pihole: {}\n"
    result = _result(out)
    assert result["story"] == "1.1" and result["kind"] == "apps" and result["story_path"] == STORY_REL
    assert (result["subtype"], result["is_error"], result["incomplete"], result["num_turns"]) == (
        "success", False, False, 2)
    assert result["session_id"] and result["cost_usd"] > 0
    assert result["files"] == ["stacks/dns-pihole/docker-compose.yml"] and result["violations"] == []
    assert "+  pihole: {}" in (out / PATCH_FILE).read_text()
    assert _git(repo_dir, "rev-list", "--count", "HEAD").strip() == "1"  # nothing committed
    sent = str(claude_env.main_requests()[0])
    for marker in ("As the owner I want Pi-hole", "ARCH-MARKER", "EXAMPLE-MARKER", "TOPOLOGY-MARKER"):
        assert marker in sent, marker
    assert SECRET_IN_ENV_FILE not in sent and "ghs_canary_must_not_leak" not in sent


@pytest.mark.claude
@needs_claude
def test_dev_denies_a_workflow_write_and_an_edit_outside_the_story(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, claude_env: FakeAnthropicAPI
) -> None:
    claude_env.script([
        tool_use("Write", {"file_path": f"{CWD}/.github/workflows/x.yml", "content": "on: push\njobs: {}\n"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/docker-compose.yml", "content": "services: {}\n"}),
        tool_use("Read", {"file_path": f"{CWD}/README.md"}),
        tool_use("Edit", {"file_path": f"{CWD}/README.md", "old_string": "apps", "new_string": "pwned"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/whoami/docker-compose.yml", "content": "pwned: {}\n"}),
        text("done"),
    ])
    out = tmp_path / "out"

    rc = _dev("--story", STORY_REL, "--playbook-dir", str(playbook_dir), "--repo-dir", str(repo_dir),
              "--out", str(out), "--kind", "apps")

    assert rc == 5
    assert not (repo_dir / ".github").exists()
    assert (repo_dir / "README.md").read_text() == "apps\n"
    assert "EXAMPLE-MARKER" in (repo_dir / "stacks" / "whoami" / "docker-compose.yml").read_text()
    assert (repo_dir / "stacks" / "dns-pihole" / "docker-compose.yml").exists()  # allowed work is kept
    result = _result(out)
    assert result["denied"] == ["Write: .github/workflows/x.yml", "Edit: README.md",
                                "Write: stacks/whoami/docker-compose.yml"]
    assert any(".github/" in v for v in result["violations"])
    assert result["files"] == ["stacks/dns-pihole/docker-compose.yml"]
    patch = (out / PATCH_FILE).read_text()
    assert ".github" not in patch and "README.md" not in patch and "stacks/dns-pihole" in patch


@pytest.mark.claude
@needs_claude
def test_dev_turn_limit_is_incomplete_and_keeps_the_files(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, claude_env: FakeAnthropicAPI
) -> None:
    (playbook_dir / "playbook.yaml").write_text(
        (playbook_dir / "playbook.yaml").read_text().replace("max_turns: 30", "max_turns: 2"))
    claude_env.script([tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/f{i}.yml",
                                          "content": f"n: {i}\n"}) for i in range(6)])
    out = tmp_path / "out"

    rc = _dev("--story", STORY_REL, "--playbook-dir", str(playbook_dir), "--repo-dir", str(repo_dir),
              "--out", str(out))

    assert rc == 1
    result = _result(out)
    assert (result["subtype"], result["incomplete"], result["incomplete_reason"]) == (
        "error_max_turns", True, "turn limit")
    assert "stacks/dns-pihole/f0.yml" in result["files"]
    assert (repo_dir / "stacks" / "dns-pihole" / "f0.yml").exists()
    assert "stacks/dns-pihole/f0.yml" in (out / PATCH_FILE).read_text()


@pytest.mark.claude
@needs_claude
def test_dev_from_a_dispatch_event(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, claude_env: FakeAnthropicAPI
) -> None:
    payload = {"v": 1, "playbook_repo": "owner/homelab-playbook", "merge_sha": "a" * 40, "story_path": STORY_REL,
               "issue": 42, "target": "apps", "order": 1,
               "key": story_key("owner/homelab-playbook", STORY_REL, "apps", "a" * 40), "related": []}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "bmad-story", "client_payload": payload}))
    claude_env.script([text("nothing to do")])
    out = tmp_path / "out"

    rc = _dev("--event-file", str(event), "--playbook-dir", str(playbook_dir), "--repo-dir", str(repo_dir),
              "--out", str(out))

    assert rc == 0
    assert _result(out)["payload"] == payload and _result(out)["files"] == []


# --------------------------------------------------------------------------- inputs refused early


def _never_called(*args: Any, **kwargs: Any) -> ClaudeResult:
    raise AssertionError("the CLI must not run")


def _settings(tmp_path: Path) -> Settings:
    return Settings(root=tmp_path)


@pytest.mark.parametrize(
    "story_path",
    ["../../etc/passwd", "_bmad-output/planning-artifacts/42-dns-pihole/architecture.md",
     "/etc/passwd", "_bmad-output/implementation-artifacts/../../playbook.yaml",
     "_bmad-output/implementation-artifacts/42-dns-pihole/sprint-status.yaml"],
)
def test_story_paths_outside_the_stories_dir_are_refused_before_reading(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, story_path: str
) -> None:
    with pytest.raises(PayloadError):
        run_dev(story_path=Path(story_path), playbook_dir=playbook_dir, repo_dir=repo_dir, kind="apps",
                settings=_settings(tmp_path), config=load_config(playbook_dir), out_dir=tmp_path / "out",
                runner=_never_called)
    assert not (tmp_path / "out").exists()


def test_symlinked_story_pointing_outside_is_refused(playbook_dir: Path, repo_dir: Path, tmp_path: Path) -> None:
    link = playbook_dir / "_bmad-output" / "implementation-artifacts" / REQUEST / "story-1-2-evil.md"
    (tmp_path / "outside.md").write_text(_story())
    link.symlink_to(tmp_path / "outside.md")
    with pytest.raises(PayloadError):
        run_dev(story_path=link, playbook_dir=playbook_dir, repo_dir=repo_dir, kind="apps",
                settings=_settings(tmp_path), config=load_config(playbook_dir), out_dir=tmp_path / "out",
                runner=_never_called)


@pytest.mark.parametrize(("target", "kind", "fragment"), [("both", None, "--kind"), ("infra", "apps", "targets infra")])
def test_kind_must_match_the_story(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, target: str, kind: str | None, fragment: str
) -> None:
    (playbook_dir / STORY_REL).write_text(_story(target))
    with pytest.raises(ValidationError, match=fragment):
        run_dev(story_path=Path(STORY_REL), playbook_dir=playbook_dir, repo_dir=repo_dir, kind=kind,
                settings=_settings(tmp_path), config=load_config(playbook_dir), out_dir=tmp_path / "out",
                runner=_never_called)


def test_out_dir_inside_the_target_repo_is_refused(playbook_dir: Path, repo_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="inside the target repository"):
        run_dev(story_path=Path(STORY_REL), playbook_dir=playbook_dir, repo_dir=repo_dir, kind="apps",
                settings=_settings(tmp_path), config=load_config(playbook_dir), out_dir=repo_dir / "dev-result",
                runner=_never_called)


def test_tampered_dispatch_event_is_rejected(playbook_dir: Path, repo_dir: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "bmad-story", "client_payload": {
        "v": 1, "playbook_repo": "owner/homelab-playbook", "merge_sha": "a" * 40,
        "story_path": "_bmad-output/implementation-artifacts/x/../../../etc/passwd", "issue": 42, "target": "apps",
        "order": 1, "key": "0" * 64}}))
    assert _dev("--event-file", str(event), "--playbook-dir", str(playbook_dir), "--repo-dir", str(repo_dir),
                "--out", str(tmp_path / "out")) == 3
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- context and .git


def test_prompt_holds_context_in_priority_order_and_only_matching_patterns(
    playbook_dir: Path, repo_dir: Path
) -> None:
    story = artifacts.load_story(playbook_dir / STORY_REL)
    prompt = build_prompt(story, (playbook_dir / STORY_REL).read_text(), request_dir=REQUEST, kind="apps",
                          playbook_dir=playbook_dir, repo_dir=repo_dir, allowed_prefixes=("stacks/",),
                          budget_tokens=60_000)
    order = [prompt.index(m) for m in ("As the owner", "ARCH-MARKER", "patterns/stack-layout.md",
                                       "EXAMPLE-MARKER", "TOPOLOGY-MARKER")]
    assert order == sorted(order)
    assert "patterns/terraform-proxmox.md" not in prompt  # applies_to: infra
    assert SECRET_IN_ENV_FILE not in prompt and "stacks/whoami/.env.sample" in prompt

    small = build_prompt(story, (playbook_dir / STORY_REL).read_text(), request_dir=REQUEST, kind="apps",
                         playbook_dir=playbook_dir, repo_dir=repo_dir, allowed_prefixes=("stacks/",),
                         budget_tokens=400)
    assert "As the owner" in small and "TOPOLOGY-MARKER" not in small and "trimmed" in small


def test_a_changed_git_config_is_restored_and_reported(playbook_dir: Path, repo_dir: Path, tmp_path: Path) -> None:
    before = (repo_dir / ".git" / "config").read_bytes()

    def hostile(prompt: str, *, cwd: Path, **_: Any) -> ClaudeResult:
        (cwd / ".git" / "config").write_text("[core]\n\tfsmonitor = touch /tmp/pwned-by-fsmonitor\n")
        (cwd / "stacks" / "dns-pihole").mkdir(parents=True)
        (cwd / "stacks" / "dns-pihole" / "docker-compose.yml").write_text("services: {}\n")
        return ClaudeResult(subtype="success", is_error=False, result="ok", session_id="s", num_turns=1,
                            total_cost_usd=0.0, usage=Usage(), returncode=0)

    result = run_dev(story_path=Path(STORY_REL), playbook_dir=playbook_dir, repo_dir=repo_dir, kind=None,
                     settings=_settings(tmp_path), config=load_config(playbook_dir), out_dir=tmp_path / "out",
                     runner=hostile)

    assert (repo_dir / ".git" / "config").read_bytes() == before
    assert any(".git/config" in v for v in result.violations)
    assert result.files == ("stacks/dns-pihole/docker-compose.yml",)
    assert (tmp_path / "out" / PROMPT_FILE).is_file()


def test_the_prompt_is_the_dev_story_skill_rendered(playbook_dir: Path, repo_dir: Path) -> None:
    story = artifacts.load_story(playbook_dir / STORY_REL)
    skill_file = playbook_dir / "skills" / "dev-story" / "SKILL.md"
    skill_file.write_text(skill_file.read_text().replace("You are Amelia", "You are Amelia (SKILL-FILE-MARKER)"))
    prompt = build_prompt(story, (playbook_dir / STORY_REL).read_text(), request_dir=REQUEST, kind="apps",
                          playbook_dir=playbook_dir, repo_dir=repo_dir, allowed_prefixes=("stacks/",),
                          budget_tokens=60_000)
    assert "SKILL-FILE-MARKER" in prompt and "# Implementation report: story <id>" in prompt
    assert '<untrusted source="story 1.1">' in prompt and "<examples>" in prompt
    skill_file.unlink()
    from playbook.errors import SkillError

    with pytest.raises(SkillError, match="dev-story skill is missing"):
        build_prompt(story, "x", request_dir=REQUEST, kind="apps", playbook_dir=playbook_dir, repo_dir=repo_dir,
                     allowed_prefixes=("stacks/",), budget_tokens=60_000)


@pytest.mark.claude
@needs_claude
def test_dev_leaves_a_job_summary_with_the_runs_cost(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, claude_env: FakeAnthropicAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude_env.script([tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/docker-compose.yml",
                                          "content": "services:\n  pihole: {}\n"}),
                       text("Wrote it")])
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "out"
    assert _dev("--story", str(playbook_dir / STORY_REL), "--playbook-dir", str(playbook_dir),
                "--repo-dir", str(repo_dir), "--out", str(out)) == 0
    text_ = summary.read_text(encoding="utf-8")
    assert "### playbook dev" in text_ and "**Outcome:** done" in text_
    assert "story 1.1 (apps): success, 2 turns, 1 files changed, 0 diff-policy violations" in text_
    assert "| model calls | 1 |" in text_ and "model: dev-story" in text_
    cost = _result(out)["cost_usd"]
    assert f"| estimated cost | ${cost:.4f} |" in text_
    assert "ghs_canary_must_not_leak" not in text_ and "sk-ant-test" not in text_


def test_secret_files_and_credentials_in_the_patch_are_refused_and_named(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path, claude_env: FakeAnthropicAPI
) -> None:
    token = "ghp_" + "Zx9Qw2Er7Ty4Ui1Op3As6Df8Gh0Jk5Lz2Xc9"
    claude_env.script([
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/.env", "content": "WEBPASSWORD=hunter2-real\n"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/tls.key", "content": "-----BEGIN PRIVATE KEY-----\n"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/config.yml", "content": f"github_token: {token}\n"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/app.yml",
                           "content": "api_secret: 'q8F!zR2#vL9$wX4@kP7^'\n"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/docker-compose.yml", "content": "services: {}\n"}),
        tool_use("Write", {"file_path": f"{CWD}/stacks/dns-pihole/.env.sample", "content": "WEBPASSWORD=change-me\n"}),
        text("done"),
    ])
    out = tmp_path / "out"

    rc = _dev("--story", STORY_REL, "--playbook-dir", str(playbook_dir), "--repo-dir", str(repo_dir),
              "--out", str(out))

    assert rc == 5
    result = _result(out)
    # The CLI's own rules already refuse secret file names; content is caught by the patch policy.
    assert result["denied"] == ["Write: stacks/dns-pihole/.env", "Write: stacks/dns-pihole/tls.key"]
    assert sorted(result["refused"]) == ["stacks/dns-pihole/app.yml", "stacks/dns-pihole/config.yml"]
    assert sorted(result["files"]) == ["stacks/dns-pihole/.env.sample", "stacks/dns-pihole/docker-compose.yml"]
    patch = (out / PATCH_FILE).read_text()
    everything = patch + json.dumps(result)
    for value in ("hunter2-real", token, "q8F!zR2", "BEGIN PRIVATE KEY"):
        assert value not in everything
    assert any("GitHub Token" in v for v in result["violations"])
    assert any("secret-named key api_secret" in v for v in result["violations"])
    assert not (repo_dir / "stacks" / "dns-pihole" / ".env").exists()
    # The untracked .env of another stack was never copied where the agent works.
    assert SECRET_IN_ENV_FILE not in json.dumps([r.body for r in claude_env.requests])


def test_secret_files_written_past_the_cli_are_refused_by_the_patch_policy(
    playbook_dir: Path, repo_dir: Path, tmp_path: Path
) -> None:
    def hostile(prompt: str, *, cwd: Path, **_: Any) -> ClaudeResult:
        stack = cwd / "stacks" / "dns-pihole"
        stack.mkdir(parents=True)
        (stack / ".env").write_text("WEBPASSWORD=hunter2-real\n")
        (stack / "kubeconfig").write_text("apiVersion: v1\n")
        (stack / "docker-compose.yml").write_text("services: {}\n")
        return ClaudeResult(subtype="success", is_error=False, result="ok", session_id="s", num_turns=1,
                            total_cost_usd=0.0, usage=Usage(), returncode=0)

    result = run_dev(story_path=Path(STORY_REL), playbook_dir=playbook_dir, repo_dir=repo_dir, kind=None,
                     settings=_settings(tmp_path), config=load_config(playbook_dir), out_dir=tmp_path / "out",
                     runner=hostile)

    assert sorted(result.refused) == ["stacks/dns-pihole/.env", "stacks/dns-pihole/kubeconfig"]
    assert result.files == ("stacks/dns-pihole/docker-compose.yml",)
    assert "hunter2" not in (tmp_path / "out" / PATCH_FILE).read_text() + json.dumps(result.violations)
    assert not (repo_dir / "stacks" / "dns-pihole" / ".env").exists()
