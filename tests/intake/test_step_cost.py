"""What one step costs, pinned exactly: the planner is built once per run and parses only the skill
it runs (call counts through the real code against the loopback fakes, never timings)."""

from __future__ import annotations

import time

import pytest

import scale
from flow_harness import PIHOLE, REPO, Harness


def _spy(h: Harness) -> dict[str, list[str]]:
    from playbook.planning import local, skills

    seen: dict[str, list[str]] = {"planners": [], "skills": []}
    build, parse = local.build_planner, skills.parse_skill

    def counting_build(*args, **kwargs):
        seen["planners"].append("built")
        return build(*args, **kwargs)

    def counting_parse(path, *args, **kwargs):
        seen["skills"].append(path.parent.name)
        return parse(path, *args, **kwargs)

    h.monkeypatch.setattr(local, "build_planner", counting_build)
    h.monkeypatch.setattr(skills, "parse_skill", counting_parse)
    return seen


def test_a_planning_step_builds_one_planner_and_parses_one_skill(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    seen = _spy(h)
    assert h.labeled(issue) == 0
    assert seen == {"planners": ["built"], "skills": ["create-product-brief"]}
    # /approve: the approval and the next draft share one planner; only the PRD skill is read.
    seen["planners"].clear()
    seen["skills"].clear()
    h.answer("create-prd")
    assert h.comment(issue, "/approve") == 0
    assert seen == {"planners": ["built"], "skills": ["create-prd"]}


def test_commands_that_run_no_phase_build_no_planner(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    seen = _spy(h)
    for command in ("/status", "/cost"):
        assert h.comment(issue, command) == 0
    assert seen == {"planners": [], "skills": []}
    # /help lists the skills `/run` can run, so it reads their frontmatter, but it builds no planner
    assert h.comment(issue, "/help") == 0
    assert seen["planners"] == [] and "code-review" in seen["skills"] and "dev-story" in seen["skills"]


# --- calls at several sizes (exact; tests/scale.py builds the requests) --------------------------------
#
# A step's calls do not depend on how many stories, files, comments or earlier requests exist: a
# planning step reads with three GraphQL queries (the issue with its newest 100 comments; the branch
# with every file of the request; the tracking comment by the id the request's state remembers, so
# it is never searched for), checks the permission (REST), and writes with at most three mutation
# documents (the acknowledgement, the one commit, the end). The merge adds exactly one dispatch per
# story. The daily reconcile reads every story file on the default branch in one query (the
# implementation directory, two levels deep), however many there are.


@pytest.mark.parametrize("stories", [1, 10, 50])
def test_calls_by_number_of_stories(h: Harness, stories):
    costs = scale.stories_scenario(h, stories, time.perf_counter)
    # the final approval is flat; the merge is flat plus exactly one dispatch per story: the PR's
    # files (REST), reads 1-3 (the request's files on the default branch come with read 2), one
    # dispatch per story, one commit, the tracking comment read again before its edit (the merge runs
    # outside the issue's concurrency group), and the end document with that edit
    assert (costs["approve"].calls, costs["merge"].calls) == (7, 7 + stories)
    assert costs["approve"].writes == 3  # 👀 + bmad:working; the commit; PR ready, tracking, labels, 👍
    # one dispatch per story, all to the one apps target over one client
    assert len(h.github.dispatches(h.targets["apps"])) == stories
    assert costs["merge"].writes == stories + 2


@pytest.mark.parametrize("comments", [0, 150, 1000])
def test_calls_by_number_of_comments(h: Harness, comments):
    costs = scale.comments_scenario(h, comments, time.perf_counter)
    assert (costs["status"].calls, costs["approve"].calls) == (5, 7)
    # /status: one document (the tracking comment and the 👍); /approve: 👀 + bmad:working in one
    # document, one commit (createCommitOnBranch), then the tracking comment, the labels and the
    # outcome beside the 👀 in one document
    assert costs["status"].writes == 1 and costs["approve"].writes == 3


@pytest.mark.parametrize("earlier", [1, 500])
def test_calls_by_number_of_earlier_requests(h: Harness, earlier):
    costs = scale.earlier_requests_scenario(h, earlier, time.perf_counter)
    # the reconcile: the repository, the ref, the tree, and every story file on the default branch in
    # ONE query (the implementation directory two levels deep) — 500 requests cost what 1 does
    assert (costs["merge"].calls, costs["reconcile"].calls) == (8, 4)
    assert costs["reconcile"].writes == 0


def test_replies_are_not_repeated_on_a_busy_issue(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    for k in range(250):
        h.github.add_comment(REPO, issue, f"note {k}", "owner")
    comment = h.github.add_comment(REPO, issue, "/help", "owner")
    assert h.comment(issue, "/help", comment_id=comment) == 0
    assert h.comment(issue, "/help", comment_id=comment) == 0  # re-delivered: found on the newest page
    replies = [c for c in h.github.comments(REPO, issue) if f"bmad-reply comment={comment}" in c]
    assert len(replies) == 1


def test_a_tracking_comment_past_the_first_page_is_still_found(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    for k in range(150):  # a busy issue labelled late: the tracking comment is the 151st
        h.github.add_comment(REPO, issue, f"note {k}", "owner")
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    h.github.reset_calls()
    assert h.comment(issue, "/status") == 0
    tracking = [c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking")]
    assert len(tracking) == 1
    # read by the id the request remembers: the same five calls as on a quiet issue, no page read
    assert h.github.count() == 5 and h.github.count("GET", "/comments") == 0


def test_the_acknowledgement_is_the_first_write_of_a_command_run(h: Harness):
    """The 👀 reaction on an accepted command comes before anything else the run writes."""
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    for body, skill in (("/revise Use pihole.home.example", "create-product-brief"), ("/approve", "create-prd")):
        h.answer(skill, "Use pihole.home.example" if body.startswith("/revise") else "")
        h.github.reset_calls()
        assert h.comment(issue, body) == 0
        writes = [c for c in h.github.calls if scale.is_write(c.method, c.path, c.operation)]
        # 👀 (with bmad:working, in the same mutation document) is the first write
        assert writes[0].operation == "mutation addReaction+addLabelsToLabelable", writes[:2]
        assert len(writes) == 3 and writes[1].operation == "mutation createCommitOnBranch"  # the rest followed


def test_an_old_request_without_a_remembered_id_still_finds_its_tracking_comment(h: Harness):
    """A request started before its state kept the tracking comment's id, on an issue where 150
    comments came after it: the tracking comment is searched for (the REST pages), found, and
    edited in place; nothing else changes."""
    import re

    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    branch = next(b for b in h.github.repos[REPO].refs if b.startswith("bmad/"))
    path, text = next((p, t) for p, t in h.github.files_at(REPO, branch).items() if p.endswith("/request.md"))
    old = re.sub(r"tracking_comment:\n(  .*\n)+", "", text)
    assert old != text and "tracking_comment" not in old
    h.github.push(REPO, branch, {path: old}, "a request from before the ids were kept")
    for k in range(150):
        h.github.add_comment(REPO, issue, f"note {k}", "owner")
    h.github.reset_calls()
    assert h.comment(issue, "/status") == 0
    tracking = [c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking")]
    assert len(tracking) == 1
    # reads 1 and 2, the permission, the first and newest REST pages, the edit through REST (a comment
    # found there has no node id here) and the end document with the outcome
    assert h.github.count("GET", "/comments") == 2 and h.github.count() == 7


def test_a_branch_that_moves_during_the_step_is_read_again_and_the_commit_reapplied(h: Harness):
    """Someone pushes to the request branch while the model writes: the commit's compare-and-swap
    fails, the branch head is read again (not the one read 2 remembered) and the change lands on top."""
    from playbook.adapters import github as adapter

    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    branch = next(b for b in h.github.repos[REPO].refs if b.startswith("bmad/"))
    original, pushed = adapter.GitHubForge.commit_files, []

    def racing(self, branch_, parent, files, message):
        if not pushed:
            pushed.append(h.github.push(REPO, branch_, {"notes/hand-edit.md": "a person pushed\n"}, "hand edit"))
        return original(self, branch_, parent, files, message)

    h.monkeypatch.setattr(adapter.GitHubForge, "commit_files", racing)
    h.answer("create-prd")
    assert h.comment(issue, "/approve") == 0
    files = h.github.files_at(REPO, branch)
    assert files["notes/hand-edit.md"] == "a person pushed\n" and any(p.endswith("/prd.md") for p in files)
    assert h.github.commits(REPO, branch)[1] == "hand edit"
