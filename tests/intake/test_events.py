"""Event parsing and the pure decision, over every stock webhook example and our hand-made payloads,
plus `playbook event --dry-run` through the real click command."""

from __future__ import annotations

import copy
import json
import os
import sys
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import playbook.intake
from playbook.cli import cli
from playbook.errors import ConfigError
from playbook.intake.commands import Command
from playbook.intake.events import (
    CommentEvent,
    DevStory,
    DispatchEvent,
    DispatchMerged,
    Ignore,
    IssueEvent,
    ManualEvent,
    MarkDeployed,
    OtherEvent,
    PullRequestEvent,
    Reconcile,
    Reject,
    ReportDeployed,
    RunCommand,
    ScheduleEvent,
    StartRequest,
    decide,
    parse_event,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
BOT = "github-actions[bot]"
REPO = "Codertocat/Hello-World"  # the repository in the stock examples and our hand-made payloads
DATA = REPO_ROOT / "tests" / "data" / "events"
HANDLED = ("issues", "issue_comment", "pull_request", "repository_dispatch", "workflow_dispatch")


def _node_package(name: str) -> Path:
    path = NODE_MODULES / "@octokit" / name
    if not path.exists():
        if os.environ.get("CI"):
            raise AssertionError(f"{path} missing: `npm ci` must run before the tests")
        pytest.skip(f"{path} is not installed (run npm ci)", allow_module_level=True)
    return path


def _load_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """(id, event name, payload) for every example in every index of @octokit/webhooks-examples."""
    root = _node_package("webhooks-examples")
    examples = []
    for index in sorted(root.glob("*/index.json")):
        for entry in json.loads(index.read_text(encoding="utf-8")):
            for n, payload in enumerate(entry["examples"]):
                examples.append((f"{index.parent.name}/{entry['name']}/{n}", entry["name"], payload))
    return examples


EXAMPLES = _load_examples()
HANDLED_EXAMPLES = [e for e in EXAMPLES if e[1] in HANDLED]


def _decide(name: str, payload: Any, **kwargs: Any) -> Any:
    return decide(parse_event(name, payload), repo=REPO, bot_login=BOT, **kwargs)


def test_the_examples_package_holds_what_we_iterate() -> None:
    names = {name for _, name, _ in HANDLED_EXAMPLES}
    assert names == set(HANDLED)
    assert len(HANDLED_EXAMPLES) > 100


@pytest.mark.parametrize(("name", "payload"), [(n, p) for _, n, p in EXAMPLES], ids=[i for i, _, _ in EXAMPLES])
def test_every_stock_example_parses_and_decides_without_acting(name: str, payload: dict[str, Any]) -> None:
    event = parse_event(name, payload)
    action = decide(event, repo=REPO, bot_login=BOT)
    json.dumps(action.to_json())
    if name in HANDLED:
        assert not isinstance(event, OtherEvent), event
    if name == "workflow_dispatch":
        assert isinstance(action, Reconcile)
        return
    # No stock example carries bmad:brief, a command, a merged bmad/ branch or a bmad dispatch.
    assert isinstance(action, Ignore), action
    if name == "issue_comment":
        assert isinstance(event, CommentEvent)
        assert "only new comments" in action.reason or "not a command" in action.reason


def test_stock_comment_example_acts_once_its_body_is_a_command() -> None:
    payload = copy.deepcopy(next(p for _, n, p in HANDLED_EXAMPLES if n == "issue_comment" and p["action"] == "created"))
    payload["comment"]["body"] = "/status"
    action = _decide("issue_comment", payload)
    assert isinstance(action, RunCommand)
    assert action.command == Command("status")
    assert action.comment_id == payload["comment"]["id"]
    assert action.created_at == datetime.fromisoformat(payload["comment"]["created_at"].replace("Z", "+00:00"))
    assert action.created_at.tzinfo is not None


def test_stock_issue_example_starts_a_request_only_with_the_exact_label() -> None:
    payload = copy.deepcopy(next(p for _, n, p in HANDLED_EXAMPLES if n == "issues" and p["action"] == "labeled"))
    assert isinstance(_decide("issues", payload), Ignore)
    payload["label"]["name"] = "bmad:brief"
    assert _decide("issues", payload) == StartRequest(payload["issue"]["number"], payload["sender"]["login"], "User")
    payload["label"]["name"] = "BMAD:brief"
    assert isinstance(_decide("issues", payload), Ignore)


# --------------------------------------------------------------------------- hand-made payloads

HAND_MADE: dict[str, type] = {
    "issues.opened-with-brief-label.json": StartRequest,
    "issues.labeled-brief.json": StartRequest,
    "issues.labeled-brief-by-app.json": Ignore,
    "issues.labeled-lookalike.json": Ignore,
    "issue_comment.approve.json": RunCommand,
    "issue_comment.revise-multiline.json": RunCommand,
    "issue_comment.revise-empty.json": RunCommand,
    "issue_comment.approve-by-bot.json": Ignore,
    "issue_comment.revise-by-other-app.json": Ignore,
    "issue_comment.approve-on-pr.json": Ignore,
    "issue_comment.approve-quoted.json": Ignore,
    "issue_comment.approve-fullwidth.json": Ignore,
    "issue_comment.approve-edited.json": Ignore,
    "pull_request.merged-planning.json": DispatchMerged,
    "pull_request.merged-story.json": ReportDeployed,
    "pull_request.merged-fork.json": Ignore,
    "pull_request.merged-by-human-branch.json": Ignore,
    "pull_request.merged-into-other-base.json": Ignore,
    "repository_dispatch.bmad-story.json": DevStory,
    "repository_dispatch.bmad-story-traversal.json": Reject,
    "repository_dispatch.bmad-deployed.json": MarkDeployed,
    "repository_dispatch.bmad-deployed-other-playbook.json": Reject,
    "schedule.daily.json": Reconcile,
}


def _hand_made(file: str) -> tuple[str, dict[str, Any]]:
    return file.split(".", 1)[0], json.loads((DATA / file).read_text(encoding="utf-8"))


def test_every_hand_made_payload_has_an_expectation() -> None:
    assert sorted(p.name for p in DATA.glob("*.json")) == sorted(HAND_MADE)


@pytest.mark.parametrize(("file", "expected"), HAND_MADE.items(), ids=list(HAND_MADE))
def test_hand_made_payload_decision(file: str, expected: type) -> None:
    name, payload = _hand_made(file)
    action = _decide(name, payload)
    assert type(action) is expected, action
    text = json.dumps(action.to_json())
    # Actions carry ids, never titles or bodies.
    assert "Pi-hole $(curl" not in text and "ignore previous" not in text


def test_hand_made_details() -> None:
    approve = _decide(*_hand_made("issue_comment.approve.json"))
    assert approve.command == Command("approve", ("2",)) and approve.author == "Codertocat"
    revise = _decide(*_hand_made("issue_comment.revise-multiline.json"))
    assert revise.command == Command("revise", (), "use the macvlan network\n\nand keep DHCP off")
    empty = _decide(*_hand_made("issue_comment.revise-empty.json"))
    assert empty.command.error == "usage: /revise <what to change>"
    merged = _decide(*_hand_made("pull_request.merged-planning.json"))
    assert merged == DispatchMerged(2, "c2a6e1ab3d9f4b7e8a0d1c2b3a4f5e6d7c8b9a01", "bmad/12-deploy-pi-hole")
    reject = _decide(*_hand_made("repository_dispatch.bmad-story-traversal.json"))
    assert "story_path" in reject.reason and "unexpected key(s) extra" in reject.reason
    assert "evil.yml" not in reject.reason
    deployed = _decide(*_hand_made("repository_dispatch.bmad-deployed.json"))
    assert deployed.payload["pr"] == 7


def test_bmad_deployed_for_another_playbook_repo_is_accepted_only_there() -> None:
    name, payload = _hand_made("repository_dispatch.bmad-deployed-other-playbook.json")
    assert isinstance(decide(parse_event(name, payload), repo="mallory/homelab-playbook", bot_login=BOT), MarkDeployed)


@pytest.fixture(scope="module")
def webhook_schema() -> dict[str, Any]:
    path = _node_package("webhooks-schemas") / "schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_errors(schema: dict[str, Any], name: str, payload: dict[str, Any]) -> list[str]:
    from jsonschema import Draft7Validator

    ref = "repository_dispatch$event" if name == "repository_dispatch" else f"{name}${payload['action']}"
    validator = Draft7Validator({"$ref": f"#/definitions/{ref}", "definitions": schema["definitions"]})
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(payload)]


