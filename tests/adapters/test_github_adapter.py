"""GitHubForge and GitHubWorkspace through real PyGithub against the loopback GitHub API."""

from __future__ import annotations

import re

import pytest

from fakes.github_api import FakeGitHub
from playbook.adapters.github import GitHubForge, GitHubWorkspace, git_blob_sha
from playbook.errors import (
    ConfigError,
    ForgeError,
    ForgePermissionError,
    NotFoundError,
    PlaybookError,
    RateLimitedError,
)
from playbook.ports import Comment, Forge, LabelSpec, PullRequest, Workspace

REPO = "owner/homelab-playbook"
CANARY = "ghs_CANARY0123456789abcdefCANARY"


@pytest.fixture
def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO, {"README.md": "# playbook\n", "skills/brief/SKILL.md": "brief skill\n"})
    return fake_github


@pytest.fixture
def forge(fake: FakeGitHub) -> GitHubForge:
    # No backoff between 5xx retries: the retry table is under test, not the sleeping.
    return GitHubForge(REPO, CANARY, base_url=fake.url, max_wait_seconds=5, backoff_factor=0)


def _workspace(forge: GitHubForge, branch: str = "bmad/issue-1") -> GitHubWorkspace:
    return GitHubWorkspace(forge, branch, base_branch="main")


# --------------------------------------------------------------------------- each Forge method


def test_implements_the_ports(forge: GitHubForge) -> None:
    assert isinstance(forge, Forge)
    assert isinstance(_workspace(forge), Workspace)


def test_issue_comments_and_labels(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "Deploy Pi-hole", "with Traefik", labels=["bmad:brief"], author="owner")
    fake.add_comment(REPO, number, "/approve", "owner")

    issue = forge.get_issue(number)
    assert (issue.title, issue.body, issue.labels, issue.author, issue.state) == (
        "Deploy Pi-hole", "with Traefik", ("bmad:brief",), "owner", "open",
    )
    assert forge.default_branch() == "main"

    created = forge.create_comment(number, "tracking")
    assert isinstance(created, Comment) and created.author_type == "Bot"
    forge.edit_comment(created.id, "tracking v2")
    comments = forge.list_comments(number)
    assert [(c.body, c.author, c.author_type) for c in comments] == [
        ("/approve", "owner", "User"), ("tracking v2", "github-actions[bot]", "Bot"),
    ]
    assert comments[0].created_at.tzinfo is not None

    forge.ensure_labels([LabelSpec("bmad:prd", "#00ff00", "PRD phase"), LabelSpec("bmad:brief", "123456", "Brief")])
    forge.ensure_labels([LabelSpec("bmad:prd", "00ff00", "PRD phase")])  # idempotent: no new POST
    assert fake.count("POST", "/labels") == 1
    forge.set_labels(number, add={"bmad:prd"}, remove={"bmad:brief", "never-there"})
    assert fake.labels(REPO, number) == ["bmad:prd"]


def test_git_data_round_trip(fake: FakeGitHub, forge: GitHubForge) -> None:
    assert forge.branch_head("missing") is None
    main = forge.branch_head("main")
    assert main == fake.branch_head(REPO, "main")
    forge.create_branch("work", main)
    tree = forge.read_tree(main)
    assert tree["README.md"] == git_blob_sha("# playbook\n")
    assert forge.read_blob(tree["skills/brief/SKILL.md"]) == "brief skill\n"

    fake.reset_calls()
    sha = forge.commit_files("work", main, {"docs/a.md": "A\n", "README.md": None}, "phase: brief")
    assert [(c.method, c.path.rsplit("/git/", 1)[-1]) for c in fake.calls] == [
        ("POST", "trees"), ("POST", "commits"), ("PATCH", "refs/heads/work"),
    ]
    assert fake.branch_head(REPO, "work") == sha
    assert fake.files_at(REPO, "work") == {"docs/a.md": "A\n", "skills/brief/SKILL.md": "brief skill\n"}
    assert fake.commits(REPO, "work")[0] == "phase: brief"


def test_pull_requests_and_dispatch(fake: FakeGitHub, forge: GitHubForge) -> None:
    ws = _workspace(forge, "bmad/issue-7")
    ws.commit({"_bmad-output/brief.md": "brief\n"}, "brief")
    assert forge.find_pull("bmad/issue-7") is None

    pull = forge.create_pull("bmad/issue-7", "main", "Plan #7", "body", draft=True)
    assert isinstance(pull, PullRequest) and pull.draft and pull.node_id
    assert forge.find_pull("bmad/issue-7") == pull
    forge.update_pull(pull.number, title="Plan #7 (stories)", body="new body")
    forge.mark_ready(pull)
    assert forge.pull_files(pull.number) == ["_bmad-output/brief.md"]
    state = fake.pulls(REPO)[0]
    assert (state["title"], state["body"], state["draft"]) == ("Plan #7 (stories)", "new body", False)

    fake.merge_pull(REPO, pull.number)
    merged = forge.find_pull("bmad/issue-7", state="closed")
    assert merged is not None and merged.merged and merged.state == "closed"
    assert forge.find_pull("bmad/issue-7", state="open") is None


