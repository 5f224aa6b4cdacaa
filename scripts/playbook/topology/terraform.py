"""Proxmox VMs and LXCs from Terraform, parsed with python-hcl2 (a real HCL2 parser).

Both common providers are read; the attribute names follow their resource documentation:

    bpg/proxmox      proxmox_virtual_environment_vm / _container: node_name, vm_id, name,
                     initialization.hostname, initialization.ip_config.ipv4.address, cpu.cores,
                     memory.dedicated, disk.size, tags (a list)
    telmate/proxmox  proxmox_vm_qemu / proxmox_lxc: target_node, vmid, name / hostname,
                     ipconfig0..N ("ip=10.0.0.5/24,gw=..."), network.ip, cores, memory, tags ("a;b")

Values that are expressions are resolved only from ``variable "x" { default = ... }`` in the same
module; anything else is left out and reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BPG_VM = "proxmox_virtual_environment_vm"
BPG_LXC = "proxmox_virtual_environment_container"
TELMATE_VM = "proxmox_vm_qemu"
TELMATE_LXC = "proxmox_lxc"
# resource type -> (node kind, attribute holding the Proxmox node, attribute holding the VMID)
RESOURCES: dict[str, tuple[str, str, str]] = {
    BPG_VM: ("vm", "node_name", "vm_id"),
    BPG_LXC: ("lxc", "node_name", "vm_id"),
    TELMATE_VM: ("vm", "target_node", "vmid"),
    TELMATE_LXC: ("lxc", "target_node", "vmid"),
}
_VAR = re.compile(r"^\$\{var\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)\}$")
_IPCONFIG = re.compile(r"^ipconfig\d+$")
_SIZE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[KMGT]?)$")


@dataclass
class InfraImport:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _unquote(value: Any, variables: dict[str, Any]) -> Any:
    """A literal (string, number, bool, list) or None for an expression we cannot resolve."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
            return value[1:-1]
        match = _VAR.match(value)
        if match and match["name"] in variables:
            return variables[match["name"]]
        return None
    if isinstance(value, list):
        items = [_unquote(v, variables) for v in value]
        return None if any(i is None for i in items) else items
    if isinstance(value, bool | int | float):
        return value
    return None


