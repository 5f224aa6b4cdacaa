"""The implementation-readiness gate between the Epics & Stories draft and its approval.

Every stories draft is checked by the ``check-implementation-readiness`` skill, on its configured
route (Claude when available, then the fallbacks), and the report is committed in the same commit
as the draft: ``runs/check-implementation-readiness.md``, with ``verdict`` and ``blockers`` in its
frontmatter and the inputs (the draft's blob sha among them) it judged.

What the verdict does to ``/approve`` of the stories (``gate``):

=================  ======================================================================
ready              approve as usual
ready-with-fixes   approve as usual; the findings are in the report and the tracking comment
not-ready          refused; the reply lists the blockers. ``/revise <feedback>`` drafts a new
                   revision (checked again), ``/approve override`` approves it anyway
unknown            the check could not run or gave no verdict: refused like not-ready;
                   ``/run check-implementation-readiness`` runs it again
(no report / stale) refused until the check has run on the current draft (``/run …``)
=================  ======================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from playbook.errors import ArtifactError, PlaybookError
from playbook.planning import artifacts
from playbook.planning.phases import Phase
from playbook.planning.state import RequestState
from playbook.ports import Workspace

SKILL = "check-implementation-readiness"
PASSING = ("ready", "ready-with-fixes")
MAX_BLOCKERS = 10

_VERDICT_SECTION = re.compile(r"^##\s+Verdict\s*$(?P<body>.*?)(?=^##\s|\Z)", re.MULTILINE | re.DOTALL | re.IGNORECASE)
_FINDINGS_SECTION = re.compile(r"^##\s+Findings\s*$(?P<body>.*?)(?=^##\s|\Z)", re.MULTILINE | re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Readiness:
    verdict: str  # ready | ready-with-fixes | not-ready | unknown | missing
    blockers: tuple[str, ...]
    current: bool  # judged the current stories draft
    path: str
    model: str = ""

    @property
    def passes(self) -> bool:
        return self.current and self.verdict in PASSING


def parse_verdict(body: str) -> tuple[str, list[str]]:
    """(verdict, blockers) from a readiness report; 'unknown' when the Verdict section says neither."""
    section = _VERDICT_SECTION.search(body)
    words = re.sub(r"[^a-z ]", " ", (section["body"] if section else "").lower())
    words = re.sub(r"\s+", " ", words).strip()
    if words.startswith("not ready") or " not ready" in f" {words[:80]}":
        verdict = "not-ready"
    elif words.startswith("ready with fixes") or "ready with fixes" in words[:80]:
        verdict = "ready-with-fixes"
    elif words.startswith("ready"):
        verdict = "ready"
    else:
        verdict = "unknown"
    blockers = []
    findings = _FINDINGS_SECTION.search(body)
    for line in (findings["body"] if findings else "").splitlines():
        text = line.strip().lstrip("-*0123456789.) ").strip()
        if re.search(r"\bblocker\b", text, re.IGNORECASE):
            blockers.append(re.sub(r"\s+", " ", text)[:300])
    return verdict, blockers[:MAX_BLOCKERS]


def report_path(request: str) -> str:
    from playbook.planning.skill_run import run_path

    return run_path(request, SKILL)


def assess_draft(ws: Workspace, planner: Any, state: RequestState, *, epics_path: str, epics_text: str, epics_body: str,
                 stories: list[artifacts.Story], revision: int) -> tuple[str, str]:
    """Check a stories draft before it is committed; returns (path, report text) for the same commit.

    A check that cannot run (every route failed) is recorded as verdict ``unknown`` with the reason,
    so the draft is still committed and the gate stays closed until the check runs.
    """
    from playbook.planning.skill_run import execute, run_path

    current = state.phase(Phase.STORIES)
    drafted = replace(current, exists=True, revision=revision, status="draft", body=epics_body, text=epics_text)
    phases = tuple(drafted if p.phase == Phase.STORIES else p for p in state.phases)
    draft_state = replace(state, phases=phases, stories=tuple(stories))
    path = run_path(state.request, SKILL)
    try:
        result = execute(SKILL, ws, draft_state, planner, trigger=f"stories:r{revision}")
        return path, result.text
    except PlaybookError as exc:
        meta = {
            "schema_version": artifacts.SCHEMA_VERSION, "kind": "skill-run", "request": state.request,
            "issue": state.issue, "skill": SKILL, "model": "none", "provider": "offline",
            "usage": {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "unknown": True},
            "inputs": [{"path": epics_path, "sha": artifacts.blob_sha(epics_text)}], "created": planner.clock(),
            "trigger": f"stories:r{revision}", "verdict": "unknown",
            "blockers": [f"the readiness check could not run: {exc.message.splitlines()[0][:200]}"],
        }
        body = (f"# Implementation readiness\n\n## Verdict\n\nunknown — the check could not run: "
                f"{exc.message.splitlines()[0][:500]}\n\n## Open questions\n\n- Run it again with "
                f"`/run {SKILL}` once a model route is available.\n")
        return path, artifacts.render(meta, body, "skill-run", source=path)


def load(ws: Workspace, state: RequestState) -> Readiness | None:
    """The committed report and whether it judged the current stories draft; None before any draft."""
    stories = state.phase(Phase.STORIES)
    if not stories.exists or state.flow == "quick":  # the quick flow has no PRD or architecture to check
        return None
    path = report_path(state.request)
    text = ws.read(path)
    if text is None:
        return Readiness("missing", (), False, path)
    try:
        meta, _ = artifacts.parse(text, "skill-run", source=path)
    except ArtifactError as exc:
        return Readiness("unknown", (exc.message.splitlines()[0][:300],), False, path)
    sha = artifacts.blob_sha(stories.text)
    current = any(i["path"] == stories.path and i["sha"] == sha for i in meta["inputs"])
    return Readiness(meta.get("verdict", "unknown"), tuple(meta.get("blockers") or ()), current, path,
                     str(meta.get("model", "")))


def gate(readiness: Readiness | None) -> str | None:
    """Why the stories may not be approved now, or None. ``/approve override`` skips it."""
    if readiness is None or readiness.passes:
        return None
    if readiness.verdict == "missing" or not readiness.current:
        return (f"the readiness check has not run on the current stories draft; comment `/run {SKILL}`, "
                "or `/approve override` to approve without it")
    blockers = "; ".join(readiness.blockers[:5]) or "no blocker was listed"
    if readiness.verdict == "not-ready":
        return (f"the readiness check says **not ready** ({blockers}). Fix it with `/revise <feedback>` (the new "
                "draft is checked again), or approve anyway with `/approve override`")
    return (f"the readiness check gave no verdict ({blockers}); comment `/run {SKILL}` to run it again, "
            "or `/approve override`")
