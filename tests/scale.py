"""Requests of different sizes on the loopback fakes, for pinning how a step's cost grows (tests) and
for showing it (scripts/benchmark): N stories in a plan, N comments on the issue, N earlier requests
already delivered on the default branch. Each scenario returns the GitHub API calls of the step it
measures; the harness runs the real `playbook event` (in-process or as a subprocess)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from flow_harness import BOT, PIHOLE, REPO, Harness
from playbook.adapters import offline


@dataclass(frozen=True)
class StepCost:
    calls: int
    writes: int
    seconds: float


def plan_with(stories: int) -> str:
    """The offline planner's Pi-hole plan, with ``stories`` stories (apps, independent), 25 per epic."""
    plan = json.loads(offline._WRITERS["create-epics-and-stories"](PIHOLE, "", {}))
    epic, template = plan["epics"][0], plan["epics"][0]["stories"][0]
    plan["epics"] = [
        dict(epic, number=e + 1, title=f"{epic['title']} ({e + 1})", stories=[
            dict(template, number=k + 1, title=f"Deploy service {e + 1}.{k + 1}", service=f"app-{e + 1}-{k + 1}")
            for k in range(min(25, stories - 25 * e))])
        for e in range((stories + 24) // 25)
    ]
    return json.dumps(plan)


def measure(h: Harness, step: Callable[[], int], clock: Callable[[], float]) -> StepCost:
    h.github.reset_calls()
    start = clock()
    code = step()
    seconds = clock() - start
    if code != 0:
        raise AssertionError(f"the measured step exited {code}")
    calls = list(h.github.calls)
    return StepCost(len(calls), sum(1 for c in calls if is_write(c.method, c.path, c.operation)), seconds)


def is_write(method: str, path: str, operation: str = "") -> bool:
    """REST writes and GraphQL mutation documents (the acknowledgement, a commit, the end of a step —
    one document however many fields it holds); a GraphQL query (a step's three reads) is a read."""
    if path.endswith("/graphql"):
        return operation.startswith("mutation")
    return method not in ("GET", "HEAD")


def to_final_approval(h: Harness, stories: int) -> int:
    """A request whose Epics & Stories draft (with ``stories`` stories) awaits /approve; its issue."""
    issue = h.through_architecture("Hostname pihole.home.example.")
    h.gemini.enqueue_text(plan_with(stories), input_tokens=1200, output_tokens=800)
    h.answer("check-implementation-readiness")  # the readiness gate checks the stories draft
    assert h.comment(issue, "/approve") == 0
    return issue


def stories_scenario(h: Harness, stories: int, clock: Callable[[], float]) -> dict[str, StepCost]:
    """The final /approve and the merge (dispatch) of a plan with ``stories`` stories."""
    issue = to_final_approval(h, stories)
    costs = {"approve": measure(h, lambda: h.comment(issue, "/approve"), clock)}
    (pull,) = [p for p in h.github.pulls(REPO) if p["state"] == "open"]
    merge_sha = h.github.merge_pull(REPO, pull["number"])
    costs["merge"] = measure(h, lambda: h.merged(pull["number"], merge_sha), clock)
    return costs


def comments_scenario(h: Harness, comments: int, clock: Callable[[], float]) -> dict[str, StepCost]:
    """/status and /approve → PRD on an issue that already carries ``comments`` other comments."""
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    for k in range(comments):
        h.github.add_comment(REPO, issue, f"note {k}", "owner" if k % 2 else BOT, "User" if k % 2 else "Bot")
    costs = {"status": measure(h, lambda: h.comment(issue, "/status"), clock)}
    h.answer("create-prd")
    costs["approve"] = measure(h, lambda: h.comment(issue, "/approve"), clock)
    return costs


def earlier_requests_scenario(h: Harness, earlier: int, clock: Callable[[], float]) -> dict[str, StepCost]:
    """A new request's merge (dispatch) and the daily reconcile after it, with ``earlier`` requests delivered before."""
    if earlier > 1:
        seed = to_final_approval(h, 1)
        assert h.comment(seed, "/approve") == 0
        (pull,) = [p for p in h.github.pulls(REPO) if p["state"] == "open"]
        h.github.merge_pull(REPO, pull["number"])
        story_path, text = next((p, t) for p, t in h.github.files_at(REPO, "main").items() if "/story-" in p)
        request = story_path.split("/")[2]
        files: dict[str, str | None] = {}
        for k in range(2, earlier):  # the seed is one; the measured request is the last
            other = f"{1000 + k}-earlier-request-{k}"
            files[story_path.replace(request, other)] = (
                text.replace(request, other).replace("status: ready-for-dev", "status: done"))
        files[story_path] = text.replace("status: ready-for-dev", "status: done")
        h.github.push(REPO, "main", files, "earlier requests, delivered")
    issue = to_final_approval(h, 1)
    assert h.comment(issue, "/approve") == 0
    (pull,) = [p for p in h.github.pulls(REPO) if p["state"] == "open"]
    merge_sha = h.github.merge_pull(REPO, pull["number"])
    costs = {"merge": measure(h, lambda: h.merged(pull["number"], merge_sha), clock)}
    costs["reconcile"] = measure(h, lambda: h.run("schedule", {"schedule": "17 4 * * *"}), clock)
    return costs
