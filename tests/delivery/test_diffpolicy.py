"""The diff policy: table-tested path rules, and real git for collecting and reverting."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from playbook.delivery import diffpolicy
from playbook.delivery.diffpolicy import Change, check_changes, collect_changes, path_violation

APPS = ("stacks/",)
INFRA = ("terraform/", "ansible/", "packer/")


@pytest.mark.parametrize(
    ("path", "allowed", "expected"),
    [
        ("stacks/dns-pihole/docker-compose.yml", APPS, None),
        ("stacks/dns-pihole/.env.sample", APPS, None),
        ("terraform/modules/lxc/main.tf", INFRA, None),
        ("ansible/roles/pihole/tasks/main.yml", INFRA, None),
        ("terraform/main.tf", APPS, "outside stacks/"),
        ("stacks/x/compose.yml", INFRA, "outside terraform/, ansible/, packer/"),
        ("README.md", APPS, "outside"),
        ("stacksevil/x.yml", APPS, "outside"),
        (".github/workflows/x.yml", APPS, ".github/"),
        (".GitHub/workflows/x.yml", (".GitHub/",), ".github/"),
        (".github/CODEOWNERS", (".github/",), ".github/"),
        (".git/config", APPS, "git metadata"),
        ("stacks/x/.git/config", APPS, "git metadata"),
        ("stacks/x/.git", APPS, "git metadata"),
        ("/etc/passwd", APPS, "absolute"),
        ("stacks/../.github/workflows/x.yml", APPS, "'..'"),
        ("stacks/./x.yml", APPS, "'.'"),
        ("stacks\\x.yml", APPS, "non-POSIX"),
        ("C:stacks/x.yml", APPS, "non-POSIX"),
        ("", APPS, "absolute or non-POSIX"),
    ],
)
def test_path_rules(path: str, allowed: tuple[str, ...], expected: str | None) -> None:
    problem = path_violation(path, allowed, "apps")
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([Change("stacks/a/docker-compose.yml", "??", size=10)], []),
        ([Change("stacks/a/big.bin", "??", size=101)], ["over the 100-byte cap"]),
        ([Change("stacks/a/gone.yml", " D")], []),
        ([Change("stacks/a/link", "??", is_symlink=True)], ["symlinks are not allowed"]),
        ([Change("stacks/new.yml", "R ", orig_path=".github/workflows/x.yml", size=1)], [".github/"]),
        ([Change(f"stacks/a/{i}.yml", "??", size=1) for i in range(4)], ["4 files changed, over the cap of 3"]),
        ([Change("README.md", " M", size=5)], ["outside stacks/"]),
    ],
)
def test_check_changes(changes: list[Change], expected: list[str]) -> None:
    violations = check_changes(changes, kind="apps", allowed_prefixes=APPS, max_files=3, max_file_bytes=100)
    assert len(violations) == len(expected)
    for violation, fragment in zip(violations, expected, strict=True):
        assert fragment in violation


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "apps"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("homelab apps\n")
    (repo / "stacks" / "whoami").mkdir(parents=True)
    (repo / "stacks" / "whoami" / "docker-compose.yml").write_text("services: {}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    return repo


def test_collect_changes_sees_every_kind_of_change(repo: Path) -> None:
    (repo / "stacks" / "dns-pihole").mkdir()
    (repo / "stacks" / "dns-pihole" / "docker-compose.yml").write_text("services:\n  pihole: {}\n")
    (repo / "README.md").write_text("changed\n")
    (repo / "stacks" / "whoami" / "docker-compose.yml").unlink()
    os.symlink("/etc/passwd", repo / "stacks" / "dns-pihole" / "passwd")
    (repo / "name with space.txt").write_text("x")

    changes = {c.path: c for c in collect_changes(repo)}

    assert set(changes) == {
        "stacks/dns-pihole/docker-compose.yml", "stacks/dns-pihole/passwd", "README.md",
        "stacks/whoami/docker-compose.yml", "name with space.txt",
    }
    assert changes["stacks/dns-pihole/docker-compose.yml"].untracked
    assert changes["stacks/dns-pihole/docker-compose.yml"].size == len("services:\n  pihole: {}\n")
    assert changes["stacks/dns-pihole/passwd"].is_symlink
    assert changes["stacks/whoami/docker-compose.yml"].deleted
    assert changes["README.md"].status == " M"


def test_collect_changes_reports_renames_with_their_source(repo: Path) -> None:
    _git(repo, "mv", "README.md", "stacks/README.md")
    [change] = collect_changes(repo)
    assert (change.path, change.orig_path, change.status[0]) == ("stacks/README.md", "README.md", "R")
    assert any("README.md: outside" in v for v in check_changes(
        [change], kind="apps", allowed_prefixes=APPS, max_files=10, max_file_bytes=1000))


def test_revert_restores_tracked_and_removes_new_files(repo: Path) -> None:
    (repo / "README.md").write_text("defaced\n")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "x.yml").write_text("on: push\n")
    os.symlink("/etc", repo / "stacks" / "etc")
    (repo / "stacks" / "ok.yml").write_text("fine: true\n")

    for change in collect_changes(repo):
        if diffpolicy.change_violations(change, APPS, "apps"):
            diffpolicy.revert(repo, change)

    assert (repo / "README.md").read_text() == "homelab apps\n"
    assert not (repo / ".github").exists()  # empty parents pruned too
    assert not os.path.lexists(repo / "stacks" / "etc")
    assert Path("/etc").is_dir()  # the link was removed, never followed
    assert [c.path for c in collect_changes(repo)] == ["stacks/ok.yml"]


def test_write_patch_includes_untracked_files_and_applies_cleanly(repo: Path, tmp_path: Path) -> None:
    (repo / "stacks" / "dns-pihole").mkdir()
    (repo / "stacks" / "dns-pihole" / "docker-compose.yml").write_text("services:\n  pihole: {}\n")
    (repo / "stacks" / "dns-pihole" / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x01")
    (repo / "stacks" / "whoami" / "docker-compose.yml").write_text("services:\n  whoami: {}\n")
    patch = tmp_path / "changes.patch"

    diffpolicy.write_patch(repo, patch)

    assert "GIT binary patch" in patch.read_text()
    assert _git(repo, "log", "--oneline").count("\n") == 1  # nothing committed
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(repo), str(clone))
    _git(clone, "apply", "--index", str(patch))
    assert (clone / "stacks" / "dns-pihole" / "icon.png").read_bytes() == b"\x89PNG\r\n\x1a\n\x00\x01"
    assert (clone / "stacks" / "whoami" / "docker-compose.yml").read_text() == "services:\n  whoami: {}\n"
