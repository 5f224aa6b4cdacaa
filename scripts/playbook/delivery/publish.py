"""Target side, second step: publish a dev run as the IaC pull request.

Runs in a job that holds the write token but never ran the Claude Code CLI. It
re-checks the patch against the diff policy, commits it in one commit through the
Git Data API on ``bmad/story-<issue>-<epic>-<n>``, opens or updates the PR (a draft
when the run was incomplete or a check failed), and reports back on the playbook issue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.config import Config
from playbook.errors import ArtifactError, PolicyError
from playbook.planning import artifacts
from playbook.ports import Forge, PullRequest, Workspace

PR_MARKER_RE = re.compile(r"<!-- bmad-story (\{[^<>]*\}) -->")
ISSUE_MARKER = "<!-- bmad-iac story={path} target={target} -->"
# The `/revise` and `/retry` comments already published on this PR, so a re-delivered one is skipped.
STEERED_RE = re.compile(r"<!-- bmad-steered comments=([0-9,]{0,1000}) -->")
MAX_STEERED = 50


@dataclass(frozen=True)
class Published:
    pull: PullRequest | None
    commit: str | None
    draft: bool
    findings: int
    message: str
    payload: dict[str, Any]
    outcome: str = "ready"  # one of artifacts.DEV_OUTCOMES
    reason: str = ""  # why a draft, a refusal or a failure: shown on the issue and in the tracking comment


def pr_marker(payload: dict[str, Any]) -> str:
    keep = {k: payload[k] for k in ("playbook_repo", "story_path", "issue", "target", "key")}
    return f"<!-- bmad-story {json.dumps(keep, separators=(',', ':'), sort_keys=True)} -->"


def _dev_usage_line(result: dict[str, Any]) -> str:
    from playbook.delivery import dev_usage

    line = dev_usage.marker(dev_usage.from_result(result))
    return f"\n{line}" if line else ""


def steered_comments(body: str) -> list[int]:
    """The ids of the steering comments whose change this PR body already carries."""
    match = STEERED_RE.search(body or "")
    return [int(n) for n in match.group(1).split(",") if n.isdigit()] if match else []


def _steered_line(previous: str, comment: int | None) -> str:
    ids = steered_comments(previous)
    if comment is not None and comment > 0 and comment not in ids:
        ids.append(comment)
    ids = ids[-MAX_STEERED:]
    return f"\n<!-- bmad-steered comments={','.join(map(str, ids))} -->" if ids else ""


def read_pr_marker(body: str) -> dict[str, Any] | None:
    match = PR_MARKER_RE.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    required = {"playbook_repo": str, "story_path": str, "issue": int, "target": str, "key": str}
    if not isinstance(data, dict) or set(data) != set(required):
        return None
    if any(not isinstance(data[k], t) for k, t in required.items()):
        return None
    return data


def load_result(result_dir: Path) -> dict[str, Any]:
    path = result_dir / "result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} not found", fix="run `playbook dev` first; its --out directory is --result") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not JSON: {exc}", fix="re-run `playbook dev`") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a JSON object", fix="re-run `playbook dev`")
    return data


def apply_patch(repo_dir: Path, patch: Path) -> None:
    if patch.is_file() and patch.stat().st_size:
        gitlib.git(repo_dir, "apply", "--index", "--whitespace=nowarn", str(patch))


def changed_files(repo_dir: Path, config: Config, kind: str, service: str | None = None) -> dict[str, str | None]:
    """The applied change as {path: text or None}, after the diff policy passed: the story's own
    paths when ``service`` is given, else the kind's configured prefixes."""
    from playbook.delivery.diffpolicy import check_changes, collect_changes, story_paths

    configured = config.target(kind).paths
    allowed = story_paths(kind, service, configured) if service else configured
    changes = collect_changes(repo_dir)
    violations = check_changes(changes, kind=kind, allowed_prefixes=allowed,
                               max_files=config.dev.max_files, max_file_bytes=config.dev.max_file_bytes)
    if violations:
        raise PolicyError("the change breaks the diff policy; nothing was published", violations=violations,
                          fix="re-dispatch the story (`/dispatch <story>`) after correcting it")
    files: dict[str, str | None] = {}
    for change in changes:
        path = change.path
        target = repo_dir / path
        files[path] = target.read_text(encoding="utf-8") if target.is_file() else None
    return files


