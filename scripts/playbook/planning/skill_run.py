"""Run any skill against a request: its declared inputs from the artifacts → its route → one commit.

The four phase skills have their own step (``pipeline.generate``); every other skill runs here,
for `playbook skills run NAME` and for `/run NAME` on a request issue. What a skill reads comes
from its frontmatter (``reads``): the request, the phase documents on the branch (approved or
draft, marked which), a story by id, the patterns and the topology; research, UX design and
project context come from earlier runs of the skills that write them. It runs on its configured
route (a ``delegate: true`` skill on the Claude CLI route, the others on Gemini; fallbacks as in
playbook.yaml) and its output is committed as one artifact with strict frontmatter::

    _bmad-output/planning-artifacts/<request>/runs/<skill>.md

Skills that write code (``writes: code``: dev-story, quick-dev, claude-delegate) change a target
repository, which is `playbook dev`'s job: here they can only be rendered (``render_only``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from playbook.errors import ArtifactError, SkillError, StateError
from playbook.planning import artifacts
from playbook.planning.phases import Phase
from playbook.planning.pipeline import SYSTEM_PROMPT, Planner, _reject_secrets, clean_markdown
from playbook.planning.state import RequestState
from playbook.ports import ModelRequest, Workspace

RUNS_DIR = "runs"

# reads entry -> (prompt artifact key, phase document it comes from)
PHASE_READS: dict[str, tuple[str, Phase]] = {
    "brief": ("brief", Phase.BRIEF),
    "prd": ("prd", Phase.PRD),
    "architecture": ("architecture", Phase.ARCHITECTURE),
    "epics": ("epics", Phase.STORIES),
}
# reads entry -> (prompt artifact key, the skills whose committed run provides it, first found wins)
RUN_READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ux-design": ("ux_design", ("create-ux-design",)),
    "research": ("research", ("technical-research", "domain-research", "market-research")),
    "project-context": ("project_context", ("generate-project-context",)),
}


@dataclass(frozen=True)
class SkillRun:
    skill: str
    path: str
    commit: str | None
    model: str
    provider: str
    usage: dict[str, Any]
    text: str  # the whole artifact (frontmatter and body)


def run_path(request: str, skill: str) -> str:
    return f"{artifacts.planning_dir(request)}/{RUNS_DIR}/{skill}.md"


def runnable(skill: Any) -> bool:
    """Whether ``skills run`` / ``/run`` can run it here (code-writing skills belong to `playbook dev`)."""
    return bool(skill.writes != "code")


def _read_run(ws: Workspace, request: str, skill: str) -> str:
    text = ws.read(run_path(request, skill))
    if text is None:
        return ""
    try:
        _, body = artifacts.parse(text, "skill-run", source=run_path(request, skill))
    except ArtifactError:
        return ""
    return body


def variables_for(skill: Any, ws: Workspace, state: RequestState, planner: Planner, *,
                  story_id: str | None = None, feedback: str = "") -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The prompt variables a skill declares it reads, and the inputs (path + blob sha) they came from."""
    from playbook.planning.context import Piece, fit

    inputs: list[dict[str, str]] = []
    texts: dict[str, str] = {key: "" for key in ("brief", "prd", "ux_design", "architecture", "epics", "research",
                                                   "project_context")}
    for read in skill.reads:
        if read in PHASE_READS:
            key, phase = PHASE_READS[read]
            doc = state.phase(phase)
            if doc.exists:
                note = "" if doc.approved else f"(draft r{doc.revision}, not approved yet)\n\n"
                texts[key] = note + doc.body
                inputs.append({"path": doc.path, "sha": artifacts.blob_sha(doc.text)})
        elif read in RUN_READS:
            key, sources = RUN_READS[read]
            for source in sources:
                if body := _read_run(ws, state.request, source):
                    texts[key] = body
                    inputs.append({"path": run_path(state.request, source),
                                   "sha": artifacts.blob_sha(ws.read(run_path(state.request, source)) or "")})
                    break
    if "stories" in skill.reads and state.stories:
        listing = "\n".join(f"- {s.id} [{s.target}, {s.status}] {s.title} (depends on: "
                            f"{', '.join(s.depends_on) or 'nothing'})" for s in state.stories)
        texts["epics"] = (texts["epics"] + "\n\n## Story files\n\n" + listing).strip()
    story = {"id": "", "title": "", "body": ""}
    if story_id is not None:
        found = next((s for s in state.stories if s.id == story_id), None)
        if found is None:
            raise StateError(f"there is no story {story_id} in request {state.request}",
                             fix="name a story id from the tracking comment (e.g. 1.1)")
        story = {"id": found.id, "title": found.title, "body": found.body}
        inputs.append({"path": found.path, "sha": artifacts.blob_sha(ws.read(found.path) or "")})
    elif "story" in skill.reads and not {"request", "stories"} & set(skill.reads):
        raise StateError(f"skill {skill.name} works on one story", fix=f"pass the story id: --story 1.1 (on GitHub: /run {skill.name} 1.1)")
    pieces = [Piece("request", state.body, required=True), Piece("feedback", feedback, required=True),
              *[Piece(k, v) for k, v in texts.items()],
              Piece("patterns", "\n\n".join(p["body"] for p in planner.patterns) if "patterns" in skill.reads else ""),
              Piece("topology", planner.topology if "topology" in skill.reads else "")]
    fitted = fit(pieces, planner.config.limits.context_tokens)
    patterns = planner.patterns if "patterns" in skill.reads and "patterns" not in fitted.dropped else []
    variables: dict[str, Any] = {
        "request": {"id": state.request.split("-", 1)[0], "title": state.title, "body": fitted.texts["request"],
                    "slug": state.request.split("-", 1)[1] if "-" in state.request else state.request},
        "artifacts": {k: fitted.texts.get(k, "") for k in texts},
        "story": story,
        "patterns": patterns,
        "examples": "",
        "topology": fitted.texts.get("topology", ""),
        "feedback": feedback,
        "previous": "",
        "revision": 1,
    }
    return variables, inputs


