"""Who may steer a request: a pure policy over the collaborator-permission API's answer.

``author_association`` is deliberately NOT an input: it says OWNER/MEMBER/COLLABORATOR for people
whose repository permission may be read-only, and CONTRIBUTOR for private org members who can write.
The permission API (``GET /repos/{repo}/collaborators/{user}/permission``) is the only source.
If that call fails, the caller fails closed (no write, non-zero exit); this module never sees it.

Bots never run commands: not other apps (``evil-app[bot]``, or an app whose login lacks the suffix
but whose type is ``Bot``), and not our own identity, so a bot comment quoting ``/revise`` cannot
start a loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from playbook.intake.triage import is_bot as is_bot  # the one identity rule; triage needs it cheaply

ALLOWED_PERMISSIONS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def authorize_command(permission: str, *, login: str, user_type: str, bot_login: str) -> Decision:
    """May ``login`` (with repository ``permission``) run a slash command? Reasons name no user text."""
    if not login:
        return Decision(False, "the comment has no author")
    if is_bot(login, user_type, bot_login=bot_login):
        return Decision(False, "commands from bots and apps are ignored")
    level = (permission or "none").strip().lower()
    if level not in ALLOWED_PERMISSIONS:
        return Decision(
            False,
            f"permission '{level if level.isalpha() else 'unknown'}' is below write; "
            "ask a maintainer for write access to run commands",
        )
    return Decision(True, f"permission '{level}' allows commands")
