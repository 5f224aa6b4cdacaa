"""`playbook init-target`: install the caller workflow and CLAUDE.md in a target repo."""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.errors import ConfigError, PlaybookError
from playbook.patterns import KINDS
from playbook.settings import Settings


def _default_repo(settings: Settings, playbook_dir: Path) -> str:
    from playbook.adapters.git import git
    from playbook.delivery.target import repo_from_remote_url

    if settings.github_repository:
        return settings.github_repository
    try:
        url = git(playbook_dir, "remote", "get-url", "origin", check=False)
    except PlaybookError:
        url = ""
    found = repo_from_remote_url(url)
    if not found:
        raise ConfigError("cannot tell which GitHub repository this playbook is",
                          fix="pass --playbook-repo owner/name (or add a GitHub `origin` remote)")
    return found


def _default_ref(playbook_dir: Path) -> str:
    from playbook.adapters.git import head

    try:
        sha = head(playbook_dir)
    except PlaybookError:
        sha = None
    if not sha:
        raise ConfigError(f"{playbook_dir} is not a git checkout with a commit",
                          fix="run from the playbook checkout, or pass --playbook-ref <40-hex commit SHA>")
    return sha


def _allowed_paths(playbook_dir: Path, kind: str) -> tuple[str, ...]:
    """The target's paths from playbook.yaml, when there is one (CLAUDE.md then lists them)."""
    from playbook.config import CONFIG_FILE, load_config

    if not (playbook_dir / CONFIG_FILE).is_file():
        return ()
    cfg = load_config(playbook_dir)
    return cfg.target(kind).paths if kind in cfg.targets else ()


@click.command("init-target")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="Which target this repo is.")
@click.option("--repo-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Checkout of the target repository to write into.")
@click.option("--playbook-repo", default=None, metavar="OWNER/NAME",
              help="The playbook repository (default: $GITHUB_REPOSITORY, else the origin remote).")
@click.option("--playbook-ref", default=None, metavar="SHA",
              help="Playbook commit the caller pins (default: HEAD of the playbook checkout).")
@click.option("--playbook-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The playbook checkout (default: $PLAYBOOK_DIR or the current directory).")
@click.option("--code-scanning", is_flag=True,
              help="Also upload `playbook check` SARIF to the target's code scanning (turn it on there first).")
def init_target(kind: str, repo_dir: Path, playbook_repo: str | None, playbook_ref: str | None,
                playbook_dir: Path | None, code_scanning: bool) -> int:
    """Write .github/workflows/bmad-story.yml and CLAUDE.md into the target repo at REPO_DIR."""
    from playbook.delivery.target import init_target as write_target

    settings = Settings.from_env(os.environ, root=playbook_dir)
    root = settings.root
    ref = playbook_ref or _default_ref(root)
    results = write_target(
        repo_dir, kind=kind, playbook_repo=playbook_repo or _default_repo(settings, root), playbook_ref=ref,
        patterns_dir=root / "patterns", allowed_paths=_allowed_paths(root, kind), code_scanning=code_scanning,
    )
    for path, outcome in results:
        click.echo(f"{outcome:<9} {repo_dir / path}")
    click.echo(f"next: push commit {ref[:12]} of the playbook to GitHub, commit these files in the target repo, "
               "and add the secrets BMAD_PLAYBOOK_TOKEN and ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN) there")
    click.echo("steering: people with write permission on the target repo comment /revise <feedback>, /retry or "
               "/review on an IaC PR; a refused command is answered on the PR (the workflow's pull-requests: write)")
    return 0
