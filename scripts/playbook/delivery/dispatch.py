"""Story -> repository_dispatch payloads for the target repositories.

Pure: builds and validates payloads. Sending is the caller's (github_flow) job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from playbook.config import Config
from playbook.delivery import routing
from playbook.delivery.order import Part
from playbook.planning.artifacts import Story

EVENT_STORY = "bmad-story"
EVENT_DEPLOYED = "bmad-deployed"
DISPATCHABLE = ("ready-for-dev", "in-progress")


@dataclass(frozen=True)
class Dispatch:
    story: Story
    kind: str  # infra | apps
    repo: str
    payload: dict[str, Any]


def resolve_target(story: Story) -> str:
    if story.target != "auto":
        return story.target
    return routing.infer_target(f"{story.title}\n{story.body}")


def plan_dispatches(stories: Iterable[Story], config: Config, *, playbook_repo: str, merge_sha: str,
                    parts: Iterable[Part] | None = None) -> list[Dispatch]:
    """One validated payload per story part, infra before apps.

    Without ``parts`` every target of every story is planned (what a story would need in all); the
    delivery handlers pass ``order.ready_parts`` so only what its dependencies allow goes out.
    """
    from playbook.delivery.payloads import story_key, validate_story_payload

    chosen = list(parts) if parts is not None else [Part(s, k) for s in stories for k in routing.kinds_for(resolve_target(s))]
    planned: list[Dispatch] = []
    for part in chosen:
        story, kind = part.story, part.kind
        kinds = routing.kinds_for(resolve_target(story))
        prs = {p["target"]: p for p in story.metadata.get("pull_requests") or []}
        related = []
        for other in kinds:
            if other == kind:
                continue
            entry: dict[str, Any] = {"target": other, "repo": config.target(other).repo}
            known = prs.get(other)
            if known and known.get("repo") == entry["repo"]:
                entry["number"] = known["number"]  # the other PR exists: the new PR names it by number
            related.append(entry)
        payload = {
            "v": 1,
            "playbook_repo": playbook_repo,
            "merge_sha": merge_sha,
            "story_path": story.path,
            "issue": story.issue or int(story.request.split("-", 1)[0]),
            "target": kind,
            "order": routing.KIND_ORDER[kind],
            "key": story_key(playbook_repo, story.path, kind, merge_sha),
            "related": related,
        }
        planned.append(Dispatch(story, kind, config.target(kind).repo, validate_story_payload(payload)))
    planned.sort(key=lambda d: (routing.KIND_ORDER[d.kind], d.story.id))
    return planned


def story_branch(story_path: str, story_id: str) -> str:
    """The branch a target repo uses for a story: the same name in both repos of a `both` story."""
    request = story_path.split("/")[2]
    return f"bmad/story-{request.split('-', 1)[0]}-{story_id.replace('.', '-')}"
