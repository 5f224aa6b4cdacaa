"""The cheap first look at an event: is it a comment the playbook certainly ignores?

Most ``issue_comment`` events are conversation, not commands, and every one of them starts a job.
``quick_ignore`` answers from the event file with the standard library only — no dataclasses, no
settings object, no command table, no SDK — and says *only* what the full path (``events.decide``)
would say: the same field checks (``fields``), the same rules in the same order, the same reason.
Anything it is not certain about (another event, an odd payload, a file too big to read cheaply, a
first line that starts with ``/``) returns None and goes the full way, which also produces every
error message. A test runs both over the webhook examples and a table of bodies and requires that
they agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# GitHub caps webhook payloads at 25 MB; its payloads nest about a dozen levels deep.
MAX_EVENT_BYTES = 25 * 1024 * 1024
MAX_EVENT_DEPTH = 64
# A comment event holds at most two 65,536-character texts (issue body and comment): well under this.
# Bigger files go the full way, which checks the real limit.
QUICK_MAX_BYTES = 1024 * 1024
DEFAULT_BOT_LOGIN = "github-actions[bot]"  # settings.Settings.bot_login (a test keeps them equal)


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def is_bot(login: str, user_type: str, *, bot_login: str = "") -> bool:
    """True for any automated identity: type Bot, a ``[bot]`` login, or our own configured login.

    A ``[bot]`` suffix can only make an actor *less* trusted, never more.
    """
    name = (login or "").strip().lower()
    own = (bot_login or "").strip().lower()
    return user_type == "Bot" or name.endswith("[bot]") or (bool(own) and name == own)


def comment_ignore_reason(*, action: str, comment_id: int, is_pull_request: bool, author: str,
                          author_type: str, bot_login: str) -> str | None:
    """Why a comment is ignored before its text is read; None when its text decides."""
    if action != "created":
        return f"comment {comment_id}: only new comments are read"
    if is_pull_request:
        return f"comment {comment_id}: commands are read on request issues, not pull requests"
    if is_bot(author, author_type, bot_login=bot_login):
        return f"comment {comment_id}: written by a bot or app"
    return None


def not_a_command(comment_id: int) -> str:
    return f"comment {comment_id}: not a command"


def may_be_command(body: str) -> bool:
    """False when the first line cannot hold a command: every command starts ``[ \\t]*/`` on it."""
    return body.partition("\n")[0].lstrip(" \t").startswith("/")


def quick_ignore(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(event name, reason) when this run's event is a comment the full path would ignore; else None."""
    from playbook.intake.fields import Malformed, comment_fields

    name = (environ.get("GITHUB_EVENT_NAME") or "").strip()
    path = (environ.get("GITHUB_EVENT_PATH") or "").strip()
    if name != "issue_comment" or not path:
        return None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(QUICK_MAX_BYTES + 1)
        if len(raw) > QUICK_MAX_BYTES:
            return None
        payload = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, too deep: full path
        return None
    if not isinstance(payload, dict) or depth_exceeds(payload, MAX_EVENT_DEPTH):
        return None
    try:
        fields = comment_fields(payload)
    except (Malformed, TypeError, ValueError, AttributeError, KeyError):
        return None
    bot_login = (environ.get("PLAYBOOK_BOT_LOGIN") or DEFAULT_BOT_LOGIN).strip()
    reason = comment_ignore_reason(action=fields["action"], comment_id=fields["comment_id"],
                                   is_pull_request=fields["is_pull_request"], author=fields["author"],
                                   author_type=fields["author_type"], bot_login=bot_login)
    if reason is None and not may_be_command(fields["body"]):
        reason = not_a_command(fields["comment_id"])
    return (name, reason) if reason is not None else None
