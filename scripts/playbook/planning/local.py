"""Local mode: the planning pipeline in a git checkout, one commit per step.

It behaves like the GitHub flow: every request branch starts from the default branch, a
step either completes or leaves the checkout exactly as it was (branch, commits, files),
``approve r<N>`` refuses a stale revision, and the commands offered are the ones that work
here (``LOCAL_COMMANDS``).

A hand edit of the draft awaiting approval is never approved silently: ``approve`` records it
as its own revision (r<N+1>, ``trigger: hand-edit``) and stops, so the owner approves exactly
what they read; ``revise`` refuses while the edit is uncommitted (it would overwrite it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.config import Config, load_config
from playbook.errors import ConfigError, GitError, PlaybookError, StateError
from playbook.planning import artifacts, pipeline
from playbook.planning.models import ModelRouter, default_factories
from playbook.planning.phases import ALWAYS_ALLOWED, COMMAND_TABLE, Phase, Stage
from playbook.planning.state import PhaseState, RequestState, load_state
from playbook.settings import Settings

BRANCH_RE = re.compile(r"^bmad/(?P<request>[0-9]{1,9}-[a-z0-9][a-z0-9-]*)$")
TOOL_COMMIT_PREFIX = "bmad("
HAND_EDIT_TRIGGER = "hand-edit"

# GitHub command -> what does the same here (None: GitHub only). `status` lists only these.
LOCAL_EQUIVALENT: dict[str, str | None] = {
    "approve": "playbook approve [r<N>]",
    "revise": 'playbook revise "<feedback>"',
    "status": "playbook status",
    "cost": "playbook status",
    "help": "playbook --help",
    "retry": None, "cancel": None, "route": None, "dispatch": None,
}
# Local-only next steps per stage, after the GitHub commands' local equivalents.
LOCAL_EXTRA: dict[Stage | None, tuple[str, ...]] = {
    None: ('playbook plan "<request>"', "playbook list"),  # on the default branch: no request checked out
    Stage.NEW: ("playbook list",),
    Stage.AWAITING_APPROVAL: ("playbook list",),
    Stage.COMPLETE: ("playbook dev --story <ID> --target-dir <target checkout>", "playbook list"),
    Stage.CANCELLED: ('playbook plan "<request>"', "playbook list"),
}
# Said instead when a stage has no local way forward.
LOCAL_HINT: dict[Stage, str] = {
    Stage.NEW: "the current phase has no draft (it was started on GitHub): comment /retry on the issue",
    Stage.CANCELLED: "this request was cancelled; start a new one with `playbook plan`",
}


def local_commands(stage: Stage | None) -> list[str]:
    """The commands that work locally in ``stage`` (None: on the default branch), in a stable order."""
    github = [] if stage is None else sorted({c for (c, s) in COMMAND_TABLE if s is stage} | ALWAYS_ALLOWED)
    found: list[str] = []
    for command in github:
        local = LOCAL_EQUIVALENT.get(command)
        if local and local not in found and local != "playbook --help":
            found.append(local)
    return found + [c for c in LOCAL_EXTRA[stage] if c not in found]


@dataclass(frozen=True)
class Session:
    repo: Path
    workspace: gitlib.GitWorkspace
    request: str


@dataclass(frozen=True)
class PlanResult:
    step: pipeline.StepResult
    branch: str
    base: str
    truncated: bool = False
    kept_chars: int = 0

    @property
    def revision(self) -> int:
        return self.step.revision

    @property
    def phase(self) -> Phase:
        return self.step.phase


@dataclass(frozen=True)
class ApproveResult:
    steps: list[pipeline.StepResult] = field(default_factory=list)
    hand_edit: pipeline.StepResult | None = None  # set when a hand edit was recorded instead of approving


def build_planner(settings: Settings, *, root: Path | None = None, offline: bool | None = None,
                  progress: Callable[[str], None] = lambda m: None, config: Config | None = None) -> pipeline.Planner:
    """Wire config, skills and the model router from a playbook checkout (skills parse on first use)."""
    from playbook.planning.skills import SkillLibrary

    root = root or settings.root
    config = config or load_config(root)
    skills = SkillLibrary(root / "skills", aliases=set(config.models))
    if offline is None:
        offline = settings.offline or not settings.gemini_api_key
    router = ModelRouter(config, default_factories(settings, config), offline=offline)
    patterns, topology = pipeline.load_planner_inputs(root)
    return pipeline.Planner(config=config, skills=skills, router=router, patterns=patterns, topology=topology,
                            secrets=tuple(settings.secrets()), progress=progress)


# --------------------------------------------------------------------------- the checkout


def checkout_root(path: Path) -> Path:
    """The top of the git checkout holding ``path``; a clear error outside one."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist",
                          fix="pass --repo <your homelab-playbook checkout> or set PLAYBOOK_DIR to it")
    top = gitlib.toplevel(path)
    if top is None:
        raise ConfigError(f"{path} is not inside a git repository",
                          fix="run from your homelab-playbook checkout, pass --repo <checkout>, or set PLAYBOOK_DIR")
    return top


