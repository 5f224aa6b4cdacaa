"""GitHub event payload → typed ``Event`` (parsed once) → pure ``decide`` → ``Action``.

``parse_event`` never raises: a payload of an odd shape becomes ``OtherEvent`` with a reason.
``decide`` is a pure function of the event and a few settings; everything needing the network (the
permission check, reading pipeline state) happens later, in the handler, on the ``Action``.

Actions carry ids and parsed command arguments only — never titles, bodies or label names — so
printing one (``playbook event --dry-run``) cannot leak untrusted text into a log as anything but JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from playbook.errors import PayloadError
from playbook.intake.authz import is_bot
from playbook.intake.commands import Command, parse_command

PLANNING_BRANCH_PREFIX = "bmad/"
QUICK_LABEL = "bmad:quick"  # planning.phases.QUICK_LABEL (events stay free of planning imports)
STORY_BRANCH_PREFIX = "bmad/story-"
STORY_EVENT = "bmad-story"
DEPLOYED_EVENT = "bmad-deployed"

# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class IssueEvent:
    action: str
    number: int
    title: str
    body: str
    labels: tuple[str, ...]
    label: str | None
    sender: str
    sender_type: str
    is_pull_request: bool


@dataclass(frozen=True)
class CommentEvent:
    action: str
    issue_number: int
    issue_title: str
    issue_labels: tuple[str, ...]
    is_pull_request: bool
    comment_id: int
    body: str
    author: str
    author_type: str
    created_at: datetime


@dataclass(frozen=True)
class PullRequestEvent:
    action: str
    number: int
    merged: bool
    base_ref: str
    head_ref: str
    head_repo: str
    base_repo: str
    default_branch: str
    merge_sha: str
    author: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class DispatchEvent:
    event_type: str
    client_payload: Mapping[str, Any]
    sender: str


@dataclass(frozen=True)
class ScheduleEvent:
    schedule: str = ""


@dataclass(frozen=True)
class ManualEvent:
    sender: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OtherEvent:
    name: str
    reason: str


Event = IssueEvent | CommentEvent | PullRequestEvent | DispatchEvent | ScheduleEvent | ManualEvent | OtherEvent


class _Malformed(Exception):
    pass


def _obj(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise _Malformed(f"'{key}' is not an object")
    return value


def _str(parent: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = parent.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise _Malformed(f"'{key}' is not a string")
    return value


def _int(parent: Mapping[str, Any], key: str) -> int:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"'{key}' is not an integer")
    return value


def _login(parent: Mapping[str, Any], key: str) -> tuple[str, str]:
    user = parent.get(key)
    if not isinstance(user, Mapping):
        return "", ""
    login, kind = user.get("login"), user.get("type")
    return (login if isinstance(login, str) else ""), (kind if isinstance(kind, str) else "")


def _labels(parent: Mapping[str, Any]) -> tuple[str, ...]:
    value = parent.get("labels") or []
    if not isinstance(value, list):
        raise _Malformed("'labels' is not a list")
    names = [item.get("name") if isinstance(item, Mapping) else item for item in value]
    return tuple(name for name in names if isinstance(name, str))


def _repo_name(parent: Mapping[str, Any] | None) -> str:
    repo = parent.get("repo") if isinstance(parent, Mapping) else None
    name = repo.get("full_name") if isinstance(repo, Mapping) else None
    return name if isinstance(name, str) else ""  # a deleted fork has repo: null


def _datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise _Malformed("'created_at' is not a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Malformed("'created_at' is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise _Malformed("'created_at' has no time zone")
    return parsed


def _issue_event(payload: Mapping[str, Any]) -> IssueEvent:
    issue = _obj(payload, "issue")
    added = payload.get("label")
    label = added.get("name") if isinstance(added, Mapping) else None
    sender, sender_type = _login(payload, "sender")
    return IssueEvent(
        action=_str(payload, "action"),
        number=_int(issue, "number"),
        title=_str(issue, "title", default=""),
        body=_str(issue, "body", default=""),
        labels=_labels(issue),
        label=label if isinstance(label, str) else None,
        sender=sender,
        sender_type=sender_type,
        is_pull_request=issue.get("pull_request") is not None,
    )


def _comment_event(payload: Mapping[str, Any]) -> CommentEvent:
    issue = _obj(payload, "issue")
    comment = _obj(payload, "comment")
    author, author_type = _login(comment, "user")
    return CommentEvent(
        action=_str(payload, "action"),
        issue_number=_int(issue, "number"),
        issue_title=_str(issue, "title", default=""),
        issue_labels=_labels(issue),
        is_pull_request=issue.get("pull_request") is not None,
        comment_id=_int(comment, "id"),
        body=_str(comment, "body", default=""),
        author=author,
        author_type=author_type,
        created_at=_datetime(comment.get("created_at")),
    )


def _pull_request_event(payload: Mapping[str, Any]) -> PullRequestEvent:
    pr = _obj(payload, "pull_request")
    base, head = _obj(pr, "base"), _obj(pr, "head")
    repository = payload.get("repository")
    default_branch = repository.get("default_branch") if isinstance(repository, Mapping) else None
    merge_sha = pr.get("merge_commit_sha")
    author, _ = _login(pr, "user")
    return PullRequestEvent(
        action=_str(payload, "action"),
        number=_int(pr, "number"),
        merged=pr.get("merged") is True,
        base_ref=_str(base, "ref"),
        head_ref=_str(head, "ref"),
        head_repo=_repo_name(head),
        base_repo=_repo_name(base),
        default_branch=default_branch if isinstance(default_branch, str) else "",
        merge_sha=merge_sha if isinstance(merge_sha, str) else "",
        author=author,
        labels=_labels(pr),
    )


def _dispatch_event(payload: Mapping[str, Any]) -> DispatchEvent:
    # In a workflow run, the dispatch's event_type arrives as `action`.
    event_type = payload.get("action", payload.get("event_type"))
    if not isinstance(event_type, str):
        raise _Malformed("'action' (the event_type) is not a string")
    client_payload = payload.get("client_payload")
    if client_payload is None:
        client_payload = {}
    if not isinstance(client_payload, Mapping):
        raise _Malformed("'client_payload' is not an object")
    sender, _ = _login(payload, "sender")
    return DispatchEvent(event_type=event_type, client_payload=dict(client_payload), sender=sender)


def _schedule_event(payload: Mapping[str, Any]) -> ScheduleEvent:
    schedule = payload.get("schedule")
    return ScheduleEvent(schedule=schedule if isinstance(schedule, str) else "")


def _manual_event(payload: Mapping[str, Any]) -> ManualEvent:
    inputs = payload.get("inputs")
    sender, _ = _login(payload, "sender")
    return ManualEvent(sender=sender, inputs=dict(inputs) if isinstance(inputs, Mapping) else {})


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "issues": _issue_event,
    "issue_comment": _comment_event,
    "pull_request": _pull_request_event,
    "pull_request_target": _pull_request_event,
    "repository_dispatch": _dispatch_event,
    "schedule": _schedule_event,
    "workflow_dispatch": _manual_event,
}


def parse_event(name: str, payload: Mapping[str, Any]) -> Event:
    """Typed view of one event; ``OtherEvent`` (with a reason) for anything unknown or malformed."""
    parser = _PARSERS.get(name)
    if parser is None:
        return OtherEvent(name=name, reason="not an event the playbook handles")
    if not isinstance(payload, Mapping):
        return OtherEvent(name=name, reason="the event payload is not a JSON object")
    try:
        return parser(payload)
    except _Malformed as exc:
        return OtherEvent(name=name, reason=f"malformed {name} payload: {exc}")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return OtherEvent(name=name, reason=f"malformed {name} payload ({type(exc).__name__})")


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class _Action:
    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for key, value in asdict(self).items():
            data[key] = value.isoformat() if isinstance(value, datetime) else value
        if isinstance(self, RunCommand):
            data["command"] = self.command.to_json()
        return data


@dataclass(frozen=True)
class Ignore(_Action):
    kind: ClassVar[str] = "ignore"
    reason: str


@dataclass(frozen=True)
class Reject(_Action):
    """A payload that must not be acted on; the CLI exits non-zero without any side effect."""

    kind: ClassVar[str] = "reject"
    reason: str


@dataclass(frozen=True)
class StartRequest(_Action):
    """Run the first phase for ``issue``; the handler checks ``sender``'s permission first."""

    kind: ClassVar[str] = "start-request"
    issue: int
    sender: str = ""
    sender_type: str = ""


