"""Delivery: stories leave the playbook (dispatch) and come back deployed.

Merging the planning PR, `/dispatch` and the scheduled reconcile all end in ``send``;
the target repos report merged IaC PRs with ``bmad-deployed``.
"""

from __future__ import annotations

from typing import Any

from playbook.errors import ForgeError, MissingSecretError, NotFoundError, PayloadError, PlaybookError
from playbook.intake import tracking
from playbook.intake.github_flow import (
    Deps,
    Located,
    begin_step,
    load_request_state,
    locate,
    read_state,
    run_step,
    sync_labels,
    update_tracking,
)
from playbook.planning import artifacts, pipeline
from playbook.ports import PullRequest, Workspace


def send(deps: Deps, ws: Workspace, stories: list[artifacts.Story], *, merge_sha: str, loc: Located | None,
          labels: tuple[str, ...], pull: PullRequest | None, explicit: bool = False,
          parts: list[Any] | None = None) -> int:
    """Dispatch the parts of ``stories`` their dependencies allow now (``delivery.order``), or the
    ``parts`` a caller already chose."""
    from playbook.delivery import order
    from playbook.delivery.dispatch import EVENT_STORY, plan_dispatches

    token = deps.settings.dispatch_token
    failures: list[str] = []
    sent: set[str] = set()
    stories, held = _hold_blocked(ws, stories, failures)
    for note in held:
        deps.log(note)
    if parts is not None:
        kept = {s.path for s in stories}
        parts = [p for p in parts if p.story.path in kept]
    siblings = _siblings(ws, stories)
    collisions = artifacts.story_collisions(siblings) or order.problems(siblings)
    for problem in collisions:
        deps.log(f"not dispatching: {problem}")
    if collisions:
        parts = []
    elif parts is None:
        parts = order.ready_parts(siblings, _fresh(stories, siblings), explicit=explicit)
    for story in stories:
        if not any(p.story.path == story.path for p in parts) and (why := order.waiting_for(story, siblings)):
            deps.log(f"story {story.id} waits for {why}")
    if collisions:
        failures.extend(collisions)
    elif not parts:
        pass
    elif not token:
        failures.append("BMAD_DISPATCH_TOKEN is not set")
    else:
        for d in plan_dispatches(stories, deps.config, playbook_repo=deps.forge.repo, merge_sha=merge_sha,
                                 parts=parts):
            try:
                deps.make_remote_forge(d.repo, token).dispatch(d.repo, EVENT_STORY, d.payload)
                sent.add(d.story.path)
                deps.log(f"dispatched story {d.story.id} to {d.repo} ({d.kind})")
            except PlaybookError as exc:
                failures.append(f"story {d.story.id} → {d.repo}: {exc.message.splitlines()[0]}")
    changes = {s.path: {"status": "in-progress"} for s in stories if s.path in sent and s.status != "in-progress"}
    if changes:
        pipeline.update_stories(ws, changes, f"bmad: dispatch {len(changes)} stor{'y' if len(changes) == 1 else 'ies'}")
    if loc is not None:
        failure = None
        if failures:
            fix = ("remove or renumber the colliding story files on the default branch, or correct their "
                   "depends_on (no unknown stories, no circles), then /dispatch" if collisions
                   else "set the BMAD_DISPATCH_TOKEN secret (a fine-grained PAT or App token with "
                   "Contents: write on the target repos), check playbook.yaml targets, then /dispatch")
            failure = tracking.Failure("Dispatch", "; ".join(failures)[:500], fix)
        try:
            state = load_request_state(ws, loc)
        except PlaybookError:  # colliding story files make the request unreadable; the failure says why
            if not collisions:
                raise
            state = None
        update_tracking(deps, loc, ws, state, pull=pull, failure=failure, notice=" ".join(held))
        if failures and state is None:
            if "bmad:failed" not in labels:
                deps.forge.set_labels(loc.issue, {"bmad:failed"}, set())
        elif failures:
            sync_labels(deps, loc.issue, labels, state, "bmad:failed")
    return 1 if failures else 0


def _prefetch(ws: Workspace, paths: list[str]) -> None:
    """Read these files in one round trip where the workspace can (GitHub: one GraphQL query)."""
    prefetch = getattr(ws, "prefetch", None)
    if prefetch is not None:
        prefetch(paths)


