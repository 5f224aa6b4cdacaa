"""Planning on GitHub: a labeled issue starts a request; slash commands steer its phases.

Every handler authorises first (``github_flow.authorize``), re-reads the branch, and
recognises re-delivered events by the comment that caused a revision or an approval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playbook.errors import MissingSecretError, NotFoundError, PlaybookError, StateError
from playbook.intake import skill_flow
from playbook.intake.github_flow import (
    LABELS,
    Deps,
    Located,
    authorize,
    begin_step,
    failure_from,
    finish,
    is_ours,
    load_request_state,
    locate,
    read_state,
    reply_once,
    require_model_secrets,
    run_step,
    save_queue,
    sync_labels,
    update_tracking,
    workspace_for,
)
from playbook.planning import pipeline
from playbook.planning.phases import SPEC, Phase, Stage, command_outcome
from playbook.planning.state import RequestState
from playbook.ports import PullRequest, Workspace


def on_start(action: Any, deps: Deps) -> int:
    try:
        deps = begin_step(deps, action.issue)
        issue = deps.forge.get_issue(action.issue)
    except NotFoundError:
        deps.log(f"issue #{action.issue} is gone; nothing to do")
        return 0
    return run_step(deps, lambda: _start(action, deps, issue))


def _start(action: Any, deps: Deps, issue: Any) -> int:
    from playbook.planning.phases import QUICK_LABEL
    from playbook.sanitize import clean_untrusted, strip_hidden

    if issue.state != "open" or issue.locked or not {"bmad:brief", QUICK_LABEL} & set(issue.labels):
        deps.log(f"issue #{issue.number} is closed, locked or no longer labeled bmad:brief or {QUICK_LABEL}; "
                 "nothing to do")
        return 0
    flow = "quick" if QUICK_LABEL in issue.labels and "bmad:brief" not in issue.labels else "full"
    sender = getattr(action, "sender", "") or issue.author
    sender_type = getattr(action, "sender_type", "User") or "User"
    decision = authorize(deps, sender, sender_type)
    if not decision.allowed:
        deps.log(f"request on #{issue.number} not started: {decision.reason}")
        return 0
    title = strip_hidden(issue.title).strip() or f"Request {issue.number}"
    loc = locate(deps, issue.number, title, comment_count=issue.comments)
    ws = deps.make_workspace(loc.branch, loc.base)
    try:
        require_model_secrets(deps)
    except MissingSecretError as exc:
        update_tracking(deps, loc, ws, None, failure=failure_from(SPEC[Phase.BRIEF].title, exc))
        sync_labels(deps, loc.issue, issue.labels, None, "bmad:failed")
        raise
    deps.forge.ensure_labels(list(LABELS))
    node_id = getattr(deps.forge, "node_id", None)
    if node_id is not None and loc.tracking is None:
        # The tracking comment ("starting") is the run's first write, so the request's state can
        # remember its id and later steps read it directly instead of searching the comments.
        update_tracking(deps, loc, ws, None)
    tracking_comment = ({"id": str(loc.tracking.id), "node_id": node_id(loc.tracking.id)}
                        if node_id is not None and loc.tracking is not None and node_id(loc.tracking.id) else None)
    pull = deps.forge.find_pull(loc.branch)
    body, truncated = clean_untrusted(issue.body or "", deps.config.limits.request_chars)
    try:
        pipeline.start(ws, deps.make_planner(), request=loc.request, issue=issue.number, title=title, body=body,
                       source="github", truncated=truncated, trigger=f"issue:{issue.number}", flow=flow,
                       tracking_comment=tracking_comment)
    except PlaybookError as exc:
        finish(deps, loc, ws, pull, issue.labels, failure=failure_from(SPEC[Phase.BRIEF].title, exc))
        deps.log(f"brief failed: {exc}")
        return 1
    finish(deps, loc, ws, pull, issue.labels)
    return 0


def on_command(action: Any, deps: Deps) -> int:
    """Handle the triggering command and every other command still pending on the issue
    (``command_queue``), in comment order, each authorised on its own."""
    try:
        deps = begin_step(deps, action.issue)
        issue = deps.forge.get_issue(action.issue)
    except NotFoundError:
        deps.log(f"issue #{action.issue} is gone; nothing to do")
        return 0
    return run_step(deps, lambda: _commands(action, deps, issue))


def _commands(action: Any, deps: Deps, issue: Any) -> int:
    from playbook.intake import command_queue
    from playbook.intake.authz import is_bot

    trigger = command_queue.Pending(action.comment_id, action.author, action.author_type, action.created_at,
                                    action.command)
    decisions: dict[tuple[str, str], Any] = {}

    def decide(item: command_queue.Pending) -> Any:  # before any write; an API failure raises (fail closed)
        key = (item.author.lower(), item.author_type)
        if key not in decisions:
            decisions[key] = authorize(deps, item.author, item.author_type)
        return decisions[key]

    decide(trigger)
    loc = locate(deps, issue.number, issue.title, comment_count=issue.comments)
    if loc.tracking is not None and not loc.queue.known:
        # A tracking comment from before the queue: what came before this command counts as handled.
        loc.queue.floor = max((c.id for c in loc.comments if c.id < trigger.comment_id), default=0)
        loc.queue.known = True
    queue = command_queue.pending(
        loc.comments, loc.queue, trigger=trigger,
        replied=command_queue.replied_to(loc.comments, lambda c: is_ours(c, deps)),
        is_ours=lambda c: is_ours(c, deps),
        is_bot=lambda c: is_bot(c.author, c.author_type, bot_login=deps.settings.bot_login),
        max_feedback_chars=deps.config.limits.revise_feedback_chars,
    )
    rc, ran = 0, 0
    for index, item in enumerate(queue):
        decision = decide(item)
        if not decision.allowed:
            deps.log(f"/{item.command.name} from {item.author} refused: {decision.reason}")
            loc.queue.mark(item.comment_id)
            if item.comment_id == trigger.comment_id:
                reply_once(deps, loc, item.comment_id,
                           "Sorry, only collaborators with write, maintain or admin permission can steer this request.")
            continue
        if ran == command_queue.MAX_COMMANDS_PER_RUN:
            deps.log(f"{len(queue) - ran} more commands wait for the next run")
            break
        if ran:
            deps.log(f"also handling the pending /{item.command.name} of comment {item.comment_id}")
            issue = deps.forge.get_issue(issue.number)  # labels moved with the previous command
        ran += 1
        rc |= _run_queued(item, deps, loc, issue)
        if loc.tracking is None and index + 1 < len(queue):  # it may have started the request elsewhere
            loc = locate(deps, issue.number, issue.title, comment_count=issue.comments)
    save_queue(deps, loc)
    return rc


def _react(deps: Deps, comment_id: int, content: str) -> int | None:
    """A reaction is a courtesy: failing to add one never fails the command."""
    try:
        return deps.forge.add_reaction(comment_id, content)
    except PlaybookError as exc:
        deps.log(f"could not react to comment {comment_id}: {exc.message.splitlines()[0]}")
        return None


def _run_queued(item: Any, deps: Deps, loc: Located, issue: Any) -> int:
    """One authorised command: 👀 at once (slow commands), then the outcome (👍 or 😕) beside it."""
    from playbook.intake import command_queue

    if item.command.error:  # bad arguments: the reply (with its marker) is the outcome
        reply_once(deps, loc, item.comment_id, f"`/{item.command.name}`: {item.command.error}")
        return 0
    if item.command.name == "ops":  # on any issue, request or not: one read-only reply is the outcome
        from playbook.intake.ops_flow import on_ops

        return on_ops(item, deps, loc)
    if item.command.name in command_queue.SLOW_COMMANDS:
        acknowledge = getattr(deps.forge, "acknowledge", None)
        if acknowledge is None:
            _react(deps, item.comment_id, command_queue.ACK)
        else:  # 👀 and bmad:working in one write, the first of the run
            try:
                acknowledge(item.comment_id, "bmad:working")
            except PlaybookError as exc:
                deps.log(f"could not acknowledge comment {item.comment_id}: {exc.message.splitlines()[0]}")
            issue = deps.forge.get_issue(issue.number)  # its labels now carry bmad:working (no call)
    loc.queue.mark(item.comment_id)  # written with the handler's tracking update (or by save_queue)
    rc = 1
    try:
        rc = _handle(item, deps, loc, issue)
    finally:  # the 👀 stays (one call fewer than swapping it): the outcome is added beside it
        _react(deps, item.comment_id, command_queue.DONE if rc == 0 else command_queue.FAILED)
    return rc


def _handle(action: Any, deps: Deps, loc: Located, issue: Any) -> int:
    command = action.command
    ws, pull = workspace_for(deps, loc)
    state, broken = read_state(ws, loc)
    if broken is not None:  # named in the tracking comment; the run itself ends cleanly
        deps.log(f"/{command.name} not run: {broken.reason}")
        finish(deps, loc, ws, pull, issue.labels, failure=broken)
        return 0
    if state is None:
        if command.name in ("retry",) and {"bmad:brief", "bmad:quick"} & set(issue.labels):
            return on_start(_StartFromCommand(issue.number, action.author, action.author_type), deps)
        reply_once(deps, loc, action.comment_id, "There is no request on this issue yet: add the `bmad:brief` label "
                   "(or `bmad:quick` for a small change).")
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
    from playbook.planning.phases import REFUSALS

    reply_once(deps, loc, action.comment_id, f"`/{action.command.name}` is not available now: {REFUSALS[state.stage]}.")
    return 0


def _info(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
          state: RequestState, labels: tuple[str, ...]) -> int:
    from playbook.intake.commands import help_text

    name = action.command.name
    if name == "help":
        reply_once(deps, loc, action.comment_id, help_text(skill_flow.runnable_skill_names(deps)))
    elif name == "cost":
        from playbook.intake import tracking
        from playbook.planning import ledger

        rows = [f"| {r['title']} | {r['revision']} | {r['model']} | {r['tokens']} | {r['cost']} |"
                for r in tracking.phase_rows(state, "") if r["tokens"]]
        dev = tracking.dev_row(state)
        if dev:
            rows.append(f"| Dev runs (target repos) | {dev['runs']} | Claude Code | {dev['tokens']} | {dev['cost']} |")
        total = state.usage
        notes = "".join(f"\n- {line}" for line in tracking.ledger_notes(state))
        reply_once(deps, loc, action.comment_id,
                   "| Phase | Revision | Model | Tokens in / out | Est. cost |\n|---|---|---|---|---|\n"
                   + "\n".join(rows)
                   + f"\n| **Total** (every revision and dev run) | | | {ledger.tokens_text(total)} | "
                   f"**{ledger.cost_text(total)}** |" + (f"\n{notes}" if notes else ""))
    else:  # status: the tracking comment is the status
        finish(deps, loc, ws, pull, labels)
    return 0


def _ref(action: Any) -> str:
    return f"comment:{action.comment_id}"


def _approve(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
             state: RequestState, labels: tuple[str, ...]) -> int:
    current = state.current
    assert current is not None
    args = action.command.args
    expected = int(args[0].lstrip("r")) if args and args[0] else None
    override = "override" in args[1:]
    written_at = action.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if current.phase is Phase.STORIES and not override:
        from playbook.planning import readiness

        refusal = readiness.gate(readiness.load(ws, state))
        if refusal:
            reply_once(deps, loc, action.comment_id, f"Not approved — {refusal}.")
            finish(deps, loc, ws, pull, labels)
            return 0
    from playbook.planning.batched import BatchedWorkspace

    batched = BatchedWorkspace(ws)  # the approval and the next draft: one commit (finish flushes it)
    try:
        pipeline.approve(batched, deps.make_planner(), state, approver=action.author, approved_ref=_ref(action),
                         expected_revision=expected, written_at=written_at)
    except StateError as exc:
        reply_once(deps, loc, action.comment_id, f"Not approved — {exc.message}. {exc.fix or ''}".strip())
        return 0
    return _generate_next(deps, loc, batched, pull, labels, trigger=_ref(action))


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
    state = load_request_state(ws, loc)
    assert state is not None
    if state.stage is Stage.NEW:
        try:
            require_model_secrets(deps)
            deps.forge.set_labels(loc.issue, {"bmad:working"}, set())
            labels = tuple(set(labels) | {"bmad:working"})
            pipeline.generate(ws, deps.make_planner(), state, feedback=feedback, trigger=trigger)
        except PlaybookError as exc:
            current = state.current
            finish(deps, loc, ws, pull, labels, failure=failure_from(current.title if current else "Planning", exc))
            deps.log(f"generation failed: {exc}")
            return 1
    finish(deps, loc, ws, pull, labels)
    return 0


def _regenerate(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                state: RequestState, labels: tuple[str, ...]) -> int:
    current = state.current
    assert current is not None
    if current.trigger == _ref(action):
        deps.log(f"comment {action.comment_id} already produced r{current.revision}")
        finish(deps, loc, ws, pull, labels)
        return 0
    from playbook.sanitize import strip_hidden

    feedback = strip_hidden(action.command.text).strip()
    try:
        require_model_secrets(deps)
        deps.forge.set_labels(loc.issue, {"bmad:working"}, set())
        labels = tuple(set(labels) | {"bmad:working"})
        pipeline.generate(ws, deps.make_planner(), state, feedback=feedback, trigger=_ref(action))
    except PlaybookError as exc:
        finish(deps, loc, ws, pull, labels, failure=failure_from(current.title, exc))
        deps.log(f"revision failed: {exc}")
        return 1
    finish(deps, loc, ws, pull, labels)
    return 0


def _generate(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
              state: RequestState, labels: tuple[str, ...]) -> int:
    return _generate_next(deps, loc, ws, pull, labels, trigger=_ref(action))


def _noop_retry(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                state: RequestState, labels: tuple[str, ...]) -> int:
    reply_once(deps, loc, action.comment_id, "Nothing to retry: the current draft is waiting for `/approve` or `/revise`.")
    finish(deps, loc, ws, pull, labels)
    return 0


def _cancel(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
            state: RequestState, labels: tuple[str, ...]) -> int:
    pipeline.cancel(ws, state, by=action.author)
    finish(deps, loc, ws, pull, labels, notice="Cancelled. The planning branch and PR are kept for reference.")
    return 0


def _route(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
           state: RequestState, labels: tuple[str, ...]) -> int:
    story_id, target = action.command.args
    story = next((s for s in state.stories if s.id == story_id), None)
    if story is None:
        reply_once(deps, loc, action.comment_id, f"There is no story {story_id} in this request.")
        return 0
    if story.target != target:
        pipeline.update_stories(ws, {story.path: {"target": target}},
                                f"bmad({state.request}): route story {story_id} to {target}\n\nRouted by {action.author}.")
    finish(deps, loc, ws, pull, labels, notice=f"Story {story_id} routes to {target}.")
    return 0


def _dispatch_cmd(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
                  state: RequestState, labels: tuple[str, ...]) -> int:
    if pull is None or not pull.merged:
        reply_once(deps, loc, action.comment_id, "Stories are dispatched once the planning PR is merged.")
        return 0
    wanted = action.command.args[0] if action.command.args else None
    from playbook.delivery.dispatch import DISPATCHABLE
    from playbook.delivery.order import awaiting_dispatch

    stories = [s for s in state.stories if (wanted is None or s.id == wanted)
               and (s.status in DISPATCHABLE or awaiting_dispatch(s))]
    if not stories:
        reply_once(deps, loc, action.comment_id, "No dispatchable story (ready-for-dev or in-progress) matches.")
        return 0
    from playbook.delivery import order
    from playbook.intake.delivery_flow import send

    siblings = list(state.stories)
    if wanted is not None and not order.ready_parts(siblings, stories, explicit=True):
        why = order.waiting_for(stories[0], siblings) or "nothing it may send now"
        reply_once(deps, loc, action.comment_id, f"Story {wanted} is not dispatched yet: it waits for {why}.")
        return 0
    return send(deps, ws, stories, merge_sha=ws.head() or "", loc=loc, labels=labels, pull=pull, explicit=True)


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
    "run-skill": skill_flow.on_run,
}


