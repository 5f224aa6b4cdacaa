"""Services from compose stacks (``stacks/<service>/docker-compose.yml``), read with the checker's parser.

Variables are interpolated the way compose does it, from the stack's ``.env.sample``:
``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``. A value that stays
unresolved is kept as written, so a collision check still compares like with like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.checks.stack import COMPOSE_NAMES, Stack, load_stack

NODE_LABEL = "homelab.node"
ROUTER_RULE = re.compile(r"^traefik\.http\.routers\.(?P<router>[^.]+)\.rule$")
HOST_CALL = re.compile(r"Host\((?P<args>[^)]*)\)")
BACKTICKED = re.compile(r"`([^`]+)`")
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
_PORT = re.compile(
    r"^(?:(?P<ip>\[[^\]]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<published>\d+(?:-\d+)?):)?(?P<target>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp))?$")


@dataclass
class AppsImport:
    services: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def interpolate(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        if op in (":-", ":?"):
            return value if value else (arg if op == ":-" else match.group(0))
        if op in ("-", "?"):
            return value if value is not None else (arg if op == "-" else match.group(0))
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return arg if value is not None else ""
        return value if value is not None else match.group(0)

    return _INTERPOLATION.sub(replace, text)


def _range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def parse_ports(raw: Any, env: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Published ports of one compose service (short and long syntax); unpublished ones are skipped."""
    ports: list[dict[str, Any]] = []
    problems: list[str] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            published, target = item.get("published"), item.get("target")
            if published is None:
                continue
            spec = f"{published}:{target}/{item.get('protocol') or 'tcp'}"
            host_ip = str(item.get("host_ip") or "")
        else:
            spec, host_ip = interpolate(str(item), env), ""
        match = _PORT.match(interpolate(spec, env).strip())
        if match is None:
            problems.append(f"port {item!r} is not a compose port mapping")
            continue
        if match["published"] is None:
            continue  # only a container port: Docker picks an ephemeral host port
        host_ip = host_ip or (match["ip"] or "").strip("[]")
        published, targets = _range(match["published"]), _range(match["target"])
        if len(targets) == 1:
            targets = targets * len(published)
        for pub, tgt in zip(published, targets, strict=False):
            entry: dict[str, Any] = {"published": pub, "target": tgt, "protocol": match["proto"] or "tcp"}
            if host_ip and host_ip not in ("0.0.0.0", "::"):
                entry["host_ip"] = host_ip
            ports.append(entry)
    return ports, problems


def _hosts(labels: dict[str, str], env: dict[str, str]) -> list[str]:
    found: list[str] = []
    for key, value in labels.items():
        if ROUTER_RULE.match(key):
            for call in HOST_CALL.finditer(interpolate(value, env)):
                found.extend(BACKTICKED.findall(call["args"]))
    return found


def _volume_sources(raw: Any) -> list[str]:
    sources = []
    for item in raw if isinstance(raw, list) else []:
        source = item.get("source") if isinstance(item, dict) else str(item).split(":", 1)[0] if ":" in str(item) else None
        if source:
            sources.append(str(source))
    return sources


def service_from_stack(stack: Stack, *, repo: str, rel_dir: str, default_node: str | None) -> tuple[dict[str, Any], list[str]]:
    env = dict(stack.env_sample.values) if stack.env_sample else {}
    services = stack.services()
    images: list[str] = []
    containers: list[str] = []
    hosts: list[str] = []
    volumes: list[str] = []
    networks: list[str] = []
    backups: list[str] = []
    ports: list[dict[str, Any]] = []
    warnings: list[str] = []
    auth = "none"
    metrics: dict[str, Any] = {"enabled": False}
    node = None
    for name, svc in sorted(services.items()):
        labels = {k: interpolate(v, env) for k, v in stack.labels(name).items()}
        if isinstance(svc.get("image"), str):
            images.append(interpolate(svc["image"], env))
        if isinstance(svc.get("container_name"), str):
            containers.append(interpolate(svc["container_name"], env))
        found, problems = parse_ports(svc.get("ports"), env)
        ports.extend(found)
        warnings.extend(f"{rel_dir}: service {name!r}: {p}" for p in problems)
        hosts.extend(_hosts(labels, env))
        volumes.extend(_volume_sources(svc.get("volumes")))
        nets = svc.get("networks")
        networks.extend(str(n) for n in (nets if isinstance(nets, list) else list(nets) if isinstance(nets, dict) else []))
        middlewares = ",".join(v for k, v in labels.items() if k.endswith(".middlewares"))
        if "authentik" in middlewares:
            auth = "authentik"
        elif middlewares and auth == "none":
            auth = "other"
        if labels.get("prometheus.io/scrape", "").lower() == "true":
            metrics = {"enabled": True}
            if labels.get("prometheus.io/port", "").isdigit():
                metrics["port"] = int(labels["prometheus.io/port"])
            if labels.get("prometheus.io/path"):
                metrics["path"] = labels["prometheus.io/path"]
        if labels.get("backup.restic.volumes"):
            backups.extend(v.strip() for v in labels["backup.restic.volumes"].split(",") if v.strip())
        node = node or labels.get(NODE_LABEL) or None
    entry: dict[str, Any] = {
        "name": stack.slug, "repo": repo, "path": rel_dir,
        "images": sorted(set(images)), "containers": sorted(set(containers)), "hosts": sorted(set(hosts)),
        "ports": sorted({(p["published"], p["protocol"], p["target"], p.get("host_ip", "")): p for p in ports}.values(),
                        key=lambda p: (p["published"], p["protocol"], p["target"])),
        "volumes": sorted(set(volumes)),
        "backup": {"enabled": bool(backups), **({"volumes": sorted(set(backups))} if backups else {})},
        "auth": auth, "metrics": metrics, "networks": sorted(set(networks)),
        "source": {"repo": repo, "path": f"{rel_dir}/{stack.compose_file.name}"},
    }
    if node or default_node:
        entry["node"] = node or default_node
    return entry, warnings


def stack_files(root: Path) -> list[Path]:
    """Compose files of ``root`` as a target repo (``stacks/*/``), a stacks dir, or one stack."""
    def compose_in(directory: Path) -> Path | None:
        return next((directory / n for n in COMPOSE_NAMES if (directory / n).is_file()), None)

    for base in (root / "stacks", root):
        if not base.is_dir():
            continue
        found = [f for d in sorted(base.iterdir()) if d.is_dir() and not d.name.startswith(".")
                 and (f := compose_in(d)) is not None]
        if found:
            return found
    single = compose_in(root)
    return [single] if single else []


def import_apps(root: Path, *, repo: str, default_node: str | None = None) -> AppsImport:
    result = AppsImport()
    networks: dict[str, dict[str, Any]] = {}
    for compose_file in stack_files(root):
        stack, problems = load_stack(compose_file)
        rel_dir = compose_file.parent.resolve().relative_to(root.resolve()).as_posix() or "."
        if problems:
            result.warnings.extend(f"{rel_dir}: {p.message}" for p in problems)
            continue
        service, warnings = service_from_stack(stack, repo=repo, rel_dir=rel_dir, default_node=default_node)
        result.services.append(service)
        result.warnings.extend(warnings)
        declared = stack.data.get("networks")
        for name, spec in sorted(declared.items()) if isinstance(declared, dict) else []:
            if name not in networks:
                external = isinstance(spec, dict) and bool(spec.get("external"))
                networks[name] = {"name": str(name), "external": external,
                                  "source": {"repo": repo, "path": service["source"]["path"]}}
    result.networks = list(networks.values())
    return result