def default_branch(repo: Path) -> str:
    """The branch request branches start from: origin's default, else main/master, else the current branch."""
    remote_head = gitlib.git(repo, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD", check=False).strip()
    candidates = [remote_head.split("/", 1)[1]] if "/" in remote_head else []
    configured = gitlib.git(repo, "config", "--get", "init.defaultBranch", check=False).strip()
    candidates += [c for c in (configured, "main", "master") if c]
    for name in candidates:
        if gitlib.branch_exists(repo, name) and not BRANCH_RE.match(name):
            return name
    current = gitlib.current_branch(repo)
    if current != "HEAD" and not BRANCH_RE.match(current):
        return current
    raise StateError(f"cannot tell the default branch of {repo}",
                     fix="create it (git branch main <commit>) or set origin's HEAD (git remote set-head origin -a)")


def _request_branches(repo: Path) -> list[str]:
    out = gitlib.git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/bmad/")
    return [line.strip() for line in out.splitlines() if BRANCH_RE.match(line.strip())]


def _remote_request_branches(repo: Path) -> list[tuple[str, str]]:
    """(remote ref, branch name) of request branches fetched from remotes (e.g. made on GitHub)."""
    out = gitlib.git(repo, "for-each-ref", "--format=%(refname:short)", "refs/remotes/", check=False)
    found = []
    for line in out.splitlines():
        name = line.strip().split("/", 1)[-1]
        if BRANCH_RE.match(name):
            found.append((line.strip(), name))
    return found


def _next_local_id(repo: Path, base: str) -> int:
    used = set()
    view = gitlib.GitRefView(repo, base)
    for path in view.list(artifacts.PLANNING_DIR):
        head = path.split("/")[2].split("-", 1)[0] if path.count("/") >= 2 else ""
        if head.isdigit():
            used.add(int(head))
    for line in [*_request_branches(repo), *(name for _, name in _remote_request_branches(repo))]:
        m = BRANCH_RE.match(line)
        if m:
            used.add(int(m.group("request").split("-", 1)[0]))
    return max(used, default=0) + 1


@contextmanager
def all_or_nothing(repo: Path, retry: str) -> Iterator[None]:
    """Run one step; on any failure put branch, HEAD, branches and files back as they were.

    Only what the step changed is undone: the owner's own uncommitted edits stay (they were
    in ``git status`` before the step).
    """
    branch = gitlib.current_branch(repo)
    start = gitlib.head(repo)
    before = set(gitlib.porcelain(repo))
    branches = set(_request_branches(repo))
    try:
        yield
    except BaseException as exc:
        _undo(repo, branch, start, before, branches)
        if isinstance(exc, PlaybookError):
            exc.fix = (f"{exc.fix}; then " if exc.fix else "") + f"retry with `{retry}` (nothing was changed)"
        raise


def _undo(repo: Path, branch: str, start: str | None, before: set[str], branches: set[str]) -> None:
    for line in sorted(set(gitlib.porcelain(repo)) - before):
        path = line[3:].split(" -> ")[-1].strip('"')
        gitlib.git(repo, "reset", "-q", "--", path, check=False)
        if _tracked(repo, path):
            gitlib.git(repo, "checkout", "-q", "--", path, check=False)
        else:
            (repo / path).unlink(missing_ok=True)
    if gitlib.current_branch(repo) != branch:
        gitlib.git(repo, "switch", "-q", branch)
    for created in set(_request_branches(repo)) - branches:
        gitlib.git(repo, "branch", "-q", "-D", created)
    if start is not None and gitlib.head(repo) != start:
        gitlib.git(repo, "reset", "-q", "--keep", start)


def _tracked(repo: Path, path: str) -> bool:
    return bool(gitlib.git(repo, "ls-tree", "--name-only", "HEAD", "--", path, check=False).strip())


# --------------------------------------------------------------------------- steps


def plan(repo: Path, text: str, planner: pipeline.Planner, *, flow: str = "full") -> PlanResult:
    """Create bmad/<id>-<slug> from the default branch and draft the Product Brief (quick flow: the quick
    spec) on it."""
    from playbook.sanitize import clean_untrusted, slugify

    repo = checkout_root(repo)
    if gitlib.head(repo) is None:
        raise StateError(f"{repo} has no commits yet", fix="commit the playbook files first (git add -A && git commit)")
    limit = planner.config.limits.request_chars
    body, truncated = clean_untrusted(text, limit)
    if truncated and " " in body[limit // 2:]:
        body = body[: body.rindex(" ")].rstrip()  # cut at a word boundary, never mid-word
    if not body.strip():
        raise ConfigError("the request is empty", fix='describe what to deploy: playbook plan "Deploy Pi-hole …"')
    title = body.strip().splitlines()[0][:120]
    base = default_branch(repo)
    request = f"{_next_local_id(repo, base)}-{slugify(title)}"
    branch = f"bmad/{request}"
    with all_or_nothing(repo, "playbook plan \"…\""):
        gitlib.git(repo, "switch", "-q", "-c", branch, base)
        ws = gitlib.GitWorkspace(repo, branch)
        step = pipeline.start(ws, planner, request=request, issue=None, title=title, body=body, source="local",
                              truncated=truncated, flow=flow)
    return PlanResult(step, branch, base, truncated, len(body))


def session(repo: Path) -> Session:
    repo = checkout_root(repo)
    branch = gitlib.current_branch(repo)
    m = BRANCH_RE.match(branch)
    if not m:
        raise StateError(f"{branch!r} is not a request branch",
                         fix="`playbook list` shows the requests; `git switch bmad/<id>-<slug>` one, "
                             "or start one with `playbook plan`")
    return Session(repo, gitlib.GitWorkspace(repo, branch), m.group("request"))


def status(repo: Path) -> RequestState:
    s = session(repo)
    return load_state(s.workspace, s.request)


def current_request(repo: Path) -> str | None:
    """The request of the checked-out branch, or None (e.g. on the default branch)."""
    m = BRANCH_RE.match(gitlib.current_branch(checkout_root(repo)))
    return m.group("request") if m else None


def _hand_edited(repo: Path, draft: PhaseState) -> tuple[str, str] | None:
    """(how, text) when the draft on disk is not what the tool last wrote, else None."""
    if gitlib.porcelain(repo, draft.path):
        return "uncommitted", (repo / draft.path).read_text(encoding="utf-8")
    subject = gitlib.git(repo, "log", "-1", "--format=%s", "--", draft.path).strip()
    if subject and not subject.startswith(TOOL_COMMIT_PREFIX):
        return "committed", draft.text
    return None


def _record_hand_edit(s: Session, planner: pipeline.Planner, state: RequestState, draft: PhaseState,
                      text: str) -> pipeline.StepResult:
    revision = draft.revision + 1
    recorded = artifacts.with_status(text, "phase", source=draft.path, revision=revision, status="draft",
                                     trigger=HAND_EDIT_TRIGGER, created=planner.clock(), approved=None,
                                     approved_by=None, approved_ref=None)
    message = (f"{TOOL_COMMIT_PREFIX}{state.request}): record hand edit of {draft.title} as r{revision}\n\n"
               f"Edited by hand from r{draft.revision}; approve it with `playbook approve r{revision}`.")
    sha = s.workspace.commit({draft.path: recorded}, message)
    return pipeline.StepResult(state.request, draft.phase, revision, sha, (draft.path,))


def approve(repo: Path, planner: pipeline.Planner, *, approver: str = "local",
            revision: int | None = None, override: bool = False) -> ApproveResult:
    """Approve the current draft, then generate the next phase (if any) — all or nothing.

    ``revision`` (from ``approve r<N>``) must be the current draft's revision. A hand-edited
    draft is recorded as its own revision instead, and nothing is approved. The stories are held
    by the readiness gate (``planning.readiness``) unless ``override``.
    """
    from playbook.planning import readiness

    s = session(repo)
    state = load_state(s.workspace, s.request)
    if state.stage is not Stage.AWAITING_APPROVAL:
        raise StateError(f"nothing to approve: the request is {state.stage.value}",
                         fix=LOCAL_HINT.get(state.stage, "`playbook status` shows what is next"))
    draft = state.current
    assert draft is not None
    edited = _hand_edited(s.repo, draft)
    refusal = None if override else readiness.gate(readiness.load(s.workspace, state))
    if refusal and edited is None:
        raise StateError(f"not approved: {refusal.replace('`/approve override`', '`playbook approve --override`')}",
                         fix="`playbook revise \"<feedback>\"`, `playbook skills run check-implementation-readiness`, "
                         "or `playbook approve --override`")
    if edited is not None:
        how, text = edited
        with all_or_nothing(s.repo, "playbook approve"):
            try:
                recorded = _record_hand_edit(s, planner, state, draft, text)
            except PlaybookError as exc:
                exc.fix = (f"your {how} edit of {draft.path} cannot be recorded as a revision: repair its "
                           f"frontmatter, or drop the edit (git checkout -- {draft.path})")
                raise
        return ApproveResult(hand_edit=recorded)
    if revision is not None and revision != draft.revision:
        raise StateError(f"stale approval: you named r{revision}, but the current {draft.title} is r{draft.revision}",
                         fix=f"review r{draft.revision} ({draft.path}), then `playbook approve r{draft.revision}`")
    with all_or_nothing(s.repo, "playbook approve" + (f" r{revision}" if revision else "")):
        results = [pipeline.approve(s.workspace, planner, state, approver=approver, approved_ref="local",
                                    expected_revision=revision)]
        state = load_state(s.workspace, s.request)
        if state.current is not None:
            results.append(pipeline.generate(s.workspace, planner, state))
    return ApproveResult(steps=results)


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
                         fix=LOCAL_HINT.get(state.stage, "revise only a draft awaiting approval"))
    draft = state.current
    assert draft is not None
    if gitlib.porcelain(s.repo, draft.path):
        raise StateError(f"{draft.path} has uncommitted edits that a revision would overwrite",
                         fix="`playbook approve` records your edit as its own revision; "
                             f"or drop it with `git checkout -- {draft.path}`")
    with all_or_nothing(s.repo, 'playbook revise "…"'):
        return pipeline.generate(s.workspace, planner, state, feedback=feedback)


# --------------------------------------------------------------------------- list


@dataclass(frozen=True)
class RequestSummary:
    request: str
    title: str
    branch: str
    stage: str
    phase: str | None
    revision: int
    next: list[str]
    cost_usd: float
    checked_out: bool


def list_requests(repo: Path) -> list[RequestSummary]:
    """Every request in the checkout: one per bmad/* branch, plus merged ones on the default branch."""
    repo = checkout_root(repo)
    current = gitlib.current_branch(repo)
    found: dict[str, RequestSummary] = {}
    refs = [(b, b) for b in _request_branches(repo)]
    refs += [(ref, name) for ref, name in _remote_request_branches(repo) if (name, name) not in refs]
    for ref, branch in refs:
        request = BRANCH_RE.match(branch).group("request")  # type: ignore[union-attr]
        if request in found:
            continue
        summary = _summarise(repo, ref, branch, request, checked_out=branch == current)
        if summary is not None:
            found[request] = summary
    try:
        base = default_branch(repo)
    except StateError:
        base = ""
    if base:
        view = gitlib.GitRefView(repo, base)
        for path in view.list(artifacts.PLANNING_DIR):
            parts = path.split("/")
            if len(parts) == 4 and parts[3] == "request.md" and parts[2] not in found:
                summary = _summarise(repo, base, base, parts[2], checked_out=base == current, view=view)
                if summary is not None:
                    found[parts[2]] = summary
    return sorted(found.values(), key=lambda r: (int(r.request.split("-", 1)[0]), r.request))


def _summarise(repo: Path, ref: str, branch: str, request: str, *, checked_out: bool,
               view: gitlib.GitRefView | None = None) -> RequestSummary | None:
    try:
        state = load_state(view or gitlib.GitRefView(repo, ref, branch=branch), request)
    except (StateError, GitError, PlaybookError):
        return None
    current = state.current
    stage = state.stage
    steps = [c.replace("[r<N>]", f"r{current.revision}") if current else c
             for c in local_commands(stage) if c not in ("playbook list", "playbook status")]
    if not checked_out and stage in (Stage.AWAITING_APPROVAL, Stage.COMPLETE):
        steps = [f"git switch {branch}", *steps]
    if stage in LOCAL_HINT:
        steps = [LOCAL_HINT[stage]]
    return RequestSummary(request=request, title=state.title, branch=branch, stage=stage.value,
                          phase=current.phase.value if current else None,
                          revision=current.revision if current else 0, next=steps,
                          cost_usd=round(float(state.usage["cost_usd"]), 6), checked_out=checked_out)


def run_skill(repo: Path, planner: pipeline.Planner, name: str, *, story_id: str | None = None,
              print_prompt: bool = False) -> Any:
    """`playbook skills run`: one skill against the request on the current branch (one commit)."""
    from playbook.planning import skill_run

    s = session(repo)
    state = load_state(s.workspace, s.request)
    if print_prompt:
        return skill_run.render(name, s.workspace, state, planner, story_id=story_id)
    return skill_run.run(name, s.workspace, state, planner, story_id=story_id, trigger="local")
