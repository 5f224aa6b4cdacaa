"""A stack or an infra change against the registry: what it would take that someone already has.

    topology-port       a host port (and protocol) already published on the same node
    topology-host       a host name already routed by Traefik for another service
    topology-container  a container_name another service on the same node already uses
    topology-vmid       a VMID already used by another VM or LXC
    topology-address    a static address already given to another node

Each finding names the other service or node and where it is defined. The stack being changed is
matched to its registry entry by name and never collides with itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playbook.checks.findings import ERROR, Finding
from playbook.checks.stack import load_stack
from playbook.topology import compose, terraform

DOC = "README.md#topology-registry"


def _where(entry: dict[str, Any], registry_file: str) -> str:
    source = entry.get("source")
    if source:
        return f"{source['repo']}:{source['path']}"
    return f"{registry_file} (written by hand)"


def _same_node(a: str | None, b: str | None) -> bool:
    """Unknown placement collides with everything: better a question now than a port clash later."""
    return a is None or b is None or a == b


def _ip(address: str) -> str:
    return address.split("/", 1)[0].strip()


def _ips_overlap(a: str, b: str) -> bool:
    return not a or not b or a == b


def check_stack_against(service: dict[str, Any], compose_file: str, data: dict[str, Any],
                        registry_file: str) -> list[Finding]:
    findings: list[Finding] = []
    known = {s["name"]: s for s in data["services"]}
    node = service.get("node") or known.get(service["name"], {}).get("node")
    on_node = f" on node {node}" if node else " (node unknown: label a service homelab.node=<node>)"

    def add(rule: str, message: str, fix: str) -> None:
        findings.append(Finding(rule, ERROR, compose_file, None, message, f"{fix} (see {DOC})"))

    for other in sorted(data["services"], key=lambda s: s["name"]):
        if other["name"] == service["name"]:
            continue
        where = _where(other, registry_file)
        if _same_node(node, other.get("node")):
            for port in service.get("ports", []):
                for theirs in other.get("ports", []):
                    if (port["published"], port["protocol"]) == (theirs["published"], theirs["protocol"]) and \
                            _ips_overlap(port.get("host_ip", ""), theirs.get("host_ip", "")):
                        add("topology-port",
                            f"host port {port['published']}/{port['protocol']}{on_node} is already published by "
                            f"service {other['name']!r} ({where})",
                            "publish another host port, bind it to another host_ip, or place the stack on another node")
            for name in set(service.get("containers", [])) & set(other.get("containers", [])):
                add("topology-container",
                    f"container_name {name!r}{on_node} is already used by service {other['name']!r} ({where})",
                    "give the container a name of its own (the stack slug is the convention)")
        for host in sorted(set(service.get("hosts", [])) & set(other.get("hosts", []))):
            add("topology-host", f"host name {host!r} is already routed to service {other['name']!r} ({where})",
                "choose another host name in .env.sample (SERVICE_HOST), or retire the other router first")
    return findings


def check_nodes_against(nodes: list[dict[str, Any]], file_of: dict[str, str], data: dict[str, Any],
                        registry_file: str) -> list[Finding]:
    findings: list[Finding] = []
    for node in nodes:
        resource = node.get("source", {}).get("resource")
        for other in sorted(data["nodes"], key=lambda n: n["name"]):
            if other["name"] == node["name"] or (resource and other.get("source", {}).get("resource") == resource):
                continue
            where = _where(other, registry_file)
            file = file_of.get(node["name"], "")
            if "vmid" in node and other.get("vmid") == node["vmid"]:
                findings.append(Finding("topology-vmid", ERROR, file, None,
                                        f"VMID {node['vmid']} ({node['name']}) is already used by {other['kind']} "
                                        f"{other['name']!r} ({where})",
                                        f"pick a free VMID (see `playbook topology show`) (see {DOC})"))
            for address in sorted({_ip(a) for a in node.get("addresses", [])}
                                  & {_ip(a) for a in other.get("addresses", [])}):
                findings.append(Finding("topology-address", ERROR, file, None,
                                        f"address {address} ({node['name']}) is already given to {other['kind']} "
                                        f"{other['name']!r} ({where})",
                                        f"pick a free static address, or use DHCP with a reservation (see {DOC})"))
    return findings


def check_path(path: Path, data: dict[str, Any], *, registry_file: str) -> list[Finding]:
    """Every collision of the stacks and Proxmox resources under ``path`` with the registry."""
    findings: list[Finding] = []
    root = path if path.is_dir() else path.parent
    for compose_file in compose.stack_files(root):
        stack, problems = load_stack(compose_file)
        if problems:
            continue  # the pattern checks already report an unreadable compose file
        service, _ = compose.service_from_stack(stack, repo="(this change)", rel_dir=stack.dir.name, default_node=None)
        findings.extend(check_stack_against(service, str(compose_file), data, registry_file))
    if any(root.rglob("*.tf")):
        infra = terraform.import_infra(root, repo="(this change)")
        vms = [n for n in infra.nodes if n["kind"] in ("vm", "lxc")]
        file_of = {n["name"]: str(root / n["source"]["path"]) for n in vms}
        findings.extend(check_nodes_against(vms, file_of, data, registry_file))
    return findings
