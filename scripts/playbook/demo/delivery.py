"""The demo's delivery: the handlers the workflows run, over local git repositories.

merge of the planning branch → ``delivery_flow.on_dispatch_merged`` (dependency order decides what
goes) → for each ``bmad-story`` event, in the target repo: ``devrun.run_dev`` (the Claude Code CLI, or
the offline agent in its place) → ``publish.publish`` (diff policy, checks, the IaC "pull request")
→ ``report_back`` / ``record_review`` → the pull request merges → ``on_report_deployed`` sends
``bmad-deployed`` → the playbook's ``on_mark_deployed`` marks it and dispatches what it unblocked.
The loop ends when no event is left; every story must then be ``done``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.config import Config
from playbook.demo.local_forge import LocalHub
from playbook.errors import PolicyError
from playbook.planning import artifacts
from playbook.settings import Settings

PLAYBOOK_REPO = "demo/homelab-playbook"
DEMO_TOKEN = "demo-local-token-not-a-secret"  # the local hub checks no token; the handlers need one set
MAX_EVENTS = 200

Echo = Callable[[str], None]
RunnerFor = Callable[[artifacts.Story, str], Any]  # (story, kind) -> a run_dev runner, or None for the CLI


@dataclass
class Delivered:
    story: str
    kind: str
    repo: str
    pull: int
    merge_sha: str
    files: list[str] = field(default_factory=list)


def demo_settings(playbook_dir: Path, base: Settings) -> Settings:
    """``base`` (model credentials kept) for the scratch playbook, with the tokens the handlers require."""
    return replace(base, root=playbook_dir, dispatch_token=DEMO_TOKEN, playbook_token=DEMO_TOKEN,
                   bot_login="homelab-playbook[bot]", github_server_url="file://")


def _deps(settings: Settings, config: Config, hub: LocalHub, repo: str, checkout: Path, log: Echo) -> Any:
    from playbook.intake.github_flow import Deps

    def no_planner() -> Any:
        raise PolicyError("delivery never plans", fix="this is a bug in the demo")

    return Deps(settings=settings, config=config, forge=hub.forge(repo),
                make_workspace=lambda branch, _base: gitlib.GitWorkspace(checkout, branch),
                make_planner=no_planner, make_remote_forge=lambda other, _token: hub.forge(other), log=log)


def deliver(*, playbook_dir: Path, targets: dict[str, tuple[str, Path]], settings: Settings, config: Config,
            planning_branch: str, runner_for: RunnerFor, step: Echo, log: Echo, scratch_root: Path) -> list[Delivered]:
    """Merge the planning branch and deliver every story it dispatches, in dependency order."""
    from playbook.intake import delivery_flow
    from playbook.intake.events import DispatchMerged, ReportDeployed

    hub = LocalHub({PLAYBOOK_REPO: playbook_dir, **{repo: path for repo, path in targets.values()}})
    playbook = _deps(settings, config, hub, PLAYBOOK_REPO, playbook_dir, log)
    files = gitlib.git(playbook_dir, "diff", "--name-only", f"main...{planning_branch}").split()
    planning_pr = hub.open_pull(PLAYBOOK_REPO, planning_branch, "main", "BMAD plan", "", files=files)
    merge_sha = hub.merge_pull(PLAYBOOK_REPO, planning_pr.number)
    step(f"merged the planning PR #{planning_pr.number} into main at {merge_sha[:10]} (the story PR)")
    if delivery_flow.on_dispatch_merged(DispatchMerged(planning_pr.number, merge_sha, planning_branch), playbook):
        raise PolicyError("dispatching the stories failed; see the log above")

    delivered: list[Delivered] = []
    for _ in range(MAX_EVENTS):
        pending = [(repo, kind, path, event) for kind, (repo, path) in targets.items()
                   for event in hub.take_dispatches(repo)]
        if not pending:
            break
        pending.sort(key=lambda item: (item[3]["client_payload"]["order"], item[3]["client_payload"]["story_path"]))
        for repo, kind, path, event in pending:
            done = _deliver_one(event, repo=repo, kind=kind, checkout=path, hub=hub, playbook_dir=playbook_dir,
                                settings=settings, config=config, runner_for=runner_for, step=step,
                                scratch_root=scratch_root)
            delivered.append(done)
            target = _deps(settings, config, hub, repo, path, log)
            branch = hub.repo(repo).pulls[done.pull].head
            delivery_flow.on_report_deployed(ReportDeployed(done.pull, branch, done.merge_sha), target)
            for deployed in hub.take_dispatches(PLAYBOOK_REPO):
                _mark_deployed(deployed, playbook)
                step(f"bmad-deployed: story {done.story} ({done.kind}) recorded as merged in the playbook")
    else:
        raise PolicyError(f"the demo stopped after {MAX_EVENTS} events", fix="this is a bug in the demo")
    return delivered


def _mark_deployed(event: dict[str, Any], deps: Any) -> None:
    from playbook.intake import delivery_flow
    from playbook.intake.events import DispatchEvent, MarkDeployed, decide

    action = decide(DispatchEvent(event["event_type"], event["client_payload"], "demo"), repo=PLAYBOOK_REPO,
                    bot_login=deps.settings.bot_login)
    if not isinstance(action, MarkDeployed):
        raise PolicyError(f"the bmad-deployed report was not accepted: {getattr(action, 'reason', action)}")
    if delivery_flow.on_mark_deployed(action, deps):
        raise PolicyError("dispatching what the merge unblocked failed; see the log above")


def _deliver_one(event: dict[str, Any], *, repo: str, kind: str, checkout: Path, hub: LocalHub, playbook_dir: Path,
                 settings: Settings, config: Config, runner_for: RunnerFor, step: Echo,
                 scratch_root: Path) -> Delivered:
    from playbook.delivery.devrun import run_dev
    from playbook.delivery.payloads import validate_story_payload
    from playbook.delivery.publish import publish, record_review, report_back

    payload = validate_story_payload(event["client_payload"])
    story = artifacts.story_from_text((playbook_dir / payload["story_path"]).read_text(encoding="utf-8"),
                                      path=payload["story_path"])
    scratch = scratch_root / f"story-{story.id}-{kind}"  # the dev job's own checkout of the target repo
    scratch.mkdir(parents=True)
    clone = scratch / "checkout"
    gitlib.git(scratch, "clone", "-q", str(checkout), str(clone))
    runner = runner_for(story, kind)
    extra = {"runner": runner} if runner is not None else {}
    result = run_dev(story_path=Path(payload["story_path"]), playbook_dir=playbook_dir, repo_dir=clone, kind=kind,
                     settings=settings, config=config, out_dir=scratch / "dev-result", payload=payload, **extra)
    if result.violations:
        raise PolicyError(f"story {story.id}: the diff policy reverted changes", violations=list(result.violations))
    if result.incomplete_reason:
        raise PolicyError(f"story {story.id}: the dev run stopped early: {result.incomplete_reason}",
                          fix=f"see {scratch / 'dev-result'} (result.json, prompt.md)")
    agent = "offline agent" if result.claude.session_id == "offline" else "Claude Code CLI"
    step(f"dev: story {story.id} ({kind}) — {agent}: {result.claude.num_turns} turns, result {result.claude.subtype}, "
         f"est. ${result.claude.total_cost_usd:.4f}, {len(result.files)} files (devrun.run_dev, diff policy applied)")

    from playbook.delivery.dispatch import story_branch

    branch = story_branch(payload["story_path"], story.id)
    gitlib.git(checkout, "switch", "-q", "-c", branch, "main")
    outcome = publish(result_dir=scratch / "dev-result", repo_dir=checkout, playbook_dir=playbook_dir, config=config,
                      forge=hub.forge(repo), make_workspace=lambda b, _base: gitlib.GitWorkspace(checkout, b),
                      server_url="file://")
    if outcome.pull is None:
        raise PolicyError(f"story {story.id}: nothing was published ({outcome.message})")
    if outcome.draft:
        raise PolicyError(f"story {story.id}: published as a draft (checks failed or the run was incomplete)",
                          fix=f"read the pull request body: {hub.repo(repo).pulls[outcome.pull.number].body[:2000]}")
    step(f"publish: {repo}#{outcome.pull.number} on {branch} — playbook check passed ({outcome.message})")
    report_back(hub.forge(PLAYBOOK_REPO), payload=payload, pull=outcome.pull, target_repo=repo, draft=False)
    record_review(gitlib.GitWorkspace(playbook_dir, "main"), payload=payload, pull=outcome.pull, target_repo=repo)
    before = gitlib.git(checkout, "rev-parse", "main^{tree}").strip()
    merge_sha = hub.merge_pull(repo, outcome.pull.number)
    step(f"merged {repo}#{outcome.pull.number} at {merge_sha[:10]} (GitOps would deploy now)")
    _check_revert(checkout, merge_sha, before, step)
    return Delivered(story.id, kind, repo, outcome.pull.number, merge_sha, sorted(result.files))


def _check_revert(checkout: Path, merge_sha: str, before: str, step: Echo) -> None:
    side = f"revert-check-{merge_sha[:8]}"
    gitlib.git(checkout, "switch", "-q", "-c", side)
    gitlib.git(checkout, "revert", "--no-edit", "-m", "1", merge_sha)
    after = gitlib.git(checkout, "rev-parse", "HEAD^{tree}").strip()
    gitlib.git(checkout, "switch", "-q", "main")
    gitlib.git(checkout, "branch", "-q", "-D", side)
    if after != before:
        raise PolicyError(f"git revert of {merge_sha[:10]} did not restore the previous tree in {checkout.name}")
    step(f"rollback: `git revert -m 1 {merge_sha[:10]}` restores the previous tree (checked on a side branch)")
