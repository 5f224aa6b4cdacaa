"""The topology registry: strict schema, import from target checkouts, idempotent re-import, views, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from playbook.cli import cli
from playbook.delivery.scaffold import scaffold_stack
from playbook.demo.reference import DEMO_STACKS
from playbook.errors import ValidationError
from playbook.topology import compose, importer, registry, view

INFRA_BPG = '''
variable "node" {
  type    = string
  default = "pve1"
}

resource "proxmox_virtual_environment_vm" "docker" {
  node_name = var.node
  vm_id     = 105
  name      = "docker-01"
  tags      = ["docker", "prod"]
  cpu {
    cores = 4
  }
  memory {
    dedicated = 8192
  }
  disk {
    datastore_id = "local-lvm"
    interface    = "scsi0"
    size         = 32
  }
  initialization {
    ip_config {
      ipv4 {
        address = "10.0.0.21/24"
        gateway = "10.0.0.1"
      }
    }
  }
}

resource "proxmox_virtual_environment_container" "dns" {
  node_name = "pve1"
  vm_id     = 110
  initialization {
    hostname = "dns-lxc"
    ip_config {
      ipv4 {
        address = "10.0.0.53/24"
      }
    }
  }
}
'''
INFRA_TELMATE = '''
resource "proxmox_vm_qemu" "media" {
  target_node = "pve2"
  vmid        = 120
  name        = "media-01"
  cores       = 2
  memory      = 4096
  ipconfig0   = "ip=10.0.0.30/24,gw=10.0.0.1"
  tags        = "media;prod"
}

resource "proxmox_lxc" "ha" {
  target_node = "pve2"
  vmid        = 121
  hostname    = "ha"
  network {
    name   = "eth0"
    bridge = "vmbr0"
    ip     = "10.0.0.40/24"
  }
  rootfs {
    storage = "local-lvm"
    size    = "8G"
  }
}
'''


def demo_apps(root: Path) -> Path:
    """homelab-apps as the demo leaves it: the offline dev agent's dns-pihole stack."""
    scaffold_stack(root, "dns-pihole", **DEMO_STACKS["dns-pihole"])
    return root


def infra(root: Path) -> Path:
    (root / "terraform" / "docker").mkdir(parents=True)
    (root / "terraform" / "docker" / "main.tf").write_text(INFRA_BPG)
    (root / "terraform" / "media").mkdir(parents=True)
    (root / "terraform" / "media" / "main.tf").write_text(INFRA_TELMATE)
    return root


def test_import_of_the_demo_apps_lists_dns_pihole_with_host_and_ports(tmp_path: Path) -> None:
    apps = demo_apps(tmp_path / "homelab-apps")
    result = importer.build(apps=apps, infra=None, apps_repo="demo/homelab-apps", default_node="docker-01")
    pihole = registry.by_name(result.registry, "services")["dns-pihole"]
    env = (apps / "stacks" / "dns-pihole" / ".env.sample").read_text()
    host = next(line.split("=", 1)[1] for line in env.splitlines() if line.startswith("SERVICE_HOST="))
    assert pihole["hosts"] == [host]
    assert {(p["published"], p["protocol"]) for p in pihole["ports"]} == {(53, "tcp"), (53, "udp")}
    assert pihole["images"] == ["ekofr/pihole-exporter:v1.2.0", "pihole/pihole:2026.07.2"]
    assert pihole["containers"] == ["dns-pihole", "dns-pihole-exporter"]
    assert pihole["auth"] == "authentik" and pihole["metrics"] == {"enabled": True, "port": 9617, "path": "/metrics"}
    assert pihole["backup"]["enabled"] is True and pihole["node"] == "docker-01"
    assert pihole["source"] == {"repo": "demo/homelab-apps", "path": "stacks/dns-pihole/docker-compose.yml"}
    assert registry.by_name(result.registry, "networks")["proxy"]["external"] is True
    assert registry.problems(result.registry) == []


