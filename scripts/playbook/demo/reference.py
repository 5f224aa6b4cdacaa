"""`playbook demo`: the Pi-hole reference flow, end to end, on local repositories.

It builds a scratch playbook repo and two target repos, then walks the same library
functions the GitHub workflows use: plan → revise → approve ×4 → merge the planning
branch → route and build dispatch payloads → a dev agent writes the stack on a story
branch → `playbook check` → merge → story marked done → `git revert` restores the tree.
Offline by default (the offline planner and the deterministic scaffolder); with
GEMINI_API_KEY it plans with Gemini, and ``agent="claude"`` uses the Claude Code CLI.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.delivery.offline_dev import KNOWN_STACKS
from playbook.errors import ConfigError, PolicyError
from playbook.planning import artifacts, pipeline
from playbook.settings import Settings

PIHOLE_REQUEST = (
    "Deploy Pi-hole with Traefik ingress and Let's Encrypt TLS, Authentik SSO, Prometheus metrics and Restic backups"
)
DEMO_FEEDBACK = "Serve the web UI at pihole.home.example and keep DNS on port 53 for LAN clients."
DEMO_OWNER = "demo"

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


def offline_agent(story: artifacts.Story, kind: str, repo: Path, playbook_dir: Path) -> str:
    """The deterministic dev agent: scaffold the story's stack from the known-services table."""
    from playbook.delivery.scaffold import scaffold_stack

    if kind != "apps":
        raise PolicyError(f"the offline dev agent writes compose stacks only; story {story.id} targets {kind}",
                          fix="run the demo with --agent claude for infra stories")
    spec = DEMO_STACKS.get(story.service)
    if spec is None:
        raise PolicyError(f"the offline dev agent has no template for {story.service!r}",
                          fix=f"use one of {', '.join(DEMO_STACKS)} or --agent claude")
    scaffold_stack(repo, story.service, **spec)
    return f"scaffolded stacks/{story.service}/ (offline agent)"


def claude_agent(settings: Settings) -> Callable[[artifacts.Story, str, Path, Path], str]:
    def run(story: artifacts.Story, kind: str, repo: Path, playbook_dir: Path) -> str:
        from playbook.config import load_config
        from playbook.delivery.devrun import run_dev

        out = Path(tempfile.mkdtemp(prefix="playbook-dev-"))
        result = run_dev(story_path=playbook_dir / story.path, playbook_dir=playbook_dir, repo_dir=repo, kind=kind,
                         settings=settings, config=load_config(playbook_dir), out_dir=out)
        if result.violations:
            raise PolicyError("the diff policy reverted changes from the Claude run", violations=list(result.violations))
        if result.incomplete_reason:
            raise PolicyError(f"the Claude run stopped early: {result.incomplete_reason}",
                              fix=f"see {out} (result.json, prompt.md); raise dev.max_turns in playbook.yaml")
        return (f"Claude Code CLI: {result.claude.num_turns} turns, result {result.claude.subtype}, "
                f"est. ${result.claude.total_cost_usd:.4f}")

    return run


def _refreshed_registry(ws: gitlib.GitWorkspace, repo: Path, repo_name: str,
                        merged: str) -> tuple[dict[str, str | None], str]:
    """The registry refreshed from the merge commit's files, as the bmad-deployed handler does it."""
    from playbook.topology import refresh, registry

    changed = gitlib.git(repo, "diff", "--name-only", f"{merged}^1", merged).split()
    tree = gitlib.git(repo, "ls-tree", "-r", "--name-only", merged).split()
    previous_text = ws.read(registry.REGISTRY_PATH)
    previous = registry.parse(previous_text) if previous_text else None
    data, _ = refresh.refresh(previous, repo=repo_name, changed=changed, tree=tree,
                              read=lambda path: gitlib.git(repo, "show", f"{merged}:{path}"))
    services = [f"{s['name']} ({', '.join(s.get('hosts', []))}; ports "
                f"{', '.join(str(p['published']) + '/' + p['protocol'] for p in s.get('ports', []))})"
                for s in data["services"]]
    return {registry.REGISTRY_PATH: registry.dump(data)}, f"{registry.REGISTRY_PATH} lists " + "; ".join(services)


