"""`/run <skill> [story]` on a request issue: run one skill and commit its output on the request branch.

The command was authorised by ``planning_flow.on_command`` before it got here. The run is the
library's (``planning.skill_run``); this module finds the branch, recognises a re-delivered
comment by the trigger recorded in the output, and replies with the result or the failure.
"""

from __future__ import annotations

from typing import Any

from playbook.errors import PlaybookError
from playbook.intake.github_flow import (
    Deps,
    Located,
    finish,
    load_request_state,
    reply_once,
    require_model_secrets,
)
from playbook.planning.state import RequestState
from playbook.ports import PullRequest, Workspace


def runnable_skill_names(deps: Deps) -> tuple[str, ...]:
    from playbook.planning.skill_run import runnable
    from playbook.planning.skills import load_skills

    try:
        skills = load_skills(deps.settings.root / "skills", aliases=set(deps.config.models))
    except PlaybookError as exc:
        deps.log(f"skills not listed: {exc.message.splitlines()[0]}")
        return ()
    return tuple(name for name, skill in skills.items() if runnable(skill))


def on_run(action: Any, deps: Deps, loc: Located, ws: Workspace, pull: PullRequest | None,
           state: RequestState, labels: tuple[str, ...]) -> int:
    from playbook.planning import skill_run
    from playbook.sanitize import neutralize_for_github

    name, story_id = action.command.args[0], (action.command.args[1] if len(action.command.args) > 1 else None)
    trigger = f"comment:{action.comment_id}"
    branch_ws = deps.make_workspace(loc.branch, loc.base)  # the request branch, also after the planning PR merged
    branch_state = load_request_state(branch_ws, loc) or state
    if skill_run.last_trigger(branch_ws, branch_state.request, name) == trigger:
        deps.log(f"comment {action.comment_id} already ran {name}")
        return 0
    try:
        require_model_secrets(deps)
        result = skill_run.run(name, branch_ws, branch_state, deps.make_planner(), story_id=story_id, trigger=trigger)
    except PlaybookError as exc:
        reply_once(deps, loc, action.comment_id,
                   f"`/run {name}` failed: {neutralize_for_github(exc.message.splitlines()[0])[:500]}\n\n"
                   f"**What to do:** {neutralize_for_github(exc.fix or '/run it again')}")
        deps.log(f"/run {name} failed: {exc.message.splitlines()[0]}")
        return 1
    link = f"{deps.settings.github_server_url}/{deps.forge.repo}/blob/{result.commit or loc.branch}/{result.path}"
    usage = result.usage
    reply_once(deps, loc, action.comment_id,
               f"`/run {name}`{f' on story {story_id}' if story_id else ''}: committed [{result.path.rsplit('/', 1)[-1]}]"
               f"({link}) on `{loc.branch}` — {result.model} ({result.provider}), tokens "
               f"{usage['input_tokens']} / {usage['output_tokens']}, est. ${usage['cost_usd']:.4f}.")
    if branch_ws.branch == ws.branch:  # e.g. a readiness report changes what the tracking comment shows
        finish(deps, loc, branch_ws, pull, labels)
    return 0
