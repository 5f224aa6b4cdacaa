"""Local mode commands: plan, approve, revise, status, list.

Each works on the checkout named by --repo, else $PLAYBOOK_DIR, else the current directory
(any directory inside the checkout will do), and prints JSON with --json.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

from playbook.settings import Settings

REVISION_ARG = re.compile(r"^r?([1-9][0-9]{0,5})$")


def _repo_option(f):  # type: ignore[no-untyped-def]
    return click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="The playbook checkout (default: $PLAYBOOK_DIR, else the current directory).")(f)


def _offline_option(f):  # type: ignore[no-untyped-def]
    return click.option("--offline/--online", default=None,
                        help="Force the offline planner, or require Gemini (default: Gemini when GEMINI_API_KEY is set).")(f)


def _json_option(f):  # type: ignore[no-untyped-def]
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)


def _resolve(repo: Path | None) -> tuple[Path, Settings]:
    from playbook.planning.local import checkout_root

    settings = Settings.from_env(os.environ, root=repo)
    root = checkout_root(settings.root)
    return root, Settings.from_env(os.environ, root=root)


def _planner(root: Path, settings: Settings, offline: bool | None, quiet: bool):  # type: ignore[no-untyped-def]
    from playbook.planning.local import build_planner

    def progress(message: str) -> None:
        if not quiet:
            click.secho(f"… {message}", fg="cyan", err=True)

    return build_planner(settings, root=root, offline=offline, progress=progress)


def _step_record(result: Any) -> dict[str, Any]:
    return {"phase": result.phase.value, "revision": result.revision, "commit": result.commit, "noop": result.noop,
            "model": result.model, "provider": result.provider, "usage": dict(result.usage or {}),
            "files": list(result.files), "fallbacks": list(result.skipped_routes)}


def _echo_step(result: Any) -> None:
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


def _draft_path(result: Any) -> str:
    from playbook.planning.phases import SPEC

    name = SPEC[result.phase].filename
    return next((f for f in result.files if f.endswith("/" + name)), name)


def _review_hint(result: Any) -> str:
    from playbook.planning.phases import SPEC

    return (f"next: review the {SPEC[result.phase].title} ({_draft_path(result)}), then "
            f"`playbook approve r{result.revision}` or `playbook revise \"<feedback>\"`")


@click.command()
@click.argument("request")
@_repo_option
@_offline_option
@_json_option
@click.option("--quick", is_flag=True, help="The quick flow for a small change: one quick spec (the stories), "
              "no brief, PRD or architecture.")
def plan(request: str, repo: Path | None, offline: bool | None, as_json: bool, quick: bool) -> int:
    """Start REQUEST on a new bmad/<id>-<slug> branch (from the default branch) and draft the Product Brief."""
    from playbook.planning import local

    root, settings = _resolve(repo)
    result = local.plan(root, request, _planner(root, settings, offline, as_json), flow="quick" if quick else "full")
    if as_json:
        click.echo(json.dumps({"branch": result.branch, "base": result.base, "truncated": result.truncated,
                               "kept_chars": result.kept_chars, "step": _step_record(result.step),
                               "review": _draft_path(result.step)}, indent=2))
        return 0
    if result.truncated:
        click.secho(f"warning: the request was longer than limits.request_chars; only its first "
                    f"{result.kept_chars} characters were used (the artifacts say so too)", fg="yellow", err=True)
    click.echo(f"branch {result.branch} (from {result.base})")
    _echo_step(result.step)
    click.echo(_review_hint(result.step))
    return 0


@click.command()
@click.argument("revision", required=False)
@_repo_option
@_offline_option
@_json_option
@click.option("--override", is_flag=True, help="Approve the stories although the readiness check did not pass.")
def approve(revision: str | None, repo: Path | None, offline: bool | None, as_json: bool, override: bool) -> int:
    """Approve the current draft (optionally naming the revision you read, e.g. r2) and draft the next phase.

    A draft you edited by hand is recorded as its own revision first; approve that one next.
    """
    from playbook.planning import local

    expected = None
    if revision is not None:
        match = REVISION_ARG.fullmatch(revision)
        if match is None:
            raise click.UsageError(f"{revision!r} is not a revision; name the one you reviewed, e.g. `playbook approve r2`")
        expected = int(match.group(1))
    root, settings = _resolve(repo)
    outcome = local.approve(root, _planner(root, settings, offline, as_json), revision=expected, override=override)
    if as_json:
        click.echo(json.dumps({"approved": not outcome.hand_edit,
                               "hand_edit": _step_record(outcome.hand_edit) if outcome.hand_edit else None,
                               "steps": [_step_record(s) for s in outcome.steps]}, indent=2))
        return 0
    if outcome.hand_edit is not None:
        edit = outcome.hand_edit
        click.echo(f"{edit.phase.value}: your hand edit is recorded as r{edit.revision} "
                   f"({edit.commit[:10] if edit.commit else 'no change'}); nothing was approved")
        click.echo(f"next: review it, then `playbook approve r{edit.revision}`")
        return 0
    for result in outcome.steps:
        _echo_step(result) if result.model else click.echo(
            f"{result.phase.value}: r{result.revision} approved ({result.commit[:10] if result.commit else 'no change'})")
    last = outcome.steps[-1]
    if last.model:
        click.echo(_review_hint(last))
    else:
        click.echo("planning is complete: `playbook status` lists the stories; "
                   "`playbook dev --story <ID> --target-dir <target checkout>` implements one")
    return 0


@click.command()
@click.argument("feedback")
@_repo_option
@_offline_option
@_json_option
def revise(feedback: str, repo: Path | None, offline: bool | None, as_json: bool) -> int:
    """Regenerate the current draft with FEEDBACK (the old revision stays in git history)."""
    from playbook.planning import local

    root, settings = _resolve(repo)
    result = local.revise(root, _planner(root, settings, offline, as_json), feedback)
    if as_json:
        click.echo(json.dumps({"step": _step_record(result)}, indent=2))
        return 0
    _echo_step(result)
    click.echo(_review_hint(result))
    return 0


@click.command()
@_repo_option
@_json_option
def status(repo: Path | None, as_json: bool) -> int:
    """Show each phase's revision, status, model and cost, and the commands that work here."""
    from playbook.adapters.git import current_branch
    from playbook.planning import local

    root, _ = _resolve(repo)
    if local.current_request(root) is None:
        return _status_without_request(root, current_branch(root), as_json)
    state = local.status(root)
    current = state.current
    allowed = [c.replace("[r<N>]", f"r{current.revision}") if current and current.exists else c
               for c in local.local_commands(state.stage)]
    if as_json:
        click.echo(json.dumps({
            "request": state.request, "title": state.title, "stage": state.stage.value,
            "branch": current_branch(root),
            "phases": [{"phase": p.phase.value, "path": p.path, "revision": p.revision, "status": p.status,
                        "model": p.model, "usage": p.usage, "trigger": p.trigger} for p in state.phases],
            "stories": [{"id": s.id, "title": s.title, "target": s.target, "status": s.status, "path": s.path}
                        for s in state.stories],
            "usage": state.usage, "allowed": [c.split()[1] for c in allowed], "next": allowed,
        }, indent=2))
        return 0
    click.echo(f"request {state.request}: {state.title}")
    click.echo(f"stage: {state.stage.value}")
    for p in state.phases:
        mark = "x" if p.approved else ("~" if p.exists else " ")
        detail = f"r{p.revision} {p.status} — {p.model}, est. ${p.usage.get('cost_usd', 0):.4f}" if p.exists else "not started"
        if p.trigger == local.HAND_EDIT_TRIGGER:
            detail += " (hand edit)"
        click.echo(f"  [{mark}] {p.title:<16} {detail}")
    for s in state.stories:
        click.echo(f"      story {s.id} [{s.target}] {s.title} — {s.status}")
    from playbook.planning import ledger

    total = state.usage  # every revision of every phase, and any dev runs reported back
    click.echo(f"total: {ledger.tokens_text(total).replace(' / ', '/')} tokens, est. {ledger.cost_text(total)}")
    if state.stage in local.LOCAL_HINT:
        click.echo(f"note: {local.LOCAL_HINT[state.stage]}")
    click.echo("next: " + "; ".join(f"`{c}`" for c in allowed))
    return 0


