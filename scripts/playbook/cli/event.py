"""`playbook event`: the one entry point of every workflow that reacts to GitHub (the work is in
``playbook.cli.event_run``, which a bare ``playbook event`` reaches without importing click)."""

from __future__ import annotations

import click

from playbook.cli.event_run import (
    EXIT_REJECTED,
    MAX_EVENT_BYTES,
    MAX_EVENT_DEPTH,
    parse_event_json,
    run_event,
)

__all__ = ["EXIT_REJECTED", "MAX_EVENT_BYTES", "MAX_EVENT_DEPTH", "event", "parse_event_json"]


@click.command("event")
@click.option("--dry-run", is_flag=True, help="Print the decided action as JSON; change nothing.")
def event(dry_run: bool) -> int:
    """Handle the GitHub Actions event of this run."""
    return run_event(dry_run)
