"""Steering an IaC pull request from its conversation in the target repo: `/revise <feedback>`, `/retry`,
`/review`.

Same grammar rules as the request commands (first line, exact lowercase token), from people with write
permission on the *target* repo (the collaborator-permission API, never ``author_association``), on our
own story pull requests only (``bmad/story-*`` head in this repo, our marker in the body, open). The
decision is a ``steer.json`` for the jobs that follow — this step holds no model credential and changes
nothing: the dev job re-runs Claude on the same branch with the feedback, the story and the current diff
(same policy, checks), publish adds one commit and updates the PR body and the issue report; `/review`
re-runs only the review jobs.

A refused command (no write permission, a malformed command, not a story PR) is not a failed job: the
record carries the ``error`` and the comment to answer, and the `steer-reply` job answers it once
(``steer_reply``). A plain comment, an unknown ``/word`` and a bot's comment are ignored silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from playbook.errors import PayloadError
from playbook.intake.commands import FIRST_LINE  # the same grammar as the request commands
from playbook.ports import Forge, PullRequest, PullReviews

PR_COMMANDS = ("revise", "retry", "review")
STEER_FILE = "steer.json"
MAX_FEEDBACK_CHARS = 4000


class PullForge(Forge, PullReviews, Protocol):
    """The forge of the target repo, which also reads a pull request by number and its reviews."""

    def get_pull(self, number: int) -> PullRequest: ...


@dataclass(frozen=True)
class PrCommand:
    name: str
    feedback: str = ""
    error: str | None = None


def parse_pr_command(body: str) -> PrCommand | None:
    """The PR command on the comment's first line, or None when there is none."""
    from playbook.sanitize import strip_hidden

    first, _, rest = body.partition("\n")
    match = FIRST_LINE.fullmatch(first.removesuffix("\r"))
    if match is None or match.group("name") not in PR_COMMANDS:
        return None
    name, same_line = match.group("name"), match.group("rest").strip(" \t")
    if name != "revise":
        return PrCommand(name, error=f"usage: /{name} (takes no arguments)" if same_line else None)
    feedback = strip_hidden(same_line + "\n" + rest).strip()
    if not feedback:
        return PrCommand(name, error="usage: /revise <what to change> — e.g. /revise use port 8081")
    if len(feedback) > MAX_FEEDBACK_CHARS:
        return PrCommand(name, error=f"/revise feedback is {len(feedback)} characters; the limit is {MAX_FEEDBACK_CHARS}")
    return PrCommand(name, feedback)


def authorize_steer(*, forge: Forge, pull: PullRequest, command: PrCommand, author: str, author_type: str,
                    bot_login: str) -> dict[str, Any]:
    """The story marker of ``pull`` when ``command`` may run there; a PayloadError (nothing happens) when not."""
    from playbook.delivery.publish import read_pr_marker
    from playbook.intake.authz import authorize_command

    decision = authorize_command(forge.permission(author), login=author, user_type=author_type, bot_login=bot_login)
    if not decision.allowed:
        raise PayloadError(f"/{command.name} refused: {decision.reason}", fix="ask a maintainer for write access")
    if command.error:
        raise PayloadError(command.error, fix="see the usage line")
    story = read_pr_marker(pull.body) if pull.head.startswith("bmad/story-") else None
    if story is None or pull.state != "open":
        raise PayloadError("this is not an open story pull request of homelab-playbook",
                           fix="comment on the IaC pull request the playbook opened (head bmad/story-…)")
    return story


def steer_record(*, pull: PullRequest, command: PrCommand, story: dict[str, Any], playbook_head: str,
                 comment_id: int = 0) -> dict[str, Any]:
    """steer.json for the jobs that follow: the story's dispatch payload at ``playbook_head`` and the command."""
    from playbook.delivery.payloads import story_key, validate_story_payload
    from playbook.delivery.routing import KIND_ORDER

    payload = validate_story_payload({
        "v": 1, "playbook_repo": story["playbook_repo"], "merge_sha": playbook_head, "story_path": story["story_path"],
        "issue": story["issue"], "target": story["target"], "order": KIND_ORDER[story["target"]],
        "key": story_key(story["playbook_repo"], story["story_path"], story["target"], playbook_head),
    })
    return {"action": "bmad-story", "client_payload": payload, "command": command.name,
            "feedback": command.feedback, "branch": pull.head, "pr": pull.number, "comment_id": comment_id}


def decide_steer(*, forge: Forge, pull: PullRequest, command: PrCommand, author: str, author_type: str,
                 bot_login: str, playbook_head: str) -> dict[str, Any]:
    """The steer record for the jobs that follow; a PayloadError (nothing happens) when it may not run."""
    story = authorize_steer(forge=forge, pull=pull, command=command, author=author, author_type=author_type,
                            bot_login=bot_login)
    return steer_record(pull=pull, command=command, story=story, playbook_head=playbook_head)


def run_steer(event: dict[str, Any], *, forge: PullForge, bot_login: str,
              playbook_head: Callable[[str], str]) -> dict[str, Any] | None:
    """What `playbook steer` does with one issue_comment event: None (ignored silently: not a new comment
    on a PR, not a PR command, a bot), a steer record, or a refusal record (``error``) for the reply job.

    ``playbook_head(repo)`` is asked only once the command is authorised (the playbook token is not used
    for a refused comment).
    """
    from playbook.intake.authz import is_bot
    from playbook.intake.steer_reply import refusal_record

    comment, issue = event.get("comment") or {}, event.get("issue") or {}
    if event.get("action") != "created" or not issue.get("pull_request"):
        return None
    command = parse_pr_command(str(comment.get("body") or ""))
    user = comment.get("user") or {}
    author, author_type = str(user.get("login") or ""), str(user.get("type") or "")
    if command is None or is_bot(author, author_type, bot_login=bot_login):
        return None  # a plain comment, an unknown /word, or a bot (never answered: no loops)
    number, comment_id = int(issue.get("number") or 0), int(comment.get("id") or 0)
    pull = forge.get_pull(number)
    try:
        story = authorize_steer(forge=forge, pull=pull, command=command, author=author, author_type=author_type,
                                bot_login=bot_login)
    except PayloadError as exc:
        return refusal_record(command=command.name, comment_id=comment_id, pr=number, error=exc)
    if already_answered(forge, pull, command.name, comment_id):
        return None  # a re-delivered comment: its commit or its review is already there
    return steer_record(pull=pull, command=command, story=story, playbook_head=playbook_head(story["playbook_repo"]),
                        comment_id=comment_id)


def already_answered(forge: PullReviews, pull: PullRequest, command: str, comment_id: int) -> bool:
    """Whether this comment's change is published (the PR body lists it) or its review posted."""
    from playbook.delivery.publish import steered_comments
    from playbook.delivery.review import REQUEST_MARK

    if command in ("revise", "retry"):
        return comment_id in steered_comments(pull.body)
    mark = REQUEST_MARK.format(comment=comment_id)
    return any(mark in r.body.splitlines()[0] for r in forge.list_reviews(pull.number) if r.body)


def write_steer(out_dir: Path, record: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / STEER_FILE
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path
