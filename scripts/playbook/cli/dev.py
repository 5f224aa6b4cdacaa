"""`playbook dev`: implement one story in a target repository with the Claude Code CLI.

Exit codes: 0 done, 1 incomplete (turn limit, error or timeout; files kept),
5 diff-policy violation (offending files reverted), others as for every command.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.settings import Settings

EXIT_INCOMPLETE = 1
EXIT_POLICY = 5
# What the agent must never reach on a runner: its home and temp, and the file-command files.
PROTECTED_VARIABLES = ("HOME", "RUNNER_TEMP", "RUNNER_TOOL_CACHE", "GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH",
                       "GITHUB_STEP_SUMMARY", "GITHUB_STATE", "GITHUB_EVENT_PATH")


@click.command("dev")
@click.option("--story", "story", type=click.Path(path_type=Path), help="Story file under _bmad-output/implementation-artifacts/.")
@click.option("--event-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A repository_dispatch (bmad-story) event instead of --story.")
@click.option("--playbook-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Checkout of the playbook repository.")
@click.option("--repo-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Checkout of the target repository; the CLI runs here.")
@click.option("--kind", type=click.Choice(["apps", "infra"]), default=None,
              help="Target kind; defaults to the story's target (required for `both`).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("dev-result"),
              show_default=True, help="Where result.json and changes.patch are written.")
@click.option("--model", default=None, help="Claude model alias or name (default: the CLI's own).")
@click.option("--agent-user", default=None, envvar="PLAYBOOK_AGENT_USER",
              help="Run the CLI as this unprivileged user over a scratch copy (needs root).")
@click.option("--playbook-repo", default=None, envvar="PLAYBOOK_REPO",
              help="The playbook repository fixed by the caller workflow; a payload naming another is refused.")
def dev(story: Path | None, event_file: Path | None, playbook_dir: Path, repo_dir: Path, kind: str | None,
        out_dir: Path, model: str | None, agent_user: str | None, playbook_repo: str | None) -> int:
    """Run the Claude Code CLI on one story, then apply the diff policy."""
    from playbook.adapters.agent_user import AgentUser
    from playbook.config import load_config
    from playbook.delivery.devrun import run_dev, story_path_from_event, write_failure
    from playbook.errors import PayloadError, PlaybookError

    if (story is None) == (event_file is None):
        raise click.UsageError("pass exactly one of --story or --event-file")
    payload = None
    if event_file is not None:
        payload, story = story_path_from_event(event_file)
        if kind is not None and kind != payload["target"]:
            raise click.UsageError(f"--kind {kind} contradicts the event's target {payload['target']}")
        kind = payload["target"]
        if playbook_repo and payload["playbook_repo"].lower() != playbook_repo.lower():
            raise PayloadError("the bmad-story payload names another playbook repository than the workflow's",
                               fix="dispatch stories only from the playbook repository set in bmad-story.yml")
    assert story is not None
    try:
        settings = Settings.from_env(os.environ, root=playbook_dir)
        config = load_config(playbook_dir)
        result = run_dev(story_path=story, playbook_dir=playbook_dir, repo_dir=repo_dir, kind=kind,
                         settings=settings, config=config, out_dir=out_dir, model=model, payload=payload,
                         agent=AgentUser.lookup(agent_user) if agent_user else None,
                         protected=tuple(Path(os.environ[n]) for n in PROTECTED_VARIABLES if os.environ.get(n)))
    except PlaybookError as exc:
        # The publish step reports this on the playbook issue: the cause, never a stack trace.
        write_failure(out_dir, payload, exc)
        raise

    click.echo(f"story {result.story_id} ({result.kind}): {result.claude.subtype}, {result.claude.num_turns} turns, "
               f"${result.claude.total_cost_usd:.4f}, {len(result.files)} files changed; see {out_dir}")
    for path in result.files:
        click.echo(f"  {path}")
    if result.violations:
        click.secho("diff policy violations:", fg="red", err=True)
        for violation in result.violations:
            click.echo(f"  - {violation}", err=True)
        return EXIT_POLICY
    if result.incomplete_reason:
        click.secho(f"incomplete: {result.incomplete_reason}", fg="yellow", err=True)
        return EXIT_INCOMPLETE
    return 0


@click.command("publish")
@click.option("--result", "result_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="The --out directory of `playbook dev` (result.json, changes.patch).")
@click.option("--repo-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="A fresh checkout of the target repository.")
@click.option("--playbook-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="The playbook checkout the story came from.")
def publish(result_dir: Path, repo_dir: Path, playbook_dir: Path) -> int:
    """Open or update the IaC pull request for a dev run, then report it on the playbook issue."""
    from playbook.intake.target_flow import run_publish

    settings = Settings.from_env(os.environ, root=playbook_dir)
    outcome = run_publish(settings, result_dir=result_dir.resolve(), repo_dir=repo_dir.resolve(),
                          playbook_dir=playbook_dir.resolve(), playbook_repo=os.environ.get("PLAYBOOK_REPO") or None)
    click.echo(outcome.message)
    return 0 if outcome.pull is not None else 1


@click.command("receive")
@click.option("--event-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="The repository_dispatch (bmad-story) event.")
@click.option("--playbook-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="The playbook checkout at the payload's merge_sha.")
@click.option("--playbook-repo", required=True, envvar="PLAYBOOK_REPO",
              help="The playbook repository fixed by the caller workflow.")
def receive(event_file: Path, playbook_dir: Path, playbook_repo: str) -> int:
    """Refuse a bmad-story not bound to config; exit 0 with `skip=true` output when already published."""
    from playbook.intake.target_flow import run_receive

    settings = Settings.from_env(os.environ, root=playbook_dir)
    receipt = run_receive(settings, event_file=event_file, playbook_dir=playbook_dir.resolve(),
                          playbook_repo=playbook_repo)
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:  # a fixed value, never payload text
            handle.write(f"skip={'true' if receipt.skip else 'false'}\n")
    if receipt.published is not None:
        click.echo(f"story {receipt.story.id}: already published as PR #{receipt.published.number}; skipping")
    else:
        click.echo(f"story {receipt.story.id}: accepted")
    return 0
