"""Carrying out decided actions against GitHub: the shared parts.

The handlers live in ``planning_flow`` (requests and slash commands) and ``delivery_flow``
(dispatch, deployed reports, reconcile). This module holds what they share: the wiring
(``Deps``), the one permission gate (``authorize``, over ``authz.authorize_command`` and the
collaborator-permission API — never ``author_association``), finding a request's branch and
tracking comment, and the outputs: the tracking comment, labels, the planning PR and replies.
Every handler re-reads live state before writing, so a re-delivered or re-run event changes
nothing the second time, and a surviving run finishes the work of a cancelled one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from playbook.config import Config, load_config
from playbook.errors import ForgeError, MissingSecretError, PlaybookError, StateError, ValidationError
from playbook.intake import command_queue, tracking
from playbook.planning import artifacts, pipeline
from playbook.planning.phases import PHASES, SPEC, STATUS_LABELS, Phase, Stage
from playbook.planning.state import RequestState, find_request, load_state
from playbook.ports import Comment, Forge, LabelSpec, PullRequest, Workspace
from playbook.settings import Settings

REPLY_MARKER = "<!-- bmad-reply comment={comment_id} -->"

LABELS: tuple[LabelSpec, ...] = (
    LabelSpec("bmad:brief", "1d76db", "BMAD: Product Brief phase (applying it starts a request)"),
    LabelSpec("bmad:prd", "1d76db", "BMAD: PRD phase"),
    LabelSpec("bmad:architecture", "1d76db", "BMAD: Architecture phase"),
    LabelSpec("bmad:stories", "1d76db", "BMAD: Epics & Stories phase"),
    LabelSpec("bmad:quick", "c5def5", "BMAD: quick flow for a small change (applying it starts a quick spec)"),
    LabelSpec("bmad:working", "fbca04", "BMAD: a workflow run is working on this"),
    LabelSpec("bmad:awaiting-approval", "0e8a16", "BMAD: a draft awaits /approve or /revise"),
    LabelSpec("bmad:failed", "d93f0b", "BMAD: the last step failed; see the tracking comment"),
    LabelSpec("bmad:ready-to-merge", "5319e7", "BMAD: planning complete; merge the planning PR"),
)
PHASE_LABELS = tuple(s.label for s in PHASES)


@dataclass
class Deps:
    settings: Settings
    config: Config
    forge: Forge
    make_workspace: Callable[[str, str], Workspace]
    make_planner: Callable[[], pipeline.Planner]
    make_remote_forge: Callable[[str, str], Forge]  # (repo, token) -> forge for another repository
    log: Callable[[str], None] = print


def build_deps(settings: Settings) -> Deps:
    """Real adapters from settings; fails before any write when the token is missing."""
    from playbook.adapters.github import GitHubForge, GitHubWorkspace
    from playbook.planning.local import build_planner
    from playbook.sanitize import log_line

    token = settings.require("github_token", "GITHUB_TOKEN")
    if not settings.github_repository:
        raise MissingSecretError("GITHUB_REPOSITORY", where="run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name")
    config = load_config(settings.root)
    forge = GitHubForge(settings.github_repository, token, base_url=settings.github_api_url,
                        default_branch=settings.default_branch or None)
    remotes: dict[tuple[str, str], Forge] = {}  # one client (one connection) per target repo and token

    def make_remote_forge(repo: str, tok: str) -> Forge:
        if (repo, tok) not in remotes:
            remotes[repo, tok] = GitHubForge(repo, tok, base_url=settings.github_api_url)
        return remotes[repo, tok]

    planners: list[pipeline.Planner] = []  # built once per run, on first use (approve + next draft share it)

    def make_planner() -> pipeline.Planner:
        if not planners:
            planners.append(build_planner(settings, offline=settings.offline, config=config))
        return planners[0]

    return Deps(
        settings=settings,
        config=config,
        forge=forge,
        make_workspace=lambda branch, base: GitHubWorkspace(forge, branch, base_branch=base),
        make_planner=make_planner,
        make_remote_forge=make_remote_forge,
        log=log_line,
    )


# action kind -> (module, handler). Planning steers the four phases; delivery moves stories to targets.
HANDLERS: dict[str, tuple[str, str]] = {
    "start-request": ("playbook.intake.planning_flow", "on_start"),
    "run-command": ("playbook.intake.planning_flow", "on_command"),
    "dispatch-merged": ("playbook.intake.delivery_flow", "on_dispatch_merged"),
    "mark-deployed": ("playbook.intake.delivery_flow", "on_mark_deployed"),
    "reconcile": ("playbook.intake.delivery_flow", "on_reconcile"),
    "report-deployed": ("playbook.intake.delivery_flow", "on_report_deployed"),
}


def handle(action: Any, settings: Settings, *, deps: Deps | None = None) -> int:
    """Entry point for `playbook event`: returns the process exit code."""
    import importlib

    deps = deps or build_deps(settings)
    entry = HANDLERS.get(action.kind)
    if entry is None:
        deps.log(f"nothing to do for {action.kind}")
        return 0
    handler: Callable[[Any, Deps], int] = getattr(importlib.import_module(entry[0]), entry[1])
    return handler(action, deps)


def authorize(deps: Deps, login: str, user_type: str) -> Any:
    """The one permission gate for requests and commands: the collaborator-permission API, then
    ``authz.authorize_command``. An API failure raises (fail closed: nothing is written)."""
    from playbook.intake.authz import authorize_command

    permission = deps.forge.permission(login)
    return authorize_command(permission, login=login, user_type=user_type, bot_login=deps.settings.bot_login)


# --------------------------------------------------------------------------- locating a request


@dataclass
class Located:
    issue: int
    title: str
    request: str
    branch: str
    tracking: Comment | None
    comments: list[Comment]
    base: str
    queue: command_queue.QueueState = field(default_factory=command_queue.QueueState)
    # True in runs outside the issue's concurrency group (planning-PR merge, reconcile, a target
    # repo's publish): they re-read the tracking comment right before editing it, so a command
    # run's queue record written meanwhile is kept, not overwritten with an older one.
    shared: bool = False


def is_ours(comment: Comment, deps: Deps) -> bool:
    """Only the configured bot identity writes our comments. Any other account — another app's
    ``[bot]``, a user — can paste our markers, so a marker alone proves nothing: such a comment
    is never read as tracking state, never counted as a reply and never edited."""
    own = deps.settings.bot_login.strip().lower()
    return bool(own) and comment.author.strip().lower() == own


def begin_step(deps: Deps, issue: int) -> Deps:
    """Deps for one step on ``issue`` over a batching forge (GitHub: ``adapters.github_step``), whose
    first read — the issue, its newest comments, the label ids — happens here. Other forges: as is."""
    begin = getattr(deps.forge, "begin_step", None)
    if begin is None:
        return deps
    step = begin(issue, list(LABELS))
    return replace(deps, forge=cast("Forge", step), make_workspace=step.workspace)


def run_step(deps: Deps, body: Callable[[], int]) -> int:
    """Run a step's handler, then send the writes it left for the end (one mutation document; nothing
    to send for other forges). When the handler fails, what waits is still sent and the handler's
    error is the one raised (a failing flush is logged beside it)."""
    flush: Callable[[], None] = getattr(deps.forge, "flush", None) or (lambda: None)
    try:
        rc = body()
    except BaseException:
        try:
            flush()
        except PlaybookError as exc:
            deps.log(f"the step's last writes failed too: {exc.message.splitlines()[0]}")
        raise
    flush()
    return rc


def _tracking_ids(deps: Deps, branches: tuple[str, ...], request: str) -> str:
    """The tracking comment's node id as the request's state remembers it ("" when it does not)."""
    text_at = getattr(deps.forge, "text_at", None)
    path = f"{artifacts.planning_dir(request)}/request.md"
    for branch in branches:
        text = text_at(branch, path) if text_at is not None else None
        if text is None:
            continue
        try:
            meta, _ = artifacts.parse(text, "request", source=path)
        except PlaybookError:
            return ""  # a broken request.md is reported by read_state, not here
        return str((meta.get("tracking_comment") or {}).get("node_id") or "")
    return ""


def _locate_step(deps: Deps, issue: int, title: str) -> Located:
    """``locate`` over a ``StepForge``: the tracking comment among the newest 100 comments (read 1),
    the branch (read 2), and — when the request's state remembers its id — the tracking comment read
    by that id (read 3), so it is found without paging however busy the issue is. Only a request
    whose state has no id (started before ids were kept) falls back to searching the comments."""
    from playbook.sanitize import slugify

    step: Any = deps.forge
    comments: list[Comment] = list(step.comments)
    tracking_comment = _find_tracking(deps, comments)
    base = deps.forge.default_branch()
    found = tracking.parse_marker(tracking_comment.body) if tracking_comment is not None else None
    request, branch = found or (f"{issue}-{slugify(title)}", f"bmad/{issue}-{slugify(title)}")
    dirs = [artifacts.planning_dir(request), artifacts.implementation_dir(request)]
    step.load_branch(branch, base, dirs)
    node_id = _tracking_ids(deps, (branch, base), request)
    if node_id:
        fresh = step.read_comment_node(node_id, issue)
        if fresh is not None and is_ours(fresh, deps) and fresh.body.startswith(tracking.MARKER_PREFIX):
            tracking_comment = fresh
            comments = [c for c in comments if c.id != fresh.id] + [fresh]
            comments.sort(key=lambda c: c.id)
    elif tracking_comment is None and step.comment_count > len(comments):
        comments = _comments_for_locate(deps, issue, step.comment_count)  # an old request on a busy issue
        tracking_comment = _find_tracking(deps, comments)
        moved = tracking.parse_marker(tracking_comment.body) if tracking_comment is not None else None
        if moved and moved != (request, branch):
            request, branch = moved
            step.load_branch(branch, base, [artifacts.planning_dir(request), artifacts.implementation_dir(request)])
    queue = command_queue.parse_state(tracking_comment.body if tracking_comment else None)
    return Located(issue, title, request, branch, tracking_comment, comments, base, queue)


def _find_tracking(deps: Deps, comments: list[Comment]) -> Comment | None:
    return next((c for c in comments if is_ours(c, deps) and c.body.startswith(tracking.MARKER_PREFIX)), None)


def locate(deps: Deps, issue: int, title: str, *, comment_count: int | None = None) -> Located:
    """The request on this issue: its branch (from the tracking comment's marker) and comments.

    With the issue's comment count known, at most two pages are read whatever the count: the first
    (the tracking comment is the bot's first comment on a request) and the newest (earlier replies
    to a command are recent); the rest is only read when the first page lacks the tracking comment.
    Over a batching forge see ``_locate_step``.
    """
    from playbook.sanitize import slugify

    if getattr(deps.forge, "load_branch", None) is not None:
        return _locate_step(deps, issue, title)
    comments = _comments_for_locate(deps, issue, comment_count)
    tracking_comment = next(
        (c for c in comments if is_ours(c, deps) and c.body.startswith(tracking.MARKER_PREFIX)), None
    )
    base = deps.forge.default_branch()
    if tracking_comment is not None and (found := tracking.parse_marker(tracking_comment.body)):
        request, branch = found
    else:
        request = f"{issue}-{slugify(title)}"
        branch = f"bmad/{request}"
    queue = command_queue.parse_state(tracking_comment.body if tracking_comment else None)
    return Located(issue, title, request, branch, tracking_comment, comments, base, queue)


def _comments_for_locate(deps: Deps, issue: int, count: int | None) -> list[Comment]:
    from playbook.adapters.github import COMMENTS_PAGE

    if count is None or count <= COMMENTS_PAGE:
        return deps.forge.list_comments(issue)
    first = deps.forge.list_comments(issue, page=1)
    if not any(c.body.startswith(tracking.MARKER_PREFIX) and is_ours(c, deps) for c in first):
        return deps.forge.list_comments(issue)  # a request started late on a busy issue: read them all
    last = deps.forge.list_comments(issue, page=-(-count // COMMENTS_PAGE))
    seen = {c.id for c in first}
    return first + [c for c in last if c.id not in seen]


def workspace_for(deps: Deps, loc: Located) -> tuple[Workspace, PullRequest | None]:
    """The planning branch, or the default branch once the planning PR is merged."""
    pull = deps.forge.find_pull(loc.branch)
    if pull is not None and pull.merged:
        return deps.make_workspace(loc.base, loc.base), pull
    return deps.make_workspace(loc.branch, loc.base), pull


def load_request_state(ws: Workspace, loc: Located) -> RequestState | None:
    # Listed, not read: the tree says whether request.md exists; load_state reads every file at once.
    here = f"{artifacts.planning_dir(loc.request)}/request.md" in ws.list(artifacts.planning_dir(loc.request))
    request = loc.request if here else find_request(ws, loc.issue)
    return load_state(ws, request) if request else None


def read_state(ws: Workspace, loc: Located) -> tuple[RequestState | None, tracking.Failure | None]:
    """The request state, or — when an artifact on the branch cannot be read (a hand edit with a
    duplicate key, a YAML tag, an unknown status, colliding stories) — None and the failure that
    names the file, the line and the fix, for the tracking comment."""
    try:
        return load_request_state(ws, loc), None
    except (ValidationError, StateError) as exc:
        return None, unreadable_failure(exc, ws.branch)


def unreadable_failure(exc: PlaybookError, branch: str) -> tracking.Failure:
    problems = getattr(exc, "problems", None) or []
    head = exc.message.splitlines()[0]
    reason = head + (": " + "; ".join(problems) if problems else "")
    return tracking.Failure(
        "Reading the request", reason[:1500],
        f"{exc.fix + '. ' if exc.fix and 'nothing was committed' not in exc.fix else ''}"
        f"Correct the file on branch `{branch}` (or revert the hand edit), then comment `/retry`",
    )


# --------------------------------------------------------------------------- output: comment, labels, PR


def _blob_url(deps: Deps, ws: Workspace) -> str:
    head = ws.head() or ws.branch
    return f"{deps.settings.github_server_url}/{deps.forge.repo}/blob/{head}"


def update_tracking(deps: Deps, loc: Located, ws: Workspace, state: RequestState | None, *,
                    pull: PullRequest | None = None, failure: tracking.Failure | None = None, notice: str = "") -> None:
    from playbook.planning import readiness

    body = tracking.render(
        state, request=loc.request, branch=loc.branch, title=loc.title, blob_url=_blob_url(deps, ws),
        pr=pull.number if pull else None, run_url=deps.settings.run_url, failure=failure, notice=notice,
        readiness=readiness.load(ws, state) if state is not None else None,
    )
    if loc.tracking is None:
        # A new tracking comment: the comments before it are history, not commands to replay.
        loc.queue.floor = max(loc.queue.floor, max((c.id for c in loc.comments), default=0))
        loc.queue.known = True
    if loc.shared and loc.tracking is not None:
        fresh = deps.forge.get_comment(loc.tracking.id)
        if is_ours(fresh, deps):
            loc.queue = command_queue.merged(loc.queue, command_queue.parse_state(fresh.body))
            loc.tracking = fresh
    body = command_queue.stamp(body, loc.queue)
    if loc.tracking is None:
        loc.tracking = deps.forge.create_comment(loc.issue, body)
    elif loc.tracking.body != body:
        deps.forge.edit_comment(loc.tracking.id, body)
        loc.tracking = replace(loc.tracking, body=body)


def save_queue(deps: Deps, loc: Located) -> None:
    """Record the handled commands in the tracking comment when no handler wrote it (one PATCH)."""
    if loc.tracking is None or not loc.queue.known:
        return
    replied = command_queue.replied_to(loc.comments, lambda c: is_ours(c, deps))
    if not loc.queue.marked - replied:
        return  # every command handled in this run left its own mark (a reply or the tracking update)
    body = command_queue.stamp(loc.tracking.body, loc.queue)
    if body != loc.tracking.body:
        deps.forge.edit_comment(loc.tracking.id, body)
        loc.tracking = replace(loc.tracking, body=body)


def sync_labels(deps: Deps, issue: int, current: tuple[str, ...], state: RequestState | None, status: str) -> None:
    desired: set[str] = {status} if status else set()
    if state is None:
        if "bmad:quick" not in current:
            desired.add(SPEC[Phase.BRIEF].label)  # nothing generated yet: keep the request's trigger label
    elif state.stage is not Stage.CANCELLED:
        phase = state.current.phase if state.current else Phase.STORIES
        desired.add(SPEC[phase].label)
    managed = set(PHASE_LABELS) | set(STATUS_LABELS)
    have = set(current) & managed
    if desired != have:  # one call whatever changes: the person's own labels are kept as they are
        deps.forge.replace_labels(issue, (set(current) - managed) | desired)


def _status_label(state: RequestState | None) -> str:
    if state is None:
        return "bmad:failed"
    return {
        Stage.NEW: "bmad:failed",
        Stage.AWAITING_APPROVAL: "bmad:awaiting-approval",
        Stage.COMPLETE: "bmad:ready-to-merge",
        Stage.CANCELLED: "",
    }[state.stage]


def ensure_pull(deps: Deps, loc: Located, ws: Workspace, state: RequestState | None,
                pull: PullRequest | None) -> PullRequest | None:
    """Open the draft planning PR once the branch exists; mark it ready when planning is complete."""
    from playbook.planning.prompts import render_package_template
    from playbook.sanitize import neutralize_for_github

    if state is None or (pull is not None and pull.merged):
        return pull
    if pull is None:
        if deps.forge.branch_head(loc.branch) is None:
            return None
        body = render_package_template(
            "planning-pr.md.j2", issue=loc.issue, title=neutralize_for_github(loc.title), branch=loc.branch,
            phases=[{"title": s.title, "path": f"{artifacts.planning_dir(state.request)}/{s.filename}"} for s in PHASES],
        )
        pull = deps.forge.create_pull(loc.branch, loc.base, f"BMAD plan: {loc.title}"[:250], body, True)
    if state.stage is Stage.COMPLETE and pull.draft and pull.state == "open":
        deps.forge.mark_ready(pull)
        deps.forge.set_labels(pull.number, {"bmad:ready-to-merge"}, set())
    return pull


def reply_once(deps: Deps, loc: Located, comment_id: int, text: str) -> None:
    """A short reply to a command comment, at most once per command (re-runs find the marker)."""
    from playbook.sanitize import cap

    marker = REPLY_MARKER.format(comment_id=comment_id)
    if any(marker in c.body for c in loc.comments if is_ours(c, deps)):
        return
    loc.comments.append(deps.forge.create_comment(loc.issue, cap(f"{marker}\n{text}", tracking.BODY_LIMIT)))


def finish(deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None, current_labels: tuple[str, ...],
            *, failure: tracking.Failure | None = None, notice: str = "") -> RequestState | None:
    """Bring the planning PR, the tracking comment and the labels in line with the branch.

    A PR that cannot be opened (e.g. Actions may not create pull requests) is shown as the
    failure and raised after the comment is written; the commits stay, and the next run opens it.
    A batched workspace (``planning.batched``) writes its one commit first.
    """
    flush = getattr(ws, "flush", None)
    if flush is not None:
        flush()
    state, broken = read_state(ws, loc)
    failure = failure or broken
    pr_error: ForgeError | None = None
    try:
        pull = ensure_pull(deps, loc, ws, state, pull)
    except ForgeError as exc:
        pr_error = exc
        failure = failure or failure_from("Planning PR", exc)
    update_tracking(deps, loc, ws, state, pull=pull, failure=failure, notice=notice)
    sync_labels(deps, loc.issue, current_labels, state, "bmad:failed" if failure else _status_label(state))
    if pr_error is not None:
        raise pr_error
    return state


def failure_from(phase: str, exc: PlaybookError) -> tracking.Failure:
    problems = getattr(exc, "problems", None) or []  # a validation error lists every problem: show them
    reason = exc.message.splitlines()[0] + (": " + "; ".join(problems) if problems else "")
    return tracking.Failure(phase, reason[:1500 if problems else 500], exc.fix or "/retry")


def require_model_secrets(deps: Deps) -> None:
    if not deps.settings.offline and not deps.settings.gemini_api_key:
        raise MissingSecretError("GEMINI_API_KEY")
