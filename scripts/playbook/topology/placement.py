"""Routing a story's service to a node: where it already runs, or the node that runs the most stacks,
with what is already taken there (host ports, host names, container names) so the change avoids it."""

from __future__ import annotations

from collections import Counter
from typing import Any


def _taken(data: dict[str, Any], node: str | None) -> tuple[list[str], list[str]]:
    ports: set[str] = set()
    hosts: set[str] = set()
    for service in data["services"]:
        hosts.update(service.get("hosts", []))
        if node is None or service.get("node") in (node, None):
            ports.update(f"{p['published']}/{p['protocol']}" for p in service.get("ports", []))
    return sorted(ports, key=lambda p: (int(p.split("/")[0]), p)), sorted(hosts)


def suggest_node(data: dict[str, Any], service: str) -> tuple[str | None, str]:
    """(node, why); node is None when the registry cannot tell."""
    entry = next((s for s in data["services"] if s["name"] == service), None)
    if entry and entry.get("node"):
        return entry["node"], f"`{service}` already runs there"
    counts = Counter(s["node"] for s in data["services"] if s.get("node"))
    if not counts:
        return None, "no service in the registry has a node yet"
    node, count = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return node, f"it runs {count} stack(s) already (the busiest Docker host in the registry)"


def placement_note(data: dict[str, Any], service: str) -> str:
    """Text for the dev prompt; '' when the registry holds nothing useful."""
    if not data["services"] and not data["nodes"]:
        return ""
    node, why = suggest_node(data, service)
    ports, hosts = _taken(data, node)
    own: dict[str, Any] = next((s for s in data["services"] if s["name"] == service), {})
    ports = [p for p in ports if p not in {f"{x['published']}/{x['protocol']}" for x in own.get("ports", [])}]
    hosts = [h for h in hosts if h not in own.get("hosts", [])]
    lines = [f"Node: `{node}` ({why})." if node else f"Node: unknown ({why}); label the service homelab.node=<node>."]
    lines.append("Host ports already published there (do not publish them again): " + (", ".join(ports) or "none") + ".")
    lines.append("Host names already routed by Traefik (choose another): " + (", ".join(hosts) or "none") + ".")
    return "\n".join(lines)