def run_checks(repo_dir: Path, files: dict[str, str | None], kind: str, *,
               topology_file: Path | None = None) -> tuple[list[Any], list[str]]:
    """Pattern checks of the changed stacks or infra dirs, plus registry collisions when a registry is given."""
    from playbook.checks import check_path

    roots = sorted({"/".join(p.split("/")[:2]) for p in files if p.startswith("stacks/") or
                    (p.startswith("terraform/") and p.count("/") >= 2)}) if kind == "apps" else \
        sorted({p.split("/")[0] for p in files if "/" in p})
    findings: list[Any] = []
    for root in roots:
        if (repo_dir / root).exists():
            findings.extend(check_path(repo_dir / root, kind))
            if topology_file is not None:
                findings.extend(_collisions(repo_dir / root, topology_file))
    return findings, roots


def _collisions(path: Path, topology_file: Path) -> list[Any]:
    from playbook.checks import WARNING, Finding
    from playbook.errors import ValidationError
    from playbook.topology import collisions, registry

    try:
        data = registry.load(topology_file)
    except ValidationError as exc:
        return [Finding("topology", WARNING, str(topology_file), None, "the topology registry is invalid; "
                        "collisions were not checked", exc.fix or "run `playbook topology validate`")]
    return collisions.check_path(path, data, registry_file=registry.REGISTRY_PATH)