@dataclass(frozen=True)
class RunCommand(_Action):
    """A slash command; the handler authorises ``author`` (authz) before anything else."""

    kind: ClassVar[str] = "run-command"
    issue: int
    command: Command
    comment_id: int
    author: str
    author_type: str
    created_at: datetime


@dataclass(frozen=True)
class DispatchMerged(_Action):
    """The planning PR merged: send each approved story to its target repo(s)."""

    kind: ClassVar[str] = "dispatch-merged"
    pr: int
    merge_sha: str
    head_ref: str


@dataclass(frozen=True)
class MarkDeployed(_Action):
    """A target repo reports a story's IaC PR merged (validated ``bmad-deployed`` payload)."""

    kind: ClassVar[str] = "mark-deployed"
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class DevStory(_Action):
    """Implement a story in this (target) repo (validated ``bmad-story`` payload)."""

    kind: ClassVar[str] = "dev-story"
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ReportDeployed(_Action):
    """Target side: our IaC PR merged; tell the playbook repo."""

    kind: ClassVar[str] = "report-deployed"
    pr: int
    head_ref: str
    merge_sha: str


@dataclass(frozen=True)
class Reconcile(_Action):
    """Scheduled or manual sweep: finish whatever events were missed."""

    kind: ClassVar[str] = "reconcile"


