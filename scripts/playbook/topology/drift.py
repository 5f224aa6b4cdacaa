"""Drift: the registry against the target repos' default branches and, when configured, Portainer.

    snapshot_forge / snapshot_dir   the files that matter (compose, .env.sample, *.tf) of one repo
    detect(...)    -> DriftReport   every difference, per service or node, with a suggested next step
    render(...)    -> str           the drift issue body (a table per service, the Mermaid view)
    sync_issue(...)                 one drift issue: opened, updated in place, closed when the drift is gone
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from playbook.checks.stack import COMPOSE_NAMES
from playbook.errors import PlaybookError
from playbook.ports import Forge, Portainer
from playbook.topology import compose, terraform, view

DRIFT_LABEL = "bmad:drift"
MARKER = "<!-- bmad-drift -->"
TITLE = "Topology drift: the registry and the repos disagree"
WANTED_NAMES = (*COMPOSE_NAMES, ".env.sample")


@dataclass(frozen=True)
class Snapshot:
    repo: str
    kind: str  # "apps" | "infra"
    head: str
    files: dict[str, str]


@dataclass(frozen=True)
class Drift:
    subject: str  # service or node name
    change: str  # added | removed | changed | portainer
    what: str
    registry: str
    actual: str
    next_step: str


@dataclass
class DriftReport:
    items: list[Drift] = field(default_factory=list)
    portainer: str = "not configured: repos only (set PORTAINER_URL and PORTAINER_API_TOKEN to compare live stacks)"
    repos: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.items)


def _wanted(path: str, kind: str) -> bool:
    parts = PurePosixPath(path).parts
    if kind == "apps":
        return len(parts) == 3 and parts[0] == "stacks" and parts[2] in WANTED_NAMES
    return path.endswith(".tf") and ".terraform" not in parts


def snapshot_forge(forge: Forge, kind: str) -> Snapshot:
    """One tree read plus one blob per wanted file, at the default branch's head."""
    branch = forge.default_branch()
    head = forge.branch_head(branch) or ""
    tree = forge.read_tree(head) if head else {}
    files = {p: forge.read_blob(sha) for p, sha in sorted(tree.items()) if _wanted(p, kind)}
    return Snapshot(forge.repo, kind, head, files)


def snapshot_dir(root: Path, repo: str, kind: str, head: str = "") -> Snapshot:
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and ".git" not in path.parts and _wanted(rel, kind):
            files[rel] = path.read_text(encoding="utf-8", errors="replace")
    return Snapshot(repo, kind, head, files)


def _actual(snapshot: Snapshot) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="playbook-drift-") as tmp:
        root = Path(tmp)
        for rel, text in snapshot.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        if snapshot.kind == "apps":
            (root / "stacks").mkdir(exist_ok=True)
            return compose.import_apps(root, repo=snapshot.repo).services
        return [n for n in terraform.import_infra(root, repo=snapshot.repo).nodes if n["kind"] != "proxmox-node"]


def _fmt_ports(entry: dict[str, Any]) -> str:
    return ", ".join(f"{p['published']}:{p['target']}/{p['protocol']}" for p in entry.get("ports", [])) or "none"


# field -> (what, how to show it, next step) for services and nodes
SERVICE_FIELDS: dict[str, tuple[str, Any]] = {
    "images": ("image", lambda e: ", ".join(e.get("images", [])) or "none"),
    "ports": ("published ports", _fmt_ports),
    "hosts": ("host names", lambda e: ", ".join(e.get("hosts", [])) or "none"),
}
NODE_FIELDS: dict[str, tuple[str, Any]] = {
    "vmid": ("VMID", lambda e: str(e.get("vmid", "?"))),
    "addresses": ("addresses", lambda e: ", ".join(e.get("addresses", [])) or "none"),
    "host": ("Proxmox node", lambda e: e.get("host", "?")),
}
REIMPORT = "run `playbook topology import` (or the deployed handler will on the next merge) to accept it"


def _compare(section: str, registered: list[dict[str, Any]], actual: list[dict[str, Any]],
             repo: str) -> list[Drift]:
    fields = SERVICE_FIELDS if section == "services" else NODE_FIELDS
    noun = "stack" if section == "services" else "VM/LXC"
    ours = {e["name"]: e for e in registered if e.get("source", {}).get("repo") == repo}
    theirs = {e["name"]: e for e in actual}
    items: list[Drift] = []
    for name in sorted(set(ours) | set(theirs)):
        where = (theirs.get(name) or ours[name]).get("source", {}).get("path", "")
        if name not in theirs:
            items.append(Drift(name, "removed", f"{noun} {where}", "present", f"gone from {repo}",
                               f"restore it with `git revert`, or {REIMPORT} and retire it in Portainer"))
        elif name not in ours:
            items.append(Drift(name, "added", f"{noun} {where}", "absent", f"in {repo}",
                               f"review who added it; {REIMPORT}"))
        else:
            for key, (what, show) in fields.items():
                if ours[name].get(key) != theirs[name].get(key) and (key in ours[name] or key in theirs[name]):
                    items.append(Drift(name, "changed", what, show(ours[name]), show(theirs[name]),
                                       f"if the change was intended (e.g. Renovate), {REIMPORT}; otherwise revert it"))
    return items


