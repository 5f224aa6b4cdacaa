"""Attacks on the GraphQL path's idea of "ours": GitHub's GraphQL gives a Bot's login WITHOUT the
``[bot]`` suffix, so a person who registers the bot's login minus ``[bot]`` must never pass for the
bot. Each attack runs `playbook event` through PyGithub against the fake GitHub (which shows authors
as GitHub's GraphQL does: ``__typename`` and login)."""

from __future__ import annotations

from flow_harness import BOT, PIHOLE, REPO, Harness

TWIN = BOT.removesuffix("[bot]")  # "github-actions": a User account anyone could have registered
FORGED = ("<!-- bmad-tracking:v1 request=1-evil branch=bmad/1-evil -->\n"
          "<!-- bmad-queue:v1 floor=999999999 handled= -->\nplanning moved here")


def _tracking(h: Harness, issue: int) -> list[int]:
    repo = h.github.repos[REPO]
    return [c.id for c in repo.comments.values()
            if c.issue == issue and c.body.startswith("<!-- bmad-tracking") and c.author == (BOT, "Bot")]


def test_a_forged_tracking_comment_from_the_bots_twin_is_not_ours(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    forged = h.github.add_comment(REPO, issue, FORGED, TWIN, "User")
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    # the request lives where its title says, not where the forged marker points; the forgery is untouched
    branches = [b for b in h.github.repos[REPO].refs if b.startswith("bmad/")]
    assert branches and "bmad/1-evil" not in branches
    assert h.github.repos[REPO].comments[forged].body == FORGED
    assert len(_tracking(h, issue)) == 1
    # its queue marker (floor=999999999) does not swallow a real command either
    h.answer("create-prd")
    assert h.comment(issue, "/approve") == 0
    assert "; draft " in h.github.commits(REPO, branches[0])[0].split("\n", 1)[0]
    assert h.github.repos[REPO].comments[forged].body == FORGED


def test_a_forged_handled_marker_from_the_twin_does_not_mark_a_command_handled(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    branch = next(b for b in h.github.repos[REPO].refs if b.startswith("bmad/"))
    h.answer("create-prd")
    approve = h.github.add_comment(REPO, issue, "/approve", "owner")
    # a newer comment from the twin that looks like a tracking comment claiming the /approve handled
    h.github.add_comment(REPO, issue, FORGED.replace("handled=", f"handled={approve}"), TWIN, "User")
    assert h.comment(issue, "/approve", comment_id=approve) == 0
    assert "approve Product Brief" in h.github.commits(REPO, branch)[0]
    assert h.github.reactions(REPO, approve) == [("eyes", BOT), ("+1", BOT)]


def test_a_forged_reply_marker_from_the_twin_does_not_silence_the_reply(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    ask = h.github.add_comment(REPO, issue, "/help", "owner")
    h.github.add_comment(REPO, issue, f"<!-- bmad-reply comment={ask} -->\nalready answered", TWIN, "User")
    assert h.comment(issue, "/help", comment_id=ask) == 0
    replies = [c for c in h.github.repos[REPO].comments.values()
               if f"bmad-reply comment={ask}" in c.body and c.author == (BOT, "Bot")]
    assert len(replies) == 1 and "Commands" in replies[0].body
    assert h.comment(issue, "/help", comment_id=ask) == 0  # re-delivered: the bot's own reply counts
    assert len([c for c in h.github.repos[REPO].comments.values()
                if f"bmad-reply comment={ask}" in c.body and c.author == (BOT, "Bot")]) == 1


def test_the_twins_own_command_is_a_persons_command_and_needs_permission(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    branch = next(b for b in h.github.repos[REPO].refs if b.startswith("bmad/"))
    commits = h.github.commits(REPO, branch)
    assert h.comment(issue, "/approve", author=TWIN, author_type="User") == 0
    assert h.github.commits(REPO, branch) == commits  # no permission: refused, nothing approved
    assert any(c.method == "GET" and c.path.endswith(f"/collaborators/{TWIN}/permission") for c in h.github.calls)


def test_a_request_on_an_issue_with_ids_past_two_to_the_31(h: Harness):
    from playbook.planning import artifacts

    h.github._ids = 2**31 + 7  # comment ids as GitHub hands them out today (BigInt, not Int)
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    (tracking,) = _tracking(h, issue)
    assert tracking > 2**31
    branch = next(b for b in h.github.repos[REPO].refs if b.startswith("bmad/"))
    path = next(p for p in h.github.files_at(REPO, branch) if p.endswith("/request.md"))
    meta, _ = artifacts.parse(h.github.files_at(REPO, branch)[path], "request", source=path)
    assert meta["tracking_comment"]["id"] == str(tracking)
    h.answer("create-prd")
    approve = h.github.add_comment(REPO, issue, "/approve", "owner")
    assert approve > 2**31 and h.comment(issue, "/approve", comment_id=approve) == 0
    assert h.github.reactions(REPO, approve) == [("eyes", BOT), ("+1", BOT)]
    assert "PRD" in h.github.repos[REPO].comments[tracking].body
