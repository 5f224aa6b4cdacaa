"""Prepare a target repo (homelab-infra / homelab-apps) to receive stories.

`init_target` writes three files into the target checkout (the third, `.gitignore`, only gains
the secret patterns it lacks, so `.env` files are never committed):

- `.github/workflows/bmad-story.yml`, the small caller of this project's reusable
  `bmad-dev.yml`, pinned to one playbook commit (a 40-hex SHA, never a branch or tag, so a
  change to the playbook cannot silently change what runs with the target's secrets);
- `CLAUDE.md`, the conventions the Claude Code CLI reads in that repo, with a summary of the
  patterns that apply to the kind. Only the block between our markers is ours: text the owner
  writes outside it survives every re-run.

Re-running is safe: a file whose content would not change is left alone and reported as such.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from playbook.errors import ConfigError
from playbook.patterns import KINDS, Pattern, load_patterns

WORKFLOW_PATH = Path(".github/workflows/bmad-story.yml")
CLAUDE_PATH = Path("CLAUDE.md")
GITIGNORE_PATH = Path(".gitignore")
# Never committed from a target repo: real env files and secrets (samples stay tracked).
GITIGNORE_LINES = (".env", ".env.*", "!.env.sample", "!.env.example", "*.tfstate", "*.tfstate.backup", "*.pem",
                   "*.key", "kubeconfig")
BEGIN_MARKER = "<!-- bmad:begin (managed by playbook init-target) -->"
END_MARKER = "<!-- bmad:end -->"

# GitHub's rules: an owner is 1-39 alphanumerics or single inner hyphens; a repository name is
# letters, digits, '.', '-', '_' (but not '.' or '..').
# Matched with fullmatch: `$` would also accept a trailing newline.
_REPO_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/(?!\.\.?\Z)[A-Za-z0-9._-]{1,100}")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
_REMOTE_RE = re.compile(r"github\.com[:/]+(?P<repo>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")

def validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown target kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    return kind


def validate_repo(repo: str) -> str:
    if not _REPO_RE.fullmatch(repo or ""):
        raise ConfigError(f"not a GitHub repository name: {repo!r}",
                          fix="pass the playbook repository as owner/name, e.g. --playbook-repo alice/homelab-playbook")
    return repo


def validate_ref(ref: str) -> str:
    if not _SHA_RE.fullmatch(ref or ""):
        raise ConfigError(
            f"the playbook ref must be a full 40-character commit SHA, got {ref!r}",
            fix="pass --playbook-ref $(git rev-parse HEAD) from the playbook checkout (branches and tags can move)",
        )
    return ref


def repo_from_remote_url(url: str) -> str | None:
    """owner/name from a GitHub remote URL (https or ssh), or None."""
    match = _REMOTE_RE.search(url.strip())
    if match and _REPO_RE.fullmatch(match["repo"]):
        return match["repo"]
    return None


def render_workflow(*, kind: str, playbook_repo: str, playbook_ref: str, code_scanning: bool = False) -> str:
    from playbook.planning.prompts import render_package_template

    return render_package_template("target/bmad-story.yml.j2", kind=validate_kind(kind),
                                   playbook_repo=validate_repo(playbook_repo),
                                   playbook_ref=validate_ref(playbook_ref), code_scanning=code_scanning)


def render_claude_block(*, kind: str, playbook_repo: str, playbook_ref: str,
                        patterns: Sequence[Pattern], allowed_paths: Sequence[str] = ()) -> str:
    from playbook.planning.prompts import render_package_template

    return render_package_template(
        "target/CLAUDE.md.j2", kind=validate_kind(kind), playbook_repo=validate_repo(playbook_repo),
        playbook_ref=validate_ref(playbook_ref), playbook_url=f"https://github.com/{playbook_repo}",
        patterns=list(patterns), allowed_paths=list(allowed_paths),
        begin_marker=BEGIN_MARKER, end_marker=END_MARKER,
    )


def merge_managed_block(existing: str | None, block: str) -> str:
    """Put ``block`` (which starts and ends with our markers) into an existing CLAUDE.md."""
    block = block.rstrip("\n") + "\n"
    if not existing:
        return block
    start = existing.find(BEGIN_MARKER)
    end = existing.find(END_MARKER, start + 1) if start != -1 else -1
    if start != -1 and end != -1:
        return existing[:start] + block.rstrip("\n") + existing[end + len(END_MARKER):]
    # The owner's own CLAUDE.md comes first; ours is appended once.
    return existing.rstrip("\n") + "\n\n" + block


def merge_gitignore(existing: str | None) -> str:
    """``existing`` with every line of GITIGNORE_LINES it lacks appended once (the owner's lines stay)."""
    lines = (existing or "").splitlines()
    missing = [line for line in GITIGNORE_LINES if line not in {entry.strip() for entry in lines}]
    if not missing:
        return existing or ""
    head = (existing or "").rstrip("\n")
    block = "# secrets never committed (playbook init-target)\n" + "\n".join(missing) + "\n"
    return f"{head}\n\n{block}" if head else block


def _write_if_changed(path: Path, content: str) -> str:
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old == content:
        return "unchanged"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic replace: an interrupted run leaves the old file, never half of the new one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return "created" if old is None else "updated"


def init_target(repo_dir: Path, *, kind: str, playbook_repo: str, playbook_ref: str, patterns_dir: Path,
                allowed_paths: Sequence[str] = (), code_scanning: bool = False) -> list[tuple[Path, str]]:
    """Write the caller workflow and CLAUDE.md into the target checkout at ``repo_dir``.

    Returns one (path relative to repo_dir, "created"|"updated"|"unchanged") per file. Every
    argument is validated before anything is written.
    """
    validate_kind(kind)
    validate_repo(playbook_repo)
    validate_ref(playbook_ref)
    repo_dir = Path(repo_dir)
    if not repo_dir.is_dir():
        raise ConfigError(f"target repository directory not found: {repo_dir}",
                          fix="clone the target repo first and pass its checkout with --repo-dir")

    workflow = render_workflow(kind=kind, playbook_repo=playbook_repo, playbook_ref=playbook_ref,
                               code_scanning=code_scanning)
    block = render_claude_block(kind=kind, playbook_repo=playbook_repo, playbook_ref=playbook_ref,
                                patterns=load_patterns(Path(patterns_dir), kind), allowed_paths=allowed_paths)
    claude_path = repo_dir / CLAUDE_PATH
    existing = claude_path.read_text(encoding="utf-8") if claude_path.is_file() else None
    gitignore = repo_dir / GITIGNORE_PATH
    ignored = gitignore.read_text(encoding="utf-8") if gitignore.is_file() else None
    return [
        (WORKFLOW_PATH, _write_if_changed(repo_dir / WORKFLOW_PATH, workflow)),
        (CLAUDE_PATH, _write_if_changed(claude_path, merge_managed_block(existing, block))),
        (GITIGNORE_PATH, _write_if_changed(gitignore, merge_gitignore(ignored))),
    ]
