"""`playbook review` (read-only, no GitHub token) and `playbook post-review` (posts the COMMENT review)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from playbook.settings import Settings

if TYPE_CHECKING:
    from playbook.adapters.github import GitHubForge


@click.command("review")
@click.option("--event-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="The repository_dispatch (bmad-story) event of this run.")
@click.option("--playbook-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--repo-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="A checkout of the target repo with the story branch fetched; the review runs here, read-only.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("review-result"),
              show_default=True, help="Where review.json is written.")
@click.option("--steer", "steer_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the steer job left steer.json (/review on the PR); used instead of --event-file.")
@click.option("--agent-user", default=None, envvar="PLAYBOOK_AGENT_USER",
              help="Run the CLI as this unprivileged user over a scratch copy, as `playbook dev` does (needs root).")
def review(event_file: Path, playbook_dir: Path, repo_dir: Path, out_dir: Path, steer_dir: Path | None,
           agent_user: str | None) -> int:
    """Review the story branch's change with the code-review skill on the Claude Code CLI (read-only tools)."""
    from playbook.adapters.agent_user import AgentUser
    from playbook.cli.dev import PROTECTED_VARIABLES, steered_event

    steer = steered_event(steer_dir)
    event_file = steer or event_file
    from playbook.adapters import git as gitlib
    from playbook.config import load_config
    from playbook.delivery.devrun import story_path_from_event
    from playbook.delivery.dispatch import story_branch
    from playbook.delivery.review import run_review
    from playbook.planning import artifacts

    payload, story_path = story_path_from_event(event_file)
    story = artifacts.load_story(playbook_dir / story_path)
    branch = story_branch(payload["story_path"], story.id)
    base = gitlib.head(repo_dir) or ""
    gitlib.git(repo_dir, "switch", "-q", branch)
    settings = Settings.from_env(os.environ, root=playbook_dir)
    record = run_review(story_path=story_path, playbook_dir=playbook_dir, repo_dir=repo_dir, base_ref=base,
                        kind=payload["target"], settings=settings, config=load_config(playbook_dir), out_dir=out_dir,
                        agent=AgentUser.lookup(agent_user) if agent_user else None,
                        protected=tuple(Path(os.environ[n]) for n in PROTECTED_VARIABLES if os.environ.get(n)))
    record["branch"] = branch
    steered = json.loads(steer.read_text(encoding="utf-8")) if steer is not None else {}
    if steered.get("command") == "review" and isinstance(steered.get("comment_id"), int):
        record["request_comment"] = steered["comment_id"]  # `/review` asked: posted even for a reviewed head
    (out_dir / "review.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    click.echo(f"story {story.id}: {len(record['findings'])} findings" + (f"; {record['error']}" if record["error"]
                                                                          else ""))
    return 0


@click.command("post-review")
@click.option("--review", "review_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="The --out directory of `playbook review`.")
def post_review(review_dir: Path) -> int:
    """Post the review as a COMMENT on the story's pull request; a critical finding makes it a draft."""
    from playbook.delivery.review import REVIEW_FILE
    from playbook.delivery.review import post_review as post
    from playbook.errors import NotFoundError

    record = json.loads((review_dir / REVIEW_FILE).read_text(encoding="utf-8"))
    forge = _job_forge(Settings.from_env(os.environ))
    pull = forge.find_pull(str(record.get("branch") or ""), state="open")
    if pull is None:
        raise NotFoundError(f"no open pull request for {record.get('branch')!r}", fix="publish the story first")
    click.echo(post(forge, pull, record))
    return 0


@click.command("steer")
@click.option("--event-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="The issue_comment event of a comment on an IaC pull request of this (target) repo.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("steer"),
              show_default=True, help="Where steer.json is written for the dev, publish and review jobs.")
@click.option("--output-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A step-output file ($GITHUB_OUTPUT): `command=revise|retry|review`, or `refused=true` "
              "(fixed words only).")
def steer(event_file: Path, out_dir: Path, output_file: Path | None) -> int:
    """Decide a /revise, /retry or /review on an IaC PR (authorised by the target repo's permission API).

    A refused command is recorded in steer.json (`error`) for `playbook steer-reply`, and exits 0.
    """
    from playbook.adapters.github import GitHubForge
    from playbook.intake.steer_flow import run_steer, write_steer
    from playbook.intake.triage import may_be_command

    event = json.loads(event_file.read_text(encoding="utf-8"))
    settings = Settings.from_env(os.environ)

    def playbook_head(repo: str) -> str:
        playbook = GitHubForge(repo, settings.require("playbook_token", "BMAD_PLAYBOOK_TOKEN"),
                               base_url=settings.github_api_url, token_variable="BMAD_PLAYBOOK_TOKEN")
        return playbook.branch_head(playbook.default_branch()) or ""

    comment = event.get("comment") or {}
    if event.get("action") != "created" or not (event.get("issue") or {}).get("pull_request") \
            or not may_be_command(str(comment.get("body") or "")):
        click.echo("not a pull-request command; nothing to do")  # decided before any token is needed
        return 0
    record = run_steer(event, forge=_job_forge(settings), bot_login=settings.bot_login, playbook_head=playbook_head)
    if record is None:
        click.echo("not a pull-request command; nothing to do")
        return 0
    path = write_steer(out_dir, record)
    if record.get("error"):
        click.echo(f"/{record['command']} on PR #{record['pr']} refused: {record['error']}; wrote {path}")
        outputs = "refused=true\n"
    else:
        click.echo(f"/{record['command']} on PR #{record['pr']}: wrote {path}")
        assert record["command"] in ("revise", "retry", "review")  # never free text into the output file
        outputs = f"command={record['command']}\n"
    if output_file is not None:
        with output_file.open("a", encoding="utf-8") as handle:
            handle.write(outputs)
    return 0


@click.command("steer-reply")
@click.option("--steer", "steer_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Where `playbook steer` left steer.json with a refusal.")
def steer_reply(steer_dir: Path) -> int:
    """Answer a refused /revise, /retry or /review once on the IaC PR (no model, pull-requests token only)."""
    from playbook.intake.steer_flow import STEER_FILE
    from playbook.intake.steer_reply import post_refusal

    record = json.loads((steer_dir / STEER_FILE).read_text(encoding="utf-8"))
    forge = _job_forge(Settings.from_env(os.environ))
    click.echo(post_refusal(forge, record))
    return 0


def _job_forge(settings: Settings) -> GitHubForge:
    """This (target) repository with the job's own token, as post-review, steer and steer-reply use it."""
    from playbook.adapters.github import GitHubForge
    from playbook.errors import MissingSecretError

    token = settings.require("github_token", "GITHUB_TOKEN")
    if not settings.github_repository:
        raise MissingSecretError("GITHUB_REPOSITORY", where="run inside GitHub Actions, or set GITHUB_REPOSITORY")
    return GitHubForge(settings.github_repository, token, base_url=settings.github_api_url)
