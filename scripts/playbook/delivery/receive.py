"""Target side, first step: is this ``bmad-story`` bound to our configuration, and is it new?

Runs in the job that fetched the playbook (at the payload's ``merge_sha``)
from the repository the caller workflow fixes — never from the one a payload names. Before any
Claude run is spent it refuses a payload that:

* names another playbook repository than the workflow's;
* names a story that is absent at ``merge_sha``, or whose issue, id or target differ;
* names a ``merge_sha`` that is not among the newest ``MERGE_SHA_DEPTH`` commits of the playbook's
  default branch (an unmerged or foreign commit could carry any story) — one GraphQL read, however
  long the history;

and it skips one whose idempotency key is already published (the story branch's PR carries the
same key, which binds the merge sha), so a redelivered dispatch never runs Claude twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.errors import PayloadError
from playbook.planning import artifacts
from playbook.ports import Forge, PullRequest

REDISPATCH_FIX = "re-dispatch the story from its playbook issue with `/dispatch <story>`"
MERGE_SHA_DEPTH = 100  # GitHub's largest page; a story is dispatched right after its merge


@dataclass(frozen=True)
class Receipt:
    payload: dict[str, Any]
    story: artifacts.Story
    published: PullRequest | None  # the PR that already carries this key: skip the run

    @property
    def skip(self) -> bool:
        return self.published is not None


def check_playbook_repo(payload: dict[str, Any], configured: str) -> None:
    if payload["playbook_repo"].lower() != configured.lower():
        raise PayloadError("bmad-story refused: the payload names another playbook repository than the workflow's",
                           fix="dispatch stories only from the playbook repository set in bmad-story.yml")


def merged_recently(forge: Forge, sha: str, *, depth: int = MERGE_SHA_DEPTH) -> tuple[bool, str]:
    """Whether ``sha`` is among the newest ``depth`` commits of the default branch (merges and what
    they merged), and that branch's name: one read, whatever the history's length."""
    branch, commits = forge.recent_default_commits(depth)
    return sha in commits, branch


def receive(payload: dict[str, Any], *, configured_repo: str, playbook_dir: Path, playbook_forge: Forge,
            target_forge: Forge) -> Receipt:
    """Check one validated ``bmad-story`` payload; raises PayloadError naming the broken binding."""
    from playbook.delivery.devrun import check_story_matches
    from playbook.delivery.dispatch import story_branch
    from playbook.delivery.payloads import safe_story_path
    from playbook.delivery.publish import read_pr_marker

    check_playbook_repo(payload, configured_repo)
    story_file = safe_story_path(playbook_dir, payload["story_path"])
    if not story_file.is_file():
        raise PayloadError("bmad-story refused: the story is absent at merge_sha", fix=REDISPATCH_FIX)
    story = artifacts.story_from_text(story_file.read_text(encoding="utf-8"), path=payload["story_path"])
    check_story_matches(story, payload, payload["story_path"])
    on_branch, default_branch = merged_recently(playbook_forge, payload["merge_sha"])
    if not on_branch:
        raise PayloadError(f"bmad-story refused: merge_sha is not among the newest {MERGE_SHA_DEPTH} commits of the "
                           f"playbook's default branch ({default_branch or 'unknown'})", fix=REDISPATCH_FIX)
    pull = target_forge.find_pull(story_branch(payload["story_path"], story.id))
    marker = read_pr_marker(pull.body) if pull is not None else None
    published = pull if marker is not None and marker.get("key") == payload["key"] else None
    return Receipt(payload, story, published)