# `schedule` is not a webhook, so the package has no schema for it.
WEBHOOK_FILES = [f for f in HAND_MADE if not f.startswith("schedule.")]


@pytest.mark.parametrize("file", WEBHOOK_FILES)
def test_hand_made_payloads_match_the_official_webhook_schema(webhook_schema: dict[str, Any], file: str) -> None:
    assert _schema_errors(webhook_schema, *_hand_made(file)) == []


def test_the_schema_check_catches_an_unrealistic_payload(webhook_schema: dict[str, Any]) -> None:
    name, payload = _hand_made("issue_comment.approve.json")
    del payload["comment"]["user"]
    payload["issue"]["number"] = "12"
    assert len(_schema_errors(webhook_schema, name, payload)) >= 2


# --------------------------------------------------------------------------- odd shapes

MALFORMED = [
    ("issues", {}),
    ("issues", {"action": "opened", "issue": None}),
    ("issues", {"action": "opened", "issue": {"number": "1"}}),
    ("issues", {"action": "opened", "issue": {"number": True}}),
    ("issues", {"action": 3, "issue": {"number": 1}}),
    ("issues", {"action": "opened", "issue": {"number": 1, "labels": "bmad:brief"}}),
    ("issue_comment", {"action": "created", "issue": {"number": 1}, "comment": {"id": 2, "body": "/approve"}}),
    ("issue_comment", {"action": "created", "issue": {"number": 1},
                       "comment": {"id": 2, "body": "/approve", "created_at": "yesterday"}}),
    ("issue_comment", {"action": "created", "issue": {"number": 1},
                       "comment": {"id": 2, "body": "/approve", "created_at": "2024-01-01T00:00:00"}}),
    ("issue_comment", {"action": "created", "issue": {"number": 1}, "comment": []}),
    ("pull_request", {"action": "closed", "pull_request": {"number": 1}}),
    ("pull_request", {"action": "closed", "pull_request": {"number": 1, "base": {}, "head": {"ref": "x"}}}),
    ("repository_dispatch", {"client_payload": {}}),
    ("repository_dispatch", {"action": "bmad-story", "client_payload": "v=1"}),
    ("issues", []),
    ("issues", "not an object"),
]


