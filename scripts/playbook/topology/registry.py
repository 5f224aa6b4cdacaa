"""`_bmad-output/topology.yaml`: a versioned, strictly validated registry of nodes, services, networks.

Our fields are strict (unknown keys are errors naming the path); people may add ``notes``, ``tags``
and any ``x-`` key anywhere, and those survive a re-import. Entries imported from a repository carry
``source``; entries without one were written by hand and are never removed by an import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from playbook.errors import ValidationError

REGISTRY_PATH = "_bmad-output/topology.yaml"
SCHEMA_VERSION = 1
NODE_KINDS = ("proxmox-node", "vm", "lxc", "host")
PROTOCOLS = ("tcp", "udp")
AUTH_KINDS = ("authentik", "none", "other")

_HUMAN = {"notes": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}
_EXTENSIONS: dict[str, Any] = {"^x-": {}}
_SOURCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["repo", "path"],
    "properties": {
        "repo": {"type": "string", "minLength": 1},
        "path": {"type": "string", "minLength": 1},
        "resource": {"type": "string"},
        "line": {"type": "integer", "minimum": 1},
    },
}
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"}


def _entry(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "patternProperties": _EXTENSIONS,
            "required": required, "properties": {**properties, **_HUMAN}}


NODE_SCHEMA = _entry(["name", "kind"], {
    "name": _NAME,
    "kind": {"enum": list(NODE_KINDS)},
    "vmid": {"type": "integer", "minimum": 100, "maximum": 999999999},
    "host": {"type": "string", "description": "the Proxmox node a VM or LXC runs on"},
    "addresses": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "resources": {
        "type": "object", "additionalProperties": False,
        "properties": {"cores": {"type": "integer", "minimum": 1}, "memory_mb": {"type": "integer", "minimum": 1},
                       "disk_gb": {"type": "number", "minimum": 0}},
    },
    "source": _SOURCE,
})
PORT_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["published", "target", "protocol"],
    "properties": {
        "published": {"type": "integer", "minimum": 1, "maximum": 65535},
        "target": {"type": "integer", "minimum": 1, "maximum": 65535},
        "protocol": {"enum": list(PROTOCOLS)},
        "host_ip": {"type": "string"},
    },
}
SERVICE_SCHEMA = _entry(["name"], {
    "name": _NAME,
    "repo": {"type": "string"},
    "path": {"type": "string"},
    "node": {"type": "string"},
    "images": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "containers": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "hosts": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "ports": {"type": "array", "items": PORT_SCHEMA},
    "volumes": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "backup": {
        "type": "object", "additionalProperties": False, "required": ["enabled"],
        "properties": {"enabled": {"type": "boolean"}, "volumes": {"type": "array", "items": {"type": "string"}}},
    },
    "auth": {"enum": list(AUTH_KINDS)},
    "metrics": {
        "type": "object", "additionalProperties": False, "required": ["enabled"],
        "properties": {"enabled": {"type": "boolean"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                       "path": {"type": "string"}},
    },
    "networks": {"type": "array", "items": {"type": "string"}},
    "source": _SOURCE,
})
NETWORK_SCHEMA = _entry(["name"], {
    "name": _NAME,
    "external": {"type": "boolean"},
    "cidr": {"type": "string"},
    "source": _SOURCE,
})
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "patternProperties": _EXTENSIONS,
    "required": ["schema_version", "nodes", "services", "networks"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "nodes": {"type": "array", "items": NODE_SCHEMA},
        "services": {"type": "array", "items": SERVICE_SCHEMA},
        "networks": {"type": "array", "items": NETWORK_SCHEMA},
        "notes": {"type": "string"},
    },
}


def empty() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "nodes": [], "services": [], "networks": []}


def problems(data: Any) -> list[str]:
    """Schema problems plus the cross-entry rules (unique names and VMIDs, services on known nodes)."""
    from playbook.schemas import schema_problems

    found = schema_problems(SCHEMA, data)
    if found:
        return found
    for section in ("nodes", "services", "networks"):
        seen: dict[str, int] = {}
        for index, entry in enumerate(data[section]):
            if entry["name"] in seen:
                found.append(f"{section}/{index}/name: {entry['name']!r} is already used by {section}/{seen[entry['name']]}")
            seen.setdefault(entry["name"], index)
    vmids: dict[int, str] = {}
    for node in data["nodes"]:
        if "vmid" in node:
            if node["vmid"] in vmids:
                found.append(f"nodes/{node['name']}/vmid: {node['vmid']} is already used by node {vmids[node['vmid']]!r}")
            vmids.setdefault(node["vmid"], node["name"])
        if node["kind"] in ("vm", "lxc") and "vmid" not in node:
            found.append(f"nodes/{node['name']}: a {node['kind']} needs a vmid")
    names = {n["name"] for n in data["nodes"]}
    for service in data["services"]:
        if service.get("node") and names and service["node"] not in names:
            found.append(f"services/{service['name']}/node: {service['node']!r} is not a node in this registry")
    return found


def parse(text: str, *, source: str = REGISTRY_PATH) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationError(f"{source} is not valid YAML{where}", fix=f"correct the YAML syntax in {source}") from None
    if data is None:
        raise ValidationError(f"{source} is empty", fix="run `playbook topology import --apps DIR --out FILE`")
    found = problems(data)
    if found:
        raise ValidationError(f"{source} is not a valid topology registry", problems=found,
                              fix=f"correct {source} (see README: Topology registry) or re-run `playbook topology import`")
    return dict(data)


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValidationError(f"{path} does not exist",
                              fix="create it with `playbook topology import --apps DIR [--infra DIR] --out FILE`")
    return parse(path.read_text(encoding="utf-8"), source=str(path))


HEADER = ("# Topology registry (homelab-playbook). Imported entries carry `source:` and are refreshed by\n"
          "# `playbook topology import` and by merged IaC PRs; `notes`, `tags` and `x-` keys are yours and kept.\n")


def dump(data: dict[str, Any]) -> str:
    """Canonical text: same registry, same bytes (sections sorted by name)."""
    found = problems(data)
    if found:
        raise ValidationError("refusing to write an invalid topology registry", problems=found,
                              fix="this is a bug in the import; report it with the input that caused it")
    ordered = dict(data)
    for section in ("nodes", "services", "networks"):
        ordered[section] = sorted(data[section], key=lambda e: e["name"])
    return HEADER + yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=120)


def write(path: Path, data: dict[str, Any]) -> bool:
    """Write atomically; False when the file already holds these bytes."""
    text = dump(data)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".topology-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def by_name(data: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in data.get(section, [])}
