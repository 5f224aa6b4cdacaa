"""`playbook receive` in the target repo: a bmad-story bound to config and state, through PyGithub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flow_harness import REPO, Harness
from playbook.adapters.github import GitHubForge
from playbook.delivery.dispatch import story_branch
from playbook.delivery.payloads import story_key
from playbook.delivery.publish import pr_marker

APPS_TOKEN = "ghs_apps_job_token_0123456789"
PLAYBOOK_TOKEN = "github_pat_playbook_0123456789"


def _dispatched(h: Harness) -> tuple[int, dict[str, Any], Path]:
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 0
    payload = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    checkout = h.tmp / "playbook-at-merge"
    for path, text in h.github.files_at(REPO, merge_sha).items():
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_text(text)
    return issue, payload, checkout


def _receive(h: Harness, payload: dict[str, Any], checkout: Path, **env: str) -> tuple[int, str]:
    from playbook.cli import main

    event = h.tmp / "dispatch.json"
    event.write_text(json.dumps({"action": "bmad-story", "client_payload": payload}))
    output = h.tmp / "github_output"
    output.write_text("")
    values = {**h.env, "GITHUB_TOKEN": APPS_TOKEN, "BMAD_PLAYBOOK_TOKEN": PLAYBOOK_TOKEN,
              "GITHUB_REPOSITORY": h.targets["apps"], "PLAYBOOK_REPO": REPO, "GITHUB_OUTPUT": str(output), **env}
    for key, value in values.items():
        if value is None:
            h.monkeypatch.delenv(key, raising=False)
        else:
            h.monkeypatch.setenv(key, value)
    try:
        main(["receive", "--event-file", str(event), "--playbook-dir", str(checkout)])
        rc = 0
    except SystemExit as exc:
        rc = int(exc.code or 0)
    return rc, output.read_text()


def _rekey(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    forged = {**payload, **changes}
    forged["key"] = story_key(forged["playbook_repo"], forged["story_path"], forged["target"], forged["merge_sha"])
    return forged


def test_a_bound_payload_is_accepted_and_a_redelivery_after_publishing_is_skipped(h: Harness):
    issue, payload, checkout = _dispatched(h)
    assert _receive(h, payload, checkout) == (0, "skip=false\n")

    # the publish step opened the story's PR carrying this key
    apps = h.targets["apps"]
    forge = GitHubForge(apps, APPS_TOKEN, base_url=h.env["GITHUB_API_URL"])
    branch = story_branch(payload["story_path"], "1.1")
    h.github.push(apps, branch, {"stacks/dns-pihole/docker-compose.yml": "services: {}\n"}, "story")
    pull = forge.create_pull(branch, "main", "bmad: story 1.1", pr_marker(payload) + "\nbody", False)
    before = len(h.github.comments(REPO, issue))

    rc, output = _receive(h, payload, checkout)

    assert (rc, output) == (0, "skip=true\n")
    reports = [c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-iac")]
    assert len(reports) == 1 and "already published" in reports[0] and f"#{pull.number}" in reports[0]
    assert len(h.github.comments(REPO, issue)) == before + 1
    # a second redelivery edits nothing and posts nothing
    assert _receive(h, payload, checkout) == (0, "skip=true\n")
    assert len(h.github.comments(REPO, issue)) == before + 1


@pytest.mark.parametrize("forgery", ["other-playbook", "other-issue", "absent-story", "unmerged-sha", "other-target"])
def test_payloads_not_bound_to_config_are_refused_before_the_agent(h: Harness, forgery: str):
    issue, payload, checkout = _dispatched(h)
    stray = h.github.push(REPO, "someone-elses-branch", {"x.md": "x\n"}, "not merged")
    absent = payload["story_path"].replace("story-1-1-", "story-9-9-")
    forged = {
        "other-playbook": lambda: _rekey(payload, playbook_repo="mallory/homelab-playbook"),
        "other-issue": lambda: _rekey(payload, issue=issue + 1),
        "absent-story": lambda: _rekey(payload, story_path=absent),
        "unmerged-sha": lambda: _rekey(payload, merge_sha=stray),
        "other-target": lambda: _rekey(payload, target="infra"),
    }[forgery]()
    calls_before = h.github.count()
    comments_before = h.github.comments(REPO, issue)

    rc, output = _receive(h, forged, checkout)

    assert rc != 0 and output == ""
    assert h.github.comments(REPO, issue) == comments_before
    if forgery == "other-playbook":
        assert h.github.count() == calls_before  # refused before any token was used


def test_a_merge_sha_deep_in_a_long_history_is_checked_in_one_read(h: Harness, capsys: pytest.CaptureFixture[str]):
    """The default branch moved on after the merge: 90 later commits and the story's merge is still
    found (the old walk stopped at 50), with one GraphQL read of the branch's history instead of a
    commit-by-commit walk; once it is past the newest 100 it is refused, naming the limit."""
    _, payload, checkout = _dispatched(h)
    for k in range(90):
        h.github.push(REPO, "main", {f"notes/{k}.md": f"{k}\n"}, f"later work {k}")
    h.github.reset_calls()
    assert _receive(h, payload, checkout) == (0, "skip=false\n")
    playbook_calls = [c for c in h.github.calls if c.path.startswith("/graphql") or f"/repos/{REPO}/" in c.path]
    assert [(c.method, c.operation) for c in playbook_calls] == [("POST", "query")], playbook_calls
    assert h.github.count() == 2  # and the target's story-branch pull request (idempotency)

    for k in range(10):
        h.github.push(REPO, "main", {f"notes/more-{k}.md": "x\n"}, f"more work {k}")
    rc, output = _receive(h, payload, checkout)
    assert rc != 0 and output == ""
    assert "merge_sha is not among the newest 100 commits of the playbook's default branch (main)" in \
        capsys.readouterr().err
