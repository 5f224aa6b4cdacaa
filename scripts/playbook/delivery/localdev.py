"""The dev step on a laptop: an approved story into a local target checkout, as Actions would do it.

``run_local_dev`` finds the story by id in the playbook checkout, creates the story branch in
the target checkout, and runs ``devrun.run_dev`` there — the same prompt, confinement (the CLI's
allowed tools, the diff policy that reverts anything outside the target's paths) and
``result.json`` — with the Claude Code CLI when it can run, else the offline scaffolder (said
in the outcome). Then, like ``publish``: the diff policy is checked again, ``playbook check``
runs on what changed, and the change is committed on the branch with the IaC PR text as the
report (``report.md`` beside ``result.json``). A failure before the commit leaves the target
checkout as it was.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.config import Config
from playbook.errors import ConfigError, PlaybookError, StateError
from playbook.planning import artifacts
from playbook.settings import Settings

AGENTS = ("auto", "claude", "offline")
REPORT_FILE = "report.md"
APPROVED_STATUSES = ("ready-for-dev", "in-progress", "review")


@dataclass(frozen=True)
class LocalDev:
    story_id: str
    kind: str
    agent: str  # "claude" or "offline"
    agent_note: str  # why this agent (e.g. why not the Claude CLI)
    branch: str
    commit: str | None
    files: tuple[str, ...]
    violations: tuple[str, ...]
    incomplete: str
    check_errors: int
    findings: int
    out_dir: Path
    report: str


def find_story(playbook_dir: Path, story_id: str, request: str | None = None) -> tuple[Path, artifacts.Story]:
    """The one story file with ``story_id`` (in ``request`` when given) in the checkout's working tree."""
    if not artifacts.STORY_ID_RE.fullmatch(story_id):
        raise ConfigError(f"{story_id!r} is not a story id", fix="name it as <epic>.<n>, e.g. --story 1.1")
    base = playbook_dir / artifacts.IMPLEMENTATION_DIR
    found = []
    for path in sorted(base.glob("*/*.md")) if base.is_dir() else []:
        rel = path.relative_to(playbook_dir).as_posix()
        if path.is_symlink() or not artifacts.is_story_path(rel) or (request and path.parent.name != request):
            continue
        story = artifacts.story_from_text(path.read_text(encoding="utf-8"), path=rel)
        if story.id == story_id:
            found.append((path, story))
    if not found:
        raise StateError(f"no story {story_id} in {base}" + (f" for request {request}" if request else ""),
                         fix="switch to the request's branch (`playbook list`), or approve its stories first")
    if len(found) > 1:
        names = ", ".join(p.parent.name for p, _ in found)
        raise StateError(f"story {story_id} exists in several requests ({names})", fix="pass --request <request id>")
    return found[0]


def choose_agent(agent: str, settings: Settings, story: artifacts.Story, kind: str) -> tuple[str, str]:
    """("claude" | "offline", why) — auto picks the Claude CLI when it is installed and has a credential."""
    from playbook.adapters.claude_cli import find_claude, require_credentials
    from playbook.delivery.offline_dev import offline_can_do

    if agent not in AGENTS:
        raise ConfigError(f"unknown agent {agent!r}", fix=f"use one of {', '.join(AGENTS)}")
    if agent in ("auto", "claude"):
        try:
            find_claude(settings)
            require_credentials(settings)
            return "claude", "the Claude Code CLI"
        except PlaybookError as exc:
            if agent == "claude":
                raise
            why = exc.message
    else:
        why = "--agent offline"
    problem = offline_can_do(story, kind)
    if problem:
        raise ConfigError(f"the Claude Code CLI cannot run ({why}) and {problem}",
                          fix="install the CLI (scripts/bootstrap) and set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN")
    return "offline", f"the OFFLINE scaffolder, no model ({why})"


def _target_root(target_dir: Path) -> Path:
    top = gitlib.toplevel(target_dir)
    if top is None or top != target_dir.resolve():
        raise ConfigError(f"{target_dir} is not the root of a git checkout",
                          fix="pass --target-dir pointing at your clone of the target repository (e.g. homelab-apps)")
    if gitlib.head(top) is None:
        raise StateError(f"{top} has no commits yet", fix="commit something first (git commit --allow-empty -m init)")
    dirty = gitlib.porcelain(top)
    if dirty:
        raise StateError(f"{top} has uncommitted changes ({len(dirty)} paths); the diff policy would count them",
                         fix="commit or stash them first (git -C <target> stash -u)")
    return top


