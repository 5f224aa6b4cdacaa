"""The first look (``intake.triage``) says only what the full path says: for every stock webhook example
and a table of bodies, authors and actions, either it hands the event on (None) or it gives exactly the
reason ``events.decide`` gives for ignoring it. And it hands on everything the full path would act on or
reject."""

from __future__ import annotations

import copy
import gc
import json
from pathlib import Path
from typing import Any

import pytest

from playbook.intake.events import Ignore, decide, parse_event
from playbook.intake.triage import DEFAULT_BOT_LOGIN, QUICK_MAX_BYTES, quick_ignore
from playbook.settings import Settings

BOT = DEFAULT_BOT_LOGIN
REPO = "Codertocat/Hello-World"  # the repository of the stock examples
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "webhooks-examples"


def _comment_examples() -> list[dict[str, Any]]:
    """Every issue_comment example of @octokit/webhooks-examples (npm ci installs it)."""
    found = []
    for index in sorted(EXAMPLES_DIR.glob("*/index.json")):
        for entry in json.loads(index.read_text(encoding="utf-8")):
            if entry["name"] == "issue_comment":
                found += entry["examples"]
    assert found, f"no issue_comment examples under {EXAMPLES_DIR}: run `npm ci`"
    return found


COMMENT_EXAMPLES = _comment_examples()

BODIES = [
    "Looks good, thanks", "", "   ", "see https://example.org/a/b", "and/or", "/approve", "  /approve",
    "\t/status", "/Approve", "/approve please", "/revise use port 8081", "> /approve", "`/approve`",
    "text\n/approve", "\n/approve", "/approve\r\nmore", "\u200b/approve", "\uff0fapprove", "/", "//",
    "<!-- x -->/approve", "/nonsense", "/revise", "/revise " + "x" * 5000, "\u202e/approve", "@owner /approve",
    "Closes #1", "\x00", "\ud800 lone surrogate",
]
AUTHORS = [("owner", "User"), ("github-actions[bot]", "Bot"), ("evil-app[bot]", "User"), ("some-app", "Bot"),
           ("github-actions[bot]", "User"), ("", "")]
ACTIONS = ["created", "edited", "deleted"]


def _agree(tmp_path: Path, payload: Any, *, bot_login: str = BOT, raw: str | None = None) -> str | None:
    path = tmp_path / "event.json"
    path.write_text(raw if raw is not None else json.dumps(payload), encoding="utf-8", errors="surrogatepass")
    env = {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path), "PLAYBOOK_BOT_LOGIN": bot_login}
    quick = quick_ignore(env)
    action = decide(parse_event("issue_comment", payload), repo=REPO, bot_login=bot_login)
    if quick is not None:
        assert quick == ("issue_comment", action.reason) and isinstance(action, Ignore), (payload, quick, action)
    return quick[1] if quick else None


def _comment(base: dict[str, Any], body: Any, author: tuple[str, str], action: str) -> dict[str, Any]:
    payload = copy.deepcopy(base)
    payload["action"] = action
    payload["comment"]["body"] = body
    payload["comment"]["user"] = {"login": author[0], "type": author[1]}
    return payload


def test_the_stock_comment_examples_agree(tmp_path: Path) -> None:
    assert COMMENT_EXAMPLES
    for payload in COMMENT_EXAMPLES:
        _agree(tmp_path, payload)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("author", AUTHORS)
def test_every_body_author_and_action_agrees(tmp_path: Path, action: str, author: tuple[str, str]) -> None:
    base = next(p for p in COMMENT_EXAMPLES if p["action"] == "created")
    for body in BODIES:
        _agree(tmp_path, _comment(base, body, author, action))


