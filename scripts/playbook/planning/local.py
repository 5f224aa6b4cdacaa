"""Local mode: the planning pipeline in a git checkout, one commit per step."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.config import Config, load_config
from playbook.errors import ConfigError, StateError
from playbook.planning import artifacts, pipeline
from playbook.planning.models import ModelRouter, default_factories
from playbook.planning.phases import Stage
from playbook.planning.state import RequestState, load_state
from playbook.settings import Settings

BRANCH_RE = re.compile(r"^bmad/(?P<request>[0-9]{1,9}-[a-z0-9][a-z0-9-]*)$")


@dataclass(frozen=True)
class Session:
    repo: Path
    workspace: gitlib.GitWorkspace
    request: str


def build_planner(settings: Settings, *, root: Path | None = None, offline: bool | None = None,
                  progress: Callable[[str], None] = lambda m: None, config: Config | None = None) -> pipeline.Planner:
    """Wire config, skills and the model router from a playbook checkout."""
    from playbook.planning.skills import load_skills

    root = root or settings.root
    config = config or load_config(root)
    skills = load_skills(root / "skills", aliases=set(config.models))
    if offline is None:
        offline = settings.offline or not settings.gemini_api_key
    router = ModelRouter(config, default_factories(settings, config), offline=offline)
    patterns, topology = pipeline.load_planner_inputs(root)
    return pipeline.Planner(config=config, skills=skills, router=router, patterns=patterns, topology=topology,
                            secrets=tuple(settings.secrets()), progress=progress)


def _next_local_id(repo: Path) -> int:
    used = set()
    planning = repo / artifacts.PLANNING_DIR
    if planning.is_dir():
        for child in planning.iterdir():
            head = child.name.split("-", 1)[0]
            if head.isdigit():
                used.add(int(head))
    for line in gitlib.git(repo, "branch", "--list", "bmad/*", "--format=%(refname:short)").splitlines():
        m = BRANCH_RE.match(line.strip())
        if m:
            used.add(int(m.group("request").split("-", 1)[0]))
    return max(used, default=0) + 1


def plan(repo: Path, text: str, planner: pipeline.Planner, *, flow: str = "full") -> pipeline.StepResult:
    """Create branch bmad/<id>-<slug> from HEAD and run the Product Brief (quick flow: the quick spec) on it."""
    from playbook.sanitize import clean_untrusted, slugify

    if gitlib.head(repo) is None:
        raise StateError(f"{repo} has no commits yet", fix="commit the playbook files first (git commit)")
    body, truncated = clean_untrusted(text, planner.config.limits.request_chars)
    if not body.strip():
        raise ConfigError("the request is empty", fix='describe what to deploy: playbook plan "Deploy Pi-hole …"')
    title = body.strip().splitlines()[0][:120]
    request = f"{_next_local_id(repo)}-{slugify(title)}"
    branch = f"bmad/{request}"
    gitlib.git(repo, "switch", "-q", "-c", branch)
    ws = gitlib.GitWorkspace(repo, branch)
    return pipeline.start(ws, planner, request=request, issue=None, title=title, body=body, source="local",
                          truncated=truncated, flow=flow)


def session(repo: Path) -> Session:
    branch = gitlib.current_branch(repo)
    m = BRANCH_RE.match(branch)
    if not m:
        raise StateError(f"{branch!r} is not a request branch", fix="switch to a bmad/<id>-<slug> branch or run `playbook plan`")
    return Session(repo, gitlib.GitWorkspace(repo, branch), m.group("request"))


def status(repo: Path) -> RequestState:
    s = session(repo)
    return load_state(s.workspace, s.request)


def approve(repo: Path, planner: pipeline.Planner, *, approver: str = "local",
            override: bool = False) -> list[pipeline.StepResult]:
    """Approve the current draft, then generate the next phase (if any).

    The stories are held by the readiness gate (``planning.readiness``) unless ``override``.
    """
    from playbook.planning import readiness

    s = session(repo)
    state = load_state(s.workspace, s.request)
    if state.stage is not Stage.AWAITING_APPROVAL:
        raise StateError(f"nothing to approve: the request is {state.stage.value}",
                         fix="`playbook status` shows what is next")
    refusal = None if override else readiness.gate(readiness.load(s.workspace, state))
    if refusal:
        raise StateError(f"not approved: {refusal.replace('`/approve override`', '`playbook approve --override`')}",
                         fix="`playbook revise \"<feedback>\"`, `playbook skills run check-implementation-readiness`, "
                         "or `playbook approve --override`")
    results = [pipeline.approve(s.workspace, planner, state, approver=approver, approved_ref="local")]
    state = load_state(s.workspace, s.request)
    if state.current is not None:
        results.append(pipeline.generate(s.workspace, planner, state))
    return results


def revise(repo: Path, planner: pipeline.Planner, feedback: str) -> pipeline.StepResult:
    from playbook.sanitize import strip_hidden

    feedback = strip_hidden(feedback).strip()
    if not feedback:
        raise ConfigError("feedback is empty", fix='say what to change: playbook revise "Use a macvlan for DNS"')
    limit = planner.config.limits.revise_feedback_chars
    if len(feedback) > limit:
        raise ConfigError(f"feedback is {len(feedback)} characters; the limit is {limit}",
                          fix="shorten the feedback (playbook.yaml limits.revise_feedback_chars)")
    s = session(repo)
    state = load_state(s.workspace, s.request)
    if state.stage is not Stage.AWAITING_APPROVAL:
        raise StateError(f"nothing to revise: the request is {state.stage.value}",
                         fix="revise only a draft awaiting approval")
    return pipeline.generate(s.workspace, planner, state, feedback=feedback)


def run_skill(repo: Path, planner: pipeline.Planner, name: str, *, story_id: str | None = None,
              print_prompt: bool = False) -> Any:
    """`playbook skills run`: one skill against the request on the current branch (one commit)."""
    from playbook.planning import skill_run

    s = session(repo)
    state = load_state(s.workspace, s.request)
    if print_prompt:
        return skill_run.render(name, s.workspace, state, planner, story_id=story_id)
    return skill_run.run(name, s.workspace, state, planner, story_id=story_id, trigger="local")
