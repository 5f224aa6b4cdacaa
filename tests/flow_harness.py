"""A harness that runs `playbook event` like a workflow would, against the loopback fakes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fakes.gemini_api import FakeGemini
from fakes.github_api import FakeGitHub
from playbook.adapters import offline

EVENTS = Path(__file__).parent / "data" / "events"
REPO = "owner/homelab-playbook"
TOKEN = "ghs_canary_token_0123456789abcdef"
GEMINI_KEY = "AIza-canary-gemini-key-0123456789"
DISPATCH_TOKEN = "github_pat_canary_dispatch_0123456789"
BOT = "github-actions[bot]"
READINESS = "check-implementation-readiness"
PIHOLE = ("Deploy Pi-hole with Traefik ingress and Let's Encrypt TLS, Authentik SSO, Prometheus metrics "
          "and Restic backups")


def _template(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Harness:
    def __init__(self, github: FakeGitHub, gemini: FakeGemini, root: Path, tmp: Path, monkeypatch: Any) -> None:
        self.github = github
        self.gemini = gemini
        self.root = root
        self.tmp = tmp
        self.monkeypatch = monkeypatch
        self.events = 0
        github.add_repo(REPO, {"README.md": "# homelab-playbook\n"})
        github.set_identity(TOKEN, BOT, "Bot")
        github.set_identity(DISPATCH_TOKEN, "owner", "User")
        github.set_permission(REPO, "owner", "admin")
        from playbook.config import load_config

        config = load_config(root)
        self.targets = {kind: config.target(kind).repo for kind in ("infra", "apps")}
        for repo in self.targets.values():
            github.add_repo(repo, {"README.md": f"# {repo.split('/')[1]}\n", "stacks/.gitkeep": ""})
        self.env = {
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "GEMINI_API_KEY": GEMINI_KEY,
            "PLAYBOOK_GEMINI_BASE_URL": gemini.url,
            "PLAYBOOK_DIR": str(root),
            "BMAD_DISPATCH_TOKEN": DISPATCH_TOKEN,
        }

    # -- events -----------------------------------------------------------------------------

    def run(self, name: str, payload: dict[str, Any], **env: str) -> int:
        from playbook.cli import main

        self.events += 1
        path = self.tmp / f"event-{self.events}.json"
        path.write_text(json.dumps(payload))
        for key, value in {**self.env, **env, "GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path)}.items():
            if value is None:
                self.monkeypatch.delenv(key, raising=False)
            else:
                self.monkeypatch.setenv(key, value)
        try:
            main(["event"])
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    def _with_repo(self, payload: dict[str, Any]) -> dict[str, Any]:
        owner, name = REPO.split("/")
        payload["repository"]["full_name"] = REPO
        payload["repository"]["name"] = name
        payload["repository"]["owner"]["login"] = owner
        payload["repository"]["default_branch"] = "main"
        return payload

    def labeled(self, issue: int, *, sender: str = "owner", sender_type: str = "User") -> int:
        data = self.github.repos[REPO].issues[issue]
        payload = self._with_repo(copy.deepcopy(_template("issues.labeled-brief.json")))
        payload["issue"].update(number=issue, title=data.title, body=data.body)
        payload["issue"]["labels"] = [dict(payload["label"], name=n) for n in data.labels]
        payload["label"]["name"] = "bmad:brief"
        payload["sender"].update(login=sender, type=sender_type)
        return self.run("issues", payload)

    def labeled_with(self, issue: int, label: str, *, sender: str = "owner") -> int:
        data = self.github.repos[REPO].issues[issue]
        payload = self._with_repo(copy.deepcopy(_template("issues.labeled-brief.json")))
        payload["issue"].update(number=issue, title=data.title, body=data.body)
        payload["issue"]["labels"] = [dict(payload["label"], name=n) for n in data.labels]
        payload["label"]["name"] = label
        payload["sender"].update(login=sender, type="User")
        return self.run("issues", payload)

    def comment(self, issue: int, body: str, *, author: str = "owner", author_type: str = "User",
                created_at: str | None = None, comment_id: int | None = None) -> int:
        comment_id = comment_id or self.github.add_comment(REPO, issue, body, author, author_type)
        payload = self._with_repo(copy.deepcopy(_template("issue_comment.approve.json")))
        payload["issue"].update(number=issue, title=self.github.repos[REPO].issues[issue].title)
        payload["issue"].pop("pull_request", None)
        payload["comment"].update(id=comment_id, body=body, created_at=created_at or now_iso())
        payload["comment"]["user"].update(login=author, type=author_type)
        payload["sender"].update(login=author, type=author_type)
        return self.run("issue_comment", payload)

    def merged(self, number: int, merge_sha: str) -> int:
        pull = self.github.repos[REPO].pulls[number]
        payload = self._with_repo(copy.deepcopy(_template("pull_request.merged-planning.json")))
        payload["number"] = number
        pr = payload["pull_request"]
        pr.update(number=number, merged=True, merge_commit_sha=merge_sha, state="closed")
        pr["head"]["ref"] = pull.head
        pr["base"]["ref"] = "main"
        pr["user"].update(login=BOT, type="Bot")
        for side in ("head", "base"):
            pr[side]["repo"]["full_name"] = REPO
        return self.run("pull_request", payload)

    def repository_dispatch(self, event_type: str, client_payload: dict[str, Any]) -> int:
        payload = self._with_repo(copy.deepcopy(_template("repository_dispatch.bmad-deployed.json")))
        payload["action"] = event_type
        payload["client_payload"] = client_payload
        return self.run("repository_dispatch", payload)

    def through_architecture(self, body: str = "") -> int:
        """A new request with its Product Brief, PRD and Architecture approved (the Epics & Stories
        draft comes with the next /approve); its issue."""
        issue = self.github.add_issue(REPO, PIHOLE, body, labels=["bmad:brief"])
        self.answer("create-product-brief")
        assert self.labeled(issue) == 0
        for skill in ("create-prd", "create-architecture"):
            self.answer(skill)
            assert self.comment(issue, "/approve") == 0
        return issue

    def complete_planning(self, body: str = "") -> tuple[int, int]:
        """Drive one request through all four approvals; returns (issue, planning PR number)."""
        issue = self.through_architecture(body)
        self.answer("create-epics-and-stories")
        self.answer("check-implementation-readiness")  # checks the stories draft, same commit
        assert self.comment(issue, "/approve") == 0
        assert self.comment(issue, "/approve") == 0
        pulls = self.github.pulls(REPO)
        assert len(pulls) == 1 and not pulls[0]["draft"]
        return issue, pulls[0]["number"]

    # -- model answers ----------------------------------------------------------------------

    def answer(self, skill: str, feedback: str = "") -> None:
        """Queue what a model would answer for ``skill`` (text written by the offline planner)."""
        writer = offline._WRITERS[skill]
        # the readiness check reads the drafts; the offline writer says "ready" when they are there
        variables = {"artifacts": {"prd": "x", "architecture": "x", "epics": "x"}} if skill == READINESS else {}
        self.gemini.enqueue_text(writer(PIHOLE, feedback, variables), input_tokens=1200, output_tokens=800)

    def answer_not_ready(self, blocker: str) -> None:
        """Queue a readiness report with verdict "not ready" and one blocker."""
        self.gemini.enqueue_text(f"# Implementation readiness\n\n## Verdict\n\nnot ready — {blocker}\n\n"
                                 f"## Findings\n\n1. blocker — story 1.1 — {blocker} — split it\n\n"
                                 "## Open questions\n\n- None.\n", input_tokens=500, output_tokens=100)


@pytest.fixture
def h(fake_github: FakeGitHub, fake_gemini: FakeGemini, repo_root: Path, tmp_path: Path, monkeypatch: Any) -> Harness:
    """The playbook repo and both target repos on the fake GitHub, Gemini on its fake, env like a workflow."""
    return Harness(fake_github, fake_gemini, repo_root, tmp_path, monkeypatch)


@pytest.fixture
def playbook_checkout(tmp_path: Path, repo_root: Path) -> Iterator[Path]:
    """A local playbook repository: skills, patterns and playbook.yaml in one commit."""
    import shutil

    from playbook.adapters import git as gitlib

    dest = tmp_path / "playbook"
    dest.mkdir()
    for name in ("skills", "patterns"):
        shutil.copytree(repo_root / name, dest / name)
    shutil.copy(repo_root / "playbook.yaml", dest / "playbook.yaml")
    gitlib.init_repo(dest)
    gitlib.git(dest, "add", "-A")
    gitlib.git(dest, "commit", "-q", "-m", "init")
    yield dest
