"""`/run <skill>` on a request issue, through PyGithub against the loopback fakes."""

from __future__ import annotations

from flow_harness import REPO, Harness

REVIEW = "# PRD validation\n\n## Verdict\n\nThe PRD covers the brief. " + "Detail. " * 20 + "\n\n## Open questions\n\n- None.\n"


def test_run_commits_the_output_on_the_request_branch_once(h: Harness):
    issue, number = h.complete_planning()
    branch = h.github.repos[REPO].pulls[number].head
    h.gemini.enqueue_text(REVIEW, input_tokens=300, output_tokens=200)
    comment = h.github.add_comment(REPO, issue, "/run validate-prd", "owner", "User")
    assert h.comment(issue, "/run validate-prd", comment_id=comment) == 0
    files = h.github.files_at(REPO, branch)
    path = next(p for p in files if p.endswith("/runs/validate-prd.md"))
    assert "kind: skill-run" in files[path] and "The PRD covers the brief" in files[path]
    assert f"trigger: comment:{comment}" in files[path]
    reply = h.github.comments(REPO, issue)[-1]
    assert "`/run validate-prd`: committed" in reply and "gemini" in reply
    calls = len(h.gemini.requests)
    assert h.comment(issue, "/run validate-prd", comment_id=comment) == 0  # re-delivered: no second run
    assert len(h.gemini.requests) == calls
    assert len([c for c in h.github.comments(REPO, issue) if "`/run validate-prd`" in c]) == 1


def test_help_lists_runnable_skills_and_code_skills_are_refused_with_the_fix(h: Harness):
    issue, _ = h.complete_planning()
    assert h.comment(issue, "/help") == 0
    text = h.github.comments(REPO, issue)[-1]
    assert "/run <skill> [story-id]" in text and "`validate-prd`" in text and "`check-implementation-readiness`" in text
    assert "`dev-story`" not in text
    assert h.comment(issue, "/run dev-story 1.1") == 1
    assert "playbook dev" in h.github.comments(REPO, issue)[-1]
    assert h.comment(issue, "/run ../../etc") == 0
    assert "usage: /run <skill>" in h.github.comments(REPO, issue)[-1]
