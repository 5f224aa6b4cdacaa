"""sprint-status.yaml: BMAD's sprint board, kept in step with the story files — round-trip.

The file is shared with people: they add comments, reorder, add keys (``epic-1-retrospective``)
and set statuses of their own (``blocked``). An update therefore edits the existing document in
place with ruamel.yaml's round-trip mode instead of re-dumping it (PyYAML drops every comment):

* only our keys are written — ``project``, ``tracking_system``, ``story_location`` and, under
  ``development_status``, one key per story and per epic;
* a value we did not write (a human's status such as ``blocked``) is kept, whatever the story
  file says, until a person changes it; dispatch reads it too (``human_status``) and holds a
  ``blocked`` story back;
* comments, order and every other key stay; new keys go in story order.

The text is first checked with the hardened loader (no tags, aliases, duplicate keys, bounded
size and depth), so ruamel only ever sees plain YAML; an unreadable file is an ``ArtifactError``
naming it, never silently regenerated.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from playbook.errors import ArtifactError
from playbook.planning import artifacts

HEADER = "# Sprint status for this request; derived from the story files (story frontmatter wins).\n"
EPIC_STATUSES = ("backlog", "in-progress", "done")
OUR_VALUES = frozenset(artifacts.STORY_STATUSES) | frozenset(EPIC_STATUSES)
BLOCKED = "blocked"


def story_key(story: artifacts.Story) -> str:
    return story.path.rsplit("/", 1)[-1].removeprefix("story-").removesuffix(".md")


def _sort_key(key: str) -> tuple[int, int, int, str]:
    if key.startswith("epic-"):
        try:
            return (int(key[5:]), 0, 0, key)
        except ValueError:
            return (999, 0, 0, key)
    parts = key.split("-", 2)
    try:
        return (int(parts[0]), 1, int(parts[1]), key)
    except (ValueError, IndexError):
        return (999, 2, 0, key)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(text: str | None, *, source: str) -> Any:
    from ruamel.yaml.comments import CommentedMap

    if not text or not text.strip():
        return CommentedMap()
    checked = artifacts.safe_yaml_load(text, source=source)  # raises ArtifactError naming the file and line
    if not isinstance(checked, dict):
        raise ArtifactError(f"{source}: is not a YAML mapping",
                            fix="correct it (a mapping with development_status:), or delete it to regenerate it")
    data = _yaml().load(text)
    status = data.get("development_status")
    if status is not None and not isinstance(status, dict):
        raise ArtifactError(f"{source}: development_status is not a mapping",
                            fix="make development_status a mapping of story keys to statuses, or delete the file")
    return data


def human_status(text: str | None, *, source: str) -> dict[str, str]:
    """Story and epic keys whose value is not one we write (e.g. ``blocked``)."""
    if not text:
        return {}
    data = artifacts.safe_yaml_load(text, source=source)
    status = data.get("development_status") if isinstance(data, dict) else None
    if not isinstance(status, dict):
        return {}
    return {str(k): str(v) for k, v in status.items() if isinstance(v, str) and v not in OUR_VALUES}


def _derived(stories: Iterable[artifacts.Story]) -> dict[str, str]:
    values: dict[str, str] = {}
    epics: dict[int, list[str]] = {}
    for story in sorted(stories, key=lambda s: tuple(int(p) for p in s.id.split("."))):
        values[story_key(story)] = story.status
        epics.setdefault(story.epic, []).append(story.status)
    for epic, states in epics.items():
        if all(s == "done" for s in states):
            values[f"epic-{epic}"] = "done"
        elif all(s in ("backlog", "ready-for-dev") for s in states):
            values[f"epic-{epic}"] = "backlog"
        else:
            values[f"epic-{epic}"] = "in-progress"
    return values


def update(stories: Iterable[artifacts.Story], *, request: str, existing: str | None) -> str:
    """``existing`` (or a new file) with our keys brought in line with ``stories``."""
    from ruamel.yaml.comments import CommentedMap

    source = artifacts.sprint_status_path(request)
    data = _load(existing, source=source)
    for key, value in (("project", request), ("tracking_system", "file-system"),
                       ("story_location", artifacts.implementation_dir(request))):
        if data.get(key) != value:
            data[key] = value
    status = data.get("development_status")
    if status is None:
        status = data["development_status"] = CommentedMap()
    for key, value in sorted(_derived(stories).items(), key=lambda kv: _sort_key(kv[0])):
        if key in status:
            old = status[key]
            if not (isinstance(old, str) and old in OUR_VALUES):
                continue  # a person's status (blocked, …) stays until a person changes it
            if old != value:
                status[key] = value
            continue
        keys = list(status.keys())
        position = next((i for i, k in enumerate(keys) if _sort_key(str(k)) > _sort_key(key)), len(keys))
        status.insert(position, key, value)
    out = io.StringIO()
    _yaml().dump(data, out)
    text = out.getvalue()
    return text if existing and existing.strip() else HEADER + text
