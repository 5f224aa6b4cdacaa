"""`playbook doctor` against the fake GitHub: a correct setup passes, each misconfiguration is named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from fakes.github_setup import FakeGitHubSetup
from playbook.adapters import git as gitlib
from playbook.cli import cli
from playbook.delivery.target import render_workflow
from playbook.intake.doctor import local_workflows, secrets_read
from playbook.intake.github_flow import LABELS

PLAYBOOK = "alice/homelab-playbook"
TARGETS = {"apps": "alice/homelab-apps", "infra": "alice/homelab-infra"}
MAIN_TOKEN = "ghp_main_admin_token"
DISPATCH_TOKEN = "github_pat_dispatch_token"


@dataclass
class Setup:
    fake: FakeGitHubSetup
    checkout: Path
    playbook_sha: str


@pytest.fixture
def setup(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    checkout = tmp_path / "homelab-playbook"
    checkout.mkdir()
    shutil.copytree(repo_root / ".github", checkout / ".github")
    config = (repo_root / "playbook.yaml").read_text()
    (checkout / "playbook.yaml").write_text(config.replace("your-user/", "alice/"))
    gitlib.init_repo(checkout)
    gitlib.git(checkout, "add", "-A")
    gitlib.git(checkout, "commit", "-q", "-m", "playbook")
    gitlib.git(checkout, "remote", "add", "origin", f"git@github.com:{PLAYBOOK}.git")

    fake = FakeGitHubSetup().start()
    sha = fake.add_repo(PLAYBOOK, {**local_workflows(checkout), "README.md": "# playbook\n"})
    for spec in LABELS:
        fake._ensure_label(fake.repos[PLAYBOOK], spec.name)
    fake.set_secrets(PLAYBOOK, ["GEMINI_API_KEY", "ANTHROPIC_API_KEY", "BMAD_DISPATCH_TOKEN", "PORTAINER_URL",
                                "PORTAINER_API_TOKEN"])
    fake.allow_actions_pull_requests(PLAYBOOK)
    for kind, repo in TARGETS.items():
        fake.allow_actions_pull_requests(repo)
        fake.add_repo(repo, {".github/workflows/bmad-story.yml":
                             render_workflow(kind=kind, playbook_repo=PLAYBOOK, playbook_ref=sha)})
        fake.set_secrets(repo, ["ANTHROPIC_API_KEY", "BMAD_PLAYBOOK_TOKEN"])
    monkeypatch.setenv("GITHUB_TOKEN", MAIN_TOKEN)
    monkeypatch.setenv("BMAD_DISPATCH_TOKEN", DISPATCH_TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    try:
        yield Setup(fake, checkout, sha)
    finally:
        fake.stop()
    assert not fake.conformance_errors, "\n".join(fake.conformance_errors)


def invoke(*argv: str):  # type: ignore[no-untyped-def]
    """Run like `playbook` does: the command's return value is the exit code."""
    result = CliRunner().invoke(cli, list(argv), standalone_mode=False)
    code = result.return_value if result.exception is None else 2
    return code, result


def doctor(setup: Setup, *extra: str) -> tuple[int, dict]:
    code, result = invoke("doctor", "--repo", str(setup.checkout), "--json", *extra)
    assert result.exception is None, result.exception
    return code, json.loads(result.output)


def problems(report: dict) -> list[tuple[str, str, str]]:
    return [(f["check"], f["message"], f["fix"]) for f in report["findings"] if f["severity"] == "error"]


def test_a_correct_setup_passes_with_a_fixed_number_of_calls(setup):
    setup.fake.reset_calls()
    code, report = doctor(setup)
    assert code == 0, problems(report)
    assert report["ok"] and report["problems"] == 0 and report["playbook_repo"] == PLAYBOOK
    checks = {f["check"] for f in report["findings"]}
    assert checks >= {"playbook-repo", "workflows", "actions-pull-requests", "labels", "secrets",
                      "target:apps", "target:infra"}
    workflows = len(local_workflows(setup.checkout))
    # repo, files, PR setting, labels, secrets, default head (repo + ref);
    # per target: repo (dispatch token), caller workflow, its pinned commit, PR setting, secrets
    assert len(setup.fake.calls) == 1 + workflows + 1 + 1 + 1 + 2 + 2 * 5
    assert {c.token for c in setup.fake.calls if c.path == "/repos/alice/homelab-apps"} == {DISPATCH_TOKEN}


