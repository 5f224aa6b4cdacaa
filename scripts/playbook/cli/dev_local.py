"""`playbook dev --story ID --target-dir DIR`: the dev step into a local target checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from playbook.settings import Settings

EXIT_INCOMPLETE = 1
EXIT_POLICY = 5


def dev_local(*, story_id: str, target_dir: Path, playbook_dir: Path | None, kind: str | None, agent: str,
              request: str | None, out_dir: Path | None, model: str | None, as_json: bool) -> int:
    from playbook.config import load_config
    from playbook.delivery.localdev import run_local_dev
    from playbook.planning.local import checkout_root

    root = checkout_root(Settings.from_env(os.environ, root=playbook_dir).root)
    settings = Settings.from_env(os.environ, root=root)
    if request is None:
        from playbook.planning.local import current_request

        request = current_request(root)
    outcome = run_local_dev(playbook_dir=root, story_id=story_id, target_dir=target_dir, settings=settings,
                            config=load_config(root), kind=kind, agent=agent, request=request, out_dir=out_dir,
                            model=model)
    code = EXIT_POLICY if outcome.violations else (EXIT_INCOMPLETE if outcome.incomplete else 0)
    if as_json:
        click.echo(json.dumps({"story": outcome.story_id, "kind": outcome.kind, "agent": outcome.agent,
                               "agent_note": outcome.agent_note, "branch": outcome.branch, "commit": outcome.commit,
                               "files": list(outcome.files), "violations": list(outcome.violations),
                               "incomplete": outcome.incomplete or None, "check_errors": outcome.check_errors,
                               "out_dir": str(outcome.out_dir)}, indent=2))
        return code
    colour = "yellow" if outcome.agent == "offline" else "cyan"
    click.secho(f"agent: {outcome.agent_note}", fg=colour)
    click.echo(f"story {outcome.story_id} ({outcome.kind}) on {target_dir}:{outcome.branch}: "
               f"{len(outcome.files)} files, commit {outcome.commit[:10] if outcome.commit else '(nothing to commit)'}")
    for path in outcome.files:
        click.echo(f"  {path}")
    click.echo(f"checks: {outcome.check_errors} errors in {outcome.findings} findings "
               f"(in Actions {'this would be a draft PR' if outcome.check_errors or outcome.incomplete else 'a ready PR'})")
    click.echo(f"report: {outcome.out_dir / 'report.md'} (the IaC PR text; result.json and changes.patch beside it)")
    for violation in outcome.violations:
        click.secho(f"  policy: {violation}", fg="red", err=True)
    if outcome.incomplete:
        click.secho(f"incomplete: {outcome.incomplete}", fg="yellow", err=True)
    click.echo(f"next: review with `git -C {target_dir} show`, then push {outcome.branch} and open a pull request")
    return code