def _status_without_request(root: Path, branch: str, as_json: bool) -> int:
    from playbook.planning import local

    requests = local.list_requests(root)
    allowed = local.local_commands(None)
    if as_json:
        click.echo(json.dumps({"request": None, "branch": branch, "requests": len(requests),
                               "allowed": [c.split()[1] for c in allowed], "next": allowed}, indent=2))
        return 0
    click.echo(f"on {branch}: no request is checked out ({len(requests)} in this repository)")
    click.echo("next: " + "; ".join(f"`{c}`" for c in allowed))
    return 0


@click.command("list")
@_repo_option
@_json_option
def list_(repo: Path | None, as_json: bool) -> int:
    """List every request in the repository: branch, stage, revision, next step and cost."""
    from dataclasses import asdict

    from playbook.planning import local

    root, _ = _resolve(repo)
    requests = local.list_requests(root)
    if as_json:
        click.echo(json.dumps({"requests": [asdict(r) for r in requests]}, indent=2))
        return 0
    if not requests:
        click.echo('no requests yet: start one with `playbook plan "<request>"`')
        return 0
    for r in requests:
        mark = "*" if r.checked_out else " "
        where = f"{r.phase} r{r.revision}" if r.phase else "all phases approved"
        click.echo(f"{mark} {r.request:<40} {r.stage:<18} {where:<18} est. ${r.cost_usd:.4f}  {r.branch}")
        click.echo(f"    next: {'; '.join(r.next)}")
    return 0
