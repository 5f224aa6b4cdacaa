"""`playbook demo`: the Pi-hole reference flow in scratch repositories."""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.settings import Settings


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Empty or new directory for the scratch repos (default: a new temp dir).")
@click.option("--agent", type=click.Choice(["offline", "claude"]), default="offline", show_default=True,
              help="Dev agent for the stories: the deterministic scaffolder, or the Claude Code CLI.")
@click.option("--reference", type=click.Choice(["pihole", "arr"]), default="pihole", show_default=True,
              help="pihole: one apps story; arr: the *arr suite on a new LXC (infra first, then four stacks).")
def demo(workdir: Path | None, agent: str, reference: str) -> int:
    """Run a reference flow: four phases, dispatch in dependency order, dev, publish, merge, deployed, revert."""
    from playbook.demo.reference import run_demo

    settings = Settings.from_env(os.environ)
    report = run_demo(settings, workdir=workdir, agent=agent, reference=reference, echo=click.echo)
    click.echo("")
    click.secho("Artifacts (homelab-playbook main):", bold=True)
    for path in report.artifacts:
        click.echo(f"  {report.workdir / 'homelab-playbook' / path}")
    click.secho("Stories:", bold=True)
    for s in report.stories:
        click.echo(f"  {s['id']} [{s['target']}] {s['title']} — {s['status']}")
    click.secho("git log, homelab-playbook:", bold=True)
    click.echo(report.playbook_log.rstrip())
    for kind, log in report.target_logs.items():
        click.secho(f"git log, homelab-{kind}:", bold=True)
        click.echo(log.rstrip())
    if report.offline:
        click.secho("Planned offline: artifacts say `model: offline`. Set GEMINI_API_KEY to plan with Gemini.",
                    fg="yellow")
    click.secho(f"Done: {len(report.steps)} steps in {report.workdir}", fg="green")
    return 0
