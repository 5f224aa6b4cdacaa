"""StepForge (one step's GraphQL reads and batched writes) through real PyGithub against the fake GitHub,
whose every query and mutation document is validated against @octokit/graphql-schema."""

from __future__ import annotations

import pytest

from fakes.github_api import FakeGitHub
from playbook.adapters.github import GitHubForge
from playbook.adapters.github_step import StepForge, login_of
from playbook.errors import ForgeError
from playbook.ports import LabelSpec

REPO = "owner/homelab-playbook"
TOKEN = "ghs_step0123456789abcdef"
BOT = "github-actions[bot]"
WORKING = LabelSpec("bmad:working", "fbca04", "BMAD: a workflow run is working on this")
PLANNING = "_bmad-output/planning-artifacts/1-x"


@pytest.fixture
def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO, {"README.md": "# playbook\n"})
    fake_github.set_identity(TOKEN, BOT, "Bot")
    return fake_github


@pytest.fixture
def forge(fake: FakeGitHub) -> GitHubForge:
    return GitHubForge(REPO, TOKEN, base_url=fake.url, max_wait_seconds=5, backoff_factor=0)


def test_identity_comes_from_the_typename_never_from_the_login():
    assert login_of({"__typename": "Bot", "login": "github-actions"}) == (BOT, "Bot")
    # a person who registered the bot's login minus "[bot]" stays that person
    assert login_of({"__typename": "User", "login": "github-actions"}) == ("github-actions", "User")
    assert login_of({"__typename": "User", "login": "github-actions[bot]"}) == ("github-actions[bot]", "User")
    assert login_of(None) == ("", "User")  # a deleted account ("ghost")


def test_read_one_gives_bot_and_user_authors_as_rest_spells_them(fake: FakeGitHub, forge: GitHubForge):
    number = fake.add_issue(REPO, "Pi-hole", "body", labels=["bmad:brief"])
    ours = fake.add_comment(REPO, number, "from the bot", BOT, "Bot")
    twin = fake.add_comment(REPO, number, "from a person", "github-actions", "User")
    step = StepForge(forge, number, [WORKING])
    authors = {c.id: (c.author, c.author_type) for c in step.comments}
    assert authors == {ours: (BOT, "Bot"), twin: ("github-actions", "User")}
    assert step.get_issue(number).labels == ("bmad:brief",) and fake.count() == 1


def test_comment_ids_above_two_to_the_31_survive(fake: FakeGitHub, forge: GitHubForge):
    number = fake.add_issue(REPO, "Pi-hole", "body")
    fake._ids = 2**31 + 41  # GitHub's comment ids passed 2^31 long ago: databaseId (Int) would overflow
    big = fake.add_comment(REPO, number, "/approve", "owner")
    assert big > 2**31
    step = StepForge(forge, number, [WORKING])
    assert [c.id for c in step.comments] == [big]
    step.add_reaction(big, "eyes")
    step.flush()
    assert fake.reactions(REPO, big) == [("eyes", BOT)]


def test_the_acknowledgement_is_one_document_and_creates_nothing_twice(fake: FakeGitHub, forge: GitHubForge):
    number = fake.add_issue(REPO, "Pi-hole", "body")
    comment = fake.add_comment(REPO, number, "/approve", "owner")
    step = StepForge(forge, number, [WORKING])
    step.ensure_labels([WORKING])  # missing: created in the same document, before it is set
    step.flush()
    fake.reset_calls()
    step.acknowledge(comment, "bmad:working")
    assert [c.operation for c in fake.calls] == ["mutation addReaction+addLabelsToLabelable"]
    assert fake.reactions(REPO, comment) == [("eyes", BOT)] and fake.labels(REPO, number) == ["bmad:working"]
    again = StepForge(forge, number, [WORKING])  # a re-delivered event: the same end state
    again.acknowledge(comment, "bmad:working")
    assert fake.reactions(REPO, comment) == [("eyes", BOT)] and fake.labels(REPO, number) == ["bmad:working"]