def render(skill_name: str, ws: Workspace, state: RequestState, planner: Planner, *,
           story_id: str | None = None) -> str:
    """The prompt a run of ``skill_name`` would send (any skill, code-writing ones included)."""
    from playbook.planning.skills import render_skill

    skill = _skill(planner, skill_name)
    variables, _ = variables_for(skill, ws, state, planner, story_id=story_id)
    return render_skill(skill, variables)


def _skill(planner: Planner, name: str) -> Any:
    skill = planner.skills.get(name)
    if skill is None:
        raise SkillError(f"there is no skill {name!r}",
                         fix="`playbook skills list` (or /help) shows the skills; names are lowercase with dashes")
    return skill


def run(skill_name: str, ws: Workspace, state: RequestState, planner: Planner, *, story_id: str | None = None,
        trigger: str = "", feedback: str = "") -> SkillRun:
    """Run one skill on its route and commit its output (one commit; an unchanged output commits nothing)."""
    result = execute(skill_name, ws, state, planner, story_id=story_id, trigger=trigger, feedback=feedback)
    message = (f"bmad({state.request}): run {result.skill}{f' on story {story_id}' if story_id else ''}\n\n"
               f"Model: {result.model} ({result.provider}); tokens in/out "
               f"{result.usage['input_tokens']}/{result.usage['output_tokens']}; est. ${result.usage['cost_usd']:.4f}")
    sha = ws.commit({result.path: result.text}, message)
    return replace(result, commit=sha)


def execute(skill_name: str, ws: Workspace, state: RequestState, planner: Planner, *, story_id: str | None = None,
            trigger: str = "", feedback: str = "") -> SkillRun:
    """Run one skill on its route; the artifact text is returned, not committed (``commit`` is None)."""
    from playbook.planning import readiness
    from playbook.planning.skills import render_skill
    from playbook.planning.stories import PLAN_SCHEMA, parse_plan

    skill = _skill(planner, skill_name)
    if not runnable(skill):
        raise SkillError(f"skill {skill.name} writes code in a target repository",
                         fix="run it there with `playbook dev --story <file> --repo-dir <target checkout>`; "
                         "`playbook skills run --print-prompt` shows its prompt")
    variables, inputs = variables_for(skill, ws, state, planner, story_id=story_id, feedback=feedback)
    prompt = render_skill(skill, variables)
    via = "the offline planner" if planner.router.offline else f"the {skill.model} route"
    planner.progress(f"{skill.name}: running on {via} …")
    schema = PLAN_SCHEMA if skill.output == "json" else None
    routed = planner.router.generate(skill.model, ModelRequest(prompt=prompt, model="", skill=skill.name,
                                                              system=SYSTEM_PROMPT, json_schema=schema,
                                                              variables=variables))
    _reject_secrets(routed.response.text, planner.secrets)
    if skill.output == "json":
        plan = parse_plan(routed.response.text)
        body = f"# {skill.name}\n\n```json\n{json.dumps(plan, indent=2)}\n```\n"
    else:
        body = clean_markdown(routed.response.text)
    if routed.response.provider == "offline" and not body.startswith(">"):
        from playbook.adapters.offline import BANNER

        body = BANNER + body
    usage = {"input_tokens": routed.response.usage.input_tokens,
             "output_tokens": routed.response.usage.output_tokens, "cost_usd": routed.cost_usd}
    meta: dict[str, Any] = {
        "schema_version": artifacts.SCHEMA_VERSION, "kind": "skill-run", "request": state.request,
        "issue": state.issue, "skill": skill.name, "model": routed.response.model,
        "provider": routed.response.provider, "usage": usage, "inputs": inputs, "created": planner.clock(),
    }
    if story_id:
        meta["story"] = story_id
    if trigger:
        meta["trigger"] = trigger[:100]
    if skill.name == readiness.SKILL:
        meta["verdict"], meta["blockers"] = readiness.parse_verdict(body)
    path = run_path(state.request, skill.name)
    text = artifacts.render(meta, body, "skill-run", source=path)
    return SkillRun(skill.name, path, None, routed.response.model, routed.response.provider, usage, text)


def last_trigger(ws: Workspace, request: str, skill: str) -> str | None:
    """What produced the committed run of ``skill`` (a re-delivered `/run` comment changes nothing)."""
    text = ws.read(run_path(request, skill))
    if text is None:
        return None
    try:
        meta, _ = artifacts.parse(text, "skill-run", source=run_path(request, skill))
    except ArtifactError:
        return None
    trigger: Any = meta.get("trigger")
    return trigger if isinstance(trigger, str) else None