def test_the_human_output_ends_green(setup):
    code, result = invoke("doctor", "--repo", str(setup.checkout))
    assert code == 0, result.output
    assert "all checks passed" in result.output and "FAIL" not in result.output


def test_the_secrets_checked_are_the_ones_the_workflows_read(setup):
    # bmad-dev.yml is reusable: its secrets come from the targets' caller, not from the playbook repo
    assert secrets_read(local_workflows(setup.checkout)) == {"GEMINI_API_KEY", "ANTHROPIC_API_KEY",
                                                             "BMAD_DISPATCH_TOKEN", "PORTAINER_URL",
                                                             "PORTAINER_API_TOKEN"}


def test_missing_portainer_secrets_are_warnings_saying_drift_is_repos_only(setup):
    setup.fake.set_secrets(PLAYBOOK, ["GEMINI_API_KEY", "ANTHROPIC_API_KEY", "BMAD_DISPATCH_TOKEN"])
    code, report = doctor(setup)
    assert code == 0
    warnings = {f["message"] for f in report["findings"] if f["severity"] == "warning" and f["check"] == "secrets"}
    assert warnings == {f"secret {name} is not set: bmad-drift compares the repos only, not Portainer's live stacks"
                        for name in ("PORTAINER_URL", "PORTAINER_API_TOKEN")}


def _set_file(setup: Setup, path: str, text: str | None) -> None:
    setup.fake.push(PLAYBOOK, "main", {path: text}, "change")


def _placeholder(setup: Setup) -> None:
    config = setup.checkout / "playbook.yaml"
    config.write_text(config.read_text().replace("alice/homelab-apps", "your-user/homelab-apps"))


def _repin(ref: str) -> Callable[[Setup], None]:
    def change(setup: Setup) -> None:
        text = render_workflow(kind="infra", playbook_repo=PLAYBOOK, playbook_ref=setup.playbook_sha)
        setup.fake.push(TARGETS["infra"], "main", {".github/workflows/bmad-story.yml": text.replace(
            setup.playbook_sha, ref)}, "repin")
    return change


