"""`playbook review` (read-only, no GitHub token) and `playbook post-review` (posts the COMMENT review)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from playbook.settings import Settings


@click.command("review")
@click.option("--event-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="The repository_dispatch (bmad-story) event of this run.")
@click.option("--playbook-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--repo-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="A checkout of the target repo with the story branch fetched; the review runs here, read-only.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("review-result"),
              show_default=True, help="Where review.json is written.")
def review(event_file: Path, playbook_dir: Path, repo_dir: Path, out_dir: Path) -> int:
    """Review the story branch's change with the code-review skill on the Claude Code CLI (read-only tools)."""
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
                        kind=payload["target"], settings=settings, config=load_config(playbook_dir), out_dir=out_dir)
    record["branch"] = branch
    (out_dir / "review.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    click.echo(f"story {story.id}: {len(record['findings'])} findings" + (f"; {record['error']}" if record["error"]
                                                                          else ""))
    return 0


@click.command("post-review")
@click.option("--review", "review_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="The --out directory of `playbook review`.")
def post_review(review_dir: Path) -> int:
    """Post the review as a COMMENT on the story's pull request; a critical finding makes it a draft."""
    from playbook.adapters.github import GitHubForge
    from playbook.delivery.review import REVIEW_FILE
    from playbook.delivery.review import post_review as post
    from playbook.errors import MissingSecretError, NotFoundError

    settings = Settings.from_env(os.environ)
    token = settings.require("github_token", "GITHUB_TOKEN")
    if not settings.github_repository:
        raise MissingSecretError("GITHUB_REPOSITORY", where="run inside GitHub Actions, or set GITHUB_REPOSITORY")
    record = json.loads((review_dir / REVIEW_FILE).read_text(encoding="utf-8"))
    forge = GitHubForge(settings.github_repository, token, base_url=settings.github_api_url)
    pull = forge.find_pull(str(record.get("branch") or ""), state="open")
    if pull is None:
        raise NotFoundError(f"no open pull request for {record.get('branch')!r}", fix="publish the story first")
    click.echo(post(forge, pull, record))
    return 0
