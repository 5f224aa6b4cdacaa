"""Dependency-ordered delivery on the loopback fakes: only unblocked stories go out; each merge report
dispatches what it unblocked; circular or unknown dependencies are refused."""

from __future__ import annotations

import json

import pytest

from flow_harness import REPO, Harness
from playbook.errors import ModelOutputError
from playbook.planning.stories import parse_plan


def _story(number: int, title: str, service: str, target: str, depends_on: list[str]) -> dict:
    return {"number": number, "title": title, "service": service, "target": target, "depends_on": depends_on,
            "user_story": f"As the owner I want {title}.", "acceptance_criteria": [f"{title} works"],
            "tasks": [], "notes": ""}


PLAN = {
    "summary": "An LXC, then two stacks on it.",
    "open_questions": [],
    "epics": [{"number": 1, "title": "Media", "goal": "Media apps on a new host", "stories": [
        _story(1, "Provision the media LXC", "media-host", "infra", []),
        _story(2, "Deploy the Sonarr stack", "media-sonarr", "apps", ["1.1"]),
        _story(3, "Deploy the Radarr stack", "media-radarr", "apps", ["1.1", "1.2"]),
    ]}],
}


def _plan_and_merge(h: Harness, plan: dict) -> tuple[int, str]:
    issue = h.through_architecture()
    h.gemini.enqueue_text(json.dumps(plan), input_tokens=100, output_tokens=100)
    h.answer("check-implementation-readiness")
    assert h.comment(issue, "/approve") == 0
    assert h.comment(issue, "/approve") == 0
    number = h.github.pulls(REPO)[0]["number"]
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 0
    return issue, merge_sha


def _status(h: Harness) -> dict[str, str]:
    out = {}
    for path, text in h.github.files_at(REPO, "main").items():
        if "/story-" in path:
            sid = next(line.split(": ", 1)[1].strip("'\"") for line in text.splitlines() if line.startswith("id: "))
            out[sid] = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("status: "))
    return out


def _deployed(h: Harness, issue: int, dispatch: dict, pr: int) -> int:
    p = dispatch["client_payload"]
    return h.repository_dispatch("bmad-deployed", {
        "v": 1, "playbook_repo": REPO, "story_path": p["story_path"], "issue": issue, "target": p["target"],
        "repo": h.targets[p["target"]], "pr": pr, "merge_sha": "d" * 40, "key": p["key"]})


def _tracking(h: Harness, issue: int) -> str:
    return next(c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking"))


def test_stories_go_out_in_dependency_order_each_merge_unblocking_the_next(h: Harness):
    issue, _ = _plan_and_merge(h, PLAN)
    infra, apps = h.github.dispatches(h.targets["infra"]), h.github.dispatches(h.targets["apps"])
    assert [d["client_payload"]["story_path"].rsplit("/", 1)[1][:9] for d in infra] == ["story-1-1"]
    assert apps == []
    assert _status(h) == {"1.1": "in-progress", "1.2": "ready-for-dev", "1.3": "ready-for-dev"}
    tracking = _tracking(h, issue)
    assert "| story 1.1 |" in tracking and "story 1.1, story 1.2" in tracking
    assert "```mermaid\nflowchart LR" in tracking
    assert "s1_1 --> s1_2" in tracking and "s1_2 --> s1_3" in tracking
    assert "class s1_1 in_progress" in tracking and "class s1_2,s1_3 ready_for_dev" in tracking

    assert _deployed(h, issue, infra[0], 5) == 0  # the LXC merged: Sonarr goes, Radarr still waits for it
    apps = h.github.dispatches(h.targets["apps"])
    assert [d["client_payload"]["story_path"].rsplit("/", 1)[1][:9] for d in apps] == ["story-1-2"]
    assert _status(h) == {"1.1": "done", "1.2": "in-progress", "1.3": "ready-for-dev"}

    h.github.reset_calls()
    assert _deployed(h, issue, infra[0], 5) == 0  # a re-delivered report dispatches nothing again
    assert len(h.github.dispatches(h.targets["apps"])) == 1

    assert h.comment(issue, "/dispatch 1.3") == 0  # order holds for /dispatch too
    assert len(h.github.dispatches(h.targets["apps"])) == 1
    assert "waits for story 1.2" in h.github.comments(REPO, issue)[-1]

    assert _deployed(h, issue, apps[0], 6) == 0
    apps = h.github.dispatches(h.targets["apps"])
    assert len(apps) == 2 and apps[1]["client_payload"]["story_path"].rsplit("/", 1)[1].startswith("story-1-3")
    assert _deployed(h, issue, apps[1], 7) == 0
    assert _status(h) == {"1.1": "done", "1.2": "done", "1.3": "done"}
    assert "every story is deployed" in _tracking(h, issue)
    assert "class s1_1,s1_2,s1_3 done" in _tracking(h, issue)


def test_a_circle_edited_into_the_story_files_dispatches_nothing_and_says_why(h: Harness):
    issue = h.through_architecture()
    h.gemini.enqueue_text(json.dumps(PLAN), input_tokens=100, output_tokens=100)
    h.answer("check-implementation-readiness")
    assert h.comment(issue, "/approve") == 0
    assert h.comment(issue, "/approve") == 0
    number = h.github.pulls(REPO)[0]["number"]
    branch = h.github.repos[REPO].pulls[number].head
    path, text = next((p, t) for p, t in h.github.files_at(REPO, branch).items() if "/story-1-1-" in p)
    h.github.push(REPO, branch, {path: text.replace("depends_on: []", "depends_on:\n- '1.3'")}, "hand edit")
    merge_sha = h.github.merge_pull(REPO, number)
    assert h.merged(number, merge_sha) == 1
    assert h.github.dispatches(h.targets["infra"]) == [] and h.github.dispatches(h.targets["apps"]) == []
    tracking = _tracking(h, issue)
    assert "circle" in tracking and "1.1 → 1.3 → 1.1" in tracking
    assert "bmad:failed" in h.github.labels(REPO, issue)


@pytest.mark.parametrize(("deps", "problem"), [
    ({"1.1": ["1.2"], "1.2": ["1.1"]}, "circle: 1.1 → 1.2 → 1.1"),
    ({"1.1": [], "1.2": ["1.9"]}, "story 1.2: depends on unknown story 1.9"),
    ({"1.1": ["1.1"], "1.2": []}, "story 1.1: depends on itself"),
])
def test_plans_with_bad_dependencies_are_refused_at_validation(deps: dict, problem: str):
    plan = {"summary": "s", "open_questions": [], "epics": [{"number": 1, "title": "E", "goal": "g", "stories": [
        _story(int(sid.split(".")[1]), f"Story {sid}", f"svc-{sid.replace('.', '-')}", "apps", d)
        for sid, d in deps.items()]}]}
    with pytest.raises(ModelOutputError) as err:
        parse_plan(json.dumps(plan))
    assert problem in err.value.message
