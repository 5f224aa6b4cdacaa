"""Target side, the publish job's wiring: the real adapters around ``delivery.publish``.

It holds the target repo's ``GITHUB_TOKEN`` and the playbook's ``BMAD_PLAYBOOK_TOKEN``; it never
ran the Claude Code CLI. After the IaC PR is published it reports back on the playbook issue and
re-renders the tracking comment there, which is why it lives in intake and not in delivery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playbook.config import Config
from playbook.delivery.publish import Published, publish, record_review, report_back
from playbook.delivery.receive import Receipt
from playbook.errors import PolicyError
from playbook.ports import Forge, Workspace


def run_publish(settings: Any, *, result_dir: Path, repo_dir: Path, playbook_dir: Path,
                playbook_repo: str | None = None, steered_by: int | None = None) -> Published:
    """Wire the real adapters: the target repo with GITHUB_TOKEN, the playbook repo with BMAD_PLAYBOOK_TOKEN."""
    from playbook.adapters.github import GitHubForge, GitHubWorkspace
    from playbook.config import load_config
    from playbook.errors import MissingSecretError

    token = settings.require("github_token", "GITHUB_TOKEN")
    if not settings.github_repository:
        raise MissingSecretError("GITHUB_REPOSITORY", where="run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name")
    config = load_config(playbook_dir)
    forge = GitHubForge(settings.github_repository, token, base_url=settings.github_api_url)
    outcome = publish(
        result_dir=result_dir, repo_dir=repo_dir, playbook_dir=playbook_dir, config=config, forge=forge,
        make_workspace=lambda branch, base: GitHubWorkspace(forge, branch, base_branch=base),
        server_url=settings.github_server_url, playbook_repo=playbook_repo, steered_by=steered_by,
    )
    playbook_token = settings.require("playbook_token", "BMAD_PLAYBOOK_TOKEN")
    payload = outcome.payload
    # The token goes to the configured repository; publish refused a payload naming another.
    playbook_forge = GitHubForge(playbook_repo or payload["playbook_repo"], playbook_token,
                                 base_url=settings.github_api_url, token_variable="BMAD_PLAYBOOK_TOKEN")
    report_back(playbook_forge, payload=payload, pull=outcome.pull, target_repo=forge.repo, draft=outcome.draft,
                message=outcome.reason or (outcome.message if outcome.pull is None else ""),
                steered_commit=(outcome.commit or "") if steered_by else "")
    base = playbook_forge.default_branch()
    playbook_ws = GitHubWorkspace(playbook_forge, base, base_branch=base)
    record_review(playbook_ws, payload=payload, pull=outcome.pull, target_repo=forge.repo, outcome=outcome.outcome,
                  reason=outcome.reason)
    refresh_tracking(settings, config, playbook_forge, playbook_ws, issue=payload["issue"])
    return outcome


def run_receive(settings: Any, *, event_file: Path, playbook_dir: Path, playbook_repo: str) -> Receipt:
    """The source job's check of a ``bmad-story`` before any Claude run (see ``delivery.receive``).

    Refusals raise (the run fails before the agent starts). A delivery already published is
    reported once on the playbook issue, and the caller skips the dev and publish jobs.
    """
    from playbook.adapters.github import GitHubForge
    from playbook.delivery.devrun import story_path_from_event
    from playbook.delivery.receive import check_playbook_repo, receive
    from playbook.errors import MissingSecretError

    payload, _ = story_path_from_event(event_file)
    check_playbook_repo(payload, playbook_repo)  # before any token is used
    token = settings.require("github_token", "GITHUB_TOKEN")
    if not settings.github_repository:
        raise MissingSecretError("GITHUB_REPOSITORY", where="run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name")
    playbook_token = settings.require("playbook_token", "BMAD_PLAYBOOK_TOKEN")
    target_forge = GitHubForge(settings.github_repository, token, base_url=settings.github_api_url)
    playbook_forge = GitHubForge(playbook_repo, playbook_token, base_url=settings.github_api_url,
                                 token_variable="BMAD_PLAYBOOK_TOKEN")
    receipt = receive(payload, configured_repo=playbook_repo, playbook_dir=playbook_dir,
                      playbook_forge=playbook_forge, target_forge=target_forge)
    if receipt.published is not None:
        report_back(playbook_forge, payload=payload, pull=receipt.published, target_repo=target_forge.repo,
                    draft=receipt.published.draft,
                    message="already published for this merge commit; the redelivered dispatch was not run again")
    return receipt


def refresh_tracking(settings: Any, config: Config, playbook_forge: Forge, playbook_ws: Workspace, *, issue: int) -> None:
    """Re-render the playbook issue's tracking comment from the default branch."""
    from playbook.intake import github_flow

    deps = github_flow.Deps(settings=settings, config=config, forge=playbook_forge,
                            make_workspace=lambda _branch, _base: playbook_ws, make_planner=_no_planner,
                            make_remote_forge=_no_remote)
    issue_data = playbook_forge.get_issue(issue)
    loc = github_flow.locate(deps, issue, issue_data.title, comment_count=issue_data.comments)
    loc.shared = True  # a target repo's run: the playbook issue's own runs may be writing meanwhile
    if loc.tracking is None:  # only the playbook's own workflows create it (its marker is trusted)
        return
    github_flow.update_tracking(deps, loc, playbook_ws, github_flow.load_request_state(playbook_ws, loc),
                                pull=playbook_forge.find_pull(loc.branch))


def _no_planner() -> Any:
    raise PolicyError("publishing never plans", fix="this is a bug in homelab-playbook")


def _no_remote(repo: str, token: str) -> Any:
    raise PolicyError("publishing sends no dispatch", fix="this is a bug in homelab-playbook")
