"""The four planning phases, their order, and which command is allowed in which state.

Everything here is data plus pure functions over it; tests walk the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    BRIEF = "brief"
    PRD = "prd"
    ARCHITECTURE = "architecture"
    STORIES = "stories"


@dataclass(frozen=True)
class PhaseSpec:
    phase: Phase
    skill: str
    filename: str  # under the request's planning-artifacts dir
    title: str
    label: str


PHASES: tuple[PhaseSpec, ...] = (
    PhaseSpec(Phase.BRIEF, "create-product-brief", "product-brief.md", "Product Brief", "bmad:brief"),
    PhaseSpec(Phase.PRD, "create-prd", "prd.md", "PRD", "bmad:prd"),
    PhaseSpec(Phase.ARCHITECTURE, "create-architecture", "architecture.md", "Architecture", "bmad:architecture"),
    PhaseSpec(Phase.STORIES, "create-epics-and-stories", "epics.md", "Epics & Stories", "bmad:stories"),
)

SPEC: dict[Phase, PhaseSpec] = {s.phase: s for s in PHASES}

# The quick flow (label bmad:quick) for small changes: no brief, PRD or architecture; one quick spec
# (skill quick-spec, answering with the same plan JSON) is the Epics & Stories draft.
FLOWS = ("full", "quick")
QUICK_LABEL = "bmad:quick"
QUICK_SKILL = "quick-spec"
QUICK_SKIPPED: tuple[Phase, ...] = (Phase.BRIEF, Phase.PRD, Phase.ARCHITECTURE)


def skill_for(phase: Phase, flow: str) -> str:
    return QUICK_SKILL if flow == "quick" and phase is Phase.STORIES else SPEC[phase].skill
ORDER: tuple[Phase, ...] = tuple(s.phase for s in PHASES)

# Which approved artifacts feed each phase (in priority order for the context budget).
INPUTS: dict[Phase, tuple[Phase, ...]] = {
    Phase.BRIEF: (),
    Phase.PRD: (Phase.BRIEF,),
    Phase.ARCHITECTURE: (Phase.PRD, Phase.BRIEF),
    Phase.STORIES: (Phase.ARCHITECTURE, Phase.PRD, Phase.BRIEF),
}


def next_phase(phase: Phase) -> Phase | None:
    """The phase after ``phase``, or None after the last one."""
    index = ORDER.index(phase)
    return ORDER[index + 1] if index + 1 < len(ORDER) else None


class Stage(StrEnum):
    """Where a request stands, derived from its artifacts (never stored)."""

    NEW = "new"  # request recorded, current phase not generated yet (or its generation failed)
    AWAITING_APPROVAL = "awaiting-approval"  # current phase has a draft
    COMPLETE = "complete"  # all four phases approved: the planning PR is ready to merge
    CANCELLED = "cancelled"


# (command, stage) -> outcome. Anything absent is refused with the stage's explanation.
#   generate  = run the current phase (first revision or again after a failure)
#   approve   = approve the current draft, then generate the next phase (or finish)
#   regenerate= new revision of the current phase with feedback
COMMAND_TABLE: dict[tuple[str, Stage], str] = {
    ("approve", Stage.AWAITING_APPROVAL): "approve",
    ("revise", Stage.AWAITING_APPROVAL): "regenerate",
    ("retry", Stage.NEW): "generate",
    ("retry", Stage.AWAITING_APPROVAL): "noop-retry",
    ("cancel", Stage.NEW): "cancel",
    ("cancel", Stage.AWAITING_APPROVAL): "cancel",
    ("route", Stage.COMPLETE): "route",
    ("dispatch", Stage.COMPLETE): "dispatch",
    ("run", Stage.NEW): "run-skill",
    ("run", Stage.AWAITING_APPROVAL): "run-skill",
    ("run", Stage.COMPLETE): "run-skill",
}
ALWAYS_ALLOWED = frozenset({"status", "help", "cost", "ops"})

REFUSALS: dict[Stage, str] = {
    Stage.NEW: "the current phase has no draft yet — use /retry to generate it",
    Stage.AWAITING_APPROVAL: "this command does not apply while a draft awaits approval — use /approve or /revise",
    Stage.COMPLETE: "planning is complete: all four phases are approved; merge the planning PR to dispatch the stories",
    Stage.CANCELLED: "this request was cancelled; open a new issue to start again",
}


def command_outcome(command: str, stage: Stage) -> str:
    """What a command does in a stage: an outcome name, 'info', or 'refuse'."""
    if command in ALWAYS_ALLOWED:
        return "info"
    return COMMAND_TABLE.get((command, stage), "refuse")


STATUS_LABELS = ("bmad:working", "bmad:awaiting-approval", "bmad:failed", "bmad:ready-to-merge")