def run_local_dev(*, playbook_dir: Path, story_id: str, target_dir: Path, settings: Settings, config: Config,
                  kind: str | None = None, agent: str = "auto", request: str | None = None,
                  out_dir: Path | None = None, model: str | None = None, claude_runner: Any = None) -> LocalDev:
    from playbook.delivery.devrun import resolve_kind, run_dev
    from playbook.delivery.dispatch import story_branch
    from playbook.delivery.offline_dev import offline_runner

    playbook_dir = playbook_dir.resolve()
    story_file, story = find_story(playbook_dir, story_id, request)
    if story.status not in APPROVED_STATUSES:
        raise StateError(f"story {story.id} is {story.status}, not approved for development",
                         fix="approve the Epics & Stories phase first (`playbook approve`)")
    kind = resolve_kind(story, kind)
    target = _target_root(target_dir)
    chosen, note = choose_agent(agent, settings, story, kind)
    branch = story_branch(story.path, story.id)
    if gitlib.branch_exists(target, branch):
        raise StateError(f"{target} already has branch {branch}",
                         fix=f"review it, or delete it to run again: git -C {target} branch -D {branch}")
    out = Path(out_dir or tempfile.mkdtemp(prefix=f"playbook-dev-{story.id}-")).resolve()
    start = gitlib.current_branch(target)
    gitlib.git(target, "switch", "-q", "-c", branch)
    try:
        if chosen == "claude":
            from playbook.adapters.claude_cli import run_claude

            runner = claude_runner or run_claude
        else:
            runner = offline_runner(story)
        result = run_dev(story_path=story_file, playbook_dir=playbook_dir, repo_dir=target, kind=kind,
                         settings=settings, config=config, out_dir=out, runner=runner, model=model)
        return _commit(target, branch, story, kind, config, result, chosen, note, playbook_dir)
    except BaseException:
        gitlib.git(target, "reset", "-q", "--hard", check=False)
        gitlib.git(target, "clean", "-q", "-fd", check=False)  # the checkout was clean before: only ours goes
        gitlib.git(target, "switch", "-q", start, check=False)
        gitlib.git(target, "branch", "-q", "-D", branch, check=False)
        raise


def _commit(target: Path, branch: str, story: artifacts.Story, kind: str, config: Config, result: Any,
            agent: str, note: str, playbook_dir: Path) -> LocalDev:
    from playbook.delivery.publish import changed_files, run_checks

    files = changed_files(target, config, kind, story.service)  # the diff policy again, as publish does
    findings, checked = run_checks(target, files, kind)
    errors = [f for f in findings if f.severity == "error"]
    incomplete = result.incomplete_reason or ""
    if result.violations:
        reverted = "; ".join(result.violations)[:1000]
        incomplete = f"{incomplete + '; ' if incomplete else ''}the diff policy reverted changes ({reverted})"
    title = f"bmad: story {story.id} — {story.title}"[:250]
    report = _report(story, kind, result, findings, checked, files, incomplete, branch, playbook_dir)
    (result.out_dir / REPORT_FILE).write_text(report, encoding="utf-8")
    commit = None
    if files:
        summary = (f"Story {story.path} ({agent}: {result.claude.num_turns} turns, "
                   f"est. ${result.claude.total_cost_usd:.4f}); {len(errors)} check errors."
                   + (f"\nIncomplete: {incomplete}" if incomplete else ""))
        commit = gitlib.GitWorkspace(target, branch).commit(files, f"{title}\n\n{summary}")
    return LocalDev(story.id, kind, agent, note, branch, commit, tuple(sorted(files)), tuple(result.violations),
                    incomplete, len(errors), len(findings), result.out_dir, report)


def _report(story: artifacts.Story, kind: str, result: Any, findings: list[Any], checked: list[str],
            files: dict[str, str | None], incomplete: str, branch: str, playbook_dir: Path) -> str:
    """The IaC PR text Actions would open, for the local branch."""
    from playbook.planning.prompts import render_package_template

    claude = result.claude
    return render_package_template(
        "iac-pr.md.j2", marker="", incomplete=incomplete,
        story={"id": story.id, "title": story.title, "issue": story.issue if story.issue is not None else "local",
               "path": story.path, "acceptance_criteria": list(story.acceptance_criteria)},
        playbook_repo=playbook_dir.name, merge_sha=gitlib.head(playbook_dir) or "",
        checks=[{"severity": f.severity, "rule": f.rule, "file": f.file, "line": f.line, "message": f.message}
                for f in findings],
        checked=checked, related=[], branch=branch, server="", kind=kind, order=1,
        session_id=claude.session_id, num_turns=claude.num_turns, cost=float(claude.total_cost_usd),
        subtype=claude.subtype, files=sorted(files))