def publish(
    *,
    result_dir: Path,
    repo_dir: Path,
    playbook_dir: Path,
    config: Config,
    forge: Forge,
    make_workspace: Callable[[str, str], Workspace],
    server_url: str = "https://github.com",
    playbook_repo: str | None = None,
    steered_by: int | None = None,
) -> Published:
    """Publish one dev run. ``playbook_repo`` is the repository fixed by the caller workflow: a
    result whose payload names another is refused before anything is written or sent.
    ``steered_by`` is the `/revise` or `/retry` comment this run answers: the PR body records it, so
    `playbook steer` skips that comment when GitHub delivers it again."""
    from playbook.delivery.dispatch import story_branch
    from playbook.delivery.payloads import safe_story_path, validate_story_payload
    from playbook.planning.prompts import render_package_template
    from playbook.sanitize import cap, neutralize_for_github

    result = load_result(result_dir)
    payload = validate_story_payload(result.get("payload"))
    if playbook_repo and payload["playbook_repo"].lower() != playbook_repo.lower():
        raise PolicyError("the dev result names another playbook repository than the workflow's; nothing was published",
                          fix="dispatch stories only from the playbook repository set in bmad-story.yml")
    if result.get("failed"):
        cause = str(result["failed"])
        return Published(None, None, True, 0, f"the dev run failed: {cause}", payload, "failed", cause)
    story_file = safe_story_path(playbook_dir, payload["story_path"])
    story = artifacts.load_story(story_file)
    story = artifacts.Story(**{**story.__dict__, "path": payload["story_path"]})
    kind = payload["target"]
    apply_patch(repo_dir, result_dir / "changes.patch")
    try:
        files = changed_files(repo_dir, config, kind, story.service)
    except PolicyError as exc:  # over the caps, or a path the dev step should have reverted
        reason = "the change breaks the diff policy: " + "; ".join(exc.violations)[:500]
        return Published(None, None, True, 0, f"story {story.id}: {reason}", payload, "refused", reason)
    secrets = secret_findings(files)
    for path in {f.path for f in secrets}:
        files.pop(path, None)  # never committed, whatever the dev step let through
    refused = sorted({*(str(r) for r in result.get("refused") or []), *(f.path for f in secrets)})
    if not files:
        outcome, reason = "nothing to do", "the dev run changed nothing"
        if result.get("incomplete_reason"):
            outcome, reason = "failed", f"the dev run did not finish ({result['incomplete_reason']})"
        if refused or result.get("violations"):
            outcome = "refused"
            reason = "every change was refused by the policy: " + "; ".join(
                [str(v) for v in result.get("violations") or []] + [str(f) for f in secrets])[:500]
        return Published(None, None, True, 0, f"story {story.id}: {reason}", payload, outcome, reason[:600])
    from playbook.topology.registry import REGISTRY_PATH

    registry_file = playbook_dir / REGISTRY_PATH
    findings, checked = run_checks(repo_dir, files, kind, topology_file=registry_file if registry_file.is_file() else None)
    errors = [f for f in findings if f.severity == "error"]
    incomplete = result.get("incomplete_reason") or ("" if not result.get("incomplete") else "the run did not finish")
    violations = [str(v) for v in result.get("violations") or []] + [f"{f} (refused: never committed)" for f in secrets]
    if violations:
        reverted = "; ".join(violations)[:1000]
        incomplete = f"{incomplete + '; ' if incomplete else ''}the diff policy reverted changes ({reverted})"
    branch = story_branch(payload["story_path"], story.id)
    title = neutralize_for_github(f"bmad: story {story.id} — {story.title}".replace("\n", " "))[:250]
    base = forge.default_branch()
    commit = make_workspace(branch, base).commit(
        files, f"{title}\n\nStory {payload['story_path']} from {payload['playbook_repo']}.")
    pull = forge.find_pull(branch)
    body = render_package_template(
        "iac-pr.md.j2",
        marker=pr_marker(payload) + _dev_usage_line(result) + _steered_line(pull.body if pull else "", steered_by),
        incomplete=neutralize_for_github(str(incomplete)) if incomplete else "",
        story={"id": story.id, "title": neutralize_for_github(story.title), "issue": payload["issue"],
               "path": payload["story_path"],
               "acceptance_criteria": [neutralize_for_github(a) for a in story.acceptance_criteria]},
        playbook_repo=payload["playbook_repo"],
        merge_sha=payload["merge_sha"],
        checks=[{"severity": f.severity, "rule": f.rule, "file": _relative(f.file, repo_dir), "line": f.line,
                 "message": neutralize_for_github(f.message)} for f in findings],
        checked=checked,
        related=payload.get("related") or [],
        branch=branch,
        server=server_url,
        kind=kind,
        order=payload["order"],
        session_id=result.get("session_id") or "",
        num_turns=result.get("num_turns") or 0,
        cost=float(result.get("cost_usd") or 0.0),
        subtype=result.get("subtype") or "offline",
        files=sorted(files),
        refused=refused,
    )
    body = cap(body, 60_000)
    draft = bool(incomplete or errors)
    if pull is None:
        pull = forge.create_pull(branch, base, title, body, draft)
    else:
        if pull.body != body or pull.title != title:
            forge.update_pull(pull.number, title=title, body=body)
        converge_draft(forge, pull, draft)
    if kind == "apps":
        from playbook.delivery.deploy_comment import post_deploy_diff

        post_deploy_diff(forge, pull.number, repo_dir, files)
    why = "; ".join(filter(None, [str(incomplete or ""), f"{len(errors)} check errors" if errors else ""]))
    note = (f"story {story.id}: {'draft ' if draft else ''}PR #{pull.number} ({len(files)} files, "
            f"{len(errors)} check errors)" + (f"; {incomplete}" if incomplete else ""))
    return Published(pull, commit, draft, len(findings), note, payload, "draft" if draft else "ready", why[:600])


def converge_draft(forge: Forge, pull: PullRequest, draft: bool) -> None:
    """A re-run decides the PR's state: failing or incomplete → draft again; clean → ready."""
    if draft and not pull.draft:
        forge.mark_draft(pull)
    elif not draft and pull.draft:
        forge.mark_ready(pull)


