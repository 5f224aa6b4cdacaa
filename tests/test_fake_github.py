"""The loopback GitHub API itself: real git ids, GitHub-shaped answers, and validation that bites."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fakes import openapi_check
from fakes.github_api import FakeGitHub
from playbook._process import run

REPO = "owner/infra"


@pytest.fixture
def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO, {"README.md": "hello\n", "stacks/pihole/compose.yaml": "services: {}\n"})
    return fake_github


def call(fake: FakeGitHub, method: str, path: str, body: Any = None, token: str | None = "t") -> tuple[int, Any, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(fake.url + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, dict(exc.headers)
    return status, (json.loads(raw) if raw else None), headers


def test_every_route_is_in_githubs_description(fake: FakeGitHub) -> None:
    for route in fake._routes:
        if route.template != "/graphql":
            assert openapi_check.has_operation(route.template, route.method), route.template


def test_git_ids_match_real_git(fake: FakeGitHub, tmp_path: Path) -> None:
    fake.push(REPO, "main", {"stacks/pihole/.env.sample": "TZ=UTC\n", "README.md": None}, "add env")
    blob = run(["git", "hash-object", "--stdin"], input="hello\n").stdout.strip()
    assert blob == "ce013625030ba8dba906f756967f9e9ca394464a"
    status, tree, _ = call(fake, "GET", f"/repos/{REPO}/git/trees/main?recursive=1")
    assert status == 200
    assert {e["path"] for e in tree["tree"]} == {"stacks", "stacks/pihole", "stacks/pihole/compose.yaml",
                                                 "stacks/pihole/.env.sample"}

    # Every object, written into a real repository by git itself, gets the same id and passes fsck.
    repo = tmp_path / "export"
    run(["git", "init", "-q", str(repo)])
    raw_object = tmp_path / "object"
    for sha, (kind, data) in fake.objects.raw.items():
        raw_object.write_bytes(data)
        written = run(["git", "-C", str(repo), "hash-object", "-w", "-t", kind, str(raw_object)]).stdout.strip()
        assert written == sha
    head = fake.branch_head(REPO, "main")
    run(["git", "-C", str(repo), "update-ref", "refs/heads/main", head])
    run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"])
    listed = run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "main"]).stdout.split()
    assert sorted(listed) == sorted(fake.files_at(REPO, "main"))
    assert fake.commits(REPO, "main") == ["add env", "Initial commit"]


def test_a_broken_body_is_caught(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    number = fake.add_issue(REPO, "title", "body")
    original = fake._issue_json

    def without_title(*args: Any) -> dict[str, Any]:
        body = original(*args)
        del body["title"]
        return body

    monkeypatch.setattr(fake, "_issue_json", without_title)
    status, body, _ = call(fake, "GET", f"/repos/{REPO}/issues/{number}")
    assert status == 500
    assert any("'title' is a required property" in e for e in fake.conformance_errors)
    fake.conformance_errors.clear()  # caught on purpose; the fixture would fail the test otherwise

    problems = openapi_check.check_response(
        "/repos/{owner}/{repo}/git/ref/{ref}", "get", 200, {"ref": "refs/heads/x", "object": {"sha": 1}}
    )
    assert any("node_id" in p for p in problems) and any("object/sha" in p for p in problems)
    assert openapi_check.check_response("/repos/{owner}/{repo}/dispatches", "post", 204, {"x": 1})


def test_the_fixture_fails_a_test_that_received_a_broken_body() -> None:
    fake = FakeGitHub().start()
    try:
        fake.add_repo(REPO)
        fake.inject("GET", r"/issues/1$", 404, body={"message": 404})  # not GitHub's error shape
        fake.add_issue(REPO, "x")
        status, _, _ = call(fake, "GET", f"/repos/{REPO}/issues/1")
    finally:
        fake.stop()
    assert status == 500 and fake.conformance_errors


def test_auth_and_unknown_routes(fake: FakeGitHub) -> None:
    assert call(fake, "GET", f"/repos/{REPO}", token=None)[0] == 401
    fake.set_tokens(REPO, {"right"})
    status, body, _ = call(fake, "GET", f"/repos/{REPO}", token="wrong")
    assert (status, body["message"]) == (401, "Bad credentials")
    assert call(fake, "GET", f"/repos/{REPO}", token="right")[0] == 200
    status, body, _ = call(fake, "GET", "/repos/owner/infra/nonsense", token="right")
    assert (status, body["message"]) == (404, "Not Found")


def test_ref_updates_must_fast_forward(fake: FakeGitHub) -> None:
    main = fake.branch_head(REPO, "main")
    side = fake.push(REPO, "side", {"a": "1"}, "side")  # branches from main
    assert call(fake, "POST", f"/repos/{REPO}/git/refs", {"ref": "refs/heads/side", "sha": main})[0] == 422
    status, body, _ = call(fake, "PATCH", f"/repos/{REPO}/git/refs/heads/side", {"sha": main, "force": False})
    assert (status, body["message"]) == (422, "Update is not a fast forward")
    assert call(fake, "PATCH", f"/repos/{REPO}/git/refs/heads/main", {"sha": side, "force": False})[0] == 200
    assert call(fake, "PATCH", f"/repos/{REPO}/git/refs/heads/side", {"sha": main, "force": True})[0] == 200
    assert call(fake, "GET", f"/repos/{REPO}/git/ref/heads/gone")[0] == 404


def test_pagination_links(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, "t")
    for i in range(5):
        fake.add_comment(REPO, number, str(i), "u")
    status, page, headers = call(fake, "GET", f"/repos/{REPO}/issues/{number}/comments?per_page=2&page=2")
    assert [c["body"] for c in page] == ["2", "3"]
    assert 'rel="next"' in headers["Link"] and "page=3" in headers["Link"] and 'rel="prev"' in headers["Link"]


def test_inject_apply_first_lands_the_write(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, "t")
    fake.inject("POST", r"/comments$", 502, apply_first=True)
    assert call(fake, "POST", f"/repos/{REPO}/issues/{number}/comments", {"body": "x"})[0] == 502
    assert call(fake, "POST", f"/repos/{REPO}/issues/{number}/comments", {"body": "y"})[0] == 201
    assert fake.comments(REPO, number) == ["x", "y"]
    fake.inject_rate_limit("GET", r"/issues/\d+$", primary=True, reset_in=60, retry_after=30)
    status, _, headers = call(fake, "GET", f"/repos/{REPO}/issues/{number}")
    lower = {k.lower(): v for k, v in headers.items()}
    assert (status, lower["x-ratelimit-remaining"], lower["retry-after"]) == (403, "0", "30")


def test_contents_blobs_pulls_and_merge(fake: FakeGitHub) -> None:
    status, content, _ = call(fake, "GET", f"/repos/{REPO}/contents/README.md?ref=main")
    assert base64.b64decode(content["content"]).decode() == "hello\n"
    status, blob, _ = call(fake, "GET", f"/repos/{REPO}/git/blobs/{content['sha']}")
    assert base64.b64decode(blob["content"]).decode() == "hello\n"

    fake.push(REPO, "story", {"stacks/app/compose.yaml": "services: {app: {}}\n"}, "story")
    fake.push(REPO, "main", {"README.md": "hello again\n"}, "main moves on")
    status, pull, _ = call(fake, "POST", f"/repos/{REPO}/pulls", {"title": "S", "head": "story", "base": "main"})
    assert status == 201
    assert call(fake, "POST", f"/repos/{REPO}/pulls", {"title": "S", "head": "story", "base": "main"})[0] == 422
    status, files, _ = call(fake, "GET", f"/repos/{REPO}/pulls/{pull['number']}/files")
    assert [(f["filename"], f["status"], f["additions"]) for f in files] == [("stacks/app/compose.yaml", "added", 1)]

    status, merged, _ = call(fake, "PUT", f"/repos/{REPO}/pulls/{pull['number']}/merge", {})
    assert status == 200 and merged["merged"]
    assert len(fake.objects.commits[merged["sha"]].parents) == 2
    files_now = fake.files_at(REPO, "main")
    assert files_now["README.md"] == "hello again\n" and "stacks/app/compose.yaml" in files_now
    status, pr, _ = call(fake, "GET", f"/repos/{REPO}/pulls/{pull['number']}")
    assert (pr["merged"], pr["state"], pr["merge_commit_sha"]) == (True, "closed", merged["sha"])


def test_graphql_ready_for_review(fake: FakeGitHub) -> None:
    fake.push(REPO, "story", {"x": "1"}, "x")
    _, pull, _ = call(fake, "POST", f"/repos/{REPO}/pulls", {"title": "S", "head": "story", "base": "main",
                                                             "draft": True})
    query = "mutation Mutation($input: MarkPullRequestReadyForReviewInput!) { markPullRequestReadyForReview(" \
            "input: $input) { clientMutationId pullRequest { isDraft } } }"
    status, body, _ = call(fake, "POST", "/graphql", {"query": query, "variables": {"input": {
        "pullRequestId": pull["node_id"]}}})
    assert body["data"]["markPullRequestReadyForReview"]["pullRequest"] == {"isDraft": False}
    assert fake.pulls(REPO)[0]["draft"] is False
    _, body, _ = call(fake, "POST", "/graphql", {"query": query, "variables": {"input": {"pullRequestId": "nope"}}})
    assert body["errors"][0]["type"] == "NOT_FOUND"


def test_dispatch_payload_limits(fake: FakeGitHub) -> None:
    assert call(fake, "POST", f"/repos/{REPO}/dispatches", {"event_type": "story", "client_payload": {}})[0] == 204
    too_many = {str(i): i for i in range(11)}
    assert call(fake, "POST", f"/repos/{REPO}/dispatches",
                {"event_type": "story", "client_payload": too_many})[0] == 422
    assert [d["event_type"] for d in fake.dispatches(REPO)] == ["story"]
