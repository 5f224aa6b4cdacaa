"""A re-import replaces what came from a repository and keeps what people wrote.

Per section, by name: an imported entry replaces the previous one but keeps its ``notes``, ``x-`` keys,
its tags (the union) and, for a service, a ``node`` the import could not tell; a previous entry that came
from one of the imported repositories and is gone there is removed; anything else (hand-written entries,
entries from repositories not imported this time) stays as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from playbook.topology.registry import SCHEMA_VERSION

SECTIONS = ("nodes", "services", "networks")


def _keep_human(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(new)
    for key, value in old.items():
        if key == "notes" or key.startswith("x-"):
            merged[key] = copy.deepcopy(value)
    tags = sorted(set(old.get("tags", [])) | set(new.get("tags", [])))
    if tags:
        merged["tags"] = tags
    if "node" in old and "node" not in new and "repo" in new:  # services: placement a person set
        merged["node"] = old["node"]
    return merged


def merge(previous: dict[str, Any] | None, imported: dict[str, list[dict[str, Any]]],
          repos: set[str]) -> dict[str, Any]:
    """``imported`` maps a section to its freshly imported entries; ``repos`` were read in full."""
    return merge_scoped(previous, imported, lambda entry: entry.get("source", {}).get("repo") in repos)


def merge_scoped(previous: dict[str, Any] | None, imported: dict[str, list[dict[str, Any]]],
                 covered: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Like ``merge``; ``covered(old_entry)`` says whether this import read where that entry came from."""
    base: dict[str, Any] = copy.deepcopy(previous) if previous else {"schema_version": SCHEMA_VERSION}
    base["schema_version"] = SCHEMA_VERSION
    for section in SECTIONS:
        old = {e["name"]: e for e in base.get(section, [])}
        if section not in imported:
            base[section] = list(old.values())
            continue
        new = {e["name"]: e for e in imported[section]}
        out = []
        for name in sorted(set(old) | set(new)):
            if name in new:
                out.append(_keep_human(new[name], old[name]) if name in old else new[name])
            elif not (old[name].get("source") and covered(old[name])):
                out.append(old[name])
        base[section] = out
    return base
