"""What a person would rather look at: a text summary, JSON, and a Mermaid graph
(nodes → services → host names)."""

from __future__ import annotations

import json
import re
from typing import Any

FORMATS = ("text", "json", "mermaid")


def _id(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _label(text: str) -> str:
    """Safe inside a Mermaid label and a Markdown code fence: no quotes, backticks or line breaks."""
    return " ".join(text.replace('"', "'").replace("`", "'").split())


def _ports(service: dict[str, Any]) -> str:
    return ", ".join(f"{p['published']}/{p['protocol']}" for p in service.get("ports", []))


def mermaid(data: dict[str, Any]) -> str:
    lines = ["flowchart LR"]
    nodes = {n["name"]: n for n in data["nodes"]}
    for node in sorted(nodes.values(), key=lambda n: n["name"]):
        detail = f"{node['kind']}" + (f" {node['vmid']}" if "vmid" in node else "")
        if node.get("addresses"):
            detail += " " + ", ".join(node["addresses"])
        lines.append(f'  {_id("n_", node["name"])}["{_label(node["name"])}<br/>{_label(detail)}"]')
    for node in sorted(nodes.values(), key=lambda n: n["name"]):
        if node.get("host") and node["host"] in nodes:
            lines.append(f'  {_id("n_", node["host"])} --> {_id("n_", node["name"])}')
    for service in sorted(data["services"], key=lambda s: s["name"]):
        sid = _id("s_", service["name"])
        ports = _ports(service)
        lines.append(f'  {sid}("{_label(service["name"])}' + (f"<br/>{_label(ports)}" if ports else "") + '")')
        if service.get("node"):
            if service["node"] not in nodes:
                lines.append(f'  {_id("n_", service["node"])}["{_label(service["node"])}"]')
            lines.append(f'  {_id("n_", service["node"])} --> {sid}')
        for host in service.get("hosts", []):
            lines.append(f'  {sid} --> {_id("h_", host)}(["{_label(host)}"])')
    return "\n".join(lines) + "\n"


def text(data: dict[str, Any]) -> str:
    out = [f"topology: {len(data['nodes'])} node(s), {len(data['services'])} service(s), "
           f"{len(data['networks'])} network(s)"]
    for node in sorted(data["nodes"], key=lambda n: n["name"]):
        extra = [f"vmid {node['vmid']}"] if "vmid" in node else []
        extra += [f"on {node['host']}"] if node.get("host") else []
        extra += node.get("addresses", [])
        out.append(f"  node {node['name']} ({node['kind']}" + (", " + ", ".join(extra) if extra else "") + ")")
    for service in sorted(data["services"], key=lambda s: s["name"]):
        parts = [f"node {service.get('node') or '?'}"]
        if service.get("hosts"):
            parts.append("hosts " + ", ".join(service["hosts"]))
        if service.get("ports"):
            parts.append("ports " + _ports(service))
        if service.get("images"):
            parts.append("images " + ", ".join(service["images"]))
        out.append(f"  service {service['name']}: " + "; ".join(parts))
    return "\n".join(out) + "\n"


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    if fmt == "mermaid":
        return mermaid(data)
    return text(data)