MISCONFIGURATIONS: dict[str, tuple[Callable[[Setup], None], str, str, str]] = {
    # name: (break it, check, message contains, fix contains)
    "workflow missing": (lambda s: _set_file(s, ".github/workflows/bmad-phase.yml", None),
                         "workflows", "missing on GitHub: .github/workflows/bmad-phase.yml", "push"),
    "workflow stale": (lambda s: _set_file(s, ".github/workflows/bmad-command.yml", "name: old\n"),
                       "workflows", "not the same on GitHub", "push this checkout"),
    "actions may not open PRs": (lambda s: s.fake.allow_actions_pull_requests(PLAYBOOK, False),
                                 "actions-pull-requests", "may not create pull requests",
                                 "Allow GitHub Actions to create and approve pull requests"),
    "actions may not open the IaC PR in a target": (
        lambda s: s.fake.allow_actions_pull_requests(TARGETS["apps"], False), "target:apps",
        "may not create pull requests in alice/homelab-apps (the IaC PR would fail)",
        "in alice/homelab-apps: Settings → Actions → General → Workflow permissions"),
    "issue-form label missing": (lambda s: s.fake.repos[PLAYBOOK].labels.pop("bmad:brief"),
                                 "labels", "label bmad:brief is missing", "gh label create bmad:brief"),
    "secret missing": (lambda s: s.fake.set_secrets(PLAYBOOK, ["ANTHROPIC_API_KEY", "BMAD_DISPATCH_TOKEN"]),
                       "secrets", "secret GEMINI_API_KEY is missing", "New repository secret named GEMINI_API_KEY"),
    "target still a placeholder": (_placeholder, "target:apps", "still the placeholder your-user/homelab-apps",
                                   "playbook.yaml"),
    "target unreachable with the dispatch token": (lambda s: s.fake.set_tokens(TARGETS["apps"], [MAIN_TOKEN]),
                                                   "target:apps", "not reachable with the dispatch token",
                                                   "BMAD_DISPATCH_TOKEN"),
    "dispatch token cannot write": (lambda s: s.fake.read_only(TARGETS["apps"], DISPATCH_TOKEN),
                                    "target:apps", "but not write", "Contents: read and write"),
    "caller workflow missing": (lambda s: s.fake.push(TARGETS["apps"], "main",
                                                      {".github/workflows/bmad-story.yml": None}, "rm"),
                                "target:apps", "has no .github/workflows/bmad-story.yml", "playbook init-target --kind apps"),
    "caller pinned to a commit that does not exist": (_repin("0" * 40), "target:infra",
                                                      "which is not a commit of alice/homelab-playbook",
                                                      "playbook init-target --kind infra"),
    "caller pinned to a branch": (_repin("main"), "target:infra", "not a commit SHA", "init-target"),
    "Claude credential missing in a target": (lambda s: s.fake.set_secrets(TARGETS["infra"], ["BMAD_PLAYBOOK_TOKEN"]),
                                              "target:infra", "no secret ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN",
                                              "gh secret set ANTHROPIC_API_KEY --repo alice/homelab-infra"),
}


@pytest.mark.parametrize("name", list(MISCONFIGURATIONS))
def test_each_misconfiguration_is_reported_with_its_fix(setup, name):
    breaker, check, message, fix = MISCONFIGURATIONS[name]
    breaker(setup)
    code, report = doctor(setup)
    found = problems(report)
    assert code == 1, report
    assert any(c == check and message in m and fix in f for c, m, f in found), found
    assert len(found) == 1, found  # exactly this problem, nothing else flagged


def test_without_the_dispatch_token_doctor_says_to_set_it(setup, monkeypatch):
    monkeypatch.delenv("BMAD_DISPATCH_TOKEN")
    code, report = doctor(setup)
    assert code == 1
    assert {c for c, m, _ in problems(report) if "BMAD_DISPATCH_TOKEN is not set" in m} == {"target:apps",
                                                                                           "target:infra"}


def test_an_older_pin_is_a_warning_with_the_upgrade_command(setup):
    setup.fake.push(PLAYBOOK, "main", {"NEWS.md": "new\n"}, "a newer playbook commit")
    code, report = doctor(setup)
    assert code == 0
    warnings = [f for f in report["findings"] if f["severity"] == "warning"]
    head = setup.fake.branch_head(PLAYBOOK, "main")
    assert {f["check"] for f in warnings} == {"target:apps", "target:infra"}
    assert all(f"--playbook-ref {head}" in f["fix"] for f in warnings)


def test_a_token_that_cannot_list_secrets_is_a_finding_not_a_crash(setup):
    del setup.fake.secrets[TARGETS["apps"]]  # the fake answers 403 like GitHub does
    code, report = doctor(setup)
    assert code == 1
    (check, message, fix), = problems(report)
    assert check == "target:apps" and "HTTP 403" in message and "alice/homelab-apps" in message
    assert fix.startswith('give GITHUB_TOKEN the "Secrets: read" repository permission on alice/homelab-apps')


def test_a_missing_github_token_names_the_variable(setup, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    code, result = invoke("doctor", "--repo", str(setup.checkout))
    assert code != 0 and "GITHUB_TOKEN is not set" in str(result.exception)


def test_an_unreachable_playbook_repo_stops_early(setup):
    code, report = doctor(setup, "--playbook-repo", "alice/not-there")
    assert code == 1
    assert problems(report)[0][0] == "playbook-repo" and "not visible" in problems(report)[0][1]