Action = Ignore | Reject | StartRequest | RunCommand | DispatchMerged | MarkDeployed | DevStory | ReportDeployed | Reconcile


# --------------------------------------------------------------------------- decide


def _decide_issue(event: IssueEvent, *, bot_login: str, phase_label: str) -> Action:
    if event.is_pull_request:
        return Ignore("issue event on a pull request")
    if is_bot(event.sender, event.sender_type, bot_login=bot_login):
        return Ignore(f"issue #{event.number}: event sent by a bot or app")
    for label in (phase_label, QUICK_LABEL):  # the full plan, or the quick flow
        if event.action == "opened" and label in event.labels:
            return StartRequest(event.number, event.sender, event.sender_type)
        if event.action == "labeled" and event.label == label:
            return StartRequest(event.number, event.sender, event.sender_type)
    return Ignore(f"issue #{event.number}: not a new request")


def _decide_comment(event: CommentEvent, *, bot_login: str, max_feedback_chars: int) -> Action:
    if event.action != "created":
        return Ignore(f"comment {event.comment_id}: only new comments are read")
    if event.is_pull_request:
        return Ignore(f"comment {event.comment_id}: commands are read on request issues, not pull requests")
    if is_bot(event.author, event.author_type, bot_login=bot_login):
        return Ignore(f"comment {event.comment_id}: written by a bot or app")
    command = parse_command(event.body, max_feedback_chars=max_feedback_chars)
    if command is None:
        return Ignore(f"comment {event.comment_id}: not a command")
    return RunCommand(event.issue_number, command, event.comment_id, event.author, event.author_type, event.created_at)


def _decide_pull_request(event: PullRequestEvent, *, bot_login: str) -> Action:
    pr = event.number
    if event.action != "closed":
        return Ignore(f"pull request #{pr}: not closed")
    if not event.merged:
        return Ignore(f"pull request #{pr}: closed without merging")
    if not event.head_ref.startswith(PLANNING_BRANCH_PREFIX):
        return Ignore(f"pull request #{pr}: not a playbook branch")
    if not event.default_branch or event.base_ref != event.default_branch:
        return Ignore(f"pull request #{pr}: merged into a branch other than the default branch")
    if not event.head_repo or event.head_repo.lower() != event.base_repo.lower():
        return Ignore(f"pull request #{pr}: came from a fork")
    if not bot_login or event.author.lower() != bot_login.lower():
        return Ignore(f"pull request #{pr}: not opened by the playbook bot")
    if not event.merge_sha:
        return Ignore(f"pull request #{pr}: merged without a merge commit sha")
    if event.head_ref.startswith(STORY_BRANCH_PREFIX):
        return ReportDeployed(pr, event.head_ref, event.merge_sha)
    return DispatchMerged(pr, event.merge_sha, event.head_ref)


def _decide_dispatch(event: DispatchEvent, *, repo: str) -> Action:
    # Imported here: only dispatch events carry a payload to validate (comments stay cheap to ignore).
    from playbook.delivery.payloads import validate_deployed_payload, validate_story_payload

    if event.event_type == STORY_EVENT:
        try:
            return DevStory(validate_story_payload(event.client_payload))
        except PayloadError as exc:
            return Reject(str(exc))
    if event.event_type == DEPLOYED_EVENT:
        try:
            payload = validate_deployed_payload(event.client_payload)
        except PayloadError as exc:
            return Reject(str(exc))
        if payload["playbook_repo"].lower() != repo.lower():
            return Reject("bmad-deployed client_payload rejected\n  - client_payload.playbook_repo: "
                          "is not this repository")
        return MarkDeployed(payload)
    return Ignore("repository_dispatch of a type the playbook does not handle")


def decide(
    event: Event,
    *,
    repo: str,
    bot_login: str,
    phase_label: str = "bmad:brief",
    max_feedback_chars: int = 4000,
) -> Action:
    """What to do about ``event`` in repository ``repo`` — pure, no I/O."""
    if isinstance(event, IssueEvent):
        return _decide_issue(event, bot_login=bot_login, phase_label=phase_label)
    if isinstance(event, CommentEvent):
        return _decide_comment(event, bot_login=bot_login, max_feedback_chars=max_feedback_chars)
    if isinstance(event, PullRequestEvent):
        return _decide_pull_request(event, bot_login=bot_login)
    if isinstance(event, DispatchEvent):
        return _decide_dispatch(event, repo=repo)
    if isinstance(event, ScheduleEvent | ManualEvent):
        return Reconcile()
    return Ignore(event.reason if isinstance(event, OtherEvent) else "unhandled event")
