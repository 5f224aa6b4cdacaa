"""Local mode commands: plan, approve, revise, status."""

from __future__ import annotations

import os
from pathlib import Path

import click

from playbook.settings import Settings


def _repo_option(f):  # type: ignore[no-untyped-def]
    return click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=".",
                        show_default=True, help="The playbook repository checkout.")(f)


def _offline_option(f):  # type: ignore[no-untyped-def]
    return click.option("--offline/--online", default=None,
                        help="Force the offline planner, or require Gemini (default: Gemini when GEMINI_API_KEY is set).")(f)


def _planner(repo: Path, offline: bool | None):  # type: ignore[no-untyped-def]
    from playbook.planning.local import build_planner

    settings = Settings.from_env(os.environ, root=repo)
    return build_planner(settings, root=repo.resolve(), offline=offline,
                         progress=lambda m: click.secho(f"… {m}", fg="cyan", err=True))


def _echo_step(result) -> None:  # type: ignore[no-untyped-def]
    if result.noop:
        click.echo(f"{result.phase.value}: already done (r{result.revision}); nothing changed")
        return
    usage = result.usage
    line = f"{result.phase.value}: r{result.revision} committed {result.commit[:10] if result.commit else '(no change)'}"
    if result.model:
        line += (f" — {result.model} ({result.provider}), tokens {usage.get('input_tokens', 0)}/"
                 f"{usage.get('output_tokens', 0)}, est. ${usage.get('cost_usd', 0):.4f}")
    click.echo(line)
    for skipped in result.skipped_routes:
        click.secho(f"  fallback: {skipped}", fg="yellow")


@click.command()
@click.argument("request")
@_repo_option
@_offline_option
@click.option("--quick", is_flag=True, help="The quick flow for a small change: one quick spec (the stories), "
              "no brief, PRD or architecture.")
def plan(request: str, repo: Path, offline: bool | None, quick: bool) -> int:
    """Start REQUEST on a new bmad/<id>-<slug> branch and draft the Product Brief (or, --quick, the quick spec)."""
    from playbook.planning import local

    result = local.plan(repo.resolve(), request, _planner(repo, offline), flow="quick" if quick else "full")
    _echo_step(result)
    click.echo(f"next: review {result.files[-1] if result.files else 'the brief'}, then `playbook approve` "
               "or `playbook revise \"<feedback>\"`")
    return 0


@click.command()
@_repo_option
@_offline_option
@click.option("--override", is_flag=True,
              help="Approve the stories although the readiness check did not pass.")
def approve(repo: Path, offline: bool | None, override: bool) -> int:
    """Approve the current draft and generate the next phase."""
    from playbook.planning import local

    for result in local.approve(repo.resolve(), _planner(repo, offline), override=override):
        _echo_step(result) if result.model else click.echo(
            f"{result.phase.value}: r{result.revision} approved ({result.commit[:10] if result.commit else 'no change'})")
    return 0


@click.command()
@click.argument("feedback")
@_repo_option
@_offline_option
def revise(feedback: str, repo: Path, offline: bool | None) -> int:
    """Regenerate the current draft with FEEDBACK (the old revision stays in git history)."""
    from playbook.planning import local

    _echo_step(local.revise(repo.resolve(), _planner(repo, offline), feedback))
    return 0


@click.command()
@_repo_option
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def status(repo: Path, as_json: bool) -> int:
    """Show each phase's revision, status, model and cost."""
    import json

    from playbook.planning import local
    from playbook.planning.phases import ALWAYS_ALLOWED, COMMAND_TABLE

    state = local.status(repo.resolve())
    allowed = sorted({c for (c, stage) in COMMAND_TABLE if stage is state.stage} | ALWAYS_ALLOWED)
    if as_json:
        click.echo(json.dumps({
            "request": state.request, "title": state.title, "stage": state.stage.value,
            "phases": [{"phase": p.phase.value, "path": p.path, "revision": p.revision, "status": p.status,
                        "model": p.model, "usage": p.usage} for p in state.phases],
            "stories": [{"id": s.id, "title": s.title, "target": s.target, "status": s.status, "path": s.path}
                        for s in state.stories],
            "usage": state.usage, "allowed": allowed,
        }, indent=2))
        return 0
    click.echo(f"request {state.request}: {state.title}")
    click.echo(f"stage: {state.stage.value}")
    for p in state.phases:
        mark = "x" if p.approved else ("~" if p.exists else " ")
        detail = f"r{p.revision} {p.status} — {p.model}, est. ${p.usage.get('cost_usd', 0):.4f}" if p.exists else "not started"
        click.echo(f"  [{mark}] {p.title:<16} {detail}")
    for s in state.stories:
        click.echo(f"      story {s.id} [{s.target}] {s.title} — {s.status}")
    total = state.usage
    click.echo(f"total: {int(total['input_tokens'])}/{int(total['output_tokens'])} tokens, est. ${total['cost_usd']:.4f}")
    click.echo(f"allowed next: {', '.join(allowed)}")
    return 0
