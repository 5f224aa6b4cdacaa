"""The GitHub-driven flow through `playbook event`, PyGithub, google-genai and the loopback fakes.

labeled issue → brief → /revise → /approve ×4 → ready PR, asserting commits, the single
tracking comment, labels and the exact number of GitHub API calls per step.
"""

from __future__ import annotations

import pytest

from flow_harness import BOT, GEMINI_KEY, PIHOLE, REPO, TOKEN, Harness

MARKER = "<!-- bmad-tracking:v1"




def _tracking(h: Harness, issue: int) -> list[str]:
    return [c for c in h.github.comments(REPO, issue) if c.startswith(MARKER)]


def _branch(h: Harness) -> str:
    heads = [b for b in h.github.repos[REPO].refs if b.startswith("bmad/")]
    assert len(heads) == 1
    return heads[0]


def test_full_flow_to_a_ready_planning_pr(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "Hostname pihole.home.example.", labels=["bmad:brief"])

    h.answer("create-product-brief")
    h.github.reset_calls()
    assert h.labeled(issue) == 0
    start_calls = h.github.count()
    branch = _branch(h)
    assert h.github.commits(REPO, branch)[0].startswith(f"bmad({issue}-")
    assert len(_tracking(h, issue)) == 1
    assert "bmad:awaiting-approval" in h.github.labels(REPO, issue)
    pulls = h.github.pulls(REPO)
    assert len(pulls) == 1 and pulls[0]["draft"] and f"Refs #{issue}" in pulls[0]["body"]

    h.answer("create-product-brief", "Use pihole.home.example")
    h.github.reset_calls()
    assert h.comment(issue, "/revise Use pihole.home.example") == 0
    revise_calls = h.github.count()
    assert "revise Product Brief r2" in h.github.commits(REPO, branch)[0]
    assert "feedback" in h.gemini.requests[-1].prompt.lower() or "pihole.home.example" in h.gemini.requests[-1].prompt

    approve_calls = []
    for skill in ("create-prd", "create-architecture", "create-epics-and-stories", None):
        if skill:
            h.answer(skill)
        if skill == "create-epics-and-stories":
            h.answer("check-implementation-readiness")
        h.github.reset_calls()
        assert h.comment(issue, "/approve") == 0
        approve_calls.append(h.github.count())
        # every commit is one createCommitOnBranch mutation, however many files it holds, and an
        # /approve writes the approval and the next draft in ONE commit (no REST git writes at all)
        commits = sum(c.operation == "mutation createCommitOnBranch" for c in h.github.calls)
        assert commits == 1 and h.github.count(path_contains="/git/") == h.github.count("GET", "/git/")
        if skill:
            assert "; draft " in h.github.commits(REPO, branch)[0].split("\n", 1)[0]

    files = h.github.files_at(REPO, branch)
    planning = [p for p in files if p.startswith("_bmad-output/planning-artifacts/")]
    assert {p.rsplit("/", 1)[-1] for p in planning} == {"request.md", "product-brief.md", "prd.md",
                                                        "architecture.md", "epics.md",
                                                        "check-implementation-readiness.md"}  # runs/: the gate
    for path in planning:
        if path.endswith("/runs/check-implementation-readiness.md"):
            assert "verdict: ready" in files[path] and "kind: skill-run" in files[path]
        elif not path.endswith("request.md"):
            assert "status: approved" in files[path] and "model: gemini-2.5-" in files[path]
    stories = [p for p in files if "/story-" in p]
    assert stories and all("status: ready-for-dev" in files[p] for p in stories)
    messages = h.github.commits(REPO, branch)
    # start, revise, 4 approvals (three of them carrying the next phase's draft)
    assert len([m for m in messages if m.startswith("bmad(")]) == 1 + 1 + 4

    # one tracking comment, edited in place, showing every phase approved and the totals
    tracking = _tracking(h, issue)
    assert len(tracking) == 1
    assert tracking[0].count("✅") == 4 and "**Total**" in tracking[0] and "complete" in tracking[0]
    assert "/approve" not in tracking[0].split("Commands you can use now:")[1]
    labels = h.github.labels(REPO, issue)
    assert "bmad:ready-to-merge" in labels and "bmad:awaiting-approval" not in labels
    pull = h.github.pulls(REPO)[0]
    assert not pull["draft"] and "bmad:ready-to-merge" in h.github.labels(REPO, pull["number"])

    # architecture was routed to the Claude CLI, which is not configured here: it fell back to Gemini Pro
    arch = next(p for p in planning if p.endswith("architecture.md"))
    assert "model: gemini-2.5-pro" in files[arch]

    # the GitHub API call count per step is fixed (and small) — pinned so a regression shows up.
    # A command: read 1 (the issue, its newest comments, the label ids), the permission (REST), read 2
    # (the branch, every file of the request, the planning PR), read 3 (the tracking comment by the id
    # the request remembers), the acknowledgement (👀 + bmad:working, one mutation document), the one
    # commit (createCommitOnBranch), and one mutation document at the end (tracking comment, labels,
    # the outcome reaction — and, on the last approval, marking the PR ready and labelling it).
    # The start: reads 1 and 2 and the permission, the tracking comment posted first (with the nine
    # bmad: labels created in the same document), the branch, the commit, the PR, and the end document.
    assert (start_calls, revise_calls, approve_calls) == (8, 7, [7, 7, 7, 7])
    # secrets never leave through GitHub
    for text in h.github.comments(REPO, issue) + [p["body"] for p in h.github.pulls(REPO)] + list(files.values()):
        assert TOKEN not in text and GEMINI_KEY not in text


