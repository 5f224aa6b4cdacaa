"""Dependency order: which part of which story may be dispatched now, and what the others wait for.

The rules, in one place (the README's "Delivery order" says the same):

1. A story is dispatched only when every story it ``depends_on`` is ``done``.
2. A ``both`` story has two parts, infra then apps: the apps part is dispatched only once the infra
   pull request has merged (its ``bmad-deployed`` report arrived).
3. Each ``bmad-deployed`` report dispatches whatever it unblocked; the scheduled reconcile does the
   same for anything a missed event left behind.
4. A request whose stories name unknown stories or depend on each other in a circle dispatches
   nothing until the story files are fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from playbook.delivery import routing
from playbook.planning.artifacts import Story
from playbook.planning.dependencies import graph_problems, sort_key, unmet


@dataclass(frozen=True)
class Part:
    """One dispatch: a story and the target kind it goes to next."""

    story: Story
    kind: str


def kinds(story: Story) -> tuple[str, ...]:
    from playbook.delivery.dispatch import resolve_target

    return routing.kinds_for(resolve_target(story))


def _prs(story: Story) -> list[dict[str, object]]:
    return list(story.metadata.get("pull_requests") or [])


def merged_kinds(story: Story) -> set[str]:
    return {str(p["target"]) for p in _prs(story) if p.get("merged")}


def next_kind(story: Story) -> str | None:
    """The first part (in deployment order) whose pull request has not merged yet."""
    merged = merged_kinds(story)
    return next((k for k in kinds(story) if k not in merged), None)


def problems(stories: Sequence[Story]) -> list[str]:
    """Unknown and circular dependencies among one request's story files."""
    return graph_problems({s.id: list(s.depends_on) for s in stories})


def _statuses(stories: Iterable[Story]) -> dict[str, str]:
    return {s.id: s.status for s in stories}


def waiting_for(story: Story, siblings: Sequence[Story]) -> str:
    """What ``story`` waits for, in words for the tracking comment; '' when nothing holds it back."""
    if story.status == "done":
        return ""
    blocking = unmet(story.depends_on, _statuses(siblings))
    if blocking:
        return ", ".join(f"story {dep}" for dep in sorted(blocking, key=sort_key))
    parts = kinds(story)
    if len(parts) > 1 and next_kind(story) == parts[0] and story.status in ("in-progress", "review"):
        return f"the {parts[0]} PR to merge, then its {parts[1]} part is dispatched"
    return ""


def awaiting_dispatch(story: Story) -> bool:
    """Never dispatched (ready-for-dev), or a later part whose earlier part just merged."""
    if story.status == "ready-for-dev":
        return True
    following = next_kind(story)
    opened = {str(p["target"]) for p in _prs(story)}
    return story.status == "review" and following is not None and following not in opened and bool(merged_kinds(story))


def ready_parts(siblings: Sequence[Story], candidates: Sequence[Story], *, explicit: bool = False) -> list[Part]:
    """The parts of ``candidates`` that may go now, in dispatch order.

    ``explicit`` is `/dispatch`: a story already sent is sent again (its next part), but order still
    holds. Otherwise only stories awaiting their first (or next) dispatch are picked.
    """
    statuses = _statuses(siblings)
    picked: list[Part] = []
    for story in sorted(candidates, key=lambda s: sort_key(s.id)):
        if story.status in ("backlog", "done") or unmet(story.depends_on, statuses):
            continue
        if not explicit and not awaiting_dispatch(story):
            continue
        kind = next_kind(story)
        if kind is not None:
            picked.append(Part(story, kind))
    picked.sort(key=lambda p: (routing.KIND_ORDER[p.kind], sort_key(p.story.id)))
    return picked
