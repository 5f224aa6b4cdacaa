"""The IaC pull request's "what will deploy" comment: one, kept up to date, never duplicated.

publish() calls post_deploy_diff after it opens or updates an apps PR. The base side is the
checkout's HEAD (the change was applied with `git apply --index`), the head side the files the
pull request carries. The comment is found again by its marker and edited in place on re-runs.
"""

from __future__ import annotations

from pathlib import Path

from playbook.adapters import git as gitlib
from playbook.checks.deploy_diff import MARKER, deploy_diff, is_compose_path, render_markdown
from playbook.errors import GitError
from playbook.ports import Forge
from playbook.sanitize import cap


def base_texts(repo_dir: Path, paths: list[str]) -> dict[str, str | None]:
    """The compose files as they are on the base branch (None where the change adds one)."""
    texts: dict[str, str | None] = {}
    for path in paths:
        try:
            texts[path] = gitlib.git(repo_dir, "show", f"HEAD:{path}")
        except GitError:
            texts[path] = None
    return texts


def post_deploy_diff(forge: Forge, pull_number: int, repo_dir: Path, files: dict[str, str | None]) -> bool:
    """Create or edit the sticky comment; False when no compose file changed (nothing posted)."""
    paths = sorted(p for p in files if is_compose_path(p))
    if not paths:
        return False
    head = {path: files[path] for path in paths}
    body = cap(render_markdown(deploy_diff(base_texts(repo_dir, paths), head)), 60_000)
    for comment in forge.list_comments(pull_number):
        if comment.body.startswith(MARKER) and comment.author_type == "Bot":
            if comment.body != body:
                forge.edit_comment(comment.id, body)
            return True
    forge.create_comment(pull_number, body)
    return True
