"""Pipeline state, derived from the artifacts on the request's branch (never stored elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playbook.errors import StateError
from playbook.planning import artifacts
from playbook.planning.phases import ORDER, QUICK_SKIPPED, SPEC, Phase, Stage, next_phase
from playbook.ports import Workspace


@dataclass(frozen=True)
class PhaseState:
    phase: Phase
    path: str
    exists: bool
    revision: int = 0
    status: str | None = None
    model: str | None = None
    provider: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    spent_before: dict[str, Any] = field(default_factory=dict)  # earlier revisions of this phase
    fallbacks: tuple[dict[str, str], ...] = ()
    created: str | None = None
    approved_by: str | None = None
    approved_ref: str | None = None  # what approved it, e.g. "comment:123" (re-deliveries are no-ops)
    trigger: str | None = None  # what generated this revision
    body: str = ""
    text: str = ""

    @property
    def approved(self) -> bool:
        return self.status in ("approved", "skipped")  # skipped: not part of the quick flow

    @property
    def title(self) -> str:
        return SPEC[self.phase].title


@dataclass(frozen=True)
class RequestState:
    request: str
    issue: int | None
    title: str
    body: str
    status: str
    created: str
    phases: tuple[PhaseState, ...]
    stories: tuple[artifacts.Story, ...]
    flow: str = "full"  # "quick": label bmad:quick, the Epics & Stories phase only (phases.QUICK_SKIPPED)
    run_usages: tuple[dict[str, Any], ...] = ()  # committed skill runs (runs/<skill>.md): readiness, /run

    def phase(self, phase: Phase) -> PhaseState:
        return next(p for p in self.phases if p.phase == phase)

    @property
    def current(self) -> PhaseState | None:
        """The first phase not yet approved (None when planning is complete)."""
        phase: Phase | None = ORDER[0]
        while phase is not None and self.phase(phase).approved:
            phase = next_phase(phase)
        return self.phase(phase) if phase is not None else None

    @property
    def stage(self) -> Stage:
        if self.status == "cancelled":
            return Stage.CANCELLED
        current = self.current
        if current is None:
            return Stage.COMPLETE
        return Stage.AWAITING_APPROVAL if current.exists else Stage.NEW

    @property
    def usage(self) -> dict[str, Any]:
        """Every model call of the request (``planning.ledger``): all revisions of every phase and
        the dev runs reported back; ``unknown`` is set when some call reported no usage."""
        from playbook.planning import ledger

        return ledger.add(self.planning_usage, self.dev_usage, *self.run_usages)

    @property
    def planning_usage(self) -> dict[str, Any]:
        from playbook.planning import ledger

        return ledger.add(*(ledger.add(p.usage, p.spent_before) for p in self.phases if p.exists))

    @property
    def dev_usage(self) -> dict[str, Any]:
        from playbook.planning import ledger

        return ledger.add(*(entry for s in self.stories for entry in s.metadata.get("dev_usage") or []))

    @property
    def fallbacks(self) -> list[tuple[str, dict[str, str]]]:
        """(phase title, fallback entry) for the current revision of every phase."""
        return [(p.title, f) for p in self.phases for f in p.fallbacks]


def request_path(request: str) -> str:
    return f"{artifacts.planning_dir(request)}/request.md"


def phase_path(request: str, phase: Phase) -> str:
    return f"{artifacts.planning_dir(request)}/{SPEC[phase].filename}"


def find_request(workspace: Workspace, issue: int) -> str | None:
    """The request id for an issue on this branch, if any."""
    prefix = f"{artifacts.PLANNING_DIR}/{issue}-"
    for path in sorted(workspace.list(artifacts.PLANNING_DIR)):
        if path.startswith(prefix) and path.endswith("/request.md"):
            return path.split("/")[2]
    return None


def load_state(workspace: Workspace, request: str) -> RequestState:
    req_path = request_path(request)
    impl = artifacts.implementation_dir(request)
    prefetch = getattr(workspace, "prefetch", None)  # GitHub: every file below in one round trip
    if prefetch is not None:
        prefetch([req_path, *(phase_path(request, p) for p in ORDER),
                  *(p for p in workspace.list(impl) if artifacts.is_story_path(p))])
    text = workspace.read(req_path)
    if text is None:
        raise StateError(f"no request {request!r} on branch {workspace.branch}",
                         fix="start the request first (label the issue bmad:brief, or `playbook plan`)")
    meta, body = artifacts.parse(text, "request", source=req_path)
    flow = meta.get("flow", "full")
    phases = []
    for phase in ORDER:
        path = phase_path(request, phase)
        if flow == "quick" and phase in QUICK_SKIPPED:
            phases.append(PhaseState(phase, path, exists=False, status="skipped"))
            continue
        doc = workspace.read(path)
        if doc is None:
            phases.append(PhaseState(phase, path, exists=False))
            continue
        pm, pbody = artifacts.parse(doc, "phase", source=path)
        phases.append(
            PhaseState(
                phase,
                path,
                exists=True,
                revision=pm["revision"],
                status=pm["status"],
                model=pm["model"],
                provider=pm["provider"],
                usage=dict(pm["usage"]),
                spent_before=dict(pm.get("spent_before") or {}),
                fallbacks=tuple(pm.get("fallbacks") or ()),
                created=pm["created"],
                approved_by=pm.get("approved_by"),
                approved_ref=pm.get("approved_ref"),
                trigger=pm.get("trigger"),
                body=pbody,
                text=doc,
            )
        )
    stories = []
    for path in sorted(workspace.list(impl)):
        if artifacts.is_story_path(path):
            story_text = workspace.read(path)
            if story_text is not None:
                stories.append(artifacts.story_from_text(story_text, path=path))
    collisions = artifacts.story_collisions(stories)
    if collisions:
        raise StateError("; ".join(collisions), fix="remove or renumber one of the colliding story files")
    stories.sort(key=lambda s: tuple(int(x) for x in s.id.split(".")))
    return RequestState(
        request=request,
        issue=meta["issue"],
        title=meta["title"],
        body=body,
        status=meta["status"],
        created=meta["created"],
        phases=tuple(phases),
        stories=tuple(stories),
        flow=flow,
        run_usages=_run_usages(workspace, request),
    )


def _run_usages(workspace: Workspace, request: str) -> tuple[dict[str, Any], ...]:
    """The usage of every committed skill run of the request (an unreadable one counts as unknown)."""
    from playbook.errors import ArtifactError

    prefix = f"{artifacts.planning_dir(request)}/runs/"
    usages: list[dict[str, Any]] = []
    for path in sorted(p for p in workspace.list(prefix.rstrip("/")) if p.startswith(prefix) and p.endswith(".md")):
        try:
            meta, _ = artifacts.parse(workspace.read(path) or "", "skill-run", source=path)
        except ArtifactError:
            usages.append({"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "unknown": True})
            continue
        usages.append(dict(meta["usage"]))
    return tuple(usages)
