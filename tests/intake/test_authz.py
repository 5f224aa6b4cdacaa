"""Authorization policy: the permission API's answer decides; association and bot suffixes never help."""

from __future__ import annotations

import pytest

from playbook.intake.authz import ALLOWED_PERMISSIONS, authorize_command, is_bot

BOT = "github-actions[bot]"

# (permission from the API, author_association as GitHub reports it, login, user type, allowed)
TABLE = [
    ("admin", "OWNER", "owner", "User", True),
    ("maintain", "MEMBER", "maint", "User", True),
    ("write", "COLLABORATOR", "writer", "User", True),
    ("write", "CONTRIBUTOR", "private-org-member", "User", True),  # association would mislead
    ("triage", "MEMBER", "triager", "User", False),
    ("read", "OWNER", "reader", "User", False),  # the API wins over OWNER/MEMBER
    ("read", "MEMBER", "reader", "User", False),
    ("read", "COLLABORATOR", "reader", "User", False),
    ("none", "NONE", "stranger", "User", False),
    ("", "NONE", "stranger", "User", False),
    ("WRITE ", "MEMBER", "shouty", "User", True),
    ("superuser", "OWNER", "weird", "User", False),
    ("admin", "NONE", "evil-app[bot]", "Bot", False),
    ("admin", "NONE", "evil-app[bot]", "User", False),  # suffix alone still marks a bot
    ("admin", "NONE", "app-without-suffix", "Bot", False),
    ("admin", "NONE", BOT, "Bot", False),  # our own comments never run commands
    ("admin", "NONE", "GitHub-Actions[bot]", "Bot", False),
    ("admin", "OWNER", "", "User", False),
]


@pytest.mark.parametrize(("permission", "association", "login", "user_type", "allowed"), TABLE,
                         ids=[f"{p or 'empty'}-{a}-{login or 'nologin'}-{t}" for p, a, login, t, _ in TABLE])
def test_authorize_command(permission: str, association: str, login: str, user_type: str, allowed: bool) -> None:
    decision = authorize_command(permission, login=login, user_type=user_type, bot_login=BOT)
    assert decision.allowed is allowed
    assert decision.reason


def test_threshold_is_exactly_write_maintain_admin() -> None:
    assert frozenset({"admin", "maintain", "write"}) == ALLOWED_PERMISSIONS


def test_configured_bot_login_is_a_bot_even_as_a_user_account() -> None:
    # A PAT-backed machine user has type User; configuring its login still stops self-triggering.
    assert is_bot("homelab-bot", "User", bot_login="homelab-bot")
    assert is_bot("HomeLab-Bot", "User", bot_login="homelab-bot")
    assert not is_bot("homelab-bot", "User", bot_login="")
    assert not is_bot("octocat", "User", bot_login="homelab-bot")
    assert not authorize_command("admin", login="homelab-bot", user_type="User", bot_login="homelab-bot").allowed


def test_refusal_reason_does_not_echo_odd_permission_text() -> None:
    decision = authorize_command("<script>@everyone", login="x", user_type="User", bot_login=BOT)
    assert not decision.allowed
    assert "<script>" not in decision.reason and "@everyone" not in decision.reason