def _block(body: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    """Nested blocks along ``names`` (each level may repeat)."""
    level = [body]
    for name in names:
        level = [b for parent in level for b in (parent.get(name) or []) if isinstance(b, dict)]
    return level


def _variables(texts: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for parsed in texts.values():
        for entry in parsed.get("variable", []) or []:
            for raw_name, body in entry.items():
                if isinstance(body, dict) and "default" in body:
                    value = _unquote(body["default"], {})
                    if value is not None:
                        found[raw_name.strip('"')] = value
    return found


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _gigabytes(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    scale = {"": 1.0, "K": 1 / 1024 / 1024, "M": 1 / 1024, "G": 1.0, "T": 1024.0}[match["unit"]]
    return round(float(match["n"]) * scale, 2)


def _telmate_ip(spec: Any) -> str | None:
    """``ip=10.0.0.5/24,gw=10.0.0.1`` -> ``10.0.0.5/24``; dhcp and expressions are not addresses."""
    if not isinstance(spec, str):
        return None
    for part in spec.split(","):
        key, _, value = part.strip().partition("=")
        if key == "ip" and value and value not in ("dhcp", "manual"):
            return value
    return None


def _node_from(rtype: str, rname: str, body: dict[str, Any], variables: dict[str, Any],
               where: str) -> tuple[dict[str, Any] | None, str | None]:
    kind, node_attr, vmid_attr = RESOURCES[rtype]
    value = lambda key, b=body: _unquote(b.get(key), variables)  # noqa: E731
    if "count" in body or "for_each" in body:
        return None, f"{where}: {rtype}.{rname} uses count/for_each; add its instances to the registry by hand"
    vmid = _int(value(vmid_attr))
    if vmid is None:
        return None, f"{where}: {rtype}.{rname} has no literal {vmid_attr}; set one (or a variable default)"
    host = value(node_attr)
    addresses: list[str] = []
    resources: dict[str, Any] = {}
    tags: list[str] = []
    if rtype in (BPG_VM, BPG_LXC):
        inits = _block(body, "initialization")
        name = value("name") or next((value("hostname", b) for b in inits if value("hostname", b)), None)
        for ipv4 in _block(body, "initialization", "ip_config", "ipv4") + _block(body, "network_interface",
                                                                                  "ip_config", "ipv4"):
            address = value("address", ipv4)
            if isinstance(address, str) and address != "dhcp":
                addresses.append(address)
        cores = next((_int(value("cores", b)) for b in _block(body, "cpu")), None)
        memory = next((_int(value("dedicated", b)) for b in _block(body, "memory")), None)
        disks = [_gigabytes(value("size", b)) for b in _block(body, "disk")]
        raw_tags = value("tags")
        tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else []
    else:
        name = value("name") if rtype == TELMATE_VM else value("hostname")
        if rtype == TELMATE_VM:
            addresses = [ip for key in sorted(body) if _IPCONFIG.match(key) and (ip := _telmate_ip(value(key)))]
        else:
            addresses = [ip for b in _block(body, "network") if isinstance(ip := value("ip", b), str)
                         and ip not in ("dhcp", "manual")]
        cores = _int(value("cores")) or next((_int(value("cores", b)) for b in _block(body, "cpu")), None)
        memory = _int(value("memory"))
        disks = [_gigabytes(value("size", b)) for b in _block(body, "rootfs") + _block(body, "disk")]
        raw = value("tags")
        tags = [t for t in re.split(r"[;,]", raw) if t] if isinstance(raw, str) else []
    if cores:
        resources["cores"] = cores
    if memory:
        resources["memory_mb"] = memory
    if disks and all(d is not None for d in disks):
        resources["disk_gb"] = sum(d for d in disks if d is not None)
    node: dict[str, Any] = {"name": str(name or rname), "kind": kind, "vmid": vmid}
    if isinstance(host, str):
        node["host"] = host
    if addresses:
        node["addresses"] = addresses
    if resources:
        node["resources"] = resources
    if tags:
        node["tags"] = sorted(set(tags))
    return node, None


def import_infra(root: Path, *, repo: str) -> InfraImport:
    """Every Proxmox VM and LXC under ``root`` plus the Proxmox nodes they name."""
    import hcl2

    result = InfraImport()
    by_dir: dict[Path, dict[Path, dict[str, Any]]] = {}
    for tf in sorted(root.rglob("*.tf")):
        if ".terraform" in tf.parts:
            continue
        try:
            parsed = hcl2.loads(tf.read_text(encoding="utf-8", errors="replace"))
        except Exception as exc:  # the parser raises lark errors of several kinds  # noqa: BLE001
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            result.warnings.append(f"{tf.relative_to(root)}: not valid HCL ({first}); run `terraform fmt` to see why")
            continue
        by_dir.setdefault(tf.parent, {})[tf] = parsed
    hosts: dict[str, dict[str, Any]] = {}
    for _directory, files in sorted(by_dir.items()):
        variables = _variables(files)
        for tf, parsed in sorted(files.items()):
            rel = tf.relative_to(root).as_posix()
            for entry in parsed.get("resource", []) or []:
                for raw_type, instances in entry.items():
                    rtype = raw_type.strip('"')
                    if rtype not in RESOURCES or not isinstance(instances, dict):
                        continue
                    for raw_name, body in instances.items():
                        rname = raw_name.strip('"')
                        node, warning = _node_from(rtype, rname, body, variables, rel)
                        if warning:
                            result.warnings.append(warning)
                        if node is None:
                            continue
                        node["source"] = {"repo": repo, "path": rel, "resource": f"{rtype}.{rname}"}
                        result.nodes.append(node)
                        if node.get("host") and node["host"] not in hosts:
                            hosts[node["host"]] = {"name": node["host"], "kind": "proxmox-node",
                                                   "source": {"repo": repo, "path": rel,
                                                              "resource": f"{rtype}.{rname}"}}
    result.nodes.extend(hosts.values())
    return result
