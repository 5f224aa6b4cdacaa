"""Story PR merge → repository_dispatch to the target repos, through PyGithub against the loopback fake."""

from __future__ import annotations

import copy
import json

import pytest

from flow_harness import REPO, Harness, _template
from playbook.delivery.payloads import validate_story_payload


def _stories_on_main(h: Harness) -> dict[str, str]:
    return {p: t for p, t in h.github.files_at(REPO, "main").items() if "/story-" in p}


def test_merge_dispatches_each_story_once_and_marks_it_in_progress(h: Harness):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 0

    sent = h.github.dispatches(h.targets["apps"])
    assert len(sent) == 1 and h.github.dispatches(h.targets["infra"]) == []
    event = sent[0]
    assert event["event_type"] == "bmad-story"
    payload = event["client_payload"]
    assert validate_story_payload(payload) == payload
    assert len(payload) <= 10 and len(json.dumps(payload)) < 65_535
    assert payload["merge_sha"] == merge_sha and payload["target"] == "apps" and payload["issue"] == issue
    stories = _stories_on_main(h)
    assert all("status: in-progress" in text for text in stories.values())

    # a re-delivered merge event sends nothing twice
    assert h.merged(number, merge_sha) == 0
    assert len(h.github.dispatches(h.targets["apps"])) == 1