def test_terraform_import_reads_both_proxmox_providers(tmp_path: Path) -> None:
    result = importer.build(apps=None, infra=infra(tmp_path / "homelab-infra"), infra_repo="me/homelab-infra")
    nodes = registry.by_name(result.registry, "nodes")
    assert nodes["docker-01"] == {
        "name": "docker-01", "kind": "vm", "vmid": 105, "host": "pve1", "addresses": ["10.0.0.21/24"],
        "resources": {"cores": 4, "memory_mb": 8192, "disk_gb": 32.0}, "tags": ["docker", "prod"],
        "source": {"repo": "me/homelab-infra", "path": "terraform/docker/main.tf",
                   "resource": "proxmox_virtual_environment_vm.docker"}}
    assert nodes["dns-lxc"]["kind"] == "lxc" and nodes["dns-lxc"]["addresses"] == ["10.0.0.53/24"]
    assert nodes["media-01"]["addresses"] == ["10.0.0.30/24"] and nodes["media-01"]["tags"] == ["media", "prod"]
    assert nodes["ha"]["resources"] == {"disk_gb": 8.0} and nodes["ha"]["vmid"] == 121
    assert {n["name"] for n in nodes.values() if n["kind"] == "proxmox-node"} == {"pve1", "pve2"}
    assert result.warnings == []


def test_unresolvable_vmid_is_reported_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "proxmox_lxc" "x" {\n  target_node = "pve1"\n  vmid = local.id\n}\n')
    (tmp_path / "broken.tf").write_text('resource "proxmox_lxc" {{{\n')
    result = importer.build(apps=None, infra=tmp_path)
    assert result.registry["nodes"] == []
    assert any("no literal vmid" in w for w in result.warnings)
    assert any("broken.tf: not valid HCL" in w for w in result.warnings)


def test_reimport_is_idempotent_and_keeps_what_people_wrote(tmp_path: Path) -> None:
    apps, out = demo_apps(tmp_path / "apps"), tmp_path / "topology.yaml"
    first = importer.import_to(out, apps=apps, infra=infra(tmp_path / "infra"), default_node="docker-01")
    assert first.written
    data = yaml.safe_load(out.read_text())
    pihole = next(s for s in data["services"] if s["name"] == "dns-pihole")
    pihole.update(notes="DNS for the whole LAN; restart with care", tags=["critical"], node="docker-02")
    pihole["x-owner"] = "me"
    data["services"].append({"name": "nas", "node": "docker-01", "notes": "the Synology, not in any repo"})
    data["nodes"].append({"name": "docker-02", "kind": "host"})
    out.write_text(yaml.safe_dump(data, sort_keys=False))

    second = importer.import_to(out, apps=apps, infra=tmp_path / "infra", default_node="docker-01")
    after = registry.by_name(second.registry, "services")
    assert after["dns-pihole"]["notes"].startswith("DNS for the whole LAN") and after["dns-pihole"]["tags"] == ["critical"]
    assert after["dns-pihole"]["x-owner"] == "me" and after["dns-pihole"]["node"] == "docker-01"  # label/--node wins
    assert after["nas"]["notes"] == "the Synology, not in any repo"
    text = out.read_text()
    third = importer.import_to(out, apps=apps, infra=tmp_path / "infra", default_node="docker-01")
    assert not third.written and out.read_text() == text

    # a stack deleted from the repo leaves the registry; the hand-written entry stays
    import shutil

    shutil.rmtree(apps / "stacks" / "dns-pihole")
    (apps / "stacks" / ".gitkeep").write_text("")
    fourth = importer.import_to(out, apps=apps, infra=tmp_path / "infra")
    assert set(registry.by_name(fourth.registry, "services")) == {"nas"}


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d["services"][0].update(prots=[]), "'prots' does not match"),
    (lambda d: d["services"][0].update(ports=[{"published": 70000, "target": 53, "protocol": "udp"}]), "ports/0"),
    (lambda d: d["nodes"].append({"name": "a", "kind": "vm"}), "needs a vmid"),
    (lambda d: d["nodes"].extend([{"name": "a", "kind": "lxc", "vmid": 101}, {"name": "b", "kind": "lxc", "vmid": 101}]),
     "101 is already used by node 'a'"),
    (lambda d: d["services"].append(dict(d["services"][0])), "already used by services/0"),
], ids=["version", "unknown-key", "port-range", "vm-without-vmid", "duplicate-vmid", "duplicate-name"])
def test_validation_is_strict_and_names_the_path(tmp_path: Path, change, problem) -> None:
    data = importer.build(apps=demo_apps(tmp_path / "apps"), infra=None).registry
    change(data)
    with pytest.raises(ValidationError) as err:
        registry.parse(yaml.safe_dump(data))
    assert problem in str(err.value) and "fix:" in str(err.value)