def test_dispatch_uses_its_own_token(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.add_repo("owner/homelab-infra", tokens={"dispatch-token"})
    with pytest.raises(ConfigError) as info:
        forge.dispatch("owner/homelab-infra", "story", {"id": "1.1"})
    assert "GITHUB_TOKEN" in str(info.value)

    dispatcher = GitHubForge(REPO, "dispatch-token", base_url=fake.url, token_variable="BMAD_DISPATCH_TOKEN")
    dispatcher.dispatch("owner/homelab-infra", "story", {"id": "1.1"})
    assert fake.dispatches("owner/homelab-infra") == [
        {"event_type": "story", "client_payload": {"id": "1.1"}, "token": "dispatch-token"}
    ]


def test_missing_things_are_not_found(forge: GitHubForge) -> None:
    with pytest.raises(NotFoundError):
        forge.get_issue(404)


# --------------------------------------------------------------------------- pagination


def test_every_page_of_comments_and_labels_is_read(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "busy", "")
    for i in range(230):
        fake.add_comment(REPO, number, f"c{i}", "someone")
    specs = [LabelSpec(f"label-{i:03}", "ededed", "") for i in range(130)]
    for spec in specs:
        fake.add_issue(REPO, "x", labels=[spec.name])

    fake.reset_calls()
    assert [c.body for c in forge.list_comments(number)] == [f"c{i}" for i in range(230)]
    assert fake.count("GET", "/comments") == 3
    forge.ensure_labels(specs)
    assert fake.count("GET", "/labels") == 2
    assert fake.count("POST", "/labels") == 0  # all 130 were seen, none re-created


# --------------------------------------------------------------------------- retries and faults


def test_502_on_post_comment_is_not_retried(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "t", "")
    fake.inject("POST", r"/issues/\d+/comments$", 502)
    with pytest.raises(ForgeError) as info:
        forge.create_comment(number, "hello")
    assert fake.count("POST", "/comments") == 1
    assert "502" in str(info.value) and info.value.retryable
    assert fake.comments(REPO, number) == []


def test_502_after_the_comment_landed_leaves_exactly_one(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "t", "")
    fake.inject("POST", r"/issues/\d+/comments$", 502, apply_first=True)
    with pytest.raises(ForgeError):
        forge.create_comment(number, "hello")
    assert fake.comments(REPO, number) == ["hello"]
    assert fake.count("POST", "/comments") == 1


def test_502_then_success_on_get_is_retried(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "retry me", "")
    fake.inject("GET", rf"/issues/{number}$", 502)
    assert forge.get_issue(number).title == "retry me"
    assert [c.status for c in fake.calls if c.path.endswith(f"/issues/{number}")] == [502, 200]


def test_post_read_timeout_is_not_retried(fake: FakeGitHub) -> None:
    forge = GitHubForge(REPO, CANARY, base_url=fake.url, timeout=1)
    number = fake.add_issue(REPO, "slow", "")
    fake.inject_slow("POST", r"/comments$", seconds=1.5)
    with pytest.raises(ForgeError) as info:
        forge.create_comment(number, "once")
    fake.wait_idle()
    assert "could not reach" in str(info.value)
    assert fake.count("POST", "/comments") == 1


def test_actions_may_not_create_pull_requests(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.push(REPO, "feature", {"a.md": "a"}, "a")
    fake.inject("POST", r"/pulls$", 403, body={
        "message": "GitHub Actions is not permitted to create or approve pull requests.",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "403"})
    with pytest.raises(ForgePermissionError) as info:
        forge.create_pull("feature", "main", "t", "b", draft=True)
    assert "Settings → Actions → General → Workflow permissions → Allow GitHub Actions to create and approve pull " \
        "requests" in str(info.value)
    assert fake.count("POST", "/pulls") == 1


@pytest.mark.parametrize(
    ("method", "path", "call", "scope"),
    [
        ("POST", r"/comments$", lambda f, n: f.create_comment(n, "x"), "issues: write"),
        ("POST", r"/git/refs$", lambda f, n: f.create_branch("b", f.branch_head("main")), "contents: write"),
    ],
)
def test_integration_without_scope_names_the_permission(fake, forge, method, path, call, scope) -> None:
    number = fake.add_issue(REPO, "t", "")
    fake.inject(method, path, 403, body={"message": "Resource not accessible by integration",
                                         "documentation_url": "https://docs.github.com/rest", "status": "403"})
    with pytest.raises(ForgePermissionError) as info:
        call(forge, number)
    assert f"permissions: {scope}" in str(info.value)


def test_primary_rate_limit_beyond_budget_fails_fast(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "t", "")
    fake.inject_rate_limit("GET", rf"/issues/{number}$", primary=True, reset_in=50 * 60)
    with pytest.raises(RateLimitedError) as info:
        forge.get_issue(number)
    assert re.search(r"resets at \d\d:\d\d UTC; re-run then", str(info.value))
    assert fake.count("GET", f"/issues/{number}") == 1  # no retry storm, no sleep

    fake.inject_rate_limit("POST", r"/comments$", primary=True, reset_in=50 * 60, status=429)
    with pytest.raises(RateLimitedError):
        forge.create_comment(number, "x")


def test_secondary_rate_limit_honours_retry_after_within_budget(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.add_issue(REPO, "t", "")
    fake.inject_rate_limit("GET", rf"/issues/{number}$", primary=False, retry_after=1)
    assert forge.get_issue(number).title == "t"
    assert fake.count("GET", f"/issues/{number}") == 2


@pytest.mark.parametrize("retry_after", [None, 3600])
def test_secondary_rate_limit_beyond_budget_fails(fake: FakeGitHub, forge: GitHubForge, retry_after) -> None:
    number = fake.add_issue(REPO, "t", "")
    fake.inject_rate_limit("GET", rf"/issues/{number}$", primary=False, retry_after=retry_after, times=5)
    with pytest.raises(RateLimitedError) as info:
        forge.get_issue(number)
    assert "secondary rate limit" in str(info.value)
    assert fake.count("GET", f"/issues/{number}") == 1


# --------------------------------------------------------------------------- permission table


@pytest.mark.parametrize("role", ["admin", "maintain", "write", "triage", "read", "none"])
def test_permission_reports_the_role(fake: FakeGitHub, forge: GitHubForge, role: str) -> None:
    fake.set_permission(REPO, "alice", role)
    assert forge.permission("alice") == role


def test_permission_of_a_stranger_is_none(forge: GitHubForge) -> None:
    assert forge.permission("stranger") == "none"


def test_permission_failure_raises(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.set_permission(REPO, "alice", "admin")
    fake.inject("GET", r"/collaborators/alice/permission$", 503, times=10)
    with pytest.raises(ForgeError):
        forge.permission("alice")
    assert fake.count("GET", "/permission") == 4  # first try + 3 bounded retries


# --------------------------------------------------------------------------- workspace


def test_commit_cost_does_not_grow_with_file_count(fake: FakeGitHub, forge: GitHubForge) -> None:
    costs = []
    for n in (1, 20):
        ws = _workspace(forge, f"bmad/issue-{n}")
        ws.read("README.md")  # loads the tree, as a phase does before writing
        fake.reset_calls()
        assert ws.commit({f"out/{i}.md": f"file {i} of {n}\n" for i in range(n)}, f"{n} files") is not None
        costs.append([(c.method, re.sub(r"/repos/[^/]+/[^/]+", "", c.path).split("/")[2]) for c in fake.calls])
    assert costs[0] == costs[1]
    assert len(costs[0]) == 4  # create branch, tree, commit, ref


def test_workspace_reads_once_and_skips_empty_commits(fake: FakeGitHub, forge: GitHubForge) -> None:
    ws = _workspace(forge)
    assert ws.head() is None  # branch not created yet; reads come from main
    assert ws.read("skills/brief/SKILL.md") == "brief skill\n"
    assert ws.read("skills/brief/SKILL.md") == "brief skill\n"
    assert ws.read("missing.md") is None
    assert ws.list("skills") == ["skills/brief/SKILL.md"]
    assert fake.count("GET", "/git/blobs/") == 1
    assert fake.count("GET", "/git/trees/") == 1

    sha = ws.commit({"a.md": "A\n"}, "first")
    assert sha == fake.branch_head(REPO, "bmad/issue-1") == ws.head()
    fake.reset_calls()
    assert ws.commit({"a.md": "A\n", "README.md": "# playbook\n", "gone.md": None}, "again") is None
    assert fake.calls == []
    assert ws.read("a.md") == "A\n" and fake.calls == []


def test_ref_conflict_reapplies_on_top(fake: FakeGitHub, forge: GitHubForge) -> None:
    ws = _workspace(forge)
    ws.commit({"a.md": "A\n"}, "ours 1")
    ws.read("a.md")
    fake.push(REPO, "bmad/issue-1", {"theirs.md": "T\n"}, "theirs")  # someone else moved the branch

    sha = ws.commit({"b.md": "B\n"}, "ours 2")
    assert sha == fake.branch_head(REPO, "bmad/issue-1")
    assert fake.commits(REPO, "bmad/issue-1")[:3] == ["ours 2", "theirs", "ours 1"]
    files = fake.files_at(REPO, "bmad/issue-1")
    assert (files["a.md"], files["b.md"], files["theirs.md"]) == ("A\n", "B\n", "T\n")
    assert [c.status for c in fake.calls if c.method == "PATCH"] == [200, 422, 200]


def test_5xx_after_ref_update_landed_is_detected(fake: FakeGitHub, forge: GitHubForge) -> None:
    ws = _workspace(forge)
    ws.commit({"a.md": "A\n"}, "first")
    fake.inject("PATCH", r"/git/refs/heads/", 502, apply_first=True)
    fake.reset_calls()

    sha = ws.commit({"b.md": "B\n"}, "second")
    assert sha == fake.branch_head(REPO, "bmad/issue-1")
    assert fake.commits(REPO, "bmad/issue-1")[:2] == ["second", "first"]
    assert fake.count("POST", "/git/commits") == 1
    assert fake.files_at(REPO, "bmad/issue-1")["b.md"] == "B\n"


def test_workspace_gives_up_after_bounded_attempts(fake: FakeGitHub, forge: GitHubForge) -> None:
    ws = _workspace(forge)
    ws.commit({"a.md": "A\n"}, "first")
    fake.inject("POST", r"/git/trees$", 500, times=10)
    fake.reset_calls()
    with pytest.raises(ForgeError, match="after 3 attempts"):
        ws.commit({"b.md": "B\n"}, "second")
    assert fake.count("POST", "/git/trees") == 3


def test_workspace_refuses_paths_outside_the_repo(forge: GitHubForge) -> None:
    for bad in ("../x", "/etc/passwd", "a/../../b", "a\\b"):
        with pytest.raises(ForgeError, match="outside the repository"):
            _workspace(forge).commit({bad: "x"}, "m")


# --------------------------------------------------------------------------- secrets


def test_token_never_appears_in_errors_or_reprs(fake: FakeGitHub, forge: GitHubForge) -> None:
    messages = [repr(forge), repr(_workspace(forge))]
    fake.set_tokens(REPO, {"another-token"})
    with pytest.raises(ConfigError) as bad_token:
        forge.get_issue(1)
    assert "GITHUB_TOKEN" in str(bad_token.value)
    messages.append(str(bad_token.value))
    fake.set_tokens(REPO, None)

    number = fake.add_issue(REPO, "t", "")
    fake.inject("POST", r"/comments$", 422, body={"message": f"token {CANARY} rejected",
                                                   "documentation_url": "https://docs.github.com/rest"})
    with pytest.raises(PlaybookError) as echoed:
        forge.create_comment(number, "x")
    messages.append(str(echoed.value))

    unreachable = GitHubForge(REPO, CANARY, base_url="http://127.0.0.1:9", backoff_factor=0)
    with pytest.raises(ForgeError) as offline:
        unreachable.get_issue(1)
    messages.append(str(offline.value))
    messages.append(repr(offline.value))

    assert all(CANARY not in m for m in messages), messages
    assert "***" in messages[3]


def test_empty_token_is_a_missing_secret() -> None:
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        GitHubForge(REPO, "")


@pytest.mark.parametrize(("method", "path", "call", "requests"), [
    ("GET", r"/issues/\d+$", lambda f, n: f.get_issue(n), 3),  # waits 0.4 s twice (0.8 <= 1), then stops
    ("POST", r"/issues/\d+/comments$", lambda f, n: f.create_comment(n, "x"), 1),  # a POST is never retried
])
def test_secondary_rate_limit_without_retry_after_stays_within_the_budget(fake: FakeGitHub, method, path, call,
                                                                          requests) -> None:
    """GitHub asks for >= 60 s when it sends no Retry-After; all waits of one call stay inside the budget,
    and the failure names the rate limit, never a permission."""
    forge = GitHubForge(REPO, CANARY, base_url=fake.url, max_wait_seconds=1, backoff_factor=0,
                        secondary_wait_seconds=0.4)
    number = fake.add_issue(REPO, "t", "")
    fake.inject_rate_limit(method, path, primary=False, retry_after=None, times=10)
    with pytest.raises(RateLimitedError) as info:
        call(forge, number)
    assert not isinstance(info.value, ForgePermissionError)
    message = str(info.value)
    assert "secondary rate limit" in message and "budget" in message and "permissions:" not in message
    assert "write" not in message
    assert fake.count(method, f"/issues/{number}") == requests
