"""`playbook topology import`: build (or refresh) the registry from target checkouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.errors import ValidationError
from playbook.topology import compose, merge, registry, terraform


@dataclass
class ImportResult:
    registry: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    written: bool = False


def build(*, apps: Path | None, infra: Path | None, previous: dict[str, Any] | None = None,
          apps_repo: str | None = None, infra_repo: str | None = None,
          default_node: str | None = None) -> ImportResult:
    if apps is None and infra is None:
        raise ValidationError("nothing to import", fix="pass --apps DIR (homelab-apps) and/or --infra DIR (homelab-infra)")
    for label, path in (("--apps", apps), ("--infra", infra)):
        if path is not None and not path.is_dir():
            raise ValidationError(f"{label} {path} is not a directory", fix=f"pass a checkout of the target repo to {label}")
    imported: dict[str, list[dict[str, Any]]] = {}
    repos: set[str] = set()
    warnings: list[str] = []
    if infra is not None:
        repo = infra_repo or infra.resolve().name
        result = terraform.import_infra(infra, repo=repo)
        imported["nodes"] = result.nodes
        warnings.extend(result.warnings)
        repos.add(repo)
    if apps is not None:
        repo = apps_repo or apps.resolve().name
        result_apps = compose.import_apps(apps, repo=repo, default_node=default_node)
        imported["services"] = result_apps.services
        imported["networks"] = result_apps.networks
        warnings.extend(result_apps.warnings)
        repos.add(repo)
    data = merge.merge(previous, imported, repos)
    return ImportResult(data, warnings)


def import_to(out: Path, **kwargs: Any) -> ImportResult:
    """Import and write ``out`` (merging with what it already holds); idempotent."""
    previous = registry.load(out) if out.is_file() else None
    result = build(previous=previous, **kwargs)
    result.written = registry.write(out, result.registry)
    return result
