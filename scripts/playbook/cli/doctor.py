"""`playbook doctor`: check the GitHub setup with the tokens it is given; exit 1 on any problem.

GITHUB_TOKEN reads the playbook repository and the targets (settings, labels, secret names,
files: a token that can administer them); BMAD_DISPATCH_TOKEN is the one stored in that secret,
checked against each target. Nothing is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from playbook.settings import Settings

MARKS = {"ok": ("ok  ", "green"), "warning": ("warn", "yellow"), "error": ("FAIL", "red")}


def _playbook_repo(root: Path, given: str | None, settings: Settings) -> str:
    from playbook.adapters import git as gitlib
    from playbook.delivery.target import repo_from_remote_url, validate_repo
    from playbook.errors import ConfigError

    name = given or settings.github_repository
    if not name:
        url = gitlib.git(root, "remote", "get-url", "origin", check=False).strip()
        name = repo_from_remote_url(url) or ""
    if not name:
        raise ConfigError("cannot tell which GitHub repository holds this playbook",
                          fix="pass --playbook-repo owner/name (or add the GitHub remote: git remote add origin …)")
    return validate_repo(name)


@click.command()
@click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The playbook checkout (default: $PLAYBOOK_DIR, else the current directory).")
@click.option("--playbook-repo", default=None,
              help="owner/name of the playbook on GitHub (default: $GITHUB_REPOSITORY, else the origin remote).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(repo: Path | None, playbook_repo: str | None, as_json: bool) -> int:
    """Check the GitHub setup (workflows, settings, labels, secrets, targets) and say what to fix."""
    from playbook.adapters.github_setup import GitHubSetupReader
    from playbook.config import load_config
    from playbook.intake.doctor import run_doctor
    from playbook.planning.local import checkout_root

    root = checkout_root(Settings.from_env(os.environ, root=repo).root)
    settings = Settings.from_env(os.environ, root=root)
    config = load_config(root)
    name = _playbook_repo(root, playbook_repo, settings)
    reader = GitHubSetupReader(name, settings.require("github_token", "GITHUB_TOKEN"),
                               base_url=settings.github_api_url, max_wait_seconds=10)
    dispatcher = (GitHubSetupReader(name, settings.dispatch_token, base_url=settings.github_api_url,
                                    max_wait_seconds=10, token_variable="BMAD_DISPATCH_TOKEN")
                  if settings.dispatch_token else None)
    report = run_doctor(root=root, config=config, playbook_repo=name, reader=reader, dispatcher=dispatcher)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok else 1
    click.echo(f"playbook doctor: {name}")
    for finding in report.findings:
        mark, colour = MARKS[finding.severity]
        click.echo(click.style(mark, fg=colour) + f" {finding.check:<22} {finding.message}")
        if finding.fix and finding.severity != "ok":
            click.echo(f"     {'':<22} fix: {finding.fix}")
    problems = sum(not f.ok for f in report.findings)
    if problems:
        click.secho(f"{problems} problem(s) to fix; run `playbook doctor` again afterwards", fg="red")
        return 1
    click.secho("all checks passed: open an issue with the \"Homelab request\" form to start", fg="green")
    return 0