@pytest.mark.parametrize(("name", "payload"), MALFORMED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MALFORMED)])
def test_malformed_payloads_become_other_events(name: str, payload: Any) -> None:
    event = parse_event(name, payload)
    assert isinstance(event, OtherEvent)
    assert event.reason
    action = decide(event, repo=REPO, bot_login=BOT)
    assert isinstance(action, Ignore) and action.reason == event.reason


def test_unknown_event_name_is_ignored() -> None:
    assert isinstance(_decide("star", {"action": "created"}), Ignore)
    assert isinstance(_decide("", {}), Ignore)


# --------------------------------------------------------------------------- the decision table, directly


def issue_event(**changes: Any) -> IssueEvent:
    base = dict(action="opened", number=5, title="t", body="b", labels=("bmad:brief",), label=None,
                sender="owner", sender_type="User", is_pull_request=False)
    return IssueEvent(**{**base, **changes})


ISSUE_TABLE = [
    (issue_event(), StartRequest(5, "owner", "User")),
    (issue_event(labels=("bug",)), Ignore),
    (issue_event(action="labeled", labels=("bmad:brief",), label="bmad:brief"), StartRequest(5, "owner", "User")),
    (issue_event(action="labeled", labels=("bmad:brief", "bug"), label="bug"), Ignore),
    (issue_event(action="labeled", label="bmad:brief\u200b"), Ignore),
    (issue_event(action="edited"), Ignore),
    (issue_event(action="reopened"), Ignore),
    (issue_event(is_pull_request=True), Ignore),
    (issue_event(sender="evil-app[bot]", sender_type="Bot"), Ignore),
    (issue_event(sender=BOT, sender_type="Bot"), Ignore),
    (issue_event(sender="app-no-suffix", sender_type="Bot"), Ignore),
]


