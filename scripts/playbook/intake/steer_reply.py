"""The answer to a refused steer command on an IaC pull request: one neutralised reply and a 😕.

`playbook steer` does not fail on a refusal (a job log is not where the owner looks): it records the
refusal in steer.json, and the `steer-reply` job — pull-requests: write, no model credential — posts
it. The reply starts with a hidden marker naming the comment it answers, so a re-delivered event or a
re-run finds it and posts nothing twice. It quotes nothing of the comment and names no one: nothing the
commenter wrote can ping a person or close an issue through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from playbook.errors import ForgeError, PayloadError, PlaybookError
from playbook.ports import Forge

MARKER = "<!-- bmad-steer-reply comment={comment} -->"
REACTION = "confused"  # command_queue.FAILED: the reaction a failed command gets on the playbook issue
_COMMANDS = ("revise", "retry", "review")


def refusal_record(*, command: str, comment_id: int, pr: int, error: PlaybookError) -> dict[str, Any]:
    """steer.json for a refused command: what to answer, where, and why (our own words only)."""
    return {"command": command if command in _COMMANDS else "", "comment_id": comment_id, "pr": pr,
            "error": error.message, "fix": error.fix or ""}


def reply_body(record: Mapping[str, Any]) -> str:
    from playbook.sanitize import cap, neutralize_for_github

    command = str(record.get("command") or "")
    name = f"/{command}" if command in _COMMANDS else "The command"
    text = f"{name} was not run: {record['error']}."
    if record.get("fix"):
        text += f" Fix: {record['fix']}."
    return MARKER.format(comment=int(record["comment_id"])) + "\n" + cap(neutralize_for_github(text), 4000)


def post_refusal(forge: Forge, record: Mapping[str, Any]) -> str:
    """Answer the refused comment once (found again by the marker), then react 😕. Returns what happened."""
    pr, comment_id = record.get("pr"), record.get("comment_id")
    if not isinstance(pr, int) or not isinstance(comment_id, int) or pr < 1 or comment_id < 1 or not record.get("error"):
        raise PayloadError("steer.json holds no refusal to answer", fix="run `playbook steer` first")
    body = reply_body(record)
    marker = body.splitlines()[0]
    if any(c.body.startswith(marker) for c in forge.list_comments(pr)):
        return f"PR #{pr}: comment {comment_id} was already answered; nothing posted"
    forge.create_comment(pr, body)
    try:
        forge.add_reaction(comment_id, REACTION)
    except ForgeError:
        pass  # a courtesy: the reply is what the owner reads
    return f"PR #{pr}: answered comment {comment_id} (refused)"