def secret_findings(files: dict[str, str | None]) -> list[Any]:
    from playbook.delivery.secretscan import scan_files

    return scan_files(files)


def _relative(path: str, repo_dir: Path) -> str:
    """A finding's file as a repo-relative path (never the runner's absolute path)."""
    try:
        return Path(path).resolve().relative_to(repo_dir.resolve()).as_posix() if Path(path).is_absolute() else path
    except ValueError:
        return Path(path).name


def report_back(playbook_forge: Forge, *, payload: dict[str, Any], pull: PullRequest | None, target_repo: str,
                draft: bool, message: str = "", steered_commit: str = "") -> None:
    """One comment per story and target on the playbook issue, edited in place on re-runs.

    Every outcome is reported: the PR (ready, or a draft and why), nothing to do, a refusal or a
    failure with its cause. ``message`` is our own text about model output; it is neutralised.
    ``steered_commit`` is the commit a `/revise` or `/retry` on the PR added: the report names it.
    """
    from playbook.sanitize import cap, neutralize_for_github

    marker = ISSUE_MARKER.format(path=payload["story_path"], target=payload["target"])
    name = payload["story_path"].rsplit("/", 1)[-1]
    if pull is not None:
        state = "a draft (incomplete or failing checks)" if draft else "ready for review"
        body = f"{marker}\nStory `{name}` → {target_repo}#{pull.number} is {state}: {pull.html_url}"
        if message:
            body += f"\n\n{'Why a draft' if draft else 'Note'}: {neutralize_for_github(message)}"
        if re.fullmatch(r"[0-9a-f]{7,40}", steered_commit):
            body += f"\n\nRevised from the PR conversation: commit {steered_commit[:12]}."
    else:
        body = (f"{marker}\nStory `{name}` in {target_repo}: no pull request. "
                f"{neutralize_for_github(message)}\n\nRetry with `/dispatch {name.removesuffix('.md')}`.")
    body = cap(body, 60_000)
    # Matched by marker alone: the token may belong to a person, and the comment is only ever
    # overwritten with our own text, never read for decisions.
    for comment in playbook_forge.list_comments(payload["issue"]):
        if comment.body.startswith(marker):
            if comment.body != body:
                playbook_forge.edit_comment(comment.id, body)
            return
    playbook_forge.create_comment(payload["issue"], body)


def record_review(playbook_workspace: Workspace, *, payload: dict[str, Any], pull: PullRequest | None,
                  target_repo: str, outcome: str = "ready", reason: str = "") -> None:
    """The run's outcome on the story, in one commit: the PR and status ``review`` when there is a
    PR, and ``dev_runs`` (shown in the tracking comment) always. Without a PR the status stays
    dispatchable, so `/dispatch <story>` retries it. Human edits to other fields stay."""
    from playbook.planning.pipeline import update_stories

    text = playbook_workspace.read(payload["story_path"])
    if text is None:
        return
    story = artifacts.story_from_text(text, path=payload["story_path"])
    changes: dict[str, Any] = {}
    if pull is not None:
        prs = [p for p in (story.metadata.get("pull_requests") or []) if p["repo"] != target_repo]
        prs.append({"target": payload["target"], "repo": target_repo, "number": pull.number, "url": pull.html_url,
                    "merged": False})
        changes["pull_requests"] = prs
        changes["status"] = "review" if story.status in ("ready-for-dev", "in-progress") else story.status
    run = {"target": payload["target"], "outcome": outcome, **({"reason": reason[:600]} if reason else {})}
    runs = [r for r in (story.metadata.get("dev_runs") or []) if r.get("target") != payload["target"]] + [run]
    changes["dev_runs"] = runs
    changes = {k: v for k, v in changes.items() if story.metadata.get(k) != v}
    if changes:
        where = f"in review as {target_repo}#{pull.number}" if pull is not None else f"dev run {outcome} in {target_repo}"
        update_stories(playbook_workspace, {story.path: changes}, f"bmad: story {story.id} {where}")