@pytest.mark.parametrize(("event", "expected"), ISSUE_TABLE)
def test_issue_decisions(event: IssueEvent, expected: Any) -> None:
    action = decide(event, repo=REPO, bot_login=BOT)
    assert action == expected if not isinstance(expected, type) else isinstance(action, expected)


def test_phase_label_is_configurable() -> None:
    assert decide(issue_event(labels=("homelab",)), repo=REPO, bot_login=BOT, phase_label="homelab") == StartRequest(
        5, "owner", "User")


WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def comment_event(**changes: Any) -> CommentEvent:
    base = dict(action="created", issue_number=5, issue_title="t", issue_labels=("bmad:brief",),
                is_pull_request=False, comment_id=99, body="/approve", author="owner", author_type="User",
                created_at=WHEN)
    return CommentEvent(**{**base, **changes})


COMMENT_TABLE = [
    (comment_event(), RunCommand(5, Command("approve"), 99, "owner", "User", WHEN)),
    (comment_event(body="/cost"), RunCommand(5, Command("cost"), 99, "owner", "User", WHEN)),
    (comment_event(action="edited"), Ignore),
    (comment_event(action="deleted"), Ignore),
    (comment_event(is_pull_request=True), Ignore),
    (comment_event(author=BOT, author_type="Bot", body="/revise again"), Ignore),
    (comment_event(author="evil-app[bot]", author_type="Bot"), Ignore),
    (comment_event(author="sneaky-app", author_type="Bot"), Ignore),
    (comment_event(author="fake[bot]", author_type="User"), Ignore),
    (comment_event(body="I /approve"), Ignore),
    (comment_event(body="/Approve"), Ignore),
]


@pytest.mark.parametrize(("event", "expected"), COMMENT_TABLE)
def test_comment_decisions(event: CommentEvent, expected: Any) -> None:
    action = decide(event, repo=REPO, bot_login=BOT)
    assert action == expected if not isinstance(expected, type) else isinstance(action, expected)


def test_revise_limit_is_passed_through() -> None:
    action = decide(comment_event(body="/revise " + "x" * 50), repo=REPO, bot_login=BOT, max_feedback_chars=10)
    assert isinstance(action, RunCommand) and action.command.error and "10" in action.command.error


SHA = "a" * 40


def pr_event(**changes: Any) -> PullRequestEvent:
    base = dict(action="closed", number=3, merged=True, base_ref="main", head_ref="bmad/12-pi-hole",
                head_repo="o/playbook", base_repo="o/playbook", default_branch="main", merge_sha=SHA,
                author=BOT, labels=())
    return PullRequestEvent(**{**base, **changes})


PR_TABLE = [
    (pr_event(), DispatchMerged(3, SHA, "bmad/12-pi-hole")),
    (pr_event(head_ref="bmad/story-12-1-1"), ReportDeployed(3, "bmad/story-12-1-1", SHA)),
    (pr_event(head_repo="O/Playbook"), DispatchMerged(3, SHA, "bmad/12-pi-hole")),
    (pr_event(merged=False), Ignore),
    (pr_event(action="opened"), Ignore),
    (pr_event(action="synchronize"), Ignore),
    (pr_event(base_ref="release"), Ignore),
    (pr_event(default_branch=""), Ignore),
    (pr_event(head_repo="mallory/playbook"), Ignore),
    (pr_event(head_repo=""), Ignore),  # deleted fork
    (pr_event(head_ref="feature/x"), Ignore),
    (pr_event(head_ref="bmadx/1"), Ignore),
    (pr_event(author="owner"), Ignore),
    (pr_event(author="evil-app[bot]"), Ignore),
    (pr_event(merge_sha=""), Ignore),
]


