"""A refused steer command on the IaC PR is answered there, once: `playbook steer` records the refusal and
exits 0, `playbook steer-reply` posts one neutralised reply (found again by its marker) and reacts 😕.
Plain comments, unknown /words and bots stay unanswered. Every run is pinned to its exact API calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from playbook.adapters.github import GitHubForge
from playbook.cli import main
from playbook.delivery.payloads import story_key
from playbook.delivery.publish import pr_marker
from playbook.intake.steer_reply import MARKER

APPS, PLAYBOOK = "owner/homelab-apps", "owner/homelab-playbook"
TOKEN, PLAYBOOK_TOKEN = "ghs_steer_target_token_0123456789", "github_pat_steer_playbook_0123456789"
STORY = "_bmad-output/implementation-artifacts/42-dns-whoami/story-1-1-whoami-stack.md"
BRANCH = "bmad/story-42-1-1"


@pytest.fixture
def prs(fake_github: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    fake_github.add_repo(APPS, {"README.md": "apps\n"})
    fake_github.add_repo(PLAYBOOK, {STORY: "story\n"})
    fake_github.set_identity(TOKEN, "github-actions[bot]", "Bot")
    fake_github.set_identity(PLAYBOOK_TOKEN, "owner", "User")
    fake_github.set_permission(APPS, "owner", "write")
    fake_github.set_permission(APPS, "reader", "read")
    fake_github.push(APPS, BRANCH, {"stacks/app-whoami/docker-compose.yml": "services: {}\n"}, "story")
    fake_github.push(APPS, "feature/by-hand", {"notes.md": "x\n"}, "by hand")
    forge = GitHubForge(APPS, TOKEN, base_url=fake_github.url)
    head = fake_github.branch_head(PLAYBOOK, "main")
    payload = {"v": 1, "playbook_repo": PLAYBOOK, "merge_sha": head, "story_path": STORY, "issue": 42,
               "target": "apps", "order": 2, "key": story_key(PLAYBOOK, STORY, "apps", head)}
    story = forge.create_pull(BRANCH, "main", "bmad: story 1.1", pr_marker(payload), False).number
    other = forge.create_pull("feature/by-hand", "main", "by hand", "a person's PR", False).number
    for name, value in {"GITHUB_REPOSITORY": APPS, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake_github.url,
                        "BMAD_PLAYBOOK_TOKEN": PLAYBOOK_TOKEN}.items():
        monkeypatch.setenv(name, value)
    return {"story": story, "other": other}


def _event(fake_github: Any, pr: int, body: str, author: str, author_type: str = "User",
           comment_id: int | None = None) -> dict[str, Any]:
    comment_id = comment_id or fake_github.add_comment(APPS, pr, body, author, author_type)
    return {"action": "created", "issue": {"number": pr, "pull_request": {"url": f"{fake_github.url}/pulls/{pr}"}},
            "comment": {"id": comment_id, "body": body, "user": {"login": author, "type": author_type}}}


def _cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _steer(tmp_path: Path, event: dict[str, Any], run: str = "1") -> tuple[int, Path, str]:
    event_file, out, output = tmp_path / f"event-{run}.json", tmp_path / f"steer-{run}", tmp_path / f"output-{run}"
    event_file.write_text(json.dumps(event))
    output.write_text("")
    rc = _cli("steer", "--event-file", str(event_file), "--out", str(out), "--output-file", str(output))
    return rc, out, output.read_text()


def test_a_reader_is_answered_once_on_the_pr_and_redelivery_posts_nothing(prs, fake_github, tmp_path):
    event = _event(fake_github, prs["story"], "/revise use port 8081 @maintainers closes #1", "reader")
    fake_github.reset_calls()

    rc, out, outputs = _steer(tmp_path, event)

    assert rc == 0 and outputs == "refused=true\n"  # the job succeeds; no `command`, so nothing else runs
    assert (fake_github.count("GET"), fake_github.count()) == (2, 2)  # the PR and the author's permission
    assert fake_github.count(path_contains=PLAYBOOK) == 0  # the playbook token is never used for a refusal
    record = json.loads((out / "steer.json").read_text())
    assert record["error"].startswith("/revise refused: permission 'read' is below write")
    assert record["comment_id"] == event["comment"]["id"] and record["pr"] == prs["story"]
    assert "client_payload" not in record

    fake_github.reset_calls()
    assert _cli("steer-reply", "--steer", str(out)) == 0
    assert (fake_github.count("GET"), fake_github.count("POST"), fake_github.count()) == (1, 2, 3)
    replies = fake_github.comments(APPS, prs["story"])[1:]
    (reply,) = replies
    assert reply.startswith(MARKER.format(comment=event["comment"]["id"]))
    assert "/revise was not run" in reply and "below write" in reply and "ask a maintainer" in reply
    assert "8081" not in reply and "maintainers" not in reply and "closes" not in reply.lower()  # quotes nothing
    assert "@" not in reply.replace("@\u200b", "")
    assert fake_github.reactions(APPS, event["comment"]["id"]) == [("confused", "github-actions[bot]")]

    # The same event again (re-delivered, or the run re-run): the earlier answer is found, nothing posted.
    fake_github.reset_calls()
    rc, again, outputs = _steer(tmp_path, event, run="2")
    assert rc == 0 and outputs == "refused=true\n"
    assert _cli("steer-reply", "--steer", str(again)) == 0
    assert fake_github.count("POST") == 0 and fake_github.count() == 3  # steer's 2 reads, the reply's 1 list
    assert len(fake_github.comments(APPS, prs["story"])) == 2
    assert len(fake_github.reactions(APPS, event["comment"]["id"])) == 1


@pytest.mark.parametrize(("body", "which", "expected"), [
    ("/revise", "story", "usage: /revise &lt;what to change>"),  # raw HTML escaped; GitHub shows the `<`
    ("/revise " + "x" * 4001, "story", "the limit is 4000"),
    ("/review please", "story", "usage: /review (takes no arguments)"),
    ("/review", "other", "this is not an open story pull request"),
])
def test_a_malformed_command_or_a_foreign_pr_is_answered(prs, fake_github, tmp_path, monkeypatch, body, which,
                                                          expected):
    monkeypatch.delenv("BMAD_PLAYBOOK_TOKEN")  # a refusal never needs the playbook token
    event = _event(fake_github, prs[which], body, "owner")

    rc, out, outputs = _steer(tmp_path, event)
    assert rc == 0 and outputs == "refused=true\n"
    fake_github.reset_calls()
    assert _cli("steer-reply", "--steer", str(out)) == 0

    assert fake_github.count() == 3
    (reply,) = fake_github.comments(APPS, prs[which])[1:]
    assert expected in reply and "x" * 50 not in reply
    assert fake_github.reactions(APPS, event["comment"]["id"]) == [("confused", "github-actions[bot]")]


@pytest.mark.parametrize(("body", "author", "author_type"), [
    ("thanks, looks good", "owner", "User"),
    ("/reviewer please", "owner", "User"),  # passes the caller's startsWith filter, not a command
    ("/approve", "owner", "User"),  # a playbook-issue command, not one for the IaC PR
    ("/revise use port 8081", "evil-app[bot]", "Bot"),  # bots are never answered: no loops
    ("/revise use port 8081", "github-actions[bot]", "Bot"),
])
def test_plain_comments_unknown_words_and_bots_stay_unanswered(prs, fake_github, tmp_path, body, author,
                                                               author_type):
    event = _event(fake_github, prs["story"], body, author, author_type)
    fake_github.reset_calls()

    rc, out, outputs = _steer(tmp_path, event)

    assert rc == 0 and outputs == "" and not (out / "steer.json").exists()
    assert fake_github.count() == 0  # decided from the event alone


def test_a_writer_on_a_story_pr_is_not_answered_but_steered(prs, fake_github, tmp_path):
    event = _event(fake_github, prs["story"], "/revise use port 8081", "owner")
    fake_github.reset_calls()
    rc, out, outputs = _steer(tmp_path, event)
    assert rc == 0 and outputs == "command=revise\n"
    assert fake_github.count("GET") == fake_github.count() == 4  # PR, permission, playbook repo, its head
    record = json.loads((out / "steer.json").read_text())
    assert "error" not in record and record["feedback"] == "use port 8081"
    assert record["client_payload"]["merge_sha"] == fake_github.branch_head(PLAYBOOK, "main")


def test_a_redelivered_steering_comment_is_skipped_from_the_pr_itself(prs, fake_github, tmp_path):
    """The PR body lists the /revise and /retry comments already published; a /review's review names its
    comment. Either way the redelivered event stops in steer, before any job that costs a model call."""
    event = _event(fake_github, prs["story"], "/revise use port 8081", "owner")
    pull = fake_github.repos[APPS].issues[prs["story"]]
    pull.body += f"\n<!-- bmad-steered comments=7,{event['comment']['id']} -->"
    fake_github.reset_calls()
    rc, out, outputs = _steer(tmp_path, event)
    assert rc == 0 and outputs == "" and not (out / "steer.json").exists()
    assert fake_github.count() == 2  # the PR and the permission; the playbook is never asked

    review = _event(fake_github, prs["story"], "/review", "owner")
    forge = GitHubForge(APPS, TOKEN, base_url=fake_github.url)
    forge.create_review(prs["story"], f"<!-- bmad-review story=1.1 head=abc request=comment-{review['comment']['id']} -->")
    fake_github.reset_calls()
    rc, out, outputs = _steer(tmp_path, review, run="2")
    assert rc == 0 and outputs == "" and fake_github.count() == 3  # + the reviews
    fresh = _event(fake_github, prs["story"], "/review", "owner")
    fake_github.reset_calls()
    rc, out, outputs = _steer(tmp_path, fresh, run="3")
    assert outputs == "command=review\n" and json.loads((out / "steer.json").read_text())["comment_id"] == \
        fresh["comment"]["id"]
    assert fake_github.count() == 5  # + the playbook's default branch and its head
