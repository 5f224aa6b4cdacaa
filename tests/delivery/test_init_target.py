"""`playbook init-target`: the caller workflow and CLAUDE.md it writes into a target repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import workflow_policy as policy
from playbook.adapters.git import git, head, init_repo
from playbook.cli import main
from playbook.delivery import target
from playbook.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_REPO = "alice/homelab-playbook"
REF = "0123456789abcdef0123456789abcdef01234567"

PATTERNS = {
    "README.md": "# Patterns\n\nAn index, not a pattern.\n",
    "terraform-proxmox.md": ("---\nname: terraform-proxmox\ntitle: Terraform modules for Proxmox\n"
                             "applies_to: infra\nchecks: [terraform-layout, terraform-fmt]\n---\n"
                             "# Terraform\n\nModules live in `terraform/modules/<name>/`.\n\n## Rules\n\n- more\n"),
    "traefik.md": ("---\ntitle: Traefik routing\napplies_to: apps\n---\n# Traefik\n\n"
                   "Routes come from container labels\non the `proxy` network.\n"),
    "naming.md": "# Naming things\n\nLowercase, hyphenated names everywhere.\n",
    "both.md": "---\napplies_to: [infra, apps]\nsummary: Written for both repos.\n---\n# Shared\n\nBody.\n",
}


@pytest.fixture(scope="module")
def patterns_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("patterns")
    for name, text in PATTERNS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, patterns_dir: Path) -> dict[str, Path]:
    """One target checkout per kind, written once and shared by the read-only tests."""
    repos = {}
    for kind in target.KINDS:
        repo = tmp_path_factory.mktemp(f"homelab-{kind}")
        target.init_target(repo, kind=kind, playbook_repo=PLAYBOOK_REPO, playbook_ref=REF,
                           patterns_dir=patterns_dir, allowed_paths=("stacks/",) if kind == "apps" else ())
        repos[kind] = repo
    return repos


def workflows(rendered: dict[str, Path]) -> list[Path]:
    return [repo / target.WORKFLOW_PATH for repo in rendered.values()]


@pytest.mark.parametrize("kind", target.KINDS)
def test_caller_workflow_is_exactly_the_pinned_call(rendered, kind):
    doc = policy.load((rendered[kind] / target.WORKFLOW_PATH).read_text(encoding="utf-8"))
    assert doc["on"] == {"repository_dispatch": {"types": ["bmad-story"]}, "pull_request": {"types": ["closed"]},
                         "issue_comment": {"types": ["created"]}}  # /revise, /retry, /review on the IaC PR
    assert doc["permissions"] == {}
    (job,) = doc["jobs"].values()
    assert job["uses"] == f"{PLAYBOOK_REPO}/.github/workflows/bmad-dev.yml@{REF}"
    assert job["with"] == {"kind": kind, "playbook-repo": PLAYBOOK_REPO, "playbook-ref": REF}
    assert job["secrets"] == {name: f"${{{{ secrets.{name} }}}}"
                              for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "BMAD_PLAYBOOK_TOKEN")}
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert "github.event_name == 'repository_dispatch'" in job["if"]
    assert "startsWith(github.event.pull_request.head.ref, 'bmad/story-')" in job["if"]
    assert "github.event.issue.pull_request" in job["if"] and "github.event.comment.user.type != 'Bot'" in job["if"]
    text = (rendered[kind] / target.WORKFLOW_PATH).read_text(encoding="utf-8")
    assert "guarded in code by playbook.intake.steer_flow.authorize_steer" in text  # the guard behind the ignore


def test_caller_matches_the_reusable_workflow_interface(rendered):
    """Every input and secret the caller passes is declared by bmad-dev.yml, and vice versa."""
    called = policy.load((REPO_ROOT / ".github/workflows/bmad-dev.yml").read_text(encoding="utf-8"))
    call = called["on"]["workflow_call"]
    (job,) = policy.load((rendered["apps"] / target.WORKFLOW_PATH).read_text())["jobs"].values()
    assert set(job["with"]) == set(call["inputs"])
    assert set(job["secrets"]) == set(call["secrets"])
    # The caller grants at least what the called jobs ask for.
    for called_job in called["jobs"].values():
        for scope, level in (called_job.get("permissions") or {}).items():
            assert level == "read" or job["permissions"].get(scope) == "write", (scope, level)


@pytest.mark.parametrize("kind", target.KINDS)
def test_caller_workflow_follows_policy(rendered, kind):
    assert policy.file_violations(rendered[kind] / target.WORKFLOW_PATH) == []


def test_caller_workflows_pass_zizmor(rendered):
    done = policy.run_zizmor(*workflows(rendered))
    assert done.returncode == 0, done.stdout + done.stderr


def test_caller_workflows_pass_actionlint(rendered):
    done = policy.run_actionlint(*workflows(rendered))
    assert done.returncode == 0, done.stdout + done.stderr


def test_caller_workflows_match_github_schema(rendered):
    done = policy.run_check_jsonschema("vendor.github-workflows", *workflows(rendered))
    assert done.returncode == 0, done.stdout + done.stderr


def test_claude_md_summarises_only_the_patterns_of_its_kind(rendered):
    infra = (rendered["infra"] / target.CLAUDE_PATH).read_text(encoding="utf-8")
    apps = (rendered["apps"] / target.CLAUDE_PATH).read_text(encoding="utf-8")
    assert "**Terraform modules for Proxmox** (`patterns/terraform-proxmox.md`) — Modules live in " \
           "`terraform/modules/<name>/`. Checked: terraform-layout, terraform-fmt." in infra
    assert "**Traefik routing** (`patterns/traefik.md`) — Routes come from container labels on the " \
           "`proxy` network." in apps
    assert "Traefik routing" not in infra
    assert "Terraform modules" not in apps
    for text in (infra, apps):
        assert "**Naming things**" in text  # no applies_to: both kinds
        assert "**Shared** (`patterns/both.md`) — Written for both repos." in text
        assert "patterns/README.md" not in text and "An index" not in text
        assert text.startswith(target.BEGIN_MARKER) and text.rstrip().endswith(target.END_MARKER)
        assert "Never edit `.github/`" in text
    assert "Only change files under: `stacks/`." in apps
    assert "Only change files under" not in infra
    assert "`terraform/`" in infra and "`stacks/<service>/docker-compose.yml`" in apps


def test_second_run_changes_nothing(tmp_path, patterns_dir):
    args = dict(kind="apps", playbook_repo=PLAYBOOK_REPO, playbook_ref=REF, patterns_dir=patterns_dir)
    first = target.init_target(tmp_path, **args)
    before = {p: (tmp_path / p).read_bytes() for p, _ in first}
    second = target.init_target(tmp_path, **args)
    assert first == [(target.WORKFLOW_PATH, "created"), (target.CLAUDE_PATH, "created"),
                     (target.GITIGNORE_PATH, "created")]
    assert second == [(target.WORKFLOW_PATH, "unchanged"), (target.CLAUDE_PATH, "unchanged"),
                      (target.GITIGNORE_PATH, "unchanged")]
    assert {p: (tmp_path / p).read_bytes() for p, _ in second} == before


def test_owner_text_in_claude_md_survives_and_our_block_is_replaced(tmp_path, patterns_dir):
    (tmp_path / "CLAUDE.md").write_text("# House rules\n\nAsk before touching the NAS.\n", encoding="utf-8")
    target.init_target(tmp_path, kind="apps", playbook_repo=PLAYBOOK_REPO, playbook_ref=REF,
                       patterns_dir=patterns_dir)
    (tmp_path / "CLAUDE.md").write_text((tmp_path / "CLAUDE.md").read_text() + "\nA footer of mine.\n")
    newer = "f" * 40
    results = target.init_target(tmp_path, kind="apps", playbook_repo=PLAYBOOK_REPO, playbook_ref=newer,
                                 patterns_dir=patterns_dir)
    assert results == [(target.WORKFLOW_PATH, "updated"), (target.CLAUDE_PATH, "updated"),
                       (target.GITIGNORE_PATH, "unchanged")]
    text = (tmp_path / "CLAUDE.md").read_text()
    assert text.startswith("# House rules\n\nAsk before touching the NAS.\n\n" + target.BEGIN_MARKER)
    assert text.endswith(target.END_MARKER + "\n\nA footer of mine.\n")
    assert text.count(target.BEGIN_MARKER) == 1 and text.count(target.END_MARKER) == 1
    assert f"@{newer[:12]}" in text and f"@{REF[:12]}" not in text


@pytest.mark.parametrize(("field", "value"), [
    ("kind", "both"), ("kind", "INFRA"), ("kind", ""),
    ("playbook_repo", ""), ("playbook_repo", "alice"), ("playbook_repo", "alice/"),
    ("playbook_repo", "-alice/playbook"), ("playbook_repo", "alice-/playbook"), ("playbook_repo", "alice/.."),
    ("playbook_repo", "alice/play/book"), ("playbook_repo", "alice/play book"),
    ("playbook_repo", "alice/playbook\non: push"), ("playbook_repo", "a" * 40 + "/playbook"),
    ("playbook_repo", "alice/playbook@main"),
    ("playbook_ref", "main"), ("playbook_ref", "v1.2.3"), ("playbook_ref", REF[:39]), ("playbook_ref", REF + "0"),
    ("playbook_ref", REF.upper()), ("playbook_ref", REF + "\n"), ("playbook_ref", "refs/heads/main"),
])
def test_bad_kind_repo_or_ref_is_rejected_before_writing(tmp_path, patterns_dir, field, value):
    args = dict(kind="infra", playbook_repo=PLAYBOOK_REPO, playbook_ref=REF, patterns_dir=patterns_dir)
    args[field] = value
    with pytest.raises(ConfigError) as caught:
        target.init_target(tmp_path, **args)
    assert caught.value.fix
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("url", "expected"), [
    ("git@github.com:alice/homelab-playbook.git", "alice/homelab-playbook"),
    ("https://github.com/alice/homelab-playbook.git\n", "alice/homelab-playbook"),
    ("https://github.com/alice/homelab-playbook", "alice/homelab-playbook"),
    ("ssh://git@github.com/alice/homelab.playbook.git", "alice/homelab.playbook"),
    ("https://gitlab.com/alice/homelab-playbook.git", None),
    ("", None),
])
def test_repo_from_remote_url(url, expected):
    assert target.repo_from_remote_url(url) == expected


@pytest.fixture
def playbook_checkout(tmp_path: Path) -> Path:
    """A real playbook git repo with a GitHub origin, one commit, and one pattern."""
    repo = init_repo(tmp_path / "playbook")
    (repo / "patterns").mkdir()
    (repo / "patterns" / "traefik.md").write_text(PATTERNS["traefik.md"], encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "patterns")
    git(repo, "remote", "add", "origin", "git@github.com:alice/homelab-playbook.git")
    return repo


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    return int(done.value.code or 0)


def test_cli_defaults_to_the_checkout_head_and_origin(tmp_path, playbook_checkout, capsys):
    target_repo = tmp_path / "homelab-apps"
    target_repo.mkdir()
    rc = run_cli("init-target", "--kind", "apps", "--repo-dir", str(target_repo),
                 "--playbook-dir", str(playbook_checkout))
    assert rc == 0, capsys.readouterr().err
    sha = head(playbook_checkout)
    (job,) = policy.load((target_repo / target.WORKFLOW_PATH).read_text())["jobs"].values()
    assert job["uses"] == f"alice/homelab-playbook/.github/workflows/bmad-dev.yml@{sha}"
    assert "**Traefik routing**" in (target_repo / "CLAUDE.md").read_text()
    out = capsys.readouterr().out
    assert f"created   {target_repo / target.WORKFLOW_PATH}" in out
    assert "comment /revise <feedback>, /retry or /review on an IaC PR; a refused command is answered" in out
    assert run_cli("init-target", "--kind", "apps", "--repo-dir", str(target_repo),
                   "--playbook-dir", str(playbook_checkout)) == 0
    assert capsys.readouterr().out.count("unchanged") == 3  # the workflow, CLAUDE.md and .gitignore


def test_cli_rejects_a_bad_ref_with_the_fix(tmp_path, playbook_checkout, capsys):
    rc = run_cli("init-target", "--kind", "infra", "--repo-dir", str(tmp_path), "--playbook-dir",
                 str(playbook_checkout), "--playbook-repo", "alice/homelab-playbook", "--playbook-ref", "main")
    err = capsys.readouterr().err
    assert rc == 2
    assert "40-character commit SHA" in err and "fix:" in err


def test_cli_rejects_an_unknown_kind(tmp_path, capsys):
    assert run_cli("init-target", "--kind", "both", "--repo-dir", str(tmp_path)) == 2
    assert "'both' is not one of 'infra', 'apps'" in capsys.readouterr().err


def test_cli_without_a_github_origin_asks_for_the_repo(tmp_path, capsys):
    bare = init_repo(tmp_path / "playbook")
    git(bare, "commit", "-q", "--allow-empty", "-m", "empty")
    rc = run_cli("init-target", "--kind", "infra", "--repo-dir", str(tmp_path), "--playbook-dir", str(bare))
    assert rc == 2
    assert "--playbook-repo owner/name" in capsys.readouterr().err


def test_gitignore_is_merged_so_env_files_are_never_committed(tmp_path, patterns_dir):
    (tmp_path / ".gitignore").write_text("node_modules/\n.env\n", encoding="utf-8")
    results = target.init_target(tmp_path, kind="apps", playbook_repo=PLAYBOOK_REPO, playbook_ref=REF,
                                 patterns_dir=patterns_dir)
    assert (target.GITIGNORE_PATH, "updated") in results
    text = (tmp_path / ".gitignore").read_text()
    assert text.startswith("node_modules/\n.env\n") and text.count("\n.env\n") == 1
    assert "!.env.sample" in text and "*.key" in text
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "stacks" / "x").mkdir(parents=True)
    (tmp_path / "stacks" / "x" / ".env").write_text("P=1\n")
    (tmp_path / "stacks" / "x" / ".env.sample").write_text("P=\n")
    ignored = subprocess.run(["git", "check-ignore", "stacks/x/.env", "stacks/x/.env.sample"], cwd=tmp_path,
                             capture_output=True, text=True).stdout.split()
    assert ignored == ["stacks/x/.env"]


def test_code_scanning_is_opt_in_and_its_job_follows_policy(tmp_path, patterns_dir):
    target.init_target(tmp_path, kind="apps", playbook_repo=PLAYBOOK_REPO, playbook_ref=REF,
                       patterns_dir=patterns_dir, code_scanning=True)
    path = tmp_path / target.WORKFLOW_PATH
    doc = policy.load(path.read_text(encoding="utf-8"))
    assert list(doc["jobs"]) == ["bmad", "code-scanning"]
    scan = doc["jobs"]["code-scanning"]
    assert scan["uses"] == f"{PLAYBOOK_REPO}/.github/workflows/bmad-code-scanning.yml@{REF}"
    assert scan["permissions"] == {"contents": "read", "security-events": "write"}
    assert scan["needs"] == "bmad" and set(scan["with"]) == {"pull-head", "pull-sha"}
    # The reusable workflow declares exactly these inputs, and bmad-dev exposes the outputs they read.
    called = policy.load((REPO_ROOT / ".github/workflows/bmad-code-scanning.yml").read_text(encoding="utf-8"))
    assert set(called["on"]["workflow_call"]["inputs"]) == set(scan["with"])
    dev = policy.load((REPO_ROOT / ".github/workflows/bmad-dev.yml").read_text(encoding="utf-8"))
    assert set(dev["on"]["workflow_call"]["outputs"]) == {"pull-head", "pull-sha"}
    assert policy.file_violations(path) == []
    for run in (policy.run_zizmor(path), policy.run_actionlint(path)):
        assert run.returncode == 0, run.stdout + run.stderr
    without = tmp_path / "plain"
    without.mkdir()
    target.init_target(without, kind="apps", playbook_repo=PLAYBOOK_REPO, playbook_ref=REF, patterns_dir=patterns_dir)
    assert list(policy.load((without / target.WORKFLOW_PATH).read_text())["jobs"]) == ["bmad"]