def test_a_partly_failed_document_names_what_failed_and_what_landed(fake: FakeGitHub, forge: GitHubForge):
    number = fake.add_issue(REPO, "Pi-hole", "body")
    comment = fake.add_comment(REPO, number, "/status", "owner")
    tracking = fake.add_comment(REPO, number, "<!-- bmad-tracking:v1 -->", BOT, "Bot")
    step = StepForge(forge, number, [WORKING])
    step.add_reaction(comment, "+1")
    step.edit_comment(tracking, "x" * 70_000)  # GitHub refuses a body past 65,536 characters
    with pytest.raises(ForgeError) as caught:
        step.flush()
    message = caught.value.message
    assert f"updating comment {tracking}" in message and "too long" in message
    assert f"done: reacting +1 to comment {comment}" in message
    assert "re-run" in (caught.value.fix or "")
    assert fake.reactions(REPO, comment) == [("+1", BOT)]  # the field before it ran (serially), as on GitHub


def test_a_label_without_an_id_goes_through_rest(fake: FakeGitHub, forge: GitHubForge):
    number = fake.add_issue(REPO, "Pi-hole", "body")
    step = StepForge(forge, number, [WORKING])  # bmad:working does not exist: no node id to send
    step.replace_labels(number, {"bmad:working"})
    assert [c.method for c in fake.calls[-1:]] == ["PUT"] and fake.labels(REPO, number) == ["bmad:working"]


def test_the_seeded_workspace_reads_nothing_more_inside_the_request_and_the_tree_once_outside(
        fake: FakeGitHub, forge: GitHubForge):
    files = {f"{PLANNING}/request.md": "request\n", f"{PLANNING}/prd.md": "prd\n",
             f"{PLANNING}/runs/check.md": "verdict\n", "playbook.yaml": "x: 1\n"}
    fake.push(REPO, "bmad/1-x", files, "planning")
    number = fake.add_issue(REPO, "x", "")
    step = StepForge(forge, number, [WORKING])
    step.load_branch("bmad/1-x", "main", [PLANNING, "_bmad-output/implementation-artifacts/1-x"])
    ws = step.workspace("bmad/1-x", "main")
    fake.reset_calls()
    assert ws.list(PLANNING) == sorted(p for p in files if p.startswith(PLANNING))
    assert ws.read(f"{PLANNING}/runs/check.md") == "verdict\n" and ws.read(f"{PLANNING}/missing.md") is None
    assert ws.head() == fake.branch_head(REPO, "bmad/1-x") and fake.count() == 0
    assert ws.read("playbook.yaml") == "x: 1\n"  # outside the request: the whole tree, once
    assert [c.path.split("/")[-2] for c in fake.calls] == ["trees", "blobs"]
    assert ws.commit({f"{PLANNING}/prd.md": "prd r2\n"}, "revise") is not None
    assert fake.files_at(REPO, "bmad/1-x")[f"{PLANNING}/prd.md"] == "prd r2\n"
    assert step.workspace("bmad/1-x", "main") is ws  # one workspace per branch for the whole step


def test_a_remembered_comment_id_never_leads_to_another_issue(fake: FakeGitHub, forge: GitHubForge):
    first = fake.add_issue(REPO, "one", "")
    other = fake.add_issue(REPO, "two", "")
    elsewhere = fake.add_comment(REPO, other, "<!-- bmad-tracking:v1 -->", BOT, "Bot")
    step = StepForge(forge, first, [WORKING])
    assert step.read_comment_node(f"IC_{elsewhere}", first) is None
    assert step.read_comment_node(f"IC_{elsewhere}", other) is not None
    assert step.read_comment_node("IC_999999999", first) is None


def test_many_files_under_one_directory_come_in_one_query(fake: FakeGitHub, forge: GitHubForge):
    from playbook.adapters.github import GitHubWorkspace

    stories = {f"_bmad-output/implementation-artifacts/{k}-r/story-1-{k}.md": f"story {k}\n" for k in range(250)}
    fake.push(REPO, "main", stories, "250 delivered requests")
    ws = GitHubWorkspace(forge, "main", base_branch="main")
    ws.prefetch(sorted(stories))
    fake.reset_calls()
    assert all(ws.read(p) == text for p, text in stories.items()) and fake.count() == 0
    ws2 = GitHubWorkspace(forge, "main", base_branch="main")
    fake.reset_calls()
    ws2.prefetch(sorted(stories))
    assert [c.operation or c.path.split("/")[-2] for c in fake.calls] == ["heads", "trees", "query"]  # not 3 queries
