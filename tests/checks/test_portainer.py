"""The portainer-stack rule: registrations written by delivery.portainer pass; each broken rule is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.checks import check_path
from playbook.delivery.portainer import ROOT, registration, write_registration
from playbook.delivery.scaffold import scaffold_stack


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    repo = tmp_path / "homelab-apps"
    scaffold_stack(repo, "media-sonarr", image="lscr.io/linuxserver/sonarr:4.0.9", port=8989)
    write_registration(repo, "media-sonarr")
    return repo


def _rule(findings: list) -> list[str]:
    return [f.message for f in findings if f.rule == "portainer-stack"]


def test_a_written_registration_passes_and_is_idempotent(apps: Path):
    assert _rule(check_path(apps / ROOT, "apps")) == []
    assert _rule(check_path(apps, "apps")) == []
    assert write_registration(apps, "media-sonarr") == []


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace('"repository"', '"string"'), 'method is "string"'),
    (lambda t: t.replace('stacks/media-sonarr/docker', 'stacks/other/docker'), "file_path_in_repository"),
    (lambda t: t.replace('  update_interval           = "5m"\n', ""), "GitOps updates are off"),
    (lambda t: t.replace("  prune", '  repository_password       = "hunter2-secret"\n  prune'), "literal string"),
    (lambda t: t.replace('"media-sonarr"', '"media-radarr"').replace("stacks/media-sonarr", "stacks/media-radarr"),
     "does not exist in this repository"),
])
def test_broken_registrations_are_named(apps: Path, edit, expected: str):
    path = apps / ROOT / "stack-media-sonarr.tf"
    path.write_text(edit(registration("media-sonarr")))
    messages = _rule(check_path(apps / ROOT, "apps"))
    assert any(expected in m for m in messages), messages


def test_an_unpinned_provider_is_refused(apps: Path):
    versions = apps / ROOT / "versions.tf"
    versions.write_text(versions.read_text().replace('"~> 1.16"', '">= 1.0"'))
    assert any("not pinned" in m for m in _rule(check_path(apps / ROOT, "apps")))
