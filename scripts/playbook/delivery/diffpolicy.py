"""What a dev run may leave behind in a target repository, and undoing what it may not.

The Claude Code CLI writes files itself, so its allowlist of tools is only the first
fence: afterwards every change in the working tree is judged here. A change is
refused when its path is outside the target kind's prefixes (playbook.yaml
``targets.<kind>.paths``), under ``.github/`` or ``.git/``, absolute or climbing
with ``..``, or a symlink; the run as a whole is refused above ``max_files`` changed
files or with a file above ``max_file_bytes``.

Path violations are reverted (``revert``) so they can never be published; cap
violations fail the run without touching the files, for a person to look at.

Every git call here runs with the repository's own hooks and fsmonitor switched
off: the working tree was just written by a model.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from playbook import _process
from playbook.errors import GitError, ProcessError

# Config that git would otherwise take from the (model-writable) repository.
SAFE_GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "diff.external=",
            "-c", "core.quotePath=false")

# Never changed by a dev run, whatever the target kind allows. Compared case-insensitively,
# because checkouts on case-insensitive filesystems treat `.GitHub/` as `.github/`.
GITHUB_DIR_REASON = "workflows and repository settings under .github/ are never changed by a dev run"
GIT_DIR_REASON = "git metadata (.git) is never changed by a dev run"


# A story's own paths per target kind: what its dev run may write, inside the kind's configured
# prefixes (playbook.yaml ``targets.<kind>.paths``). ``{service}`` is the story's service.
# ``{role}`` is the service as an Ansible role name (dashes as underscores, patterns/ansible-roles.md).
# An apps story may register its stack with Portainer (patterns/portainer-stack.md): its own
# stack-<service>.tf and the shared root files of terraform/portainer/ (created by the first story).
STORY_PATHS: dict[str, tuple[str, ...]] = {
    "apps": ("stacks/{service}/", "terraform/portainer/stack-{service}.tf", "terraform/portainer/versions.tf",
             "terraform/portainer/variables.tf", "terraform/portainer/main.tf", "terraform/portainer/outputs.tf"),
    "infra": ("terraform/modules/{service}/", "terraform/{service}/", "ansible/roles/{service}/",
              "ansible/roles/{role}/", "ansible/playbooks/{service}.yml", "packer/{service}/"),
}


def story_paths(kind: str, service: str, configured: Sequence[str]) -> tuple[str, ...]:
    """The paths a story of ``service`` may change: its own units, within the configured prefixes."""
    own = dict.fromkeys(template.format(service=service, role=service.replace("-", "_"))
                        for template in STORY_PATHS[kind])
    return tuple(p for p in own if any(p.startswith(prefix) for prefix in configured))


@dataclass(frozen=True)
class Change:
    """One changed path in the working tree (git status --porcelain=v1)."""

    path: str
    status: str  # the two-letter XY code: "??", " M", " D", "A ", "R ", ...
    orig_path: str | None = None  # the source of a rename or copy
    is_symlink: bool = False
    size: int = 0  # bytes on disk; 0 for deletions

    @property
    def deleted(self) -> bool:
        return "D" in self.status

    @property
    def untracked(self) -> bool:
        return self.status == "??"


# --------------------------------------------------------------------------- collecting


def _git(repo_dir: Path, *args: str) -> str:
    try:
        return _process.run([*SAFE_GIT, *args], cwd=repo_dir).stdout
    except ProcessError as exc:
        raise GitError(f"git {args[0]} failed in {repo_dir}: {exc.stderr.strip()}",
                       fix="make sure --repo-dir is a git checkout of the target repository") from None


def collect_changes(repo_dir: Path) -> list[Change]:
    """Every modified, added, deleted, renamed and untracked file, symlinks flagged."""
    out = _git(repo_dir, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=no")
    entries = out.split("\0")
    changes: list[Change] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        orig = None
        if status[0] in "RC" or status[1] in "RC":
            orig = entries[i]  # -z puts the source after the destination
            i += 1
        changes.append(_describe(repo_dir, path, status, orig))
    return changes


def _describe(repo_dir: Path, path: str, status: str, orig: str | None) -> Change:
    target = repo_dir / path
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return Change(path, status, orig)
    is_link = os.path.islink(target)
    return Change(path, status, orig, is_symlink=is_link, size=0 if is_link else st.st_size)


# --------------------------------------------------------------------------- judging


def path_violation(path: str, allowed_prefixes: Sequence[str], kind: str) -> str | None:
    """Why ``path`` may not be changed by a dev run of ``kind``, or None."""
    if not path or path.startswith("/") or "\\" in path or (len(path) > 1 and path[1] == ":"):
        return f"{path!r}: absolute or non-POSIX path"
    parts = PurePosixPath(path).parts
    if ".." in parts or "." in path.split("/"):
        return f"{path}: path climbs out with '..' or uses '.' segments"
    lowered = [part.lower() for part in parts]
    if lowered[0] == ".github":
        return f"{path}: {GITHUB_DIR_REASON}"
    if ".git" in lowered:  # nested too: a .git file or dir inside a stack is a gitdir trick
        return f"{path}: {GIT_DIR_REASON}"
    if not any(path.startswith(prefix) if prefix.endswith("/") else path == prefix for prefix in allowed_prefixes):
        return f"{path}: outside {', '.join(allowed_prefixes)} (the story's own paths in the {kind} repository)"
    return None


def change_violations(change: Change, allowed_prefixes: Sequence[str], kind: str) -> list[str]:
    """Path-policy problems of one change; any of them means the change is reverted."""
    problems = []
    for path in filter(None, (change.path, change.orig_path)):
        problem = path_violation(path, allowed_prefixes, kind)
        if problem:
            problems.append(problem)
    if change.is_symlink:
        problems.append(f"{change.path}: symlinks are not allowed (they can point outside the repository)")
    return problems


def check_changes(
    changes: Sequence[Change],
    *,
    kind: str,
    allowed_prefixes: Sequence[str],
    max_files: int,
    max_file_bytes: int,
) -> list[str]:
    """Every violation of the diff policy; an empty list means the changes may be published."""
    violations: list[str] = []
    for change in changes:
        violations += change_violations(change, allowed_prefixes, kind)
        if not change.deleted and not change.is_symlink and change.size > max_file_bytes:
            violations.append(f"{change.path}: {change.size} bytes is over the {max_file_bytes}-byte cap (dev.max_file_bytes)")
    if len(changes) > max_files:
        violations.append(f"{len(changes)} files changed, over the cap of {max_files} (dev.max_files)")
    return violations


# --------------------------------------------------------------------------- undoing


def revert(repo_dir: Path, change: Change) -> None:
    """Put a path back as it is at HEAD, or remove it when HEAD does not have it."""
    for path in filter(None, (change.path, change.orig_path)):
        if path.startswith("/") or ".." in PurePosixPath(path).parts:
            continue  # git never reports such paths; never act on one
        target = repo_dir / path
        if _in_head(repo_dir, path):
            _git(repo_dir, "checkout", "HEAD", "--", path)
            continue
        if os.path.lexists(target):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        _git(repo_dir, "rm", "-q", "--cached", "--ignore-unmatch", "--", path)
        _prune_empty_parents(repo_dir, target.parent)


def _in_head(repo_dir: Path, path: str) -> bool:
    done = _process.run([*SAFE_GIT, "cat-file", "-e", f"HEAD:{path}"], cwd=repo_dir, check=False)
    return done.returncode == 0


def _prune_empty_parents(repo_dir: Path, directory: Path) -> None:
    root = repo_dir.resolve()
    while directory.resolve() != root and root in directory.resolve().parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def write_patch(repo_dir: Path, destination: Path) -> str:
    """``git diff --binary`` of the whole working tree, untracked files included.

    Untracked files are marked intent-to-add (``git add -N``), which only records
    their names in the index; nothing is committed in the target repository.
    """
    untracked = [c.path for c in collect_changes(repo_dir) if c.untracked]
    if untracked:
        _git(repo_dir, "add", "-N", "--", *untracked)
    has_head = _process.run([*SAFE_GIT, "rev-parse", "--verify", "-q", "HEAD"], cwd=repo_dir, check=False)
    args = ["diff", "--binary", "--no-color", "--no-ext-diff", "--no-textconv"]
    if has_head.returncode == 0:
        args.append("HEAD")
    patch = _git(repo_dir, *args)
    destination.write_text(patch, encoding="utf-8")
    return patch