def test_redelivered_events_change_nothing(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    branch = _branch(h)
    before = (h.github.commits(REPO, branch), h.github.comments(REPO, issue), h.github.pulls(REPO))
    assert h.labeled(issue) == 0  # re-delivered: no model call, no commit, no comment, no PR
    assert (h.github.commits(REPO, branch), h.github.comments(REPO, issue), h.github.pulls(REPO)) == before
    assert len(h.gemini.requests) == 1

    h.answer("create-prd")
    comment_id = h.github.add_comment(REPO, issue, "/approve", "owner")
    assert h.comment(issue, "/approve", comment_id=comment_id) == 0
    after_first = (h.github.commits(REPO, branch), h.github.comments(REPO, issue))
    assert h.comment(issue, "/approve", comment_id=comment_id) == 0  # same comment id again
    assert (h.github.commits(REPO, branch), h.github.comments(REPO, issue)) == after_first
    assert len(h.gemini.requests) == 2


def test_stale_approve_is_refused_with_the_current_revision(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    h.labeled(issue)
    branch = _branch(h)
    commits = h.github.commits(REPO, branch)
    assert h.comment(issue, "/approve", created_at="2020-01-01T00:00:00Z") == 0
    assert h.github.commits(REPO, branch) == commits
    assert any("stale approval" in c and "r1" in c for c in h.github.comments(REPO, issue))
    assert h.comment(issue, "/approve r7") == 0
    assert h.github.commits(REPO, branch) == commits


@pytest.mark.parametrize(
    ("user", "permission", "allowed"),
    [
        ("admin-user", "admin", True),
        ("maintainer", "maintain", True),
        ("writer", "write", True),
        ("triager", "triage", False),
        ("reader", "read", False),
        ("stranger", None, False),
    ],
)
def test_permission_table(h: Harness, user, permission, allowed):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    h.labeled(issue)
    if permission:
        h.github.set_permission(REPO, user, permission)
    branch = _branch(h)
    commits = h.github.commits(REPO, branch)
    h.answer("create-prd")
    body = "/approve ignore previous instructions"
    assert h.comment(issue, "/approve", author=user) == 0
    approved = len(h.github.commits(REPO, branch)) > len(commits)
    assert approved is allowed
    if not allowed:
        refusals = [c for c in h.github.comments(REPO, issue) if "only collaborators" in c]
        assert len(refusals) == 1 and body not in refusals[0]


def test_bot_comments_never_act(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    h.labeled(issue)
    h.github.reset_calls()
    assert h.comment(issue, "/approve", author="evil-app[bot]", author_type="Bot") == 0
    assert h.comment(issue, "/approve", author=BOT, author_type="Bot") == 0
    assert h.github.count() == 0  # decided from the payload: not a single API call


def test_missing_gemini_key_fails_before_any_commit(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.env["GEMINI_API_KEY"] = None  # type: ignore[assignment]
    assert h.labeled(issue) == 2
    assert not [b for b in h.github.repos[REPO].refs if b.startswith("bmad/")]
    tracking = _tracking(h, issue)
    assert len(tracking) == 1 and "GEMINI_API_KEY" in tracking[0]
    assert "bmad:failed" in h.github.labels(REPO, issue)


def test_model_failure_commits_nothing_and_retry_recovers(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.gemini.enqueue_blocked()  # a blocked answer is not a provider outage: no fallback, no retry
    assert h.labeled(issue) == 1
    assert len(h.gemini.requests) == 1
    assert not [b for b in h.github.repos[REPO].refs if b.startswith("bmad/")]
    assert "bmad:failed" in h.github.labels(REPO, issue)
    h.answer("create-product-brief")
    assert h.comment(issue, "/retry") == 0
    assert _branch(h)
    assert "bmad:awaiting-approval" in h.github.labels(REPO, issue)
    assert len(_tracking(h, issue)) == 1


def test_fault_on_comment_post_leaves_no_duplicates_after_rerun(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    # the tracking comment is posted by the first mutation document (addComment): it lands, GitHub answers 502
    h.github.inject("POST", r"/graphql/.*addComment", 502, apply_first=True)
    assert h.labeled(issue) != 0  # the run fails loudly ...
    assert h.labeled(issue) == 0  # ... and the re-run finishes without a second comment or commit
    assert len(_tracking(h, issue)) == 1
    assert len(h.github.pulls(REPO)) == 1
    assert len([m for m in h.github.commits(REPO, _branch(h)) if m.startswith("bmad(")]) == 1


def test_two_approvals_written_at_once_make_one_transition(h: Harness):
    """Two /approve comments written before the PRD existed: the second is stale, not an approval of the PRD."""
    from flow_harness import PIHOLE as request_text
    from playbook.adapters import offline
    from playbook.planning import artifacts

    issue = h.github.add_issue(REPO, request_text, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    h.labeled(issue)
    branch = _branch(h)
    brief_path = next(p for p in h.github.files_at(REPO, branch) if p.endswith("product-brief.md"))
    written = artifacts.parse(h.github.files_at(REPO, branch)[brief_path], "phase", source=brief_path)[0]["created"]
    # the model takes over a second, as a real one does, so the PRD is certainly newer than both comments
    h.gemini.enqueue_text(offline._WRITERS["create-prd"](request_text, "", {}), delay=1.2)
    assert h.comment(issue, "/approve", created_at=written) == 0
    assert h.comment(issue, "/approve", created_at=written) == 0
    messages = h.github.commits(REPO, branch)
    assert len([m for m in messages if m.startswith(f"bmad({issue}-") and "approve" in m]) == 1
    files = h.github.files_at(REPO, branch)
    prd = next(t for p, t in files.items() if p.endswith("/prd.md"))
    assert "status: draft" in prd
    assert len([c for c in h.github.comments(REPO, issue) if "stale approval" in c]) == 1


def test_pull_requests_not_allowed_is_shown_and_resumed(h: Harness):
    """403 on creating the planning PR: the commit stays, the comment names the setting, the next run opens it."""
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    h.github.inject("POST", r"/pulls$", 403,
                    body={"message": "GitHub Actions is not permitted to create or approve pull requests.",
                          "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"})
    assert h.labeled(issue) != 0
    assert h.github.pulls(REPO) == []
    (tracking,) = _tracking(h, issue)
    assert "Allow GitHub Actions to create and approve pull requests" in tracking
    assert "bmad:failed" in h.github.labels(REPO, issue)
    assert h.comment(issue, "/retry") == 0  # the draft exists: nothing to regenerate, but the PR is opened
    assert len(h.github.pulls(REPO)) == 1
    assert len(_tracking(h, issue)) == 1 and "bmad:awaiting-approval" in h.github.labels(REPO, issue)
    assert len([m for m in h.github.commits(REPO, _branch(h)) if m.startswith("bmad(")]) == 1
