"""Refresh the registry from the files one merged IaC PR changed (the ``bmad-deployed`` handler).

Only the stacks and Terraform directories the PR touched are re-read, from the merge commit, so the
number of API calls follows the size of the change, not of the repository.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from playbook.checks.stack import COMPOSE_NAMES
from playbook.topology import compose, merge, terraform

Reader = Callable[[str], str | None]  # path at the merge commit -> text (None when absent)


def touched_scopes(changed: Iterable[str]) -> tuple[set[str], set[str]]:
    """(stack dirs ``stacks/<slug>``, Terraform dirs) a change touches."""
    stacks, tf_dirs = set(), set()
    for path in changed:
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[0] == "stacks":
            stacks.add(f"stacks/{parts[1]}")
        if path.endswith(".tf"):
            tf_dirs.add(str(PurePosixPath(path).parent))
    return stacks, tf_dirs


def _materialize(dest: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def refresh(previous: dict[str, Any] | None, *, repo: str, changed: list[str], tree: list[str],
            read: Reader) -> tuple[dict[str, Any], list[str]]:
    """The registry after the change; ``tree`` lists every path at the merge commit."""
    stacks, tf_dirs = touched_scopes(changed)
    wanted = {p for p in tree if any(p.startswith(s + "/") for s in stacks) and PurePosixPath(p).name in
              (*COMPOSE_NAMES, ".env.sample")}
    wanted |= {p for p in tree if p.endswith(".tf") and str(PurePosixPath(p).parent) in tf_dirs}
    files = {p: text for p in sorted(wanted) if (text := read(p)) is not None}
    imported: dict[str, list[dict[str, Any]]] = {}
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="playbook-topology-") as tmp:
        root = Path(tmp)
        _materialize(root, files)
        if stacks:
            (root / "stacks").mkdir(exist_ok=True)
            apps = compose.import_apps(root, repo=repo)
            imported["services"] = apps.services
            imported["networks"] = apps.networks
            warnings += apps.warnings
        if tf_dirs:
            infra = terraform.import_infra(root, repo=repo)
            imported["nodes"] = [n for n in infra.nodes if n["kind"] != "proxmox-node"]
            warnings += infra.warnings

    def covered(entry: dict[str, Any]) -> bool:
        source = entry.get("source", {})
        if source.get("repo") != repo:
            return False
        path = source.get("path", "")
        return any(path.startswith(s + "/") for s in stacks) or str(PurePosixPath(path).parent) in tf_dirs

    data = merge.merge_scoped(previous, imported, covered)
    # Networks and Proxmox nodes are shared: the partial import adds them but never removes one.
    if previous:
        for section in ("networks", "nodes"):
            names = {e["name"] for e in data[section]}
            data[section] += [e for e in previous.get(section, []) if e["name"] not in names]
    hosts = {n.get("host") for n in data["nodes"] if n.get("host")}
    names = {n["name"] for n in data["nodes"]}
    data["nodes"] += [{"name": h, "kind": "proxmox-node"} for h in sorted(hosts - names)]
    return data, warnings
