"""The GitHub side of the demo, kept in memory beside real local git repositories.

``LocalHub`` holds what GitHub would hold for the demo's three repositories: pull requests,
issue comments, labels and the ``repository_dispatch`` events sent to each repository. ``LocalForge``
is the ``ports.Forge`` of one repository over it, so the demo runs the very handlers the workflows
run (``delivery_flow.on_dispatch_merged``, ``publish``, ``on_report_deployed``, ``on_mark_deployed``).
Files and commits are real git (``adapters.git.GitWorkspace``); trees and blobs are read with git;
committing through the Git Data API is not used by the demo and refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playbook.adapters import git as gitlib
from playbook.errors import NotFoundError, PolicyError
from playbook.ports import Comment, Issue, LabelSpec, PullRequest

DEMO_BOT = "homelab-playbook[bot]"


@dataclass
class _Repo:
    path: Path
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    pull_files: dict[int, list[str]] = field(default_factory=dict)
    comments: dict[int, list[Comment]] = field(default_factory=dict)
    labels: dict[int, set[str]] = field(default_factory=dict)
    inbox: list[dict[str, Any]] = field(default_factory=list)  # repository_dispatch events received
    next_number: int = 1


class LocalHub:
    """Pull requests, comments and dispatches of the demo's repositories (``owner/name`` → local path)."""

    def __init__(self, repos: Mapping[str, Path]) -> None:
        self.repos = {name: _Repo(Path(path)) for name, path in repos.items()}
        self._comment_id = 1000

    def forge(self, repo: str) -> LocalForge:
        return LocalForge(self, repo)

    def repo(self, name: str) -> _Repo:
        try:
            return self.repos[name]
        except KeyError:
            raise NotFoundError(f"{name}: not a repository of this demo", fix="use the demo's repositories") from None

    def open_pull(self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False,
                  files: list[str] | None = None) -> PullRequest:
        state = self.repo(repo)
        number = state.next_number
        state.next_number += 1
        pull = PullRequest(number, title, body, head, base, draft, "open", False, f"file://{state.path}#pull/{number}")
        state.pulls[number] = pull
        state.pull_files[number] = list(files or [])
        return pull

    def merge_pull(self, repo: str, number: int) -> str:
        """``git merge --no-ff`` the head into the base (checked out) and mark the pull merged; the merge sha."""
        state = self.repo(repo)
        pull = state.pulls[number]
        if pull.merged:
            raise PolicyError(f"{repo}#{number} is already merged", fix="this is a bug in the demo")
        files = gitlib.git(state.path, "diff", "--name-only", f"{pull.base}...{pull.head}").split()
        gitlib.git(state.path, "switch", "-q", pull.base)
        gitlib.git(state.path, "merge", "-q", "--no-ff", pull.head, "-m", f"Merge pull request #{number} from {pull.head}")
        state.pulls[number] = replace(pull, state="closed", merged=True, draft=False)
        state.pull_files[number] = files
        return gitlib.head(state.path) or ""

    def take_dispatches(self, repo: str) -> list[dict[str, Any]]:
        state = self.repo(repo)
        events, state.inbox = state.inbox, []
        return events

    def next_comment_id(self) -> int:
        self._comment_id += 1
        return self._comment_id