@pytest.mark.parametrize(("event", "expected"), PR_TABLE)
def test_pull_request_decisions(event: PullRequestEvent, expected: Any) -> None:
    action = decide(event, repo="o/playbook", bot_login=BOT)
    assert action == expected if not isinstance(expected, type) else isinstance(action, expected)


def test_dispatch_of_another_type_is_ignored_and_bmad_types_are_validated() -> None:
    assert isinstance(decide(DispatchEvent("deploy", {}, "x"), repo=REPO, bot_login=BOT), Ignore)
    assert isinstance(decide(DispatchEvent("bmad-story", {}, "x"), repo=REPO, bot_login=BOT), Reject)
    assert isinstance(decide(DispatchEvent("bmad-deployed", {"v": 1}, "x"), repo=REPO, bot_login=BOT), Reject)
    assert isinstance(decide(DispatchEvent("BMAD-STORY", {}, "x"), repo=REPO, bot_login=BOT), Ignore)


def test_schedule_and_manual_runs_reconcile() -> None:
    assert decide(ScheduleEvent("0 4 * * *"), repo=REPO, bot_login=BOT) == Reconcile()
    assert decide(ManualEvent("owner"), repo=REPO, bot_login=BOT) == Reconcile()
    assert isinstance(parse_event("schedule", {"schedule": "0 4 * * *"}), ScheduleEvent)


def test_action_json_is_plain_and_labeled() -> None:
    action = RunCommand(5, Command("route", ("1.2", "apps")), 99, "owner", "User", WHEN)
    assert action.to_json() == {
        "kind": "run-command", "issue": 5, "comment_id": 99, "author": "owner", "author_type": "User",
        "created_at": "2024-05-01T12:00:00+00:00",
        "command": {"name": "route", "args": ["1.2", "apps"], "text": "", "error": None},
    }
    assert Reconcile().to_json() == {"kind": "reconcile"}
    assert Ignore("x").to_json() == {"kind": "ignore", "reason": "x"}


# --------------------------------------------------------------------------- the CLI


def run_event(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, payload: Any, *args: str,
              root: Path | None = None) -> tuple[Any, str, BaseException | None]:
    event_file = tmp_path / "event.json"
    event_file.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event_file))
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("PLAYBOOK_DIR", str(root or tmp_path))
    result = CliRunner().invoke(cli, ["event", *args], standalone_mode=False, catch_exceptions=True)
    error = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.return_value, result.output, error


@pytest.mark.parametrize(("name", "payload"), [(n, p) for _, n, p in HANDLED_EXAMPLES],
                         ids=[i for i, _, _ in HANDLED_EXAMPLES])
def test_dry_run_on_every_stock_example_exits_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   name: str, payload: dict[str, Any]) -> None:
    code, output, error = run_event(monkeypatch, tmp_path, name, payload, "--dry-run")
    assert error is None and code == 0
    assert json.loads(output)["kind"] in {"ignore", "reconcile"}


@pytest.mark.parametrize("file", list(HAND_MADE))
def test_dry_run_on_hand_made_payloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file: str) -> None:
    name, payload = _hand_made(file)
    code, output, error = run_event(monkeypatch, tmp_path, name, payload, "--dry-run")
    assert error is None
    decided = json.loads(output)
    assert decided["kind"] == HAND_MADE[file].kind
    assert code == (3 if HAND_MADE[file] is Reject else 0)


def test_revise_limit_comes_from_playbook_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = tmp_path / "playbook"
    root.mkdir()
    config = (REPO_ROOT / "playbook.yaml").read_text(encoding="utf-8")
    assert "revise_feedback_chars: 4000" in config
    (root / "playbook.yaml").write_text(config.replace("revise_feedback_chars: 4000", "revise_feedback_chars: 20"))
    name, payload = _hand_made("issue_comment.revise-multiline.json")
    _, output, error = run_event(monkeypatch, tmp_path, name, payload, "--dry-run", root=root)
    assert error is None
    assert "the limit is 20" in json.loads(output)["command"]["error"]


def test_ignored_event_logs_one_neutralised_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, output, error = run_event(monkeypatch, tmp_path, "star\r\n::add-mask::x", {"action": "created"})
    assert error is None and code == 0
    assert output.count("\n") == 1 and "ignored" in output and "add-mask" in output


