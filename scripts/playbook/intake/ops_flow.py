"""`/ops <question>` on any issue: one read-only reply with its cost and the files it used.

The only write is that reply (``reply_once``, so a re-delivered event answers once). Reads: the
registry and the request's artifacts on the default branch, and one tree listing per target repo.
"""

from __future__ import annotations

from typing import Any

from playbook.errors import MissingSecretError, PlaybookError
from playbook.intake.github_flow import (
    REPLY_MARKER,
    Deps,
    Located,
    is_ours,
    reply_once,
    require_model_secrets,
)


def _request_artifacts(ws: Any, issue: int) -> dict[str, str]:
    from playbook.planning import artifacts
    from playbook.planning.state import find_request

    request = find_request(ws, issue)
    if not request:
        return {}
    out = {}
    for path in ws.list(artifacts.planning_dir(request)):
        if path.endswith(".md") and (text := ws.read(path)):
            out[path] = text
    return out


def on_ops(action: Any, deps: Deps, loc: Located) -> int:
    from playbook.planning import ops
    from playbook.topology import registry

    question = action.command.text
    marker = REPLY_MARKER.format(comment_id=action.comment_id)
    if any(marker in c.body for c in loc.comments if is_ours(c, deps)):
        deps.log(f"/ops comment {action.comment_id} was already answered")
        return 0  # a re-delivered event: no second model call, no second reply
    try:
        require_model_secrets(deps)
    except MissingSecretError as exc:
        reply_once(deps, loc, action.comment_id, f"`/ops` cannot answer: {exc.message}. Fix: {exc.fix}")
        return 0
    ws = deps.make_workspace(loc.base, loc.base)
    registry_text = ws.read(registry.REGISTRY_PATH) or ""
    try:
        registry_data = registry.parse(registry_text) if registry_text else None
    except PlaybookError as exc:
        registry_data = None
        deps.log(f"/ops: registry unreadable: {exc.message.splitlines()[0]}")
    trees: dict[str, list[str]] = {}
    if deps.settings.dispatch_token:
        for kind in ("infra", "apps"):
            repo = deps.config.target(kind).repo
            try:
                remote = deps.make_remote_forge(repo, deps.settings.dispatch_token)
                head = remote.branch_head(remote.default_branch())
                trees[repo] = sorted(remote.read_tree(head)) if head else []
            except PlaybookError as exc:
                deps.log(f"/ops: cannot list {repo}: {exc.message.splitlines()[0]}")
    try:
        result = ops.answer(deps.make_planner().router, question, registry_text=registry_text,
                            registry_data=registry_data, trees=trees, artifacts=_request_artifacts(ws, loc.issue))
    except PlaybookError as exc:
        reply_once(deps, loc, action.comment_id, f"`/ops` could not answer: {exc.message.splitlines()[0][:300]}. "
                                                 f"{exc.fix or 'Try again later.'}")
        return 1
    reply_once(deps, loc, action.comment_id, ops.render_reply(result, question))
    return 0
