"""The one tracking comment per issue: found by a hidden marker, edited in place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from playbook.planning import artifacts
from playbook.planning.phases import ALWAYS_ALLOWED, COMMAND_TABLE, Stage
from playbook.planning.state import RequestState

MARKER_PREFIX = "<!-- bmad-tracking:v1"
MARKER_RE = re.compile(r"<!-- bmad-tracking:v1 request=(?P<request>[0-9]+-[a-z0-9-]+) branch=(?P<branch>bmad/[0-9]+-[a-z0-9-]+) -->")
BODY_LIMIT = 60_000

ICONS = {"approved": "✅", "draft": "📝", "skipped": "➖", None: "⏳"}


@dataclass(frozen=True)
class Failure:
    phase: str
    reason: str
    fix: str


def marker(request: str, branch: str) -> str:
    return f"{MARKER_PREFIX} request={request} branch={branch} -->"


def parse_marker(body: str) -> tuple[str, str] | None:
    m = MARKER_RE.search(body)
    return (m.group("request"), m.group("branch")) if m else None


def allowed_commands(stage: Stage) -> list[str]:
    return sorted({c for (c, s) in COMMAND_TABLE if s is stage} | ALWAYS_ALLOWED)


def _next_step(state: RequestState, pr: int | None) -> str:
    current = state.current
    if state.stage is Stage.AWAITING_APPROVAL and current is not None:
        return f"review {current.title} r{current.revision}, then comment `/approve` or `/revise <feedback>`."
    if state.stage is Stage.NEW and current is not None:
        return f"{current.title} has no draft yet; comment `/retry` to generate it."
    if state.stage is Stage.COMPLETE:
        if state.stories and all(s.status == "done" for s in state.stories):
            return "every story is deployed."
        if any(s.status in ("in-progress", "review") for s in state.stories):
            return "review and merge the IaC pull requests in the target repositories."
        return f"merge the planning PR{f' #{pr}' if pr else ''} to dispatch the stories."
    return ""


COLLAPSE_STORIES = 15  # more stories than this fold into <details>


def phase_rows(state: RequestState, blob_url: str) -> list[dict[str, str]]:
    """One row per phase; tokens and cost count every revision of the phase (``planning.ledger``)."""
    from playbook.planning import ledger

    rows = []
    for p in state.phases:
        status = {"approved": f"approved by {p.approved_by or 'owner'}", "draft": "draft — awaiting approval",
                  "skipped": "not part of the quick flow"}.get(
            p.status or "", "not started")
        spent = ledger.add(p.usage, p.spent_before)
        revisions = f" (r1–r{p.revision})" if p.exists and p.revision > 1 else ""
        rows.append({
            "icon": ICONS.get(p.status, "⏳"),
            "title": p.title,
            "link": f"{blob_url}/{p.path}" if p.exists else "",
            "revision": f"r{p.revision}" if p.exists else "—",
            "status": status,
            "model": p.model or "",
            "tokens": ledger.tokens_text(spent) + revisions if p.exists else "",
            "cost": ledger.cost_text(spent) if p.exists else "",
        })
    return rows


def ledger_notes(state: RequestState) -> list[str]:
    """Fallbacks with their reason, and what the totals include."""
    from playbook.sanitize import neutralize_for_github

    notes = [f"{title}: the `{f['route']}` route was skipped — {neutralize_for_github(f['reason'])}"
             for title, f in state.fallbacks]
    if state.usage.get("unknown"):
        notes.append("Some model calls reported no token usage: their cost is unknown, not $0.")
    return notes


def dev_row(state: RequestState) -> dict[str, str] | None:
    from playbook.planning import ledger

    runs = sum(len(s.metadata.get("dev_usage") or []) for s in state.stories)
    if not runs:
        return None
    usage = state.dev_usage
    return {"runs": f"{runs} run{'s' if runs != 1 else ''}", "tokens": ledger.tokens_text(usage),
            "cost": ledger.cost_text(usage)}


def render(
    state: RequestState | None,
    *,
    request: str,
    branch: str,
    title: str,
    blob_url: str,
    pr: int | None = None,
    run_url: str = "",
    failure: Failure | None = None,
    notice: str = "",
    readiness: Any = None,
) -> str:
    """Markdown for the tracking comment; ``blob_url`` is ``{server}/{repo}/blob/{commit}``.

    What matters comes first (failure, next step, commands), then the ledger, then the stories —
    folded into ``<details>`` past ``COLLAPSE_STORIES`` and cut from the end (with a pointer to
    sprint-status.yaml) if the comment would pass ``BODY_LIMIT``. Never cut silently.
    """
    from playbook.planning import artifacts, ledger
    from playbook.planning.prompts import render_package_template
    from playbook.sanitize import neutralize_for_github

    phases: list[dict[str, str]] = []
    stories: list[dict[str, str]] = []
    total_tokens = "—"
    total_cost = "$0.0000"
    stage = "starting"
    next_step = ""
    allowed = ["/status", "/help"]
    notes: list[str] = []
    dev = None
    graph = ""
    if state is not None:
        from playbook.delivery.order import waiting_for
        from playbook.intake import story_graph

        phases = phase_rows(state, blob_url)
        for s in state.stories:
            prs = s.metadata.get("pull_requests") or []
            stories.append({
                "id": s.id, "title": neutralize_for_github(s.title), "target": s.target, "status": story_status(s),
                "link": f"{blob_url}/{s.path}",
                "prs": ", ".join(f"[{pr_['repo']}#{pr_['number']}]({pr_['url']})" for pr_ in prs) or "—",
                "waits": neutralize_for_github(waiting_for(s, state.stories)) or "—",
            })
        graph = story_graph.render(state.stories) if 1 < len(state.stories) <= story_graph.MAX_NODES else ""
        total = state.usage
        total_tokens = ledger.tokens_text(total)
        total_cost = ledger.cost_text(total)
        stage = state.stage.value
        next_step = _next_step(state, pr)
        allowed = [f"`/{c}`" if c not in ("revise", "route", "dispatch", "run") else
                   {"revise": "`/revise <feedback>`", "route": "`/route <story> infra|apps|both`",
                    "dispatch": "`/dispatch [story]`", "run": "`/run <skill> [story]`"}[c]
                   for c in allowed_commands(state.stage)]
        notes = ledger_notes(state)
        dev = dev_row(state)
    counts: dict[str, int] = {}
    for row in stories:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    common = {
        "marker": marker(request, branch),
        "title": neutralize_for_github(title),
        "phases": phases,
        "total_tokens": total_tokens,
        "total_cost": total_cost,
        "failure": failure and Failure(failure.phase, neutralize_for_github(failure.reason),
                                       neutralize_for_github(failure.fix)),
        "notice": neutralize_for_github(notice) if notice else "",
        "stage": stage,
        "next_step": next_step,
        "pr": pr,
        "run_url": run_url,
        "allowed": " · ".join(allowed),
        "ledger_notes": notes,
        "dev": dev,
        "collapse": len(stories) > COLLAPSE_STORIES,
        "story_summary": f"{len(stories)}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        "sprint_status_link": f"{blob_url}/{artifacts.sprint_status_path(request)}",
        "graph": graph,
        "readiness": _readiness_view(readiness, blob_url, neutralize_for_github,
                                     holding=state is not None and state.current is not None
                                     and state.current.phase.value == "stories"),
    }
    shown = len(stories)
    while True:
        body = render_package_template("tracking.md.j2", **common, stories=stories[:shown], omitted=len(stories) - shown)
        if len(body.encode("utf-16-le")) // 2 <= BODY_LIMIT or shown == 0:
            break
        shown = shown * 3 // 4  # drop from the end: failure, next step and commands are at the top
    from playbook.sanitize import cap

    return cap(body, BODY_LIMIT)


def story_status(story: artifacts.Story) -> str:
    """The story's status, with the last dev run per target when it did not end in a ready PR."""
    from playbook.sanitize import neutralize_for_github

    notes = [f"{r['target']}: {r['outcome']}" + (f" ({r['reason'][:200]})" if r.get("reason") else "")
             for r in story.metadata.get("dev_runs") or [] if r.get("outcome") != "ready"]
    text = story.status + "".join(f" · {n}" for n in notes)
    return neutralize_for_github(text).replace("|", "\\|").replace("\n", " ")


READINESS_LABELS = {
    "ready": "✅ ready",
    "ready-with-fixes": "⚠️ ready with fixes",
    "not-ready": "⛔ not ready",
    "unknown": "❔ no verdict",
    "missing": "⏳ not run yet",
}


def _readiness_view(readiness: Any, blob_url: str, neutralize: Any, *, holding: bool) -> dict[str, Any] | None:
    """The readiness verdict of the stories draft (``planning.readiness.Readiness``) for the template."""
    if readiness is None:
        return None
    label = READINESS_LABELS.get(readiness.verdict, readiness.verdict)
    if readiness.verdict != "missing" and not readiness.current:
        label = "⏳ not run on the current draft"
    return {
        "label": label,
        "link": f"{blob_url}/{readiness.path}" if readiness.verdict != "missing" else "",
        "model": readiness.model,
        "blockers": [neutralize(b) for b in readiness.blockers],
        "gate": holding and not readiness.passes,
    }
