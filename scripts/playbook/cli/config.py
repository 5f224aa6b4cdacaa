"""`playbook config`: validate playbook.yaml and show the model routes."""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.settings import Settings


@click.group()
def config() -> None:
    """Check playbook.yaml and show model routes."""


@config.command("check")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None)
def check(root: Path | None) -> int:
    """Validate playbook.yaml strictly (exit 2 listing every problem)."""
    from playbook.config import load_config

    cfg = load_config(root or Settings.from_env(os.environ).root)
    click.echo(f"{cfg.path}: valid ({len(cfg.models)} model aliases, targets "
               f"{cfg.targets['infra'].repo} and {cfg.targets['apps'].repo})")
    return 0


@config.command("routes")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None)
def routes(root: Path | None) -> int:
    """Show each alias with its fallback chain and prices."""
    from playbook.config import load_config

    cfg = load_config(root or Settings.from_env(os.environ).root)
    for alias in cfg.models:
        chain = " → ".join(f"{r.alias} ({r.provider}:{r.model})" for r in cfg.chain(alias))
        click.echo(f"{alias:<14} {chain}")
    return 0