def _hold_blocked(ws: Workspace, stories: list[artifacts.Story],
                  failures: list[str]) -> tuple[list[artifacts.Story], list[str]]:
    """Stories a person marked ``blocked`` in sprint-status.yaml stay home (notes say which).
    An unreadable sprint-status.yaml holds its request's stories back too, as a failure."""
    from playbook.errors import ArtifactError
    from playbook.planning import sprint_status

    keep: list[artifacts.Story] = []
    held: list[str] = []
    human: dict[str, dict[str, str] | None] = {}
    for story in stories:
        path = artifacts.sprint_status_path(story.request)
        if path not in human:
            try:
                human[path] = sprint_status.human_status(ws.read(path), source=path)
            except ArtifactError as exc:
                human[path] = None
                failures.append(exc.message.splitlines()[0])
        statuses = human[path]
        if statuses is None:
            continue
        if statuses.get(sprint_status.story_key(story)) == sprint_status.BLOCKED:
            held.append(f"Story {story.id} is `blocked` in sprint-status.yaml and was not dispatched; "
                        "change that status to dispatch it (`/dispatch` after).")
            continue
        keep.append(story)
    return keep, held


def _siblings(ws: Workspace, stories: list[artifacts.Story]) -> list[artifacts.Story]:
    """Every readable story file in the folders of the stories being dispatched (the whole request)."""
    present = []
    folders = sorted({s.path.rsplit("/", 1)[0] for s in stories})
    _prefetch(ws, [p for folder in folders for p in ws.list(folder) if artifacts.is_story_path(p)])
    for folder in folders:
        for path in ws.list(folder):
            if "/" in path[len(folder) + 1:] or not artifacts.is_story_path(path):
                continue
            try:
                present.append(artifacts.story_from_text(ws.read(path) or "", path=path))
            except PlaybookError:
                continue  # an unreadable file is reported where it is read; it holds no id to collide
    return present


def _fresh(stories: list[artifacts.Story], siblings: list[artifacts.Story]) -> list[artifacts.Story]:
    """``stories`` as the branch holds them now (a sibling read later wins over a stale copy)."""
    by_path = {s.path: s for s in siblings}
    return [by_path.get(s.path, s) for s in stories]


def on_dispatch_merged(action: Any, deps: Deps) -> int:
    """Dispatch the ready stories a merged planning PR brought. Over a batching forge the request's
    issue (its number leads the request id of the story paths) is read first, so the default
    branch's request files come with the branch read and the tracking comment by its id."""
    from playbook.delivery.payloads import safe_story_path

    paths = []
    for path in deps.forge.pull_files(action.pr):
        if path.startswith(artifacts.IMPLEMENTATION_DIR + "/") and artifacts.is_story_path(path):
            try:
                safe_story_path(deps.settings.root, path)
            except PlaybookError as exc:
                deps.log(f"skipping {path!r}: {exc.message}")
                continue
            paths.append(path)
    requests = sorted({r for r in map(artifacts.request_of_path, paths) if r})
    if requests and getattr(deps.forge, "begin_step", None) is not None:
        number = int(requests[0].split("-", 1)[0])
        try:
            step = begin_step(deps, number)
        except NotFoundError:  # a local request's number is no issue here
            step = None
        if step is not None:
            return run_step(step, lambda: _dispatch_merged(action, step, paths, number))
    return _dispatch_merged(action, deps, paths, None)


def _dispatch_merged(action: Any, deps: Deps, paths: list[str], hint: int | None) -> int:
    base = deps.forge.default_branch()
    early = None
    if hint is not None:  # the request's files on the default branch come with read 2
        issue = deps.forge.get_issue(hint)
        early = locate(deps, issue.number, issue.title, comment_count=issue.comments)
        early.shared = True  # runs in the planning PR's group, not the issue's
    ws = deps.make_workspace(base, base)
    stories = []
    _prefetch(ws, paths)
    for path in sorted(paths):
        text = ws.read(path)
        if text is None:
            continue
        story = artifacts.story_from_text(text, path=path)
        if story.status == "ready-for-dev":
            stories.append(story)
    if not stories:
        deps.log(f"PR #{action.pr} merged with no ready-for-dev stories; nothing to dispatch")
        return 0
    issue_number = stories[0].issue
    loc = None
    labels: tuple[str, ...] = ()
    if issue_number and early is not None and issue_number == hint:
        loc, labels = early, deps.forge.get_issue(issue_number).labels
    elif issue_number:
        try:
            issue = deps.forge.get_issue(issue_number)
            loc = locate(deps, issue.number, issue.title, comment_count=issue.comments)
            loc.shared = True  # runs in the planning PR's group, not the issue's
            labels = issue.labels
        except NotFoundError:
            loc = None
    return send(deps, ws, stories, merge_sha=action.merge_sha, loc=loc, labels=labels,
                 pull=deps.forge.find_pull(loc.branch) if loc else None)