@dataclass
class LocalForge:
    hub: LocalHub
    repo: str

    @property
    def _state(self) -> _Repo:
        return self.hub.repo(self.repo)

    def default_branch(self) -> str:
        return "main"

    def permission(self, username: str) -> str:
        return "admin"

    def get_issue(self, number: int) -> Issue:
        raise NotFoundError(f"{self.repo}#{number}: the demo plans locally, without issues",
                            fix="run the flow on GitHub for issues and tracking comments")

    def list_comments(self, issue: int, *, page: int | None = None) -> list[Comment]:
        comments = list(self._state.comments.get(issue, []))
        if page is None:
            return comments
        per_page = 100  # GitHub's largest page, as the real adapter reads them
        return comments[(page - 1) * per_page:page * per_page]

    def create_comment(self, issue: int, body: str) -> Comment:
        comment = Comment(self.hub.next_comment_id(), body, DEMO_BOT, "Bot", datetime.now(UTC), f"file://#{issue}")
        self._state.comments.setdefault(issue, []).append(comment)
        return comment

    def get_comment(self, comment_id: int) -> Comment:
        for comments in self._state.comments.values():
            for comment in comments:
                if comment.id == comment_id:
                    return comment
        raise NotFoundError(f"comment {comment_id} not found", fix="this is a bug in the demo")

    def add_reaction(self, comment_id: int, content: str) -> int:
        return 0  # reactions acknowledge commands; the demo runs none

    def delete_reaction(self, comment_id: int, reaction_id: int) -> None:
        return None

    def edit_comment(self, comment_id: int, body: str) -> None:
        for comments in self._state.comments.values():
            for index, comment in enumerate(comments):
                if comment.id == comment_id:
                    comments[index] = replace(comment, body=body)
                    return
        raise NotFoundError(f"comment {comment_id} not found", fix="this is a bug in the demo")

    def ensure_labels(self, specs: list[LabelSpec]) -> None:
        return None

    def set_labels(self, issue: int, add: set[str], remove: set[str]) -> None:
        labels = self._state.labels.setdefault(issue, set())
        labels |= add
        labels -= remove

    def replace_labels(self, issue: int, labels: set[str]) -> None:
        self._state.labels[issue] = set(labels)

    def branch_head(self, branch: str) -> str | None:
        return gitlib.head(self._state.path, f"refs/heads/{branch}")

    def recent_default_commits(self, limit: int) -> tuple[str, list[str]]:
        branch = self.default_branch()
        return branch, gitlib.git(self._state.path, "rev-list", "-n", str(limit), f"refs/heads/{branch}").split()

    def create_branch(self, branch: str, sha: str) -> None:
        gitlib.git(self._state.path, "branch", branch, sha)

    def read_tree(self, ref: str) -> dict[str, str]:
        tree = {}
        for line in gitlib.git(self._state.path, "ls-tree", "-r", ref).splitlines():
            meta, path = line.split("\t", 1)
            tree[path] = meta.split()[2]
        return tree

    def read_blob(self, sha: str) -> str:
        return gitlib.git(self._state.path, "cat-file", "blob", sha)

    def commit_files(self, branch: str, parent: str, files: Mapping[str, str | None], message: str) -> str:
        raise PolicyError("the demo commits through git checkouts", fix="use adapters.git.GitWorkspace")

    def find_pull(self, head: str, state: str = "all") -> PullRequest | None:
        pulls = [p for p in self._state.pulls.values() if p.head == head and (state == "all" or p.state == state)]
        return max(pulls, key=lambda p: p.number) if pulls else None

    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        return self.hub.open_pull(self.repo, head, base, title, body, draft=draft)

    def update_pull(self, number: int, *, title: str | None = None, body: str | None = None) -> None:
        pull = self._state.pulls[number]
        self._state.pulls[number] = replace(pull, title=title if title is not None else pull.title,
                                            body=body if body is not None else pull.body)

    def mark_draft(self, pull: PullRequest) -> None:
        self._state.pulls[pull.number] = replace(self._state.pulls[pull.number], draft=True)

    def mark_ready(self, pull: PullRequest) -> None:
        self._state.pulls[pull.number] = replace(self._state.pulls[pull.number], draft=False)

    def pull_files(self, number: int) -> list[str]:
        return list(self._state.pull_files.get(number, []))

    def dispatch(self, repo: str, event_type: str, payload: Mapping[str, Any]) -> None:
        self.hub.repo(repo).inbox.append({"event_type": event_type, "client_payload": dict(payload)})

    def list_issues(self, label: str, state: str = "open") -> list[Issue]:
        return []  # the demo plans locally, without issues

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        raise PolicyError("the demo opens no issues", fix="run the flow on GitHub for issues")

    def update_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None:
        raise PolicyError("the demo opens no issues", fix="run the flow on GitHub for issues")
