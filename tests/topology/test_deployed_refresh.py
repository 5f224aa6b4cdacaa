"""A merged IaC PR (bmad-deployed) updates the registry in the same commit that marks the story done."""

from __future__ import annotations

import yaml

from flow_harness import DISPATCH_TOKEN, REPO, Harness
from playbook.adapters.github import GitHubForge
from playbook.delivery.scaffold import render_stack
from playbook.demo.reference import DEMO_STACKS
from playbook.topology import registry


def _merge_stack_pr(h: Harness, files: dict[str, str | None], branch: str) -> tuple[int, str]:
    apps = h.targets["apps"]
    h.github.push(apps, branch, files, "bmad: story 1.1")
    forge = GitHubForge(apps, DISPATCH_TOKEN, base_url=h.github.url)
    pull = forge.create_pull(branch, "main", "bmad: story 1.1", "story", False)
    return pull.number, h.github.merge_pull(apps, pull.number)


def _deployed(h: Harness, issue: int, story: dict, pr: int, merge_sha: str) -> dict:
    return {"v": 1, "playbook_repo": REPO, "story_path": story["story_path"], "issue": issue, "target": "apps",
            "repo": h.targets["apps"], "pr": pr, "merge_sha": merge_sha, "key": story["key"]}


def test_merged_story_updates_the_registry_in_the_done_commit(h: Harness) -> None:
    issue, number = h.complete_planning()
    h.merged(number, h.github.merge_pull(REPO, number))
    story = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    stack = {f"stacks/dns-pihole/{name}": text for name, text in render_stack("dns-pihole", **DEMO_STACKS["dns-pihole"]).items()}
    pr, merge_sha = _merge_stack_pr(h, stack, "bmad/story-1-1-pihole")

    assert h.repository_dispatch("bmad-deployed", _deployed(h, issue, story, pr, merge_sha)) == 0
    head = h.github.branch_head(REPO, "main")
    files = h.github.files_at(REPO, "main")
    data = registry.parse(files[registry.REGISTRY_PATH])
    pihole = registry.by_name(data, "services")["dns-pihole"]
    assert {(p["published"], p["protocol"]) for p in pihole["ports"]} == {(53, "tcp"), (53, "udp")}
    assert pihole["source"] == {"repo": h.targets["apps"], "path": "stacks/dns-pihole/docker-compose.yml"}
    assert "status: done" in files[story["story_path"]]
    parent = h.github.objects.commits[head].parents[0]
    before = h.github.files_at(REPO, parent)
    assert registry.REGISTRY_PATH not in before and "status: done" not in before[story["story_path"]]
    commits = h.github.commits(REPO, "main")
    assert len([c for c in commits if "deployed via" in c]) == 1

    # re-delivered: nothing more is written
    assert h.repository_dispatch("bmad-deployed", _deployed(h, issue, story, pr, merge_sha)) == 0
    assert h.github.branch_head(REPO, "main") == head


def test_notes_survive_and_a_removed_stack_leaves_the_registry(h: Harness) -> None:
    issue, number = h.complete_planning()
    h.merged(number, h.github.merge_pull(REPO, number))
    story = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    old = {"schema_version": 1, "nodes": [], "networks": [], "services": [
        {"name": "app-old", "repo": h.targets["apps"], "path": "stacks/app-old", "notes": "retire me",
         "source": {"repo": h.targets["apps"], "path": "stacks/app-old/docker-compose.yml"}},
        {"name": "nas", "notes": "hand-written"}]}
    h.github.push(REPO, "main", {registry.REGISTRY_PATH: registry.dump(old)}, "registry by hand")
    h.github.push(h.targets["apps"], "main", {"stacks/app-old/docker-compose.yml": "services: {}\n"}, "old stack")
    pr, merge_sha = _merge_stack_pr(h, {"stacks/app-old/docker-compose.yml": None}, "bmad/story-1-1-retire")
    assert h.repository_dispatch("bmad-deployed", _deployed(h, issue, story, pr, merge_sha)) == 0
    data = yaml.safe_load(h.github.files_at(REPO, "main")[registry.REGISTRY_PATH])
    assert [s["name"] for s in data["services"]] == ["nas"]


def test_without_read_access_the_story_is_still_done_and_the_issue_says_why(h: Harness) -> None:
    issue, number = h.complete_planning()
    h.merged(number, h.github.merge_pull(REPO, number))
    story = h.github.dispatches(h.targets["apps"])[0]["client_payload"]
    h.env["BMAD_DISPATCH_TOKEN"] = None  # type: ignore[assignment]
    assert h.repository_dispatch("bmad-deployed", _deployed(h, issue, story, 7, "c" * 40)) == 0
    files = h.github.files_at(REPO, "main")
    assert "status: done" in files[story["story_path"]] and registry.REGISTRY_PATH not in files
    tracking = next(c for c in h.github.comments(REPO, issue) if c.startswith("<!-- bmad-tracking"))
    assert "topology registry was not updated: BMAD_DISPATCH_TOKEN" in tracking
