"""`playbook dev`: implement one story in a target repository with the Claude Code CLI.

Exit codes: 0 done, 1 incomplete (turn limit, error or timeout; files kept),
5 diff-policy violation (offending files reverted), others as for every command.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from playbook import runsummary
from playbook.settings import Settings

EXIT_INCOMPLETE = 1
EXIT_POLICY = 5
# What the agent must never reach on a runner: its home and temp, and the file-command files.
PROTECTED_VARIABLES = ("HOME", "RUNNER_TEMP", "RUNNER_TOOL_CACHE", "GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH",
                       "GITHUB_STEP_SUMMARY", "GITHUB_STATE", "GITHUB_EVENT_PATH")


@click.command("dev")
@click.option("--story", "story", type=click.Path(path_type=Path),
              help="Story file under _bmad-output/implementation-artifacts/ (with --target-dir: its id, e.g. 1.1).")
@click.option("--event-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A repository_dispatch (bmad-story) event instead of --story.")
@click.option("--playbook-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Checkout of the playbook repository (required unless --target-dir; then $PLAYBOOK_DIR or .).")
@click.option("--repo-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Checkout of the target repository; the CLI runs here (Actions).")
@click.option("--target-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Local mode: your target checkout; the story is committed there on its own branch.")
@click.option("--agent", type=click.Choice(["auto", "claude", "offline"]), default="auto", show_default=True,
              help="Local mode: the Claude Code CLI when it can run, else the offline scaffolder.")
@click.option("--request", "request", default=None, help="Local mode: the request the story belongs to, if ambiguous.")
@click.option("--kind", type=click.Choice(["apps", "infra"]), default=None,
              help="Target kind; defaults to the story's target (required for `both`).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where result.json and changes.patch are written [default: dev-result; local mode: a temp dir].")
@click.option("--model", default=None, help="Claude model alias or name (default: the CLI's own).")
@click.option("--json", "as_json", is_flag=True, help="Local mode: print the outcome as JSON.")
@click.option("--agent-user", default=None, envvar="PLAYBOOK_AGENT_USER",
              help="Run the CLI as this unprivileged user over a scratch copy (needs root).")
@click.option("--playbook-repo", default=None, envvar="PLAYBOOK_REPO",
              help="The playbook repository fixed by the caller workflow; a payload naming another is refused.")
@click.option("--steer", "steer_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Actions: where the steer job left steer.json (a /revise or /retry on the PR); used instead of "
              "--event-file when it is there.")
def dev(story: Path | None, event_file: Path | None, playbook_dir: Path | None, repo_dir: Path | None,
        target_dir: Path | None, agent: str, request: str | None, kind: str | None, out_dir: Path | None,
        model: str | None, as_json: bool, agent_user: str | None, playbook_repo: str | None,
        steer_dir: Path | None) -> int:
    """Run the Claude Code CLI on one story, then apply the diff policy."""
    event_file = steered_event(steer_dir) or event_file
    from playbook.adapters.agent_user import AgentUser
    from playbook.config import load_config
    from playbook.delivery.devrun import run_dev, story_path_from_event, write_failure
    from playbook.errors import PayloadError, PlaybookError

    if target_dir is not None:
        from playbook.cli.dev_local import dev_local

        if story is None or event_file is not None or repo_dir is not None:
            raise click.UsageError("local mode takes --story <ID> --target-dir <DIR> (not --event-file or --repo-dir)")
        return dev_local(story_id=str(story), target_dir=target_dir, playbook_dir=playbook_dir, kind=kind,
                         agent=agent, request=request, out_dir=out_dir, model=model, as_json=as_json)
    if playbook_dir is None or repo_dir is None:
        raise click.UsageError("pass --playbook-dir and --repo-dir (Actions), or --story <ID> --target-dir <DIR> (local)")
    out_dir = out_dir or Path("dev-result")
    if (story is None) == (event_file is None):
        raise click.UsageError("pass exactly one of --story or --event-file")
    payload = None
    feedback, base_ref = "", ""
    if event_file is not None:
        payload, story = story_path_from_event(event_file)
        feedback, base_ref = _steered(event_file, repo_dir)
        if kind is not None and kind != payload["target"]:
            raise click.UsageError(f"--kind {kind} contradicts the event's target {payload['target']}")
        kind = payload["target"]
        if playbook_repo and payload["playbook_repo"].lower() != playbook_repo.lower():
            raise PayloadError("the bmad-story payload names another playbook repository than the workflow's",
                               fix="dispatch stories only from the playbook repository set in bmad-story.yml")
    assert story is not None
    summary = runsummary.current()
    try:
        settings = Settings.from_env(os.environ, root=playbook_dir)
        config = load_config(playbook_dir)
        with summary.stage("dev run (Claude Code CLI and diff policy)"):
            result = run_dev(story_path=story, playbook_dir=playbook_dir, repo_dir=repo_dir, kind=kind,
                             settings=settings, config=config, out_dir=out_dir, model=model, payload=payload,
                             agent=AgentUser.lookup(agent_user) if agent_user else None,
                             protected=tuple(Path(os.environ[n]) for n in PROTECTED_VARIABLES if os.environ.get(n)),
                             feedback=feedback, base_ref=base_ref)
    except PlaybookError as exc:
        # The publish step reports this on the playbook issue: the cause, never a stack trace.
        write_failure(out_dir, payload, exc)
        raise
    seconds = summary.stages[-1][1]
    summary.model_call(runsummary.ModelCall("dev-story", model or "claude", "claude-cli",
                                            result.claude.usage.input_tokens, result.claude.usage.output_tokens,
                                            result.claude.total_cost_usd, seconds))
    summary.note(f"story {result.story_id} ({result.kind}): {result.claude.subtype}, {result.claude.num_turns} "
                 f"turns, {len(result.files)} files changed, {len(result.violations)} diff-policy violations")
    summary.outcome = ("diff policy violated" if result.violations
                       else f"incomplete: {result.incomplete_reason}" if result.incomplete_reason else "done")

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
@click.option("--steer", "steer_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the steer job left steer.json: a /revise or /retry commits on the story branch.")
def publish(result_dir: Path, repo_dir: Path, playbook_dir: Path, steer_dir: Path | None) -> int:
    """Open or update the IaC pull request for a dev run, then report it on the playbook issue."""
    from playbook.intake.target_flow import run_publish

    steer = steered_event(steer_dir)
    steered_by = None
    if steer is not None:
        _steered(steer, repo_dir)  # the patch applies to the story branch it was made on
        import json

        comment = json.loads(steer.read_text(encoding="utf-8")).get("comment_id")
        steered_by = comment if isinstance(comment, int) and not isinstance(comment, bool) else None

    settings = Settings.from_env(os.environ, root=playbook_dir)
    summary = runsummary.current()
    with summary.stage("publish (IaC pull request, report back)"):
        outcome = run_publish(settings, result_dir=result_dir.resolve(), repo_dir=repo_dir.resolve(),
                              playbook_dir=playbook_dir.resolve(), playbook_repo=os.environ.get("PLAYBOOK_REPO") or None,
                              steered_by=steered_by)
    summary.outcome = outcome.message
    click.echo(outcome.message)
    if outcome.pull is not None and outcome.commit:
        write_step_outputs(os.environ.get("GITHUB_OUTPUT"), {"pull-head": outcome.pull.head,
                                                             "pull-sha": outcome.commit})
    return 0 if outcome.pull is not None else 1


def _steered(event_file: Path, repo_dir: Path) -> tuple[str, str]:
    """A steer.json (`/revise` or `/retry` on the IaC PR): switch to the story branch; (feedback, base ref)."""
    import json

    from playbook.adapters import git as gitlib

    event = json.loads(event_file.read_text(encoding="utf-8"))
    branch = event.get("branch")
    if event.get("command") not in ("revise", "retry") or not isinstance(branch, str):
        return "", ""
    if not branch.startswith("bmad/story-") or not all(c.isalnum() or c in "-/_" for c in branch):
        raise click.UsageError("steer.json names a branch that is not a story branch")
    base = gitlib.head(repo_dir) or ""
    gitlib.git(repo_dir, "switch", "-q", branch)
    feedback = event.get("feedback")
    return (feedback if isinstance(feedback, str) else ""), base


def steered_event(steer_dir: Path | None) -> Path | None:
    """steer.json in ``steer_dir`` when the steer job left one (a comment on the PR), else None."""
    if steer_dir is None:
        return None
    path = steer_dir / "steer.json"
    return path if path.is_file() else None


STEP_OUTPUT_VALUE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


def write_step_outputs(path: str | None, outputs: dict[str, str]) -> None:
    """Append name=value lines to $GITHUB_OUTPUT (the code-scanning job reads the branch and commit).

    Only plain branch names and hex commits are written, so no value can add a line of its own.
    """
    if not path:
        return
    safe = {name: value for name, value in outputs.items() if STEP_OUTPUT_VALUE.fullmatch(value)}
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in safe.items())


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
    write_step_outputs(os.environ.get("GITHUB_OUTPUT"), {"skip": "true" if receipt.skip else "false"})
    if receipt.published is not None:
        click.echo(f"story {receipt.story.id}: already published as PR #{receipt.published.number}; skipping")
    else:
        click.echo(f"story {receipt.story.id}: accepted")
    return 0