def on_mark_deployed(action: Any, deps: Deps) -> int:
    from playbook.delivery.payloads import safe_story_path

    payload = action.payload
    safe_story_path(deps.settings.root, payload["story_path"])
    deployed_sender_problems(payload, deps)  # before anything is read or written
    base = deps.forge.default_branch()
    ws = deps.make_workspace(base, base)
    text = ws.read(payload["story_path"])
    if text is None:
        deps.log(f"{payload['story_path']} is not on {base}; nothing to mark")
        return 0
    story = artifacts.story_from_text(text, path=payload["story_path"])
    # a local request (the demo) has no issue: its payloads name the request number (dispatch.plan_dispatches)
    if (story.issue or int(story.request.split("-", 1)[0])) != payload["issue"]:
        raise PayloadError("bmad-deployed refused: the story belongs to another issue; nothing was changed",
                           fix="only the target workflow installed by `playbook init-target` sends bmad-deployed")
    if story.target not in (payload["target"], "both"):
        raise PayloadError(f"bmad-deployed refused: story {story.id} does not target {payload['target']}",
                           fix="only the target workflow installed by `playbook init-target` sends bmad-deployed")
    prs = list(story.metadata.get("pull_requests") or [])
    entry = {"target": payload["target"], "repo": payload["repo"], "number": payload["pr"],
             "url": f"{deps.settings.github_server_url}/{payload['repo']}/pull/{payload['pr']}", "merged": True}
    prs = [p for p in prs if not (p["repo"] == entry["repo"] and p["number"] == entry["number"])] + [entry]
    done_targets = {p["target"] for p in prs if p.get("merged")}
    from playbook.delivery.dispatch import resolve_target
    from playbook.delivery.routing import kinds_for

    needed = set(kinds_for(resolve_target(story)))
    status = "done" if needed <= done_targets else story.status
    from playbook.planning import ledger

    spent = ledger.dev_entry(payload["target"], payload["repo"], payload["pr"], payload.get("dev_usage"))
    runs = [r for r in story.metadata.get("dev_usage") or []
            if not (r["repo"] == spent["repo"] and r["pr"] == spent["pr"])] + [spent]
    changes = {"pull_requests": prs, "status": status, "dev_usage": runs}
    notice = ""
    changed = any(story.metadata.get(k) != v for k, v in changes.items())
    if changed:
        registry_files, notice = _refreshed_registry(deps, ws, payload)
        pipeline.update_stories(ws, {story.path: changes},
                                f"bmad: story {story.id} deployed via {payload['repo']}#{payload['pr']}",
                                extra_files=registry_files)
    loc = None
    labels: tuple[str, ...] = ()
    if story.issue:
        try:
            issue = deps.forge.get_issue(story.issue)
            loc, labels = locate(deps, issue.number, issue.title, comment_count=issue.comments), issue.labels
        except NotFoundError:
            loc = None
    return _dispatch_unblocked(deps, ws, story, loc=loc, labels=labels, first_report=changed, notice=notice)


def _dispatch_unblocked(deps: Deps, ws: Workspace, deployed: artifacts.Story, *, loc: Located | None,
                        labels: tuple[str, ...], first_report: bool, notice: str = "") -> int:
    """After a merge report: send what it unblocked — the next part of this story (only on the first
    delivery of the report; a re-delivered one sends nothing twice) and stories that depended on it."""
    from playbook.delivery import order

    siblings = _siblings(ws, [deployed])
    here = [s for s in siblings if s.path == deployed.path]
    others = [s for s in siblings if s.path != deployed.path]
    unblocked = (order.ready_parts(siblings, here, explicit=True) if first_report else []) + order.ready_parts(
        siblings, others)
    pull = deps.forge.find_pull(loc.branch) if loc else None
    if unblocked:
        deps.log("unblocked: " + ", ".join(f"story {p.story.id} ({p.kind})" for p in unblocked))
        return send(deps, ws, [p.story for p in unblocked], merge_sha=ws.head() or "", loc=loc, labels=labels,
                    pull=pull, parts=unblocked)
    if loc is not None:
        state, broken = read_state(ws, loc)
        update_tracking(deps, loc, ws, state, pull=pull, failure=broken, notice=notice)
    return 0


def deployed_sender_problems(payload: dict[str, Any], deps: Deps) -> None:
    """A bmad-deployed is accepted only from a configured target of the kind it names, for this repo.

    Anyone with a token that can dispatch to the playbook can send one, so the payload's own
    claims are checked against playbook.yaml, never trusted.
    """
    problems = []
    if payload["playbook_repo"].lower() != deps.forge.repo.lower():
        problems.append("client_payload.playbook_repo: not this repository")
    configured = deps.config.targets.get(payload["target"])
    if configured is None:
        problems.append(f"client_payload.target: no {payload['target']} target in playbook.yaml")
    elif configured.repo.lower() != payload["repo"].lower():
        problems.append(f"client_payload.repo: not the configured {payload['target']} target")
    if problems:
        raise PayloadError("bmad-deployed refused; nothing was changed", problems=problems,
                           fix="set `targets:` in playbook.yaml to the repositories that may report deployments")


