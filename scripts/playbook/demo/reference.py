"""`playbook demo`: a reference flow (Pi-hole, or the *arr suite), end to end, on local repositories.

It builds a scratch playbook repo and two target repos, then walks the code the GitHub workflows
run: plan → revise → approve ×4 (the stories draft checked for readiness) → merge the planning branch
→ ``on_dispatch_merged`` dispatches in dependency order → per story and target ``run_dev`` →
``publish`` (diff policy, `playbook check`, the IaC pull request) → merge → ``bmad-deployed`` marks it
and dispatches what it unblocked → … until every story is done; each merge is checked to revert
cleanly. Offline by default (the offline planner and the deterministic dev agent of ``demo.agents``);
with GEMINI_API_KEY it plans with Gemini, and ``agent="claude"`` runs the Claude Code CLI.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.delivery.offline_dev import KNOWN_STACKS
from playbook.errors import ConfigError, PolicyError
from playbook.planning import artifacts
from playbook.settings import Settings

PIHOLE_REQUEST = (
    "Deploy Pi-hole with Traefik ingress and Let's Encrypt TLS, Authentik SSO, Prometheus metrics and Restic backups"
)
DEMO_FEEDBACK = "Serve the web UI at pihole.home.example and keep DNS on port 53 for LAN clients."
ARR_REQUEST = ("Deploy the *arr suite (Prowlarr, Sonarr, Radarr, qBittorrent) with media storage on an NFS share "
               "from a new LXC")
ARR_FEEDBACK = "Mount the media share at /data in every container so hardlinks work across the suite."
DEMO_OWNER = "demo"


@dataclass(frozen=True)
class Reference:
    name: str
    request: str
    feedback: str
    summary: str


REFERENCES: dict[str, Reference] = {
    "pihole": Reference("pihole", PIHOLE_REQUEST, DEMO_FEEDBACK, "one apps story: the Pi-hole stack"),
    "arr": Reference("arr", ARR_REQUEST, ARR_FEEDBACK,
                     "an infra story (the media LXC and NFS share) and four apps stories that depend on it"),
}

# What the offline dev agent scaffolds for a known service (shared with `playbook dev --target-dir`).
DEMO_STACKS = KNOWN_STACKS


@dataclass
class DemoReport:
    workdir: Path
    steps: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    stories: list[dict[str, Any]] = field(default_factory=list)
    playbook_log: str = ""
    target_logs: dict[str, str] = field(default_factory=dict)
    offline: bool = True
    delivered: list[dict[str, Any]] = field(default_factory=list)


Echo = Callable[[str], None]


def _copy_playbook(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in ("skills", "patterns"):
        shutil.copytree(source / name, dest / name)
    config = (source / "playbook.yaml").read_text(encoding="utf-8")
    config = config.replace("your-user/homelab-infra", "demo/homelab-infra").replace("your-user/homelab-apps", "demo/homelab-apps")
    (dest / "playbook.yaml").write_text(config, encoding="utf-8")
    (dest / "README.md").write_text("# homelab-playbook (demo)\n\nScratch repository made by `playbook demo`.\n",
                                    encoding="utf-8")
    gitlib.init_repo(dest)
    gitlib.git(dest, "add", "-A")
    gitlib.git(dest, "commit", "-q", "-m", "Start the demo playbook")


def _init_target(dest: Path, kind: str) -> None:
    gitlib.init_repo(dest)
    (dest / "README.md").write_text(f"# homelab-{kind} (demo)\n", encoding="utf-8")
    dirs = ("stacks",) if kind == "apps" else ("terraform", "ansible", "packer")
    for d in dirs:
        (dest / d).mkdir()
        (dest / d / ".gitkeep").write_text("", encoding="utf-8")
    gitlib.git(dest, "add", "-A")
    gitlib.git(dest, "commit", "-q", "-m", f"Start homelab-{kind}")


def run_demo(settings: Settings, *, workdir: Path | None = None, agent: str = "offline", reference: str = "pihole",
             echo: Echo = print) -> DemoReport:
    from playbook.checks import check_path
    from playbook.config import load_config
    from playbook.demo.agents import offline_runner
    from playbook.demo.delivery import PLAYBOOK_REPO, deliver, demo_settings
    from playbook.intake import story_graph
    from playbook.planning.local import approve, build_planner, plan, revise, status

    if reference not in REFERENCES:
        raise ConfigError(f"unknown reference {reference!r}", fix=f"use one of {', '.join(REFERENCES)}")
    ref = REFERENCES[reference]
    workdir = Path(workdir or tempfile.mkdtemp(prefix="playbook-demo-")).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        raise ConfigError(f"{workdir} is not empty", fix="pass an empty or new directory to --workdir")
    source = settings.root
    if not (source / "skills").is_dir() or not (source / "playbook.yaml").is_file():
        raise ConfigError(f"{source} is not a homelab-playbook checkout (no skills/ or playbook.yaml)",
                          fix="run the demo from the repository root, or set PLAYBOOK_DIR")
    if agent == "claude":  # fail before building anything when the CLI cannot run
        from playbook.adapters.claude_cli import find_claude, require_credentials

        find_claude(settings)
        require_credentials(settings)
    report = DemoReport(workdir)

    def step(message: str) -> None:
        report.steps.append(message)
        echo(f"==> {message}")

    playbook_dir = workdir / "homelab-playbook"
    targets = {"apps": workdir / "homelab-apps", "infra": workdir / "homelab-infra"}
    _copy_playbook(source, playbook_dir)
    for kind, path in targets.items():
        _init_target(path, kind)
    step(f"created scratch repos in {workdir} (reference: {ref.name} — {ref.summary})")

    demo_settings_ = Settings.from_env({**settings.extra, "GEMINI_API_KEY": settings.gemini_api_key},
                                       root=playbook_dir)
    planner = build_planner(demo_settings_, root=playbook_dir, progress=lambda m: echo(f"    … {m}"))
    report.offline = planner.router.offline
    step("planning with " + ("the OFFLINE planner (no model is called; artifacts say model: offline)"
                             if report.offline else "Gemini"))

    planned = plan(playbook_dir, ref.request, planner)
    step(f"plan: Product Brief r{planned.revision} on branch {gitlib.current_branch(playbook_dir)}")
    revised = revise(playbook_dir, planner, ref.feedback)
    step(f"revise: Product Brief r{revised.revision} (r1 stays in git history)")
    for _ in range(4):
        done = approve(playbook_dir, planner, approver=DEMO_OWNER).steps
        msg = f"approve: {done[0].phase.value} r{done[0].revision}"
        if len(done) > 1:
            msg += f" → drafted {done[1].phase.value} r{done[1].revision}"
            if done[1].phase.value == "stories":
                from playbook.planning import readiness

                ws = gitlib.GitWorkspace(playbook_dir)
                checked = readiness.load(ws, status(playbook_dir))
                msg += f" (readiness check: {checked.verdict if checked else 'not run'})"
        step(msg)
    state = status(playbook_dir)
    graph = story_graph.render(state.stories)
    if graph:
        step("stories and their dependencies (Mermaid, as in the tracking comment):\n" + graph)
    planning_branch = gitlib.current_branch(playbook_dir)
    gitlib.git(playbook_dir, "switch", "-q", "main")

    config = load_config(playbook_dir)
    delivery_settings = demo_settings(playbook_dir, settings)
    repos = {kind: (config.target(kind).repo, path) for kind, path in targets.items()}

    def runner_for(story: artifacts.Story, kind: str) -> Any:
        return offline_runner(story, kind) if agent == "offline" else None  # None: the Claude Code CLI

    delivered = deliver(playbook_dir=playbook_dir, targets=repos, settings=delivery_settings, config=config,
                        planning_branch=planning_branch, runner_for=runner_for, step=step,
                        log=lambda m: echo(f"    … {m}"), scratch_root=workdir / "dev")
    final = gitlib.GitWorkspace(playbook_dir, "main")
    stories = [artifacts.story_from_text(final.read(s.path) or "", path=s.path) for s in state.stories]
    not_done = [s.id for s in stories if s.status != "done"]
    if not_done:
        raise PolicyError(f"stories {', '.join(not_done)} are not done after delivery",
                          fix="this is a bug in the demo; see the steps above")
    for kind, path in targets.items():
        for stack in sorted(p for p in (path / "stacks").glob("*") if p.is_dir()) if kind == "apps" else []:
            errors = [f for f in check_path(stack, "apps") if f.severity == "error"]
            if errors:
                raise PolicyError(f"playbook check failed on {stack}",
                                  violations=[f"{f.rule}: {f.file}:{f.line} {f.message}" for f in errors])
            step(f"check: playbook check {stack.relative_to(workdir)} — passed")
    from playbook.topology import registry

    if (playbook_dir / registry.REGISTRY_PATH).is_file():
        data = registry.load(playbook_dir / registry.REGISTRY_PATH)
        services = [f"{s['name']} ({', '.join(s.get('hosts', []))}; ports "
                    f"{', '.join(str(p['published']) + '/' + p['protocol'] for p in s.get('ports', []))})"
                    for s in data["services"]]
        step(f"topology: {registry.REGISTRY_PATH} lists " + "; ".join(services)
             + " (refreshed by each bmad-deployed, in the commit that marks the story done)")
    step(f"delivered {len(delivered)} pull request(s) in dependency order: "
         + ", ".join(f"{d.story} ({d.kind})" for d in delivered) + f"; {PLAYBOOK_REPO} has every story done")
    report.artifacts = [p for p in final.list("_bmad-output") if p.endswith((".md", ".yaml"))]
    report.stories = [{"id": s.id, "title": s.title, "target": s.target, "status": s.status, "path": s.path}
                      for s in stories]
    report.delivered = [d.__dict__ for d in delivered]
    report.playbook_log = gitlib.git(playbook_dir, "log", "--oneline", "--graph", "--all")
    report.target_logs = {k: gitlib.git(p, "log", "--oneline", "--graph", "--all") for k, p in targets.items()}
    return report
