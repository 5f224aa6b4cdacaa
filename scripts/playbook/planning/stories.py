"""The Epics & Stories phase: the model's JSON plan, its validation, and the files it becomes.

The model answers with JSON matching ``PLAN_SCHEMA`` (also sent to Gemini as the
response schema). The plan is rendered into ``epics.md``, one story file per story
and ``sprint-status.yaml`` — the story files are what gets dispatched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from playbook.errors import ModelOutputError
from playbook.planning import artifacts

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "epics", "open_questions"],
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 4000},
        "open_questions": {"type": "array", "items": {"type": "string", "maxLength": 1000}, "maxItems": 30},
        "epics": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["number", "title", "goal", "stories"],
                "properties": {
                    "number": {"type": "integer", "minimum": 1, "maximum": 999},
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "goal": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "stories": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 30,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": [
                                "number", "title", "service", "target", "depends_on", "user_story",
                                "acceptance_criteria", "tasks", "notes",
                            ],
                            "properties": {
                                "number": {"type": "integer", "minimum": 1, "maximum": 999},
                                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                                "service": {"type": "string", "pattern": artifacts.SERVICE_RE.pattern},
                                "target": {"enum": list(artifacts.TARGETS)},
                                "depends_on": {"type": "array", "items": {"type": "string", "pattern": artifacts.STORY_ID_RE.pattern}},
                                "user_story": {"type": "string", "minLength": 1, "maxLength": 2000},
                                "acceptance_criteria": {"type": "array", "minItems": 1, "maxItems": 30,
                                                        "items": {"type": "string", "minLength": 1, "maxLength": 1000}},
                                "tasks": {"type": "array", "maxItems": 40, "items": {"type": "string", "maxLength": 1000}},
                                "notes": {"type": "string", "maxLength": 4000},
                            },
                        },
                    },
                },
            },
        },
    },
}


def parse_plan(text: str) -> dict[str, Any]:
    """Parse and validate the model's plan; every problem is listed."""
    from playbook.schemas import schema_problems

    raw = text.strip()
    if raw.startswith("```"):
        raw = raw.split("\n", 1)[1] if "\n" in raw else ""
        raw = raw.rsplit("```", 1)[0]
    try:
        plan = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelOutputError(f"the stories plan is not valid JSON ({exc.msg} at char {exc.pos})",
                               fix="/retry; if it persists, /revise asking for a smaller plan") from None
    problems = schema_problems(PLAN_SCHEMA, plan, top="(plan)")
    if not problems:
        problems = _semantic_problems(plan)
    if problems:
        raise ModelOutputError(
            "the stories plan does not match the schema:\n" + "\n".join(f"  - {p}" for p in problems[:20]),
            fix="/retry, or /revise with guidance; nothing was committed",
        )
    return plan


def _semantic_problems(plan: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    epic_numbers = [e["number"] for e in plan["epics"]]
    if len(set(epic_numbers)) != len(epic_numbers):
        problems.append("epic numbers repeat")
    for epic in plan["epics"]:
        numbers = [s["number"] for s in epic["stories"]]
        if len(set(numbers)) != len(numbers):
            problems.append(f"epic {epic['number']}: story numbers repeat")
    from playbook.planning.dependencies import graph_problems

    edges = {f"{epic['number']}.{story['number']}": list(story["depends_on"])
             for epic in plan["epics"] for story in epic["stories"]}
    problems.extend(graph_problems(edges))
    return problems


def story_files(
    plan: Mapping[str, Any],
    *,
    request: str,
    issue: int | None,
    revision: int,
    title: str,
) -> dict[str, str]:
    """Render epics body and story files; returns {path: text} (epics.md body under key 'epics')."""
    from playbook.planning.prompts import render_package_template
    from playbook.sanitize import slugify

    files: dict[str, str] = {}
    impl = artifacts.implementation_dir(request)
    for epic in plan["epics"]:
        for story in epic["stories"]:
            sid = f"{epic['number']}.{story['number']}"
            body = render_package_template("story.md.j2", id=sid, story=story, epic=epic)
            meta = {
                "schema_version": artifacts.SCHEMA_VERSION,
                "kind": "story",
                "request": request,
                "issue": issue,
                "id": sid,
                "epic": epic["number"],
                "title": story["title"],
                "target": story["target"],
                "service": story["service"],
                "depends_on": list(story["depends_on"]),
                "status": "backlog",
                "acceptance_criteria": list(story["acceptance_criteria"]),
                "revision": revision,
            }
            path = f"{impl}/{artifacts.story_filename(sid, slugify(story['title'], max_len=40))}"
            files[path] = artifacts.render(meta, body, "story", source=path)
    files["epics"] = render_package_template("epics.md.j2", plan=plan, title=title)
    return files


def sprint_status(stories: list[artifacts.Story], *, request: str, existing: str | None = None) -> str:
    """BMAD's sprint-status.yaml, derived from the stories (round-trip: see ``planning.sprint_status``)."""
    from playbook.planning import sprint_status

    return sprint_status.update(stories, request=request, existing=existing)
