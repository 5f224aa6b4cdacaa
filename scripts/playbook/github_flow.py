"""Carry out one decided action against GitHub.

This is where the forge, the pipeline and the tracking comment meet. Every handler
re-reads live state before writing, so a re-delivered or re-run event changes
nothing the second time, and a surviving run finishes the work of a cancelled one.
Commands are only carried out for authors whose collaborator permission (from the
API, never ``author_association``) passes ``authz.authorize_command``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playbook import artifacts, pipeline, tracking
from playbook.config import Config, load_config
from playbook.errors import ForgeError, MissingSecretError, NotFoundError, PlaybookError, StateError
from playbook.phases import PHASES, SPEC, STATUS_LABELS, Phase, Stage, command_outcome
from playbook.ports import Comment, Forge, LabelSpec, PullRequest, Workspace
from playbook.settings import Settings
from playbook.state import RequestState, find_request, load_state

REPLY_MARKER = "<!-- bmad-reply comment={comment_id} -->"

LABELS: tuple[LabelSpec, ...] = (
    LabelSpec("bmad:brief", "1d76db", "BMAD: Product Brief phase (applying it starts a request)"),
    LabelSpec("bmad:prd", "1d76db", "BMAD: PRD phase"),
    LabelSpec("bmad:architecture", "1d76db", "BMAD: Architecture phase"),
    LabelSpec("bmad:stories", "1d76db", "BMAD: Epics & Stories phase"),
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
    from playbook.local import build_planner
    from playbook.sanitize import log_line

    token = settings.require("github_token", "GITHUB_TOKEN")
    if not settings.github_repository:
        raise MissingSecretError("GITHUB_REPOSITORY", where="run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name")
    config = load_config(settings.root)
    forge = GitHubForge(settings.github_repository, token, base_url=settings.github_api_url)
    return Deps(
        settings=settings,
        config=config,
        forge=forge,
        make_workspace=lambda branch, base: GitHubWorkspace(forge, branch, base_branch=base),
        make_planner=lambda: build_planner(settings, offline=settings.offline, config=config),
        make_remote_forge=lambda repo, tok: GitHubForge(repo, tok, base_url=settings.github_api_url),
        log=log_line,
    )


def handle(action: Any, settings: Settings, *, deps: Deps | None = None) -> int:
    """Entry point for `playbook event`: returns the process exit code."""
    deps = deps or build_deps(settings)
    handler = HANDLERS.get(action.kind)
    if handler is None:
        deps.log(f"nothing to do for {action.kind}")
        return 0
    return handler(action, deps)


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


def _is_ours(comment: Comment, deps: Deps) -> bool:
    return comment.author == deps.settings.bot_login or comment.author_type == "Bot"


def locate(deps: Deps, issue: int, title: str) -> Located:
    from playbook.sanitize import slugify

    comments = deps.forge.list_comments(issue)
    tracking_comment = next(
        (c for c in comments if _is_ours(c, deps) and c.body.startswith(tracking.MARKER_PREFIX)), None
    )
    base = deps.forge.default_branch()
    if tracking_comment is not None and (found := tracking.parse_marker(tracking_comment.body)):
        request, branch = found
    else:
        request = f"{issue}-{slugify(title)}"
        branch = f"bmad/{request}"
    return Located(issue, title, request, branch, tracking_comment, comments, base)


def _workspace_for(deps: Deps, loc: Located) -> tuple[Workspace, PullRequest | None]:
    """The planning branch, or the default branch once the planning PR is merged."""
    pull = deps.forge.find_pull(loc.branch)
    if pull is not None and pull.merged:
        return deps.make_workspace(loc.base, loc.base), pull
    return deps.make_workspace(loc.branch, loc.base), pull


def _load(ws: Workspace, loc: Located) -> RequestState | None:
    request = loc.request if ws.read(f"{artifacts.planning_dir(loc.request)}/request.md") else find_request(ws, loc.issue)
    return load_state(ws, request) if request else None


# --------------------------------------------------------------------------- output: comment, labels, PR


def _blob_url(deps: Deps, ws: Workspace) -> str:
    head = ws.head() or ws.branch
    return f"{deps.settings.github_server_url}/{deps.forge.repo}/blob/{head}"


def update_tracking(deps: Deps, loc: Located, ws: Workspace, state: RequestState | None, *,
                    pull: PullRequest | None = None, failure: tracking.Failure | None = None, notice: str = "") -> None:
    body = tracking.render(
        state, request=loc.request, branch=loc.branch, title=loc.title, blob_url=_blob_url(deps, ws),
        pr=pull.number if pull else None, run_url=deps.settings.run_url, failure=failure, notice=notice,
    )
    if loc.tracking is None:
        loc.tracking = deps.forge.create_comment(loc.issue, body)
    elif loc.tracking.body != body:
        deps.forge.edit_comment(loc.tracking.id, body)


def sync_labels(deps: Deps, issue: int, current: tuple[str, ...], state: RequestState | None, status: str) -> None:
    desired: set[str] = {status} if status else set()
    if state is None:
        desired.add(SPEC[Phase.BRIEF].label)  # nothing generated yet: keep the request's trigger label
    elif state.stage is not Stage.CANCELLED:
        phase = state.current.phase if state.current else Phase.STORIES
        desired.add(SPEC[phase].label)
    managed = set(PHASE_LABELS) | set(STATUS_LABELS)
    have = set(current) & managed
    add, remove = desired - have, have - desired
    if add or remove:
        deps.forge.set_labels(issue, add, remove)


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
    from playbook.prompts import render_package_template
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


def _reply_once(deps: Deps, loc: Located, comment_id: int, text: str) -> None:
    """A short reply to a command comment, at most once per command (re-runs find the marker)."""
    from playbook.sanitize import cap

    marker = REPLY_MARKER.format(comment_id=comment_id)
    if any(marker in c.body for c in loc.comments if _is_ours(c, deps)):
        return
    deps.forge.create_comment(loc.issue, cap(f"{marker}\n{text}", tracking.BODY_LIMIT))


def _finish(deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None, current_labels: tuple[str, ...],
            *, failure: tracking.Failure | None = None, notice: str = "") -> RequestState | None:
    state = _load(ws, loc)
    pull = ensure_pull(deps, loc, ws, state, pull)
    update_tracking(deps, loc, ws, state, pull=pull, failure=failure, notice=notice)
    sync_labels(deps, loc.issue, current_labels, state, "bmad:failed" if failure else _status_label(state))
    return state


def _failure(phase: str, exc: PlaybookError) -> tracking.Failure:
    return tracking.Failure(phase, exc.message.splitlines()[0][:500], exc.fix or "/retry")


def _require_model_secrets(deps: Deps) -> None:
    if not deps.settings.offline and not deps.settings.gemini_api_key:
        raise MissingSecretError("GEMINI_API_KEY")


# --------------------------------------------------------------------------- handlers


def on_start(action: Any, deps: Deps) -> int:
    from playbook.authz import authorize_command
    from playbook.sanitize import clean_untrusted, strip_hidden

    try:
        issue = deps.forge.get_issue(action.issue)
    except NotFoundError:
        deps.log(f"issue #{action.issue} is gone; nothing to do")
        return 0
    if issue.state != "open" or issue.locked or "bmad:brief" not in issue.labels:
        deps.log(f"issue #{issue.number} is closed, locked or no longer labeled bmad:brief; nothing to do")
        return 0
    sender = getattr(action, "sender", "") or issue.author
    sender_type = getattr(action, "sender_type", "User") or "User"
    permission = deps.forge.permission(sender)  # raises on API failure: fail closed
    decision = authorize_command(permission, login=sender, user_type=sender_type, bot_login=deps.settings.bot_login)
    if not decision.allowed:
        deps.log(f"request on #{issue.number} not started: {decision.reason}")
        return 0
    title = strip_hidden(issue.title).strip() or f"Request {issue.number}"
    loc = locate(deps, issue.number, title)
    ws = deps.make_workspace(loc.branch, loc.base)
    try:
        _require_model_secrets(deps)
    except MissingSecretError as exc:
        update_tracking(deps, loc, ws, None, failure=_failure(SPEC[Phase.BRIEF].title, exc))
        sync_labels(deps, loc.issue, issue.labels, None, "bmad:failed")
        raise
    deps.forge.ensure_labels(list(LABELS))
    pull = deps.forge.find_pull(loc.branch)
    body, truncated = clean_untrusted(issue.body or "", deps.config.limits.request_chars)
    try:
        pipeline.start(ws, deps.make_planner(), request=loc.request, issue=issue.number, title=title, body=body,
                       source="github", truncated=truncated, trigger=f"issue:{issue.number}")
    except PlaybookError as exc:
        _finish(deps, loc, ws, pull, issue.labels, failure=_failure(SPEC[Phase.BRIEF].title, exc))
        deps.log(f"brief failed: {exc}")
        return 1
    _finish(deps, loc, ws, pull, issue.labels)
    return 0


def on_command(action: Any, deps: Deps) -> int:
    from playbook.authz import authorize_command

    command = action.command
    try:
        issue = deps.forge.get_issue(action.issue)
    except NotFoundError:
        deps.log(f"issue #{action.issue} is gone; nothing to do")
        return 0
    permission = deps.forge.permission(action.author)  # raises on API failure: fail closed, no write
    decision = authorize_command(permission, login=action.author, user_type=action.author_type,
                                 bot_login=deps.settings.bot_login)
    loc = locate(deps, issue.number, issue.title)
    if not decision.allowed:
        deps.log(f"/{command.name} from {action.author} refused: {decision.reason}")
        _reply_once(deps, loc, action.comment_id,
                    "Sorry, only collaborators with write, maintain or admin permission can steer this request.")
        return 0
    if command.error:
        _reply_once(deps, loc, action.comment_id, f"`/{command.name}`: {command.error}")
        return 0
    ws, pull = _workspace_for(deps, loc)
    state = _load(ws, loc)
    if state is None:
        if command.name in ("retry",) and "bmad:brief" in issue.labels:
            return on_start(_StartFromCommand(issue.number, action.author, action.author_type), deps)
        _reply_once(deps, loc, action.comment_id, "There is no request on this issue yet: add the `bmad:brief` label.")
        return 0
    outcome = command_outcome(command.name, state.stage)
    return COMMAND_HANDLERS.get(outcome, _refuse)(action, deps, loc, ws, pull, state, issue.labels)


@dataclass(frozen=True)
class _StartFromCommand:
    issue: int
    sender: str
    sender_type: str
    kind: str = "start-request"


def _refuse(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
            state: RequestState, labels: tuple[str, ...]) -> int:
    from playbook.phases import REFUSALS

    _reply_once(deps, loc, action.comment_id, f"`/{action.command.name}` is not available now: {REFUSALS[state.stage]}.")
    return 0


def _info(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
          state: RequestState, labels: tuple[str, ...]) -> int:
    from playbook.commands import help_text

    name = action.command.name
    if name == "help":
        _reply_once(deps, loc, action.comment_id, help_text())
    elif name == "cost":
        rows = "\n".join(
            f"| {p.title} | r{p.revision} | {p.model} | {p.usage.get('input_tokens', 0)} / "
            f"{p.usage.get('output_tokens', 0)} | ${p.usage.get('cost_usd', 0):.4f} |" for p in state.phases if p.exists)
        total = state.usage
        _reply_once(deps, loc, action.comment_id,
                    "| Phase | Revision | Model | Tokens in / out | Est. cost |\n|---|---|---|---|---|\n" + rows
                    + f"\n| **Total** | | | {int(total['input_tokens'])} / {int(total['output_tokens'])} | "
                    f"**${total['cost_usd']:.4f}** |")
    else:  # status: the tracking comment is the status
        _finish(deps, loc, ws, pull, labels)
    return 0


def _ref(action: Any) -> str:
    return f"comment:{action.comment_id}"


def _approve(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
             state: RequestState, labels: tuple[str, ...]) -> int:
    current = state.current
    assert current is not None
    args = action.command.args
    expected = int(args[0].lstrip("r")) if args else None
    written_at = action.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        pipeline.approve(ws, deps.make_planner(), state, approver=action.author, approved_ref=_ref(action),
                         expected_revision=expected, written_at=written_at)
    except StateError as exc:
        _reply_once(deps, loc, action.comment_id, f"Not approved — {exc.message}. {exc.fix or ''}".strip())
        return 0
    return _generate_next(deps, loc, ws, pull, labels, trigger=_ref(action))


def _already_handled(state: RequestState, ref: str) -> bool:
    """True when this comment already approved a phase (a re-delivered or re-run event)."""
    return any(p.approved_ref == ref for p in state.phases)


def _approve_or_resume(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                       state: RequestState, labels: tuple[str, ...]) -> int:
    if _already_handled(state, _ref(action)):
        deps.log(f"comment {action.comment_id} was already applied; finishing any remaining work")
        return _generate_next(deps, loc, ws, pull, labels, trigger=_ref(action))
    return _approve(action, deps, loc, ws, pull, state, labels)


def _generate_next(deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None, labels: tuple[str, ...], *,
                   trigger: str, feedback: str = "") -> int:
    state = _load(ws, loc)
    assert state is not None
    if state.stage is Stage.NEW:
        try:
            _require_model_secrets(deps)
            deps.forge.set_labels(loc.issue, {"bmad:working"}, set())
            labels = tuple(set(labels) | {"bmad:working"})
            pipeline.generate(ws, deps.make_planner(), state, feedback=feedback, trigger=trigger)
        except PlaybookError as exc:
            current = state.current
            _finish(deps, loc, ws, pull, labels, failure=_failure(current.title if current else "Planning", exc))
            deps.log(f"generation failed: {exc}")
            return 1
    _finish(deps, loc, ws, pull, labels)
    return 0


def _regenerate(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                state: RequestState, labels: tuple[str, ...]) -> int:
    current = state.current
    assert current is not None
    if current.trigger == _ref(action):
        deps.log(f"comment {action.comment_id} already produced r{current.revision}")
        _finish(deps, loc, ws, pull, labels)
        return 0
    from playbook.sanitize import strip_hidden

    feedback = strip_hidden(action.command.text).strip()
    try:
        _require_model_secrets(deps)
        deps.forge.set_labels(loc.issue, {"bmad:working"}, set())
        labels = tuple(set(labels) | {"bmad:working"})
        pipeline.generate(ws, deps.make_planner(), state, feedback=feedback, trigger=_ref(action))
    except PlaybookError as exc:
        _finish(deps, loc, ws, pull, labels, failure=_failure(current.title, exc))
        deps.log(f"revision failed: {exc}")
        return 1
    _finish(deps, loc, ws, pull, labels)
    return 0


def _generate(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
              state: RequestState, labels: tuple[str, ...]) -> int:
    return _generate_next(deps, loc, ws, pull, labels, trigger=_ref(action))


def _noop_retry(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                state: RequestState, labels: tuple[str, ...]) -> int:
    _reply_once(deps, loc, action.comment_id, "Nothing to retry: the current draft is waiting for `/approve` or `/revise`.")
    _finish(deps, loc, ws, pull, labels)
    return 0


def _cancel(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
            state: RequestState, labels: tuple[str, ...]) -> int:
    pipeline.cancel(ws, state, by=action.author)
    _finish(deps, loc, ws, pull, labels, notice="Cancelled. The planning branch and PR are kept for reference.")
    return 0


def _route(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
           state: RequestState, labels: tuple[str, ...]) -> int:
    story_id, target = action.command.args
    story = next((s for s in state.stories if s.id == story_id), None)
    if story is None:
        _reply_once(deps, loc, action.comment_id, f"There is no story {story_id} in this request.")
        return 0
    if story.target != target:
        pipeline.update_stories(ws, {story.path: {"target": target}},
                                f"bmad({state.request}): route story {story_id} to {target}\n\nRouted by {action.author}.")
    _finish(deps, loc, ws, pull, labels, notice=f"Story {story_id} routes to {target}.")
    return 0


def _dispatch_cmd(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                  state: RequestState, labels: tuple[str, ...]) -> int:
    if pull is None or not pull.merged:
        _reply_once(deps, loc, action.comment_id, "Stories are dispatched once the planning PR is merged.")
        return 0
    wanted = action.command.args[0] if action.command.args else None
    from playbook.dispatch import DISPATCHABLE

    stories = [s for s in state.stories if (wanted is None or s.id == wanted) and s.status in DISPATCHABLE]
    if not stories:
        _reply_once(deps, loc, action.comment_id, "No dispatchable story (ready-for-dev or in-progress) matches.")
        return 0
    return _send(deps, ws, stories, merge_sha=ws.head() or "", loc=loc, labels=labels, pull=pull)


COMMAND_HANDLERS: dict[str, Callable[..., int]] = {
    "info": _info,
    "approve": _approve_or_resume,
    "regenerate": _regenerate,
    "generate": _generate,
    "noop-retry": _noop_retry,
    "cancel": _cancel,
    "route": _route,
    "dispatch": _dispatch_cmd,
    "refuse": _refuse,
}


# --------------------------------------------------------------------------- dispatch and deployment


def _send(deps: Deps, ws: Workspace, stories: list[artifacts.Story], *, merge_sha: str, loc: Located | None,
          labels: tuple[str, ...], pull: PullRequest | None) -> int:
    from playbook.dispatch import EVENT_STORY, plan_dispatches

    token = deps.settings.dispatch_token
    failures: list[str] = []
    sent: set[str] = set()
    collisions = _story_collisions(ws, stories)
    for problem in collisions:
        deps.log(f"not dispatching: {problem}")
    if collisions:
        failures.extend(collisions)
    elif not token:
        failures.append("BMAD_DISPATCH_TOKEN is not set")
    else:
        for d in plan_dispatches(stories, deps.config, playbook_repo=deps.forge.repo, merge_sha=merge_sha):
            try:
                deps.make_remote_forge(d.repo, token).dispatch(d.repo, EVENT_STORY, d.payload)
                sent.add(d.story.path)
                deps.log(f"dispatched story {d.story.id} to {d.repo} ({d.kind})")
            except PlaybookError as exc:
                failures.append(f"story {d.story.id} → {d.repo}: {exc.message.splitlines()[0]}")
    changes = {s.path: {"status": "in-progress"} for s in stories if s.path in sent and s.status != "in-progress"}
    if changes:
        pipeline.update_stories(ws, changes, f"bmad: dispatch {len(changes)} stor{'y' if len(changes) == 1 else 'ies'}")
    if loc is not None:
        failure = None
        if failures:
            fix = ("remove or renumber the colliding story files on the default branch, then /dispatch" if collisions
                   else "set the BMAD_DISPATCH_TOKEN secret (a fine-grained PAT or App token with "
                   "Contents: write on the target repos), check playbook.yaml targets, then /dispatch")
            failure = tracking.Failure("Dispatch", "; ".join(failures)[:500], fix)
        try:
            state = _load(ws, loc)
        except PlaybookError:  # colliding story files make the request unreadable; the failure says why
            if not collisions:
                raise
            state = None
        update_tracking(deps, loc, ws, state, pull=pull, failure=failure)
        if failures and state is None:
            if "bmad:failed" not in labels:
                deps.forge.set_labels(loc.issue, {"bmad:failed"}, set())
        elif failures:
            sync_labels(deps, loc.issue, labels, state, "bmad:failed")
    return 1 if failures else 0


def _story_collisions(ws: Workspace, stories: list[artifacts.Story]) -> list[str]:
    """Story files in the requests being dispatched that would be the same story in a target repo.

    Two files with the same id, or with names equal once case-folded and NFC-normalised
    (``Story.md``/``story.md``, ``café`` composed/decomposed), are refused rather than guessed
    between: on a case-insensitive checkout one would silently overwrite the other.
    """
    import unicodedata

    problems: list[str] = []
    for folder in sorted({s.path.rsplit("/", 1)[0] for s in stories}):
        by_name: dict[str, str] = {}
        by_id: dict[str, str] = {}
        for path in ws.list(folder):
            name = path[len(folder) + 1:]
            key = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
            if "/" in name or not (key.startswith("story-") and key.endswith(".md")):
                continue
            if key in by_name:
                problems.append(f"story files {by_name[key]} and {path} collide (names differ only in case "
                                "or Unicode normalisation)")
                continue
            by_name[key] = path
            try:
                story_id = artifacts.story_from_text(ws.read(path) or "", path=path).id
            except PlaybookError:
                continue  # an unreadable file is reported where it is read; it holds no id to collide
            if story_id in by_id:
                problems.append(f"story files {by_id[story_id]} and {path} collide (both are story {story_id})")
            by_id.setdefault(story_id, path)
    return problems


def on_dispatch_merged(action: Any, deps: Deps) -> int:
    from playbook.payloads import safe_story_path

    base = deps.forge.default_branch()
    ws = deps.make_workspace(base, base)
    paths = []
    for path in deps.forge.pull_files(action.pr):
        if path.startswith(artifacts.IMPLEMENTATION_DIR + "/") and path.rsplit("/", 1)[-1].startswith("story-"):
            try:
                safe_story_path(deps.settings.root, path)
            except PlaybookError as exc:
                deps.log(f"skipping {path!r}: {exc.message}")
                continue
            paths.append(path)
    stories = []
    for path in sorted(paths):
        text = ws.read(path)
        if text is None:
            continue
        story = artifacts.story_from_text(text, path=path)
        if story.status == "ready-for-dev":
            stories.append(story)
    if not stories:
        deps.log(f"PR #{action.pr} merged with no ready-for-dev stories; nothing to dispatch")
        return 0
    issue_number = stories[0].issue
    loc = None
    labels: tuple[str, ...] = ()
    if issue_number:
        try:
            issue = deps.forge.get_issue(issue_number)
            loc = locate(deps, issue.number, issue.title)
            labels = issue.labels
        except NotFoundError:
            loc = None
    return _send(deps, ws, stories, merge_sha=action.merge_sha, loc=loc, labels=labels,
                 pull=deps.forge.find_pull(loc.branch) if loc else None)


def on_mark_deployed(action: Any, deps: Deps) -> int:
    from playbook.payloads import safe_story_path

    payload = action.payload
    safe_story_path(deps.settings.root, payload["story_path"])
    base = deps.forge.default_branch()
    ws = deps.make_workspace(base, base)
    text = ws.read(payload["story_path"])
    if text is None:
        deps.log(f"{payload['story_path']} is not on {base}; nothing to mark")
        return 0
    story = artifacts.story_from_text(text, path=payload["story_path"])
    prs = list(story.metadata.get("pull_requests") or [])
    entry = {"target": payload["target"], "repo": payload["repo"], "number": payload["pr"],
             "url": f"{deps.settings.github_server_url}/{payload['repo']}/pull/{payload['pr']}", "merged": True}
    prs = [p for p in prs if not (p["repo"] == entry["repo"] and p["number"] == entry["number"])] + [entry]
    done_targets = {p["target"] for p in prs if p.get("merged")}
    from playbook.dispatch import resolve_target
    from playbook.routing import kinds_for

    needed = set(kinds_for(resolve_target(story)))
    status = "done" if needed <= done_targets else story.status
    changes = {"pull_requests": prs, "status": status}
    if any(story.metadata.get(k) != v for k, v in changes.items()):
        pipeline.update_stories(ws, {story.path: changes},
                                f"bmad: story {story.id} deployed via {payload['repo']}#{payload['pr']}")
    if story.issue:
        try:
            issue = deps.forge.get_issue(story.issue)
        except NotFoundError:
            return 0
        loc = locate(deps, issue.number, issue.title)
        update_tracking(deps, loc, ws, _load(ws, loc), pull=deps.forge.find_pull(loc.branch))
    return 0


def on_reconcile(action: Any, deps: Deps) -> int:
    """Dispatch stories that are ready-for-dev on the default branch (e.g. merged by automation)."""
    from playbook.payloads import safe_story_path

    base = deps.forge.default_branch()
    ws = deps.make_workspace(base, base)
    by_issue: dict[int | None, list[artifacts.Story]] = {}
    for path in ws.list(artifacts.IMPLEMENTATION_DIR):
        name = path.rsplit("/", 1)[-1]
        if name.startswith("story-") and name.endswith(".md"):
            try:
                safe_story_path(deps.settings.root, path)
                story = artifacts.story_from_text(ws.read(path) or "", path=path)
            except PlaybookError as exc:
                deps.log(f"skipping {path}: {exc.message.splitlines()[0]}")
                continue
            if story.status == "ready-for-dev":
                by_issue.setdefault(story.issue, []).append(story)
    if not by_issue:
        deps.log("reconcile: every story is dispatched")
        return 0
    rc = 0
    head = ws.head() or ""
    for issue_number, stories in sorted(by_issue.items(), key=lambda kv: kv[0] or 0):
        loc = None
        labels: tuple[str, ...] = ()
        if issue_number:
            try:
                issue = deps.forge.get_issue(issue_number)
                loc, labels = locate(deps, issue.number, issue.title), issue.labels
            except (NotFoundError, ForgeError):
                loc = None
        rc |= _send(deps, ws, stories, merge_sha=head, loc=loc, labels=labels,
                    pull=deps.forge.find_pull(loc.branch) if loc else None)
    return rc


def on_report_deployed(action: Any, deps: Deps) -> int:
    """Target side: our IaC PR merged — tell the playbook repo (bmad-deployed)."""
    from playbook.dispatch import EVENT_DEPLOYED
    from playbook.payloads import validate_deployed_payload
    from playbook.publish import read_pr_marker

    pull = deps.forge.find_pull(action.head_ref)
    if pull is None or not pull.merged:
        deps.log(f"{action.head_ref}: no merged pull request; nothing to report")
        return 0
    story = read_pr_marker(pull.body)
    if story is None:
        deps.log(f"PR #{pull.number} has no story marker; not ours")
        return 0
    token = deps.settings.playbook_token
    if not token:
        raise MissingSecretError("BMAD_PLAYBOOK_TOKEN")
    payload = validate_deployed_payload({
        "v": 1, "playbook_repo": story["playbook_repo"], "story_path": story["story_path"], "issue": story["issue"],
        "target": story["target"], "repo": deps.forge.repo, "pr": pull.number, "merge_sha": action.merge_sha,
        "key": story["key"],
    })
    deps.make_remote_forge(story["playbook_repo"], token).dispatch(story["playbook_repo"], EVENT_DEPLOYED, payload)
    deps.log(f"reported {story['story_path']} deployed to {story['playbook_repo']}")
    return 0


HANDLERS: dict[str, Callable[[Any, Deps], int]] = {
    "start-request": on_start,
    "run-command": on_command,
    "dispatch-merged": on_dispatch_merged,
    "mark-deployed": on_mark_deployed,
    "reconcile": on_reconcile,
    "report-deployed": on_report_deployed,
}
