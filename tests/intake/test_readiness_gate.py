"""The readiness gate: every stories draft is checked by check-implementation-readiness in the same
commit; the verdict and blockers show in the tracking comment; "not ready" holds /approve until a
/revise passes or the owner overrides."""

from __future__ import annotations

from flow_harness import REPO, Harness


def _to_stories_draft(h: Harness, *, ready: bool) -> int:
    issue = h.through_architecture()
    h.answer("create-epics-and-stories")
    if ready:
        h.answer("check-implementation-readiness")
    else:
        h.answer_not_ready("story 1.1 has no rollback path")
    assert h.comment(issue, "/approve") == 0
    return issue


def _tracking(h: Harness, issue: int) -> str:
    return next(c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking"))


def _branch_files(h: Harness) -> dict[str, str]:
    return h.github.files_at(REPO, h.github.repos[REPO].pulls[h.github.pulls(REPO)[0]["number"]].head)


def test_not_ready_holds_approve_and_revise_rechecks(h: Harness):
    issue = _to_stories_draft(h, ready=False)
    report = next(t for p, t in _branch_files(h).items() if p.endswith("runs/check-implementation-readiness.md"))
    assert "verdict: not-ready" in report and "story 1.1 has no rollback path" in report
    tracking = _tracking(h, issue)
    assert "⛔ not ready" in tracking and "- ⛔ blocker — story 1.1 — story 1.1 has no rollback path" in tracking
    assert "`/approve override`" in tracking

    assert h.comment(issue, "/approve") == 0
    reply = h.github.comments(REPO, issue)[-1]
    assert reply.splitlines()[1].startswith("Not approved — the readiness check says **not ready**")
    assert "/revise <feedback>" in reply and "/approve override" in reply
    assert "status: draft" in next(t for p, t in _branch_files(h).items() if p.endswith("/epics.md"))

    h.answer("create-epics-and-stories", "Add a rollback note to story 1.1")
    h.answer("check-implementation-readiness")
    assert h.comment(issue, "/revise Add a rollback note to story 1.1") == 0
    assert "✅ ready" in _tracking(h, issue)
    assert h.comment(issue, "/approve") == 0
    assert "status: approved" in next(t for p, t in _branch_files(h).items() if p.endswith("/epics.md"))


def test_override_approves_a_not_ready_draft(h: Harness):
    issue = _to_stories_draft(h, ready=False)
    assert h.comment(issue, "/approve override") == 0
    files = _branch_files(h)
    assert "status: approved" in next(t for p, t in files.items() if p.endswith("/epics.md"))
    assert all("status: ready-for-dev" in t for p, t in files.items() if "/story-" in p)
    assert "held until it passes" not in _tracking(h, issue)


def test_a_check_that_cannot_run_is_recorded_unknown_and_holds_the_gate(h: Harness):
    issue = h.through_architecture()
    h.answer("create-epics-and-stories")
    h.gemini.enqueue_error(400, "INVALID_ARGUMENT", "model not found")  # a configuration error: no fallback
    assert h.comment(issue, "/approve") == 0
    report = next(t for p, t in _branch_files(h).items() if p.endswith("runs/check-implementation-readiness.md"))
    assert "verdict: unknown" in report and "could not run" in report
    assert "❔ no verdict" in _tracking(h, issue)
    assert h.comment(issue, "/approve") == 0
    assert "/run check-implementation-readiness" in h.github.comments(REPO, issue)[-1]
    h.answer("check-implementation-readiness")
    assert h.comment(issue, "/run check-implementation-readiness") == 0
    assert "✅ ready" in _tracking(h, issue)
    assert h.comment(issue, "/approve") == 0
    assert "status: approved" in next(t for p, t in _branch_files(h).items() if p.endswith("/epics.md"))