def _portainer(services: list[dict[str, Any]], stacks: list[Any], head: str) -> list[Drift]:
    live = {s.name: s for s in stacks}
    items = []
    for service in sorted(services, key=lambda s: s["name"]):
        stack = live.get(service["name"])
        if stack is None:
            items.append(Drift(service["name"], "portainer", "live stack", "registered", "no Portainer stack",
                               "create the Portainer stack from the repo (GitOps), or remove the service"))
            continue
        if stack.status != 1:
            items.append(Drift(service["name"], "portainer", "status", "active", "inactive (stopped)",
                               "start the stack in Portainer, or say in the registry notes why it is stopped"))
        if stack.git_hash and head and stack.git_hash != head:
            items.append(Drift(service["name"], "portainer", "deployed commit", head[:12], stack.git_hash[:12],
                               "redeploy the stack (Pull and redeploy), or check its GitOps polling/webhook"))
    return items


def detect(registry_data: dict[str, Any], snapshots: list[Snapshot], *, portainer: Portainer | None = None,
           unreadable: dict[str, str] | None = None) -> DriftReport:
    """``unreadable`` maps a repo that could not be read to why: shown as drift, so the issue stays open."""
    report = DriftReport(repos=[f"{s.repo}@{s.head[:12] or '?'}" for s in snapshots])
    for repo, why in sorted((unreadable or {}).items()):
        report.items.append(Drift(repo, "unreadable", "repository", "compared daily", why,
                                  "give BMAD_DISPATCH_TOKEN read access (Contents: read) to this repository"))
    for snap in snapshots:
        section = "services" if snap.kind == "apps" else "nodes"
        report.items += _compare(section, registry_data[section], _actual(snap), snap.repo)
    if portainer is not None:
        apps = next((s for s in snapshots if s.kind == "apps"), None)
        services = [s for s in registry_data["services"] if apps is None or s.get("source", {}).get("repo") == apps.repo]
        try:
            report.items += _portainer(services, portainer.list_stacks(), apps.head if apps else "")
            report.portainer = f"compared with {portainer.url}"
        except PlaybookError as exc:
            report.portainer = f"not compared: {exc.message.splitlines()[0]}"
    return report


def _cell(text: str) -> str:
    from playbook.sanitize import neutralize_for_github

    return neutralize_for_github(text).replace("|", "\\|").replace("\n", " ")


def render(report: DriftReport, registry_data: dict[str, Any], *, run_url: str = "") -> str:
    lines = [MARKER, "", f"**Repos:** {', '.join(report.repos) or 'none'}  ", f"**Portainer:** {report.portainer}", ""]
    if not report.drifted:
        lines.append("No drift: the registry matches the repos" + (" and Portainer." if "compared with" in
                                                                   report.portainer else "."))
    by_subject: dict[str, list[Drift]] = {}
    for item in report.items:
        by_subject.setdefault(item.subject, []).append(item)
    for subject, items in sorted(by_subject.items()):
        lines += [f"### {_cell(subject)}", "", "| Change | What | Registry | Now | Suggested next step |",
                  "|---|---|---|---|---|"]
        lines += [f"| {i.change} | {_cell(i.what)} | {_cell(i.registry)} | {_cell(i.actual)} | {_cell(i.next_step)} |"
                  for i in items]
        lines.append("")
    lines += ["<details><summary>Registry view (Mermaid)</summary>", "", "```mermaid",
              view.mermaid(registry_data).rstrip(), "```", "", "</details>"]
    if run_url:
        lines += ["", f"{RUN_LINE}({run_url}); this issue is updated in place and closed when the drift is gone."]
    return "\n".join(lines) + "\n"


RUN_LINE = "Checked by [this run]"


def _findings(body: str) -> str:
    """The body without the line naming the run: a new run that finds the same drift edits nothing."""
    return "\n".join(line for line in body.splitlines() if not line.startswith(RUN_LINE)).strip()


def sync_issue(forge: Forge, report: DriftReport, body: str, *, bot_login: str) -> str:
    """Open, update or close the one drift issue; returns what happened.

    Only an issue the bot itself wrote counts (label, marker and author), so nobody can make the run
    edit their issue; drift that comes back reopens the last drift issue instead of opening another."""

    def ours(state: str) -> list[Any]:
        return [i for i in forge.list_issues(DRIFT_LABEL, state) if i.body.startswith(MARKER) and i.author == bot_login]

    open_issues = ours("open")
    current = open_issues[0] if open_issues else None
    if not report.drifted:
        if current is None:
            return "no drift; no issue open"
        forge.update_issue(current.number, body=body, state="closed")
        return f"no drift; closed #{current.number}"
    if current is None:
        closed = ours("closed")
        if closed:
            forge.update_issue(closed[-1].number, body=body, state="open")
            return f"drift; reopened #{closed[-1].number}"
        from playbook.ports import LabelSpec

        forge.ensure_labels([LabelSpec(DRIFT_LABEL, "b60205", "BMAD: the topology registry and the repos disagree")])
        created = forge.create_issue(TITLE, body, [DRIFT_LABEL])
        return f"drift; opened #{created.number}"
    if _findings(current.body) != _findings(body):
        forge.update_issue(current.number, body=body)
        return f"drift; updated #{current.number}"
    return f"drift; #{current.number} already says this"


@dataclass
class DriftRun:
    report: DriftReport
    body: str
    issue: str = "not synced (pass --issue in GitHub Actions)"


def run_drift(registry_data: dict[str, Any], snapshots: list[Snapshot], *, portainer: Portainer | None,
              issue_forge: Forge | None, bot_login: str = "", run_url: str = "",
              unreadable: dict[str, str] | None = None) -> DriftRun:
    from playbook.sanitize import cap

    report = detect(registry_data, snapshots, portainer=portainer, unreadable=unreadable)
    body = cap(render(report, registry_data, run_url=run_url), 60000)
    run = DriftRun(report, body)
    if issue_forge is not None:
        run.issue = sync_issue(issue_forge, report, body, bot_login=bot_login)
    return run
