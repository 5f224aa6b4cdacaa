"""What will deploy: the normalised compose config of every stack, base against head.

Portainer GitOps deploys a stack when its compose file changes on the default branch, so the
reviewer's question is "what will run differently?". Each compose file is reduced to what
decides that — per service the image, ports, labels, volumes and networks (plus privilege and
network mode), and the stack's own volumes and networks — written in one canonical order, and
the two sides are diffed. Variables stay as written (`${SERVICE_HOST}`): their values live in
Portainer, not in the repository.

    deploy_diff(base, head) -> DeployDiff       base/head: {repo path: text or None}
    compose_texts(root) -> {repo path: text}     every compose file under a checkout
    render_markdown(diff) / diff.as_json()
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from playbook.checks import yamldoc
from playbook.checks.stack import COMPOSE_NAMES

MARKER = "<!-- playbook:deploy-diff -->"
SERVICE_KEYS = ("image", "ports", "labels", "volumes", "networks", "network_mode", "privileged", "cap_add",
                "devices")
SKIP_DIRS = frozenset({".git", "node_modules", ".venv"})


@dataclass(frozen=True)
class StackChange:
    path: str            # the compose file, repo-relative
    status: str          # added | removed | changed | unreadable
    services: tuple[str, ...]
    diff: str            # unified diff of the normalised configs


@dataclass(frozen=True)
class DeployDiff:
    changes: tuple[StackChange, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.changes

    def as_json(self) -> dict[str, Any]:
        return {"stacks": [change.__dict__ | {"services": list(change.services)} for change in self.changes]}


def _split_colons(text: str) -> list[str]:
    """Split on ':' outside ${...} (a variable's `:?message` is not a separator)."""
    parts, current, depth = [], "", 0
    for char in text:
        if char == "{" and current.endswith("$"):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == ":" and not depth:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def _port(entry: object) -> str:
    """One published port as `[address:]published->target/protocol` (or `target/protocol`)."""
    if isinstance(entry, dict):
        host, published = str(entry.get("host_ip") or ""), str(entry.get("published") or "")
        target, proto = str(entry.get("target")), str(entry.get("protocol") or "tcp")
    else:
        text, _, proto = str(entry).partition("/")
        parts = _split_colons(text)
        target = parts[-1]
        published = parts[-2] if len(parts) >= 2 else ""
        host = ":".join(parts[:-2])
    proto = proto or "tcp"
    if not published and not host:
        return f"{target}/{proto}"
    return f"{host + ':' if host else ''}{published}->{target}/{proto}"


def _volume(entry: object) -> str:
    if isinstance(entry, dict):
        mode = ":ro" if entry.get("read_only") else ""
        return f"{entry.get('type', 'volume')}:{entry.get('source', '')}:{entry.get('target', '')}{mode}"
    return str(entry).strip()


def _labels(raw: object) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in sorted(raw.items(), key=lambda kv: str(kv[0]))}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return dict(sorted((k.strip(), v.strip()) for k, _, v in pairs))
    return {}


def _names(raw: object) -> list[str]:
    if isinstance(raw, dict):
        return sorted(str(k) for k in raw)
    if isinstance(raw, list):
        return sorted(str(k) for k in raw)
    return []


def normalise(data: object) -> dict[str, Any]:
    """The deploy-relevant part of one parsed compose file, in canonical form."""
    if not isinstance(data, dict):
        return {}
    services: dict[str, Any] = {}
    raw = data.get("services")
    raw_services: dict[Any, Any] = raw if isinstance(raw, dict) else {}
    for name in sorted(raw_services, key=str):
        svc = raw_services[name] if isinstance(raw_services[name], dict) else {}
        entry: dict[str, Any] = {}
        for key in SERVICE_KEYS:
            if key not in svc:
                continue
            value = svc[key]
            if key == "ports":
                entry[key] = sorted(_port(p) for p in value or [])
            elif key == "volumes":
                entry[key] = sorted(_volume(v) for v in value or [])
            elif key == "labels":
                entry[key] = _labels(value)
            elif key in ("networks", "cap_add", "devices"):
                entry[key] = _names(value)
            else:
                entry[key] = value
        services[str(name)] = entry
    out: dict[str, Any] = {"services": services}
    for key in ("volumes", "networks"):
        top = data.get(key)
        if isinstance(top, dict) and top:
            out[key] = {str(k): ("external" if isinstance(v, dict) and v.get("external") else "owned")
                        for k, v in sorted(top.items(), key=lambda kv: str(kv[0]))}
    return out


def _canonical(text: str | None) -> tuple[str, list[str]]:
    if text is None:
        return "", []
    doc = yamldoc.load(text)
    config = normalise(doc.data)
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True), \
        list(config.get("services", {}))


def is_compose_path(path: str) -> bool:
    return PurePosixPath(path).name in COMPOSE_NAMES


def deploy_diff(base: Mapping[str, str | None], head: Mapping[str, str | None]) -> DeployDiff:
    """Diff every compose file present on either side; unchanged configs are left out."""
    changes = []
    for path in sorted(p for p in set(base) | set(head) if is_compose_path(p)):
        before, after = base.get(path), head.get(path)
        try:
            old, old_services = _canonical(before)
            new, new_services = _canonical(after)
        except yamldoc.YamlProblem as exc:
            changes.append(StackChange(path, "unreadable", (), f"not valid YAML: {exc.message}"))
            continue
        if old == new:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        lines = difflib.unified_diff(old.splitlines(), new.splitlines(), f"base/{path}", f"head/{path}",
                                     lineterm="", n=3)
        services = tuple(sorted(set(old_services) | set(new_services)))
        changes.append(StackChange(path, status, services, "\n".join(lines)))
    return DeployDiff(tuple(changes))


def compose_texts(root: Path) -> dict[str, str]:
    """Every compose file under a checkout, by repo-relative path."""
    found: dict[str, str] = {}
    root = Path(root)
    for path in sorted(root.rglob("*")):
        if path.name in COMPOSE_NAMES and path.is_file() and not SKIP_DIRS & set(path.relative_to(root).parts):
            found[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return found


def _fence(text: str) -> str:
    longest = max((len(run) for run in text.split("\n") for run in _backtick_runs(run)), default=0)
    return "`" * max(3, longest + 1)


def _backtick_runs(line: str) -> list[str]:
    runs, current = [], ""
    for char in line:
        if char == "`":
            current += char
        elif current:
            runs.append(current)
            current = ""
    return runs + ([current] if current else [])


def render_markdown(diff: DeployDiff) -> str:
    """The sticky PR comment: one section per stack whose deployed config changes."""
    lines = [MARKER, "### What will deploy", ""]
    if diff.empty:
        lines.append("No compose stack changes what Portainer runs.")
        return "\n".join(lines) + "\n"
    lines.append("Portainer redeploys these stacks when this pull request merges. Normalised compose config "
                 "(images, ports, labels, volumes, networks), base → head:")
    for change in diff.changes:
        services = ", ".join(f"`{s}`" for s in change.services) or "none"
        lines += ["", f"#### `{change.path}` — {change.status} (services: {services})", ""]
        fence = _fence(change.diff)
        lines += [f"{fence}diff", change.diff, fence]
    return "\n".join(lines) + "\n"
