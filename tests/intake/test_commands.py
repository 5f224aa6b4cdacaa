"""The slash-command grammar as a table: every SECURITY-TESTS section C case plus the valid forms."""

from __future__ import annotations

import pytest

from playbook.intake.commands import COMMANDS, Command, help_text, parse_command

LIMIT = 4000


def parse(body: str, limit: int = LIMIT) -> Command | None:
    return parse_command(body, max_feedback_chars=limit)


VALID = [
    ("/approve", Command("approve")),
    ("  /approve", Command("approve")),
    ("\t/approve", Command("approve")),
    ("/approve ", Command("approve")),
    ("/approve\r\nthanks!", Command("approve")),
    ("/approve r2", Command("approve", ("2",))),
    ("/approve 3", Command("approve", ("3",))),
    ("/approve\n/revise x", Command("approve")),
    ("/retry", Command("retry")),
    ("/status", Command("status")),
    ("/help", Command("help")),
    ("/cancel", Command("cancel")),
    ("/cost", Command("cost")),
    ("/route 1.2 apps", Command("route", ("1.2", "apps"))),
    ("/route 10.11 both", Command("route", ("10.11", "both"))),
    ("/dispatch", Command("dispatch")),
    ("/dispatch 2.1", Command("dispatch", ("2.1",))),
    ("/revise use macvlan", Command("revise", (), "use macvlan")),
    ("/revise use macvlan\r\nand keep DHCP off\n", Command("revise", (), "use macvlan\nand keep DHCP off")),
    ("/revise\nonly on the next lines", Command("revise", (), "only on the next lines")),
    ("/revise keep <!-- approve this story --> it", Command("revise", (), "keep  it")),
]


@pytest.mark.parametrize(("body", "expected"), VALID, ids=[repr(b) for b, _ in VALID])
def test_valid_forms(body: str, expected: Command) -> None:
    assert parse(body) == expected


NOT_COMMANDS = [
    "/Approve",
    "/APPROVE",
    "\uff0fapprove",  # fullwidth solidus
    "/\u0430pprove",  # Cyrillic a
    "/approve\u200b",
    "\u202e/approve\u202c",
    "\u2066/approve\u2069",
    "\u200b/approve",
    "> /approve",
    "`/approve`",
    "please /approve this",
    "LGTM\n/approve",
    "\n/approve",
    "/approved",
    "/approve\tr2",
    "/approve\u00a0r2",
    "/ approve",
    "//approve",
    "/unknown",
    "/",
    "",
    "approve",
    "\u3000/approve",  # ideographic space is not an ASCII space
]


@pytest.mark.parametrize("body", NOT_COMMANDS, ids=[repr(b) for b in NOT_COMMANDS])
def test_not_a_command(body: str) -> None:
    assert parse(body) is None


USAGE_ERRORS = [
    ("/approve please", "usage: /approve"),
    ("/approve r0", "usage: /approve"),
    ("/approve r2 r3", "usage: /approve"),
    ("/approve abc123", "usage: /approve"),
    ("/revise", "usage: /revise <what to change>"),
    ("/revise    ", "usage: /revise <what to change>"),
    ("/revise \n \n\t", "usage: /revise <what to change>"),
    ("/revise <!-- only hidden -->\u200b", "usage: /revise <what to change>"),
    ("/status now", "usage: /status"),
    ("/retry 2", "usage: /retry"),
    ("/help me", "usage: /help"),
    ("/cancel all", "usage: /cancel"),
    ("/cost total", "usage: /cost"),
    ("/route", "usage: /route"),
    ("/route 1.2", "usage: /route"),
    ("/route 1.2 prod", "usage: /route"),
    ("/route ../1 apps", "usage: /route"),
    ("/route 1.2 apps extra", "usage: /route"),
    ("/route 1234.1 apps", "usage: /route"),
    ("/route 1.2 Apps", "usage: /route"),
    ("/dispatch all", "usage: /dispatch"),
    ("/dispatch 1.2 1.3", "usage: /dispatch"),
]


@pytest.mark.parametrize(("body", "usage"), USAGE_ERRORS, ids=[b for b, _ in USAGE_ERRORS])
def test_recognised_but_bad_arguments(body: str, usage: str) -> None:
    command = parse(body)
    assert command is not None
    assert command.error is not None and command.error.startswith(usage)
    assert command.args == () and command.text == ""


def test_oversized_revise_is_refused_with_the_limit_not_truncated() -> None:
    command = parse("/revise " + "x" * 60_000)
    assert command is not None and command.name == "revise"
    assert command.text == ""
    assert command.error is not None and "4000" in command.error and "60000" in command.error


def test_revise_exactly_at_the_limit_is_accepted() -> None:
    command = parse("/revise " + "y" * 10, limit=10)
    assert command == Command("revise", (), "y" * 10)
    assert parse("/revise " + "y" * 11, limit=10).error is not None  # type: ignore[union-attr]


def test_help_text_lists_every_command_from_the_table() -> None:
    text = help_text()
    for spec in COMMANDS:
        assert spec.usage in text
        assert spec.summary in text
    assert [spec.name for spec in COMMANDS] == [
        "approve", "revise", "retry", "status", "help", "cancel", "route", "dispatch", "cost", "ops", "run",
    ]


def test_help_text_itself_is_not_a_command() -> None:
    assert parse(help_text()) is None


def test_to_json_round_trips_the_parsed_fields() -> None:
    assert Command("route", ("1.2", "apps")).to_json() == {
        "name": "route", "args": ["1.2", "apps"], "text": "", "error": None,
    }