def test_plain_comments_are_decided_at_first_look_and_commands_are_not(tmp_path: Path) -> None:
    base = next(p for p in COMMENT_EXAMPLES if p["action"] == "created")
    owner = ("owner", "User")
    assert _agree(tmp_path, _comment(base, "Looks good, thanks", owner, "created")) is not None
    assert _agree(tmp_path, _comment(base, "see https://example.org/a/b", owner, "created")) is not None
    assert _agree(tmp_path, _comment(base, "/approve", owner, "edited")) is not None  # only new comments
    for body in ("/approve", "  /revise x", "/nonsense", "/"):
        assert _agree(tmp_path, _comment(base, body, owner, "created")) is None


def test_a_machine_user_configured_as_the_bot_is_the_bot_at_first_look_too(tmp_path: Path) -> None:
    base = next(p for p in COMMENT_EXAMPLES if p["action"] == "created")
    payload = _comment(base, "Tracking comment text", ("homelab-bot", "User"), "created")
    assert _agree(tmp_path, payload, bot_login="homelab-bot") == f"comment {base['comment']['id']}: written by a bot or app"


@pytest.mark.parametrize("breakage", ["no-comment", "id-string", "id-bool", "body-int", "created-at", "labels",
                                      "not-object", "issue-null"])
def test_malformed_payloads_are_handed_to_the_full_path(tmp_path: Path, breakage: str) -> None:
    base = next(p for p in COMMENT_EXAMPLES if p["action"] == "created")
    payload: Any = _comment(base, "plain words", ("owner", "User"), "created")
    if breakage == "no-comment":
        del payload["comment"]
    elif breakage == "id-string":
        payload["comment"]["id"] = "5"
    elif breakage == "id-bool":
        payload["comment"]["id"] = True
    elif breakage == "body-int":
        payload["comment"]["body"] = 5
    elif breakage == "created-at":
        payload["comment"]["created_at"] = "yesterday"
    elif breakage == "labels":
        payload["issue"]["labels"] = "bmad:brief"
    elif breakage == "not-object":
        payload = [payload]
    elif breakage == "issue-null":
        payload["issue"] = None
    assert _agree(tmp_path, payload) is None
    # the full path names what is wrong (and logs it); the first look never guesses
    action = decide(parse_event("issue_comment", payload), repo=REPO, bot_login=BOT)
    assert action.reason.startswith(("malformed issue_comment payload", "the event payload is not a JSON object"))


@pytest.mark.parametrize("raw", ["{not json", "[" * 5000 + "]" * 5000, '{"a":' * 100 + "1" + "}" * 100])
def test_unreadable_or_over_deep_files_are_handed_on(tmp_path: Path, raw: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(raw, encoding="utf-8")
    # No collection while the parser is at the recursion limit: a finaliser of some earlier test's
    # leftovers run down there would fail in pytest's unraisable-exception hook, not in the code under test.
    gc.collect()
    gc.disable()
    try:
        assert quick_ignore({"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)}) is None
    finally:
        gc.enable()


def test_big_files_other_events_and_missing_settings_are_handed_on(tmp_path: Path) -> None:
    base = next(p for p in COMMENT_EXAMPLES if p["action"] == "created")
    payload = _comment(base, "plain " + "x" * QUICK_MAX_BYTES, ("owner", "User"), "created")
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    env = {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)}
    assert quick_ignore(env) is None
    assert quick_ignore({**env, "GITHUB_EVENT_NAME": "issues"}) is None
    assert quick_ignore({"GITHUB_EVENT_NAME": "issue_comment"}) is None
    assert quick_ignore({**env, "GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}) is None


@pytest.mark.parametrize("environ", [{}, {"PLAYBOOK_BOT_LOGIN": "homelab-bot"}, {"PLAYBOOK_BOT_LOGIN": "  x[bot] "},
                                     {"PLAYBOOK_BOT_LOGIN": ""}])
def test_the_bot_login_is_read_as_settings_reads_it(environ: dict[str, str]) -> None:
    expected = Settings.from_env(environ).bot_login
    assert (environ.get("PLAYBOOK_BOT_LOGIN") or DEFAULT_BOT_LOGIN).strip() == expected
