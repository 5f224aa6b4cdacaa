"""Done-when, on the demo itself: the merged story writes the registry; import of homelab-apps lists
dns-pihole with its host name and ports; a second stack on 53/udp fails `playbook check --topology`."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.adapters import git as gitlib
from playbook.cli import main
from playbook.delivery.scaffold import scaffold_stack
from playbook.demo.reference import run_demo
from playbook.settings import Settings
from playbook.topology import registry

pytestmark = pytest.mark.slow


def test_demo_registry_import_and_collision(tmp_path: Path, repo_root: Path, capsys) -> None:
    workdir = tmp_path / "demo"
    report = run_demo(Settings.from_env({}, root=repo_root), workdir=workdir, echo=lambda _m: None)
    assert any(s.startswith("topology: _bmad-output/topology.yaml lists dns-pihole") for s in report.steps)
    playbook = workdir / "homelab-playbook"
    done_commit = gitlib.git(playbook, "show", "--name-only", "--format=%s", "main").split("\n")
    assert done_commit[0].startswith("bmad: story 1.1 deployed via demo/homelab-apps")
    assert registry.REGISTRY_PATH in done_commit and any(p.endswith("sprint-status.yaml") for p in done_commit)
    committed = registry.by_name(registry.load(playbook / registry.REGISTRY_PATH), "services")["dns-pihole"]

    out = tmp_path / "topology.yaml"
    with pytest.raises(SystemExit) as exit_:
        main(["topology", "import", "--apps", str(workdir / "homelab-apps"), "--out", str(out),
              "--apps-repo", "demo/homelab-apps"])
    assert exit_.value.code == 0
    printed = capsys.readouterr().out
    assert "service dns-pihole: node ?; hosts dns-pihole.example.com; ports 53/tcp, 53/udp" in printed
    imported = registry.by_name(registry.load(out), "services")["dns-pihole"]
    assert imported == committed  # the deployed refresh and a full import agree

    scaffold_stack(tmp_path / "change", "dns-adguard", image="adguard/adguardhome:v0.107.52", port=3000,
                   extra_ports=["53:53/udp"])
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(tmp_path / "change" / "stacks" / "dns-adguard"), "--topology", str(out)])
    assert exit_.value.code == 1
    assert "already published by service 'dns-pihole' (demo/homelab-apps:stacks/dns-pihole/docker-compose.yml)" \
        in capsys.readouterr().out