def run_demo(settings: Settings, *, workdir: Path | None = None, agent: str = "offline",
             echo: Echo = print) -> DemoReport:
    from playbook.checks import check_path
    from playbook.config import load_config
    from playbook.delivery.dispatch import plan_dispatches, story_branch
    from playbook.planning.local import approve, build_planner, plan, revise, status

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
    step(f"created scratch repos in {workdir}")

    demo_settings = Settings.from_env({**settings.extra, "GEMINI_API_KEY": settings.gemini_api_key},
                                      root=playbook_dir)
    planner = build_planner(demo_settings, root=playbook_dir, progress=lambda m: echo(f"    … {m}"))
    report.offline = planner.router.offline
    step("planning with " + ("the OFFLINE planner (no model is called; artifacts say model: offline)"
                             if report.offline else "Gemini"))

    planned = plan(playbook_dir, PIHOLE_REQUEST, planner)
    step(f"plan: Product Brief r{planned.revision} on branch {gitlib.current_branch(playbook_dir)}")
    revised = revise(playbook_dir, planner, DEMO_FEEDBACK)
    step(f"revise: Product Brief r{revised.revision} (r1 stays in git history)")
    for _ in range(4):
        done = approve(playbook_dir, planner, approver=DEMO_OWNER).steps
        msg = f"approve: {done[0].phase.value} r{done[0].revision}"
        if len(done) > 1:
            msg += f" → drafted {done[1].phase.value} r{done[1].revision}"
        step(msg)
    state = status(playbook_dir)
    planning_branch = gitlib.current_branch(playbook_dir)
    gitlib.git(playbook_dir, "switch", "-q", "main")
    gitlib.git(playbook_dir, "merge", "-q", "--no-ff", planning_branch, "-m", f"Merge planning PR ({planning_branch})")
    merge_sha = gitlib.head(playbook_dir) or ""
    step(f"merged the planning branch into main at {merge_sha[:10]} (the story PR)")

    config = load_config(playbook_dir)
    ws = gitlib.GitWorkspace(playbook_dir, "main")
    ready = [artifacts.story_from_text(ws.read(s.path) or "", path=s.path) for s in state.stories]
    dispatches = plan_dispatches([s for s in ready if s.status == "ready-for-dev"], config,
                                 playbook_repo="demo/homelab-playbook", merge_sha=merge_sha)
    outbox = workdir / "dispatches"
    outbox.mkdir()
    for d in dispatches:
        (outbox / f"{d.payload['key'][:12]}.json").write_text(json.dumps({"event_type": "bmad-story",
                                                                          "client_payload": d.payload}, indent=2))
        step(f"dispatch: story {d.story.id} → {d.repo} ({d.kind}, order {d.payload['order']})")
    pipeline.update_stories(ws, {d.story.path: {"status": "in-progress"} for d in dispatches},
                            "bmad: dispatch stories")

    dev_agent = offline_agent if agent == "offline" else claude_agent(settings)
    for d in dispatches:
        repo = targets[d.kind]
        branch = story_branch(d.story.path, d.story.id)
        before = gitlib.git(repo, "rev-parse", "HEAD^{tree}").strip()
        gitlib.git(repo, "switch", "-q", "-c", branch)
        step(f"dev: {dev_agent(d.story, d.kind, repo, playbook_dir)} on {repo.name}:{branch}")
        changed = [line[3:] for line in gitlib.git(repo, "status", "--porcelain", "-uall").splitlines()]
        stack_dirs = sorted({"/".join(p.split("/")[:2]) for p in changed if p.startswith("stacks/")})
        for stack in stack_dirs:
            findings = check_path(repo / stack, "apps")
            errors = [f for f in findings if f.severity == "error"]
            if errors:
                raise PolicyError(f"playbook check failed on {stack}",
                                  violations=[f"{f.rule}: {f.file}:{f.line} {f.message}" for f in errors])
            step(f"check: playbook check {stack} — passed ({len(findings)} findings, 0 errors)")
        gitlib.git(repo, "add", "-A")
        gitlib.git(repo, "commit", "-q", "-m", f"bmad: story {d.story.id} {d.story.title}")
        gitlib.git(repo, "switch", "-q", "main")
        gitlib.git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge IaC PR for story {d.story.id} ({branch})")
        merged = gitlib.head(repo) or ""
        step(f"merged the IaC branch into {repo.name} main at {merged[:10]} (GitOps would deploy now)")
        prs = [{"target": d.kind, "repo": d.repo, "number": 1, "url": f"file://{repo}", "merged": True}]
        registry_files, summary = _refreshed_registry(ws, repo, d.repo, merged)
        pipeline.update_stories(ws, {d.story.path: {"status": "done", "pull_requests": prs}},
                                f"bmad: story {d.story.id} deployed via {d.repo}", extra_files=registry_files)
        step(f"story {d.story.id} marked done in the playbook (story file and sprint-status.yaml)")
        step(f"topology: {summary} (same commit)")
        gitlib.git(repo, "switch", "-q", "-c", "revert-check")
        gitlib.git(repo, "revert", "--no-edit", "-m", "1", merged)
        after = gitlib.git(repo, "rev-parse", "HEAD^{tree}").strip()
        if after != before:
            raise PolicyError(f"git revert of {merged[:10]} did not restore the previous tree in {repo.name}")
        gitlib.git(repo, "switch", "-q", "main")
        step(f"rollback: `git revert -m 1 {merged[:10]}` restores the previous tree (checked on branch revert-check)")

    final = gitlib.GitWorkspace(playbook_dir, "main")
    report.artifacts = [p for p in final.list("_bmad-output") if p.endswith((".md", ".yaml"))]
    report.stories = [{"id": s.id, "title": s.title, "target": s.target,
                       "status": artifacts.story_from_text(final.read(s.path) or "", path=s.path).status, "path": s.path}
                      for s in state.stories]
    report.playbook_log = gitlib.git(playbook_dir, "log", "--oneline", "--graph", "--all")
    report.target_logs = {k: gitlib.git(p, "log", "--oneline", "--graph", "--all") for k, p in targets.items()}
    return report
