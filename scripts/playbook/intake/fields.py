"""Reading fields out of a webhook payload: the typed checks ``events`` parses every payload with.

Standard library only and no dataclasses, so ``triage`` (which answers "is this plain comment
ignored?" before anything heavier is imported) reads a payload with exactly the same rules as the
full parse. A field of the wrong type raises ``Malformed``; the full parse turns that into a
rejected event, and triage hands the event on to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


class Malformed(Exception):
    """A payload field is missing or of the wrong type."""


def obj(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise Malformed(f"'{key}' is not an object")
    return value


def text(parent: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = parent.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise Malformed(f"'{key}' is not a string")
    return value


def integer(parent: Mapping[str, Any], key: str) -> int:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"'{key}' is not an integer")
    return value


def login(parent: Mapping[str, Any], key: str) -> tuple[str, str]:
    """(login, type) of a user object; empty strings when it is absent (a deleted account)."""
    user = parent.get(key)
    if not isinstance(user, Mapping):
        return "", ""
    name, kind = user.get("login"), user.get("type")
    return (name if isinstance(name, str) else ""), (kind if isinstance(kind, str) else "")


def labels(parent: Mapping[str, Any]) -> tuple[str, ...]:
    value = parent.get("labels") or []
    if not isinstance(value, list):
        raise Malformed("'labels' is not a list")
    names = [item.get("name") if isinstance(item, Mapping) else item for item in value]
    return tuple(name for name in names if isinstance(name, str))


def timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise Malformed("'created_at' is not a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed("'created_at' is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Malformed("'created_at' has no time zone")
    return parsed


def comment_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an ``issue_comment`` payload that ``events.CommentEvent`` holds, checked."""
    issue = obj(payload, "issue")
    comment = obj(payload, "comment")
    author, author_type = login(comment, "user")
    return {
        "action": text(payload, "action"),
        "issue_number": integer(issue, "number"),
        "issue_title": text(issue, "title", default=""),
        "issue_labels": labels(issue),
        "is_pull_request": issue.get("pull_request") is not None,
        "comment_id": integer(comment, "id"),
        "body": text(comment, "body", default=""),
        "author": author,
        "author_type": author_type,
        "created_at": timestamp(comment.get("created_at")),
    }
