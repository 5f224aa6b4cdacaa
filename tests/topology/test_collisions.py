"""`playbook check PATH --topology FILE`: each collision is an error naming the other service and its source."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from playbook.cli import main
from playbook.delivery.scaffold import scaffold_stack
from playbook.topology import collisions, importer, registry
from topology.test_registry_import import demo_apps, infra


@pytest.fixture
def topology_file(tmp_path: Path) -> Path:
    out = tmp_path / "topology.yaml"
    importer.import_to(out, apps=demo_apps(tmp_path / "homelab-apps"), infra=infra(tmp_path / "homelab-infra"),
                       apps_repo="demo/homelab-apps", infra_repo="demo/homelab-infra", default_node="docker-01")
    return out


def _check(path: Path, topology_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(path), "--topology", str(topology_file)])
    return int(exit_.value.code or 0), capsys.readouterr().out


def test_second_stack_on_53_udp_fails_naming_dns_pihole(tmp_path: Path, topology_file: Path, capsys) -> None:
    scaffold_stack(tmp_path / "change", "dns-adguard", image="adguard/adguardhome:v0.107.52", port=3000,
                   extra_ports=["53:53/udp"], volumes=["work:/opt/adguardhome/work"])
    code, out = _check(tmp_path / "change" / "stacks" / "dns-adguard", topology_file, capsys)
    assert code == 1
    assert "[topology-port] host port 53/udp" in out
    assert "already published by service 'dns-pihole' (demo/homelab-apps:stacks/dns-pihole/docker-compose.yml)" in out


def test_the_same_stack_never_collides_with_itself(tmp_path: Path, topology_file: Path, capsys) -> None:
    code, out = _check(tmp_path / "homelab-apps" / "stacks" / "dns-pihole", topology_file, capsys)
    assert "topology-" not in out


def test_other_node_port_is_free_but_host_and_container_names_are_not(tmp_path: Path, topology_file: Path) -> None:
    data = registry.load(topology_file)
    root = tmp_path / "change"
    stack = root / "stacks" / "dns-second"
    stack.mkdir(parents=True)
    host = registry.by_name(data, "services")["dns-pihole"]["hosts"][0]
    (stack / "docker-compose.yml").write_text(yaml.safe_dump({"services": {"dns": {
        "image": "pihole/pihole:2024.07.0", "container_name": "dns-pihole", "ports": ["53:53/udp"],
        "labels": {"homelab.node": "docker-02", "traefik.enable": "true",
                   "traefik.http.routers.dns-second.rule": "Host(`${SERVICE_HOST}`)"}}}}))
    (stack / ".env.sample").write_text(f"SERVICE_HOST={host}\n")
    found = collisions.check_path(stack, data, registry_file=str(topology_file))
    assert [f.rule for f in found] == ["topology-host"]
    assert f"host name {host!r} is already routed to service 'dns-pihole'" in found[0].message
    (stack / "docker-compose.yml").write_text((stack / "docker-compose.yml").read_text().replace("docker-02",
                                                                                                "docker-01"))
    rules = sorted(f.rule for f in collisions.check_path(stack, data, registry_file=str(topology_file)))
    assert rules == ["topology-container", "topology-host", "topology-port"]


def test_vmid_and_static_address_in_use(tmp_path: Path, topology_file: Path, capsys) -> None:
    change = tmp_path / "infra-change" / "terraform" / "new"
    change.mkdir(parents=True)
    (change / "main.tf").write_text('''
resource "proxmox_virtual_environment_vm" "monitor" {
  node_name = "pve1"
  vm_id     = 105
  name      = "monitor-01"
  initialization {
    ip_config {
      ipv4 {
        address = "10.0.0.53/24"
      }
    }
  }
}
''')
    found = collisions.check_path(change, registry.load(topology_file), registry_file=str(topology_file))
    messages = {f.rule: f.message for f in found}
    assert messages["topology-vmid"] == ("VMID 105 (monitor-01) is already used by vm 'docker-01' "
                                         "(demo/homelab-infra:terraform/docker/main.tf)")
    assert messages["topology-address"].startswith("address 10.0.0.53 (monitor-01) is already given to lxc 'dns-lxc'")
    assert all(f.file.endswith("main.tf") for f in found)


def test_hand_written_entries_are_named_as_such(tmp_path: Path, topology_file: Path) -> None:
    data = registry.load(topology_file)
    data["services"].append({"name": "nas", "node": "docker-01", "ports": [{"published": 445, "target": 445,
                                                                             "protocol": "tcp"}]})
    stack = tmp_path / "stacks" / "files-samba"
    stack.mkdir(parents=True)
    (stack / "docker-compose.yml").write_text(yaml.safe_dump({"services": {"samba": {
        "image": "dperson/samba:latest", "ports": ["445:445"], "labels": {"homelab.node": "docker-01"}}}}))
    found = collisions.check_path(stack, data, registry_file="topology.yaml")
    assert [f.message for f in found] == ["host port 445/tcp on node docker-01 is already published by service "
                                          "'nas' (topology.yaml (written by hand))"]


def test_publish_checks_collisions_when_the_registry_is_reachable(tmp_path: Path, topology_file: Path) -> None:
    from playbook.delivery.publish import run_checks

    repo = tmp_path / "target"
    written = scaffold_stack(repo, "dns-adguard", image="adguard/adguardhome:v0.107.52", port=3000,
                             extra_ports=["53:53/udp"])
    files = {p.relative_to(repo).as_posix(): p.read_text() for p in written}
    findings, roots = run_checks(repo, files, "apps", topology_file=topology_file)
    assert roots == ["stacks/dns-adguard"]
    assert [f.rule for f in findings if f.rule.startswith("topology")] == ["topology-port"]
    assert [f.rule for f in run_checks(repo, files, "apps")[0] if f.rule.startswith("topology")] == []
    topology_file.write_text("schema_version: 7\n")
    (warning,) = [f for f in run_checks(repo, files, "apps", topology_file=topology_file)[0] if f.rule == "topology"]
    assert warning.severity == "warning" and "collisions were not checked" in warning.message
