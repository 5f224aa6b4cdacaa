"""What one step costs, pinned exactly: the planner is built once per run and parses only the skill
it runs (call counts through the real code against the loopback fakes, never timings)."""

from __future__ import annotations

from flow_harness import PIHOLE, REPO, Harness


def _spy(h: Harness) -> dict[str, list[str]]:
    from playbook.planning import local, skills

    seen: dict[str, list[str]] = {"planners": [], "skills": []}
    build, parse = local.build_planner, skills.parse_skill

    def counting_build(*args, **kwargs):
        seen["planners"].append("built")
        return build(*args, **kwargs)

    def counting_parse(path, *args, **kwargs):
        seen["skills"].append(path.parent.name)
        return parse(path, *args, **kwargs)

    h.monkeypatch.setattr(local, "build_planner", counting_build)
    h.monkeypatch.setattr(skills, "parse_skill", counting_parse)
    return seen


def test_a_planning_step_builds_one_planner_and_parses_one_skill(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    seen = _spy(h)
    assert h.labeled(issue) == 0
    assert seen == {"planners": ["built"], "skills": ["create-product-brief"]}
    # /approve: the approval and the next draft share one planner; only the PRD skill is read.
    seen["planners"].clear()
    seen["skills"].clear()
    h.answer("create-prd")
    assert h.comment(issue, "/approve") == 0
    assert seen == {"planners": ["built"], "skills": ["create-prd"]}


def test_commands_that_run_no_phase_build_no_planner(h: Harness):
    issue = h.github.add_issue(REPO, PIHOLE, "", labels=["bmad:brief"])
    h.answer("create-product-brief")
    assert h.labeled(issue) == 0
    seen = _spy(h)
    for command in ("/status", "/help", "/cost"):
        assert h.comment(issue, command) == 0
    assert seen == {"planners": [], "skills": []}