def test_people_may_add_notes_tags_and_x_keys_anywhere(tmp_path: Path) -> None:
    data = importer.build(apps=demo_apps(tmp_path / "apps"), infra=None).registry
    data["x-site"] = "home"
    data["networks"][0].update(notes="the Traefik network", tags=["edge"])
    assert registry.parse(yaml.safe_dump(data)) == data


def test_interpolation_and_port_syntax() -> None:
    env = {"HOST": "a.example", "EMPTY": ""}
    assert compose.interpolate("${HOST}|${EMPTY:-d}|${EMPTY-d}|${MISSING:-x}|${MISSING}", env) == "a.example|d||x|${MISSING}"
    ports, problems = compose.parse_ports(["127.0.0.1:8080:80", "9000-9001:9000-9001/udp", "3000",
                                          {"target": 443, "published": "8443", "protocol": "tcp"}, "x:y"], {})
    assert ports == [{"published": 8080, "target": 80, "protocol": "tcp", "host_ip": "127.0.0.1"},
                     {"published": 9000, "target": 9000, "protocol": "udp"},
                     {"published": 9001, "target": 9001, "protocol": "udp"},
                     {"published": 8443, "target": 443, "protocol": "tcp"}]
    assert problems == ["port 'x:y' is not a compose port mapping"]


def test_views(tmp_path: Path) -> None:
    data = importer.build(apps=demo_apps(tmp_path / "apps"), infra=infra(tmp_path / "infra"),
                          default_node="docker-01").registry
    graph = view.mermaid(data)
    assert graph.startswith("flowchart LR\n")
    assert "n_pve1 --> n_docker_01" in graph and "n_docker_01 --> s_dns_pihole" in graph
    assert "s_dns_pihole --> h_" in graph and "53/udp" in graph
    assert json.loads(view.render(data, "json")) == data
    assert "service dns-pihole: node docker-01" in view.text(data)


def test_cli_import_show_validate(tmp_path: Path) -> None:
    apps, out = demo_apps(tmp_path / "apps"), tmp_path / "topology.yaml"
    runner = CliRunner()
    result = runner.invoke(cli, ["topology", "import", "--apps", str(apps), "--out", str(out), "--node", "docker-01"])
    assert result.exit_code == 0, result.output
    assert "service dns-pihole" in result.output and f"wrote {out}" in result.output
    again = runner.invoke(cli, ["topology", "import", "--apps", str(apps), "--out", str(out), "--node", "docker-01"])
    assert f"unchanged: {out}" in again.output
    shown = runner.invoke(cli, ["topology", "show", "--file", str(out), "--format", "mermaid"])
    assert shown.exit_code == 0 and "flowchart LR" in shown.output
    assert json.loads(runner.invoke(cli, ["topology", "show", "--file", str(out), "--json"]).output)["schema_version"] == 1
    assert "valid" in runner.invoke(cli, ["topology", "validate", "--file", str(out)]).output
    out.write_text(out.read_text().replace("schema_version: 1", "schema_version: 9"))
    from playbook.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["topology", "validate", "--file", str(out)])
    assert exit_.value.code == 3


def test_mermaid_labels_cannot_break_the_fence_or_the_graph() -> None:
    data = registry.empty()
    data["nodes"].append({"name": "pve1", "kind": "proxmox-node", "addresses": ["10.0.0.1\n```\n@admin"]})
    data["services"].append({"name": "app", "node": "pve1", "hosts": ['a"]; click x "javascript:alert(1)'],
                             "ports": []})
    graph = view.mermaid(data)
    assert "```" not in graph and "\n@admin" not in graph and '"]; click' not in graph