def _refreshed_registry(deps: Deps, ws: Workspace, payload: Any) -> tuple[dict[str, str | None], str]:
    """The topology registry refreshed from the merged PR's files, for the commit that marks the story done.

    A registry that cannot be refreshed never blocks marking the story: the tracking comment says why
    (and `playbook topology import` or the next merge brings it up to date)."""
    from playbook.topology import refresh, registry

    token = deps.settings.dispatch_token
    if not token:
        return {}, ("The topology registry was not updated: BMAD_DISPATCH_TOKEN (read access to the target repos) "
                    "is not set.")
    try:
        previous_text = ws.read(registry.REGISTRY_PATH)
        previous = registry.parse(previous_text, source=registry.REGISTRY_PATH) if previous_text else None
        remote = deps.make_remote_forge(payload["repo"], token)
        tree = remote.read_tree(payload["merge_sha"])
        changed = remote.pull_files(payload["pr"])
        data, warnings = refresh.refresh(previous, repo=payload["repo"], changed=changed, tree=sorted(tree),
                                         read=lambda path: remote.read_blob(tree[path]) if path in tree else None)
        for warning in warnings:
            deps.log(f"topology: {warning}")
        text = registry.dump(data)
    except PlaybookError as exc:
        deps.log(f"topology registry not updated: {exc}")
        return {}, f"The topology registry was not updated: {exc.message.splitlines()[0][:300]}"
    return ({registry.REGISTRY_PATH: text} if text != previous_text else {}), ""


def on_reconcile(action: Any, deps: Deps) -> int:
    """Dispatch stories that are ready-for-dev on the default branch (e.g. merged by automation)."""
    from playbook.delivery.order import awaiting_dispatch
    from playbook.delivery.payloads import safe_story_path

    base = deps.forge.default_branch()
    ws = deps.make_workspace(base, base)
    by_issue: dict[int | None, list[artifacts.Story]] = {}
    _prefetch(ws, [p for p in ws.list(artifacts.IMPLEMENTATION_DIR) if artifacts.is_story_path(p)])
    for path in ws.list(artifacts.IMPLEMENTATION_DIR):
        if artifacts.is_story_path(path):
            try:
                safe_story_path(deps.settings.root, path)
                story = artifacts.story_from_text(ws.read(path) or "", path=path)
            except PlaybookError as exc:
                deps.log(f"skipping {path}: {exc.message.splitlines()[0]}")
                continue
            if awaiting_dispatch(story):  # never sent, or the apps part of a `both` story whose infra merged
                by_issue.setdefault(story.issue, []).append(story)
    if not by_issue:
        deps.log("reconcile: every story is dispatched")
        return 0
    rc = 0
    head = ws.head() or ""
    for issue_number, stories in sorted(by_issue.items(), key=lambda kv: kv[0] or 0):
        loc = None
        labels: tuple[str, ...] = ()
        if issue_number:
            try:
                issue = deps.forge.get_issue(issue_number)
                loc, labels = locate(deps, issue.number, issue.title, comment_count=issue.comments), issue.labels
                loc.shared = True  # the sweep runs beside the issue's own runs
            except (NotFoundError, ForgeError):
                loc = None
        rc |= send(deps, ws, stories, merge_sha=head, loc=loc, labels=labels,
                    pull=deps.forge.find_pull(loc.branch) if loc else None)
    return rc


def on_report_deployed(action: Any, deps: Deps) -> int:
    """Target side: our IaC PR merged — tell the playbook repo (bmad-deployed)."""
    from playbook.delivery.dispatch import EVENT_DEPLOYED
    from playbook.delivery.payloads import validate_deployed_payload
    from playbook.delivery.publish import read_pr_marker

    pull = deps.forge.find_pull(action.head_ref)
    if pull is None or not pull.merged:
        deps.log(f"{action.head_ref}: no merged pull request; nothing to report")
        return 0
    story = read_pr_marker(pull.body)
    if story is None:
        deps.log(f"PR #{pull.number} has no story marker; not ours")
        return 0
    token = deps.settings.playbook_token
    if not token:
        raise MissingSecretError("BMAD_PLAYBOOK_TOKEN")
    from playbook.delivery import dev_usage

    report: dict[str, Any] = {
        "v": 1, "playbook_repo": story["playbook_repo"], "story_path": story["story_path"], "issue": story["issue"],
        "target": story["target"], "repo": deps.forge.repo, "pr": pull.number, "merge_sha": action.merge_sha,
        "key": story["key"],
    }
    spent = dev_usage.read_marker(pull.body)
    if spent is not None:
        report["dev_usage"] = spent
    payload = validate_deployed_payload(report)
    deps.make_remote_forge(story["playbook_repo"], token).dispatch(story["playbook_repo"], EVENT_DEPLOYED, payload)
    deps.log(f"reported {story['story_path']} deployed to {story['playbook_repo']}")
    return 0


