"""Queued commands through `playbook event`, PyGithub and the loopback fakes (SECURITY-TESTS 43, 64, 68).

A run GitHub cancelled is simulated by a comment that gets no run of its own; the next run must finish it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flow_harness import BOT, PIHOLE, REPO, Harness
from playbook.intake import command_queue
from playbook.intake.commands import Command
from playbook.ports import Comment

MARKER = "<!-- bmad-tracking:v1"


def _tracking(h: Harness, issue: int) -> list[str]:
    return [c for c in h.github.comments(REPO, issue) if c.startswith(MARKER)]


def _branch(h: Harness) -> str:
    (branch,) = [b for b in h.github.repos[REPO].refs if b.startswith("bmad/")]
    return branch


def _started(h: Harness) -> int:
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    return issue


def _queued(h: Harness, issue: int, body: str, author: str = "owner", kind: str = "User") -> int:
    """A comment whose own run GitHub cancelled (it never ran), written as the current draft appeared."""
    from playbook.planning import artifacts

    files = h.github.files_at(REPO, _branch(h))
    drafts = [artifacts.parse(t, "phase", source=p)[0] for p, t in files.items()
              if p.startswith(artifacts.PLANNING_DIR) and not p.endswith("request.md")]
    written = max(d["created"] for d in drafts)
    at = datetime.fromisoformat(written.replace("Z", "+00:00"))
    return h.github.add_comment(REPO, issue, body, author, kind, created_at=at)


def _approvals(h: Harness) -> list[str]:
    return [m for m in h.github.commits(REPO, _branch(h)) if " approve " in m]


def test_a_cancelled_pending_approve_is_finished_by_the_next_run(h: Harness):
    issue = _started(h)
    h.answer("create-prd")
    cancelled = _queued(h, issue, "/approve", "owner")  # its run was cancelled by GitHub
    h.github.reset_calls()
    assert h.comment(issue, "/status") == 0

    assert len(_approvals(h)) == 1 and "PRD r1" in h.github.commits(REPO, _branch(h))[0]
    # acknowledged with 👀 (and bmad:working, in the same mutation document) before any work; the
    # outcome is added beside it (no DELETE: one call fewer)
    calls = [f"{c.method} {c.path}" for c in h.github.calls]
    operations = [c.operation for c in h.github.calls]
    commit = operations.index("mutation createCommitOnBranch")
    assert operations.index("mutation addReaction+addLabelsToLabelable") < commit
    assert not any(c.startswith("DELETE ") for c in calls)
    assert h.github.reactions(REPO, cancelled) == [("eyes", BOT), ("+1", BOT)]
    # handled state lives in the bot's tracking comment: the next run (a fresh process) repeats nothing
    (tracking,) = _tracking(h, issue)
    assert f"handled={cancelled}," in tracking or f"handled={cancelled} " in tracking or f",{cancelled}" in tracking
    commits = h.github.commits(REPO, _branch(h))
    assert h.comment(issue, "/status") == 0
    assert h.github.commits(REPO, _branch(h)) == commits and len(h.gemini.requests) == 2


def test_the_queue_costs_a_fixed_number_of_calls(h: Harness):
    """One pending /approve finished by a /status run: the pinned cost of the queue itself."""
    issue = _started(h)
    h.answer("create-prd")
    _queued(h, issue, "/approve", "owner")
    h.github.reset_calls()
    assert h.comment(issue, "/status") == 0
    # the comments come with the issue (read 1: no REST listing, no extra issue read per command); one
    # permission read per distinct author; the /approve's 👀 goes with bmad:working as the first write;
    # both commands' tracking updates, labels and outcomes (👍 beside the 👀, 👍 for /status) go in
    # ONE mutation document at the end
    assert [c.operation or f"{c.method} {c.path}" for c in h.github.calls] == [
        "query", f"GET /repos/{REPO}/collaborators/owner/permission", "query", "query",
        "mutation addReaction+addLabelsToLabelable", "mutation createCommitOnBranch",
        "mutation addLabelsToLabelable+removeLabelsFromLabelable+addReaction+updateIssueComment+addReaction"]


def test_an_outsiders_command_cannot_displace_an_authorised_one(h: Harness):
    issue = _started(h)
    h.answer("create-prd")
    approve = _queued(h, issue, "/approve", "owner")  # pending run, cancelled by ...
    for _ in range(3):
        _queued(h, issue, "/help", "outsider")  # ... outsider comments whose runs were cancelled
    before = len(h.github.comments(REPO, issue))
    assert h.comment(issue, "/help", author="outsider") == 0  # the one surviving run is the outsider's

    assert len(_approvals(h)) == 1  # the maintainer's /approve ran all the same
    assert h.github.reactions(REPO, approve) == [("eyes", BOT), ("+1", BOT)]
    new = h.github.comments(REPO, issue)[before:]
    assert sum("only collaborators" in c for c in new) == 1  # one refusal, for the run's own comment
    assert not any("Commands (put one on the FIRST line" in c for c in new)  # no /help for outsiders
    assert h.comment(issue, "/help", author="outsider") == 0
    assert len(_approvals(h)) == 1


def test_two_pending_approvals_make_one_transition(h: Harness):
    from playbook.adapters import offline

    issue = _started(h)
    # the model takes over a second, as a real one does, so the PRD is certainly newer than both comments
    h.gemini.enqueue_text(offline._WRITERS["create-prd"](PIHOLE, "", {}), delay=1.2)
    first = _queued(h, issue, "/approve", "owner")
    second = _queued(h, issue, "/approve", "owner")
    assert h.comment(issue, "/status") == 0
    assert len(_approvals(h)) == 1
    assert any("stale approval" in c for c in h.github.comments(REPO, issue))  # written before the PRD existed
    assert h.github.reactions(REPO, first) == [("eyes", BOT), ("+1", BOT)]
    assert h.github.reactions(REPO, second) == [("eyes", BOT), ("+1", BOT)]


def test_edited_and_bot_comments_are_not_queued(h: Harness):
    issue = _started(h)
    h.answer("create-prd")
    edited = _queued(h, issue, "looks fine", "owner")
    h.github.edit_comment_body(REPO, edited, "/approve")  # the workflow never fires on edits
    _queued(h, issue, "/approve", "evil-app[bot]", "Bot")
    h.github.add_comment(REPO, issue, "/approve", BOT, "Bot")
    assert h.comment(issue, "/status") == 0
    assert _approvals(h) == []


def test_a_forged_tracking_or_queue_marker_is_ignored_and_never_edited(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    forged_body = ("<!-- bmad-tracking:v1 request=1-evil branch=bmad/1-evil -->\n"
                   "<!-- bmad-queue:v1 floor=999999 handled= -->\nplanning moved here")
    forged = h.github.add_comment(REPO, issue, forged_body, "evil-app[bot]", "Bot")
    forged_user = h.github.add_comment(REPO, issue, forged_body, "mallory", "User")
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    assert _branch(h) != "bmad/1-evil" and "bmad/1-evil" not in h.github.repos[REPO].refs
    h.answer("create-prd")
    assert h.comment(issue, "/approve") == 0  # not swallowed by the forged floor
    assert len(_approvals(h)) == 1
    comments = h.github.repos[REPO].comments
    assert comments[forged].body == forged_body and comments[forged].updated_at == comments[forged].created_at
    assert comments[forged_user].body == forged_body
    assert len(_tracking(h, issue)) == 3  # two forgeries (untouched) and ours
    ours = [c for c in comments.values() if c.author[0] == BOT and c.body.startswith(MARKER)]
    assert len(ours) == 1


# --------------------------------------------------------------------------- the pure part


def _comment(cid: int, body: str, author: str = "owner", kind: str = "User", edited: bool = False) -> Comment:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=cid)
    return Comment(cid, body, author, kind, at, "", updated_at=at + timedelta(minutes=1) if edited else at)


def _pending(comments: list[Comment], state: command_queue.QueueState, trigger_id: int) -> list[int]:
    trigger = command_queue.Pending(trigger_id, "owner", "User", datetime(2026, 1, 1, tzinfo=UTC), Command("status"))
    ours = lambda c: c.author == BOT  # noqa: E731
    found = command_queue.pending(
        comments, state, trigger=trigger, replied=command_queue.replied_to(comments, ours), is_ours=ours,
        is_bot=lambda c: c.author_type == "Bot", max_feedback_chars=4000)
    return [p.comment_id for p in found]


def test_pending_reads_handled_state_from_the_comments_alone():
    comments = [_comment(1, "/approve"), _comment(2, "/revise more"), _comment(3, "hello"),
                _comment(4, "<!-- bmad-reply comment=2 -->\nok", BOT, "Bot"), _comment(5, "/approve", edited=True),
                _comment(6, "/cost"), _comment(7, "/status")]
    assert _pending(comments, command_queue.QueueState(), 7) == [7]  # no marker: only the trigger, as before
    state = command_queue.parse_state("x\n" + command_queue.QueueState(0, [1], known=True).marker())
    assert _pending(comments, state, 7) == [6, 7]
    assert _pending(comments, command_queue.QueueState(6, [7], known=True), 7) == []


def test_the_handled_window_moves_the_floor_and_round_trips():
    state = command_queue.QueueState(known=True)
    for cid in range(1, command_queue.HANDLED_WINDOW + 6):
        state.mark(cid)
    assert state.floor == 5 and len(state.handled) == command_queue.HANDLED_WINDOW
    body = command_queue.stamp("<!-- bmad-tracking:v1 … -->\n### plan", state)
    again = command_queue.parse_state(body)
    assert (again.floor, again.handled) == (state.floor, state.handled)
    assert command_queue.stamp(body, again) == body and body.splitlines()[1] == state.marker()


def test_a_schedule_run_overlapping_a_command_run_keeps_its_queue_record(h: Harness, monkeypatch):
    """SECURITY-TESTS 48: the reconcile sweep runs outside the issue's group; a command run that
    records a handled command while the sweep is between reading and editing the tracking comment
    keeps that record (the sweep re-reads the comment right before its edit)."""
    from playbook.intake import delivery_flow, github_flow

    issue, number = h.complete_planning()
    h.env["BMAD_DISPATCH_TOKEN"] = None  # type: ignore[assignment]
    assert h.merged(number, h.github.merge_pull(REPO, number)) == 1  # nothing dispatched: left for the sweep
    h.env["BMAD_DISPATCH_TOKEN"] = "github_pat_canary_dispatch_0123456789"
    command = h.github.add_comment(REPO, issue, "/status", "owner")
    real_locate = github_flow.locate

    def locate_then_a_command_run_writes(deps, number_, title, **kwargs):
        loc = real_locate(deps, number_, title, **kwargs)
        tracking = h.github.repos[REPO].comments[loc.tracking.id]  # the concurrent command run's edit
        state = command_queue.parse_state(tracking.body)
        state.mark(command)
        h.github.edit_comment_body(REPO, loc.tracking.id, command_queue.stamp(tracking.body, state))
        return loc

    monkeypatch.setattr(delivery_flow, "locate", locate_then_a_command_run_writes)
    assert h.run("schedule", {"schedule": "0 6 * * *", "repository": {"full_name": REPO}}) == 0
    assert h.github.dispatches(h.targets["apps"])  # the sweep did its work ...
    (tracking,) = _tracking(h, issue)
    assert command in command_queue.parse_state(tracking).handled  # ... and kept the command run's record


def test_three_rapid_events_the_cancelled_middle_one_is_finished(h: Harness):
    """SECURITY-TESTS 43: /revise (runs), /revise (its run cancelled), /status (runs): both revisions land, in order."""
    issue = _started(h)
    h.answer("create-product-brief", "first")
    assert h.comment(issue, "/revise first") == 0
    middle = _queued(h, issue, "/revise second", "owner")
    h.answer("create-product-brief", "second")
    assert h.comment(issue, "/status") == 0
    messages = h.github.commits(REPO, _branch(h))
    assert "revise Product Brief r3" in messages[0] and "revise Product Brief r2" in messages[1]
    brief = next(t for p, t in h.github.files_at(REPO, _branch(h)).items() if p.endswith("product-brief.md"))
    assert f"trigger: comment:{middle}" in brief and "feedback: second" in brief
    assert h.comment(issue, "/status") == 0  # and nothing runs twice
    assert h.github.commits(REPO, _branch(h)) == messages and len(h.gemini.requests) == 3