def test_rejected_dispatch_exits_3_without_calling_the_flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_flow(monkeypatch)
    name, payload = _hand_made("repository_dispatch.bmad-story-traversal.json")
    code, output, error = run_event(monkeypatch, tmp_path, name, payload)
    assert error is None and code == 3
    assert "rejected" in output and "story_path" in output
    assert calls == []


def _fake_flow(monkeypatch: pytest.MonkeyPatch, exit_code: int = 0) -> list[Any]:
    """Stand in for playbook.intake.github_flow, which needs GitHub; records what it was handed."""
    calls: list[Any] = []
    module = types.ModuleType("playbook.intake.github_flow")
    module.handle = lambda action, settings: calls.append((action, settings)) or exit_code  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "playbook.intake.github_flow", module)
    monkeypatch.setattr(playbook.intake, "github_flow", module, raising=False)
    return calls


def test_actionable_event_is_handed_to_the_flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_flow(monkeypatch, exit_code=5)
    name, payload = _hand_made("issues.labeled-brief.json")
    code, _, error = run_event(monkeypatch, tmp_path, name, payload)
    assert error is None and code == 5
    [(action, settings)] = calls
    assert action == StartRequest(1, "Codertocat", "User")
    assert settings.github_repository == REPO


def test_dry_run_never_reaches_the_flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_flow(monkeypatch)
    name, payload = _hand_made("issues.labeled-brief.json")
    code, _, _ = run_event(monkeypatch, tmp_path, name, payload, "--dry-run")
    assert code == 0 and calls == []


@pytest.mark.parametrize(("setup", "message"), [
    ("no-name", "GITHUB_EVENT_NAME is not set"),
    ("no-path", "GITHUB_EVENT_PATH is not set"),
    ("missing-file", "cannot read the event file"),
    ("bad-json", "is not valid JSON"),
    ("not-object", "does not hold a JSON object"),
])
def test_missing_or_invalid_event_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     setup: str, message: str) -> None:
    monkeypatch.setenv("PLAYBOOK_DIR", str(tmp_path))
    event_file = tmp_path / "event.json"
    if setup != "no-name":
        monkeypatch.setenv("GITHUB_EVENT_NAME", "issues")
    if setup != "no-path":
        monkeypatch.setenv("GITHUB_EVENT_PATH", str(event_file))
    if setup == "bad-json":
        event_file.write_text("{not json", encoding="utf-8")
    if setup == "not-object":
        event_file.write_text("[1, 2]", encoding="utf-8")
    result = CliRunner().invoke(cli, ["event", "--dry-run"], standalone_mode=False)
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception) and "fix:" in str(result.exception)
    assert result.exception.exit_code == 2


def test_event_command_is_registered_lazily() -> None:
    command = cli.get_command(click.Context(cli), "event")
    assert command is not None and command.name == "event"


@pytest.mark.parametrize(("document", "message"), [
    ("[" * 200_000 + "]" * 200_000, "nests deeper than 64 levels"),  # past the interpreter's recursion limit
    ('{"a":' * 100 + "1" + "}" * 100, "nests deeper than 64 levels"),  # parses, but no GitHub payload is this deep
    ('{"issue": "' + "x" * 4096 + '"}', "larger than 2048 bytes"),
])
def test_over_deep_or_oversized_event_file_is_refused_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        document: str, message: str) -> None:
    from playbook.cli import event as event_cli
    from playbook.cli import main

    monkeypatch.setattr(event_cli, "MAX_EVENT_BYTES", 2048 if "xxxx" in document else event_cli.MAX_EVENT_BYTES)
    event_file = tmp_path / "event.json"
    event_file.write_text(document, encoding="utf-8")
    monkeypatch.setenv("PLAYBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "issue_comment")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event_file))
    with pytest.raises(SystemExit) as exited:
        main(["event", "--dry-run"])
    err = capsys.readouterr().err
    assert exited.value.code == 3
    assert message in err and "fix: point GITHUB_EVENT_PATH" in err and "Traceback" not in err