def test_missing_dispatch_token_is_a_visible_failure_and_nothing_moves(h: Harness):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    h.env["BMAD_DISPATCH_TOKEN"] = None  # type: ignore[assignment]
    assert h.merged(number, merge_sha) == 1
    assert h.github.dispatches(h.targets["apps"]) == []
    assert all("status: ready-for-dev" in t for t in _stories_on_main(h).values())
    tracking = [c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking")]
    assert "BMAD_DISPATCH_TOKEN" in tracking[0]
    assert "bmad:failed" in h.github.labels(REPO, issue)


def test_dispatch_failure_at_the_target_keeps_the_story_ready(h: Harness):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    h.github.inject("POST", r"/dispatches$", 404, body={"message": "Not Found"})
    assert h.merged(number, merge_sha) == 1
    assert all("status: ready-for-dev" in t for t in _stories_on_main(h).values())
    # /dispatch re-sends once the problem is fixed
    assert h.comment(issue, "/dispatch") == 0
    assert len(h.github.dispatches(h.targets["apps"])) == 1
    assert all("status: in-progress" in t for t in _stories_on_main(h).values())


def test_route_then_dispatch_to_both_repos_infra_first(h: Harness):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    h.env["BMAD_DISPATCH_TOKEN"] = None  # type: ignore[assignment]
    h.merged(number, merge_sha)
    h.env["BMAD_DISPATCH_TOKEN"] = "github_pat_canary_dispatch_0123456789"
    assert h.comment(issue, "/route 1.1 both") == 0
    assert any("target: both" in t for t in _stories_on_main(h).values())
    assert h.comment(issue, "/dispatch 1.1") == 0
    infra = h.github.dispatches(h.targets["infra"])
    # the apps part waits for the infra PR to merge (delivery.order); it is not sent with it
    assert len(infra) == 1 and h.github.dispatches(h.targets["apps"]) == []
    assert infra[0]["client_payload"]["order"] == 1
    assert infra[0]["client_payload"]["related"] == [{"target": "apps", "repo": h.targets["apps"]}]
    payload = infra[0]["client_payload"]
    deployed = {"v": 1, "playbook_repo": REPO, "story_path": payload["story_path"], "issue": issue,
                "target": "infra", "repo": h.targets["infra"], "pr": 12, "merge_sha": "c" * 40, "key": payload["key"]}
    assert h.repository_dispatch("bmad-deployed", deployed) == 0
    apps = h.github.dispatches(h.targets["apps"])
    assert len(apps) == 1 and apps[0]["client_payload"]["order"] == 2
    # the apps PR names the infra PR by number
    assert apps[0]["client_payload"]["related"] == [{"target": "infra", "repo": h.targets["infra"], "number": 12}]
    assert all("status: in-progress" in t for t in _stories_on_main(h).values())
    assert h.repository_dispatch("bmad-deployed", deployed) == 0  # re-delivered: nothing sent twice
    assert len(h.github.dispatches(h.targets["apps"])) == 1


@pytest.mark.parametrize("variant", ["closed-unmerged", "fork", "other-base", "human-branch"])
def test_merges_that_must_not_dispatch(h: Harness, variant):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    payload = h._with_repo(copy.deepcopy(_template("pull_request.merged-planning.json")))
    pr = payload["pull_request"]
    pull = h.github.repos[REPO].pulls[number]
    pr.update(number=number, merged=True, merge_commit_sha=merge_sha, state="closed")
    pr["head"]["ref"], pr["base"]["ref"] = pull.head, "main"
    pr["user"].update(login="github-actions[bot]", type="Bot")
    for side in ("head", "base"):
        pr[side]["repo"]["full_name"] = REPO
    if variant == "closed-unmerged":
        pr["merged"] = False
    elif variant == "fork":
        pr["head"]["repo"]["full_name"] = "mallory/homelab-playbook"
    elif variant == "other-base":
        pr["base"]["ref"] = "develop"
    else:
        pr["user"].update(login="mallory", type="User")
    h.github.reset_calls()
    assert h.run("pull_request", payload) == 0
    assert h.github.count() == 0
    assert h.github.dispatches(h.targets["apps"]) == []


def test_story_outside_the_stories_directory_is_never_dispatched(h: Harness):
    issue, number = h.complete_planning()
    branch = h.github.repos[REPO].pulls[number].head
    story = next(iter({p: t for p, t in h.github.files_at(REPO, branch).items() if "/story-" in p}.values()))
    h.github.push(REPO, branch, {".github/workflows/story-9-9-evil.md": story}, "sneak a story elsewhere")
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 0
    sent = h.github.dispatches(h.targets["apps"])
    assert len(sent) == 1 and sent[0]["client_payload"]["story_path"].startswith("_bmad-output/implementation-artifacts/")


def test_deployed_report_marks_the_story_done(h: Harness):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    h.merged(number, merge_sha)
    payload = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    deployed = {"v": 1, "playbook_repo": REPO, "story_path": payload["story_path"], "issue": issue,
                "target": "apps", "repo": h.targets["apps"], "pr": 7, "merge_sha": "b" * 40, "key": payload["key"]}
    assert h.repository_dispatch("bmad-deployed", deployed) == 0
    text = h.github.files_at(REPO, "main")[payload["story_path"]]
    assert "status: done" in text and "number: 7" in text
    status = next(t for p, t in h.github.files_at(REPO, "main").items() if p.endswith("sprint-status.yaml"))
    assert ": done" in status
    assert h.repository_dispatch("bmad-deployed", deployed) == 0  # idempotent: no second commit
    commits = h.github.commits(REPO, "main")
    assert len([c for c in commits if "deployed via" in c]) == 1


@pytest.mark.parametrize("forgery", ["not-a-target", "wrong-kind", "other-issue", "other-playbook"])
def test_forged_deployed_reports_are_refused_and_change_nothing(h: Harness, forgery: str):
    issue, number = h.complete_planning()
    merge_sha = h.github.merge_pull(REPO, number)
    h.merged(number, merge_sha)
    payload = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    deployed = {"v": 1, "playbook_repo": REPO, "story_path": payload["story_path"], "issue": issue,
                "target": "apps", "repo": h.targets["apps"], "pr": 7, "merge_sha": "b" * 40, "key": payload["key"]}
    deployed.update({
        "not-a-target": {"repo": "mallory/homelab-apps"},
        "wrong-kind": {"repo": h.targets["infra"]},  # a configured target, but the infra one claiming apps
        "other-issue": {"issue": issue + 1},
        "other-playbook": {"playbook_repo": "mallory/homelab-playbook"},
    }[forgery])
    before = h.github.commits(REPO, "main")

    assert h.repository_dispatch("bmad-deployed", deployed) != 0

    assert h.github.commits(REPO, "main") == before
    assert "status: done" not in h.github.files_at(REPO, "main")[payload["story_path"]]
