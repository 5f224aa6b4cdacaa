"""`playbook drift`: the registry against the target repos (and Portainer), one drift issue."""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.cli.topology import DEFAULT_FILE


@click.command("drift")
@click.option("--registry", "registry_file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE,
              show_default=True)
@click.option("--apps", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Compare with this homelab-apps checkout instead of the repo's default branch on GitHub.")
@click.option("--infra", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Compare with this homelab-infra checkout instead of the repo's default branch on GitHub.")
@click.option("--issue", "sync", is_flag=True, help="Open, update or close the one drift issue (GitHub Actions).")
def drift(registry_file: Path, apps: Path | None, infra: Path | None, sync: bool) -> int:
    """Compare the topology registry with the target repos and Portainer's live stacks."""
    from playbook.config import load_config
    from playbook.errors import PlaybookError
    from playbook.settings import Settings
    from playbook.topology import drift as lib
    from playbook.topology.registry import load

    settings = Settings.from_env(os.environ)
    if not registry_file.is_file():
        click.echo(f"no topology registry at {registry_file}: nothing to compare "
                   "(create it with `playbook topology import`)")
        return 0
    data = load(registry_file)
    config = load_config(settings.root)
    snapshots = []
    unreadable: dict[str, str] = {}
    if apps or infra:
        for kind, path in (("apps", apps), ("infra", infra)):
            if path is not None:
                snapshots.append(lib.snapshot_dir(path, config.target(kind).repo, kind))
    else:
        from playbook.adapters.github import GitHubForge

        token = settings.dispatch_token or settings.require("github_token", "BMAD_DISPATCH_TOKEN")
        for kind in ("infra", "apps"):
            repo_name = config.target(kind).repo
            try:
                forge = GitHubForge(repo_name, token, base_url=settings.github_api_url)
                snapshots.append(lib.snapshot_forge(forge, kind))
            except PlaybookError as exc:  # reported in the drift issue, not only in the log
                unreadable[repo_name] = exc.message.splitlines()[0][:300]
    portainer = None
    if settings.portainer_url and settings.portainer_token:
        from playbook.adapters.portainer import PortainerAPI

        portainer = PortainerAPI(settings.portainer_url, settings.portainer_token)
    issue_forge = None
    if sync:
        from playbook.adapters.github import GitHubForge

        token = settings.require("github_token", "GITHUB_TOKEN")
        repo = settings.github_repository or settings.require("github_repository", "GITHUB_REPOSITORY")
        issue_forge = GitHubForge(repo, token, base_url=settings.github_api_url)
    run = lib.run_drift(data, snapshots, portainer=portainer, issue_forge=issue_forge, bot_login=settings.bot_login,
                        run_url=settings.run_url, unreadable=unreadable)
    click.echo(f"repos: {', '.join(run.report.repos)}")
    click.echo(f"portainer: {run.report.portainer}")
    for item in run.report.items:
        click.echo(f"  {item.subject}: {item.change} {item.what}: {item.registry} -> {item.actual}")
    click.echo(f"{len(run.report.items)} drift item(s); issue: {run.issue}")
    return 0
