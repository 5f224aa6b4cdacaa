"""One Protocol per outside system, and the plain dataclasses they speak in.

The core depends only on this module; adapters in ``playbook.adapters`` implement
it (real ones importing their SDK lazily, fakes beside them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class ModelRequest:
    """One headless generation.

    ``skill`` and ``variables`` are what the prompt was rendered from; real providers
    ignore them, the offline model builds its deterministic answer from them.
    ``json_schema`` asks for a JSON answer matching that schema.
    """

    prompt: str
    model: str
    skill: str
    system: str | None = None
    json_schema: Mapping[str, Any] | None = None
    max_output_tokens: int = 8192
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelResponse:
    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    usage_known: bool = True  # False when the provider reported no usage: shown as unknown, never $0


@runtime_checkable
class TextModel(Protocol):
    """A provider that turns one prompt into one answer."""

    provider: str

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Raise ModelUnavailableError / QuotaExhaustedError (fallback may help),
        ModelOutputError (nothing usable) or ConfigError (bad key / model name)."""
        ...


# --------------------------------------------------------------------------- workspace


@runtime_checkable
class Workspace(Protocol):
    """Files on one branch, committed all at once.

    Implemented over a local git checkout (``adapters.git``) and over the GitHub
    Git Data API (``adapters.github``). Paths are POSIX, relative to the repo root.
    """

    branch: str

    def read(self, path: str) -> str | None: ...

    def list(self, prefix: str) -> list[str]: ...

    def commit(self, files: Mapping[str, str | None], message: str) -> str | None:
        """Write (or, with None, delete) files in ONE commit and return its sha.

        Returns None when nothing changed (idempotent re-runs)."""
        ...

    def head(self) -> str | None: ...


# --------------------------------------------------------------------------- GitHub


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    html_url: str
    author: str
    locked: bool = False
    comments: int = 0  # how many comments the issue has (GitHub's count), so a reader can pick a page


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    author_type: str  # "User" | "Bot" | "Organization"
    created_at: datetime
    html_url: str
    updated_at: datetime | None = None  # later than created_at once someone edited the comment

    @property
    def edited(self) -> bool:
        return self.updated_at is not None and self.updated_at > self.created_at


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    body: str
    head: str
    base: str
    draft: bool
    state: str  # "open" | "closed"
    merged: bool
    html_url: str
    node_id: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str


@runtime_checkable
class Forge(Protocol):
    """The GitHub operations the product uses, for one repository ("owner/name")."""

    repo: str

    def default_branch(self) -> str: ...

    def permission(self, username: str) -> str:
        """admin | maintain | write | triage | read | none (from the collaborator-permission API)."""
        ...

    def get_issue(self, number: int) -> Issue: ...

    def list_comments(self, issue: int, *, page: int | None = None) -> list[Comment]:
        """Every comment, oldest first; with ``page`` only that page of COMMENTS_PAGE (1-based)."""
        ...

    def create_comment(self, issue: int, body: str) -> Comment: ...

    def get_comment(self, comment_id: int) -> Comment: ...

    def edit_comment(self, comment_id: int, body: str) -> None: ...

    def add_reaction(self, comment_id: int, content: str) -> int:
        """React to an issue comment as this token's identity; returns the reaction id (an existing
        identical reaction is returned, not duplicated)."""
        ...

    def delete_reaction(self, comment_id: int, reaction_id: int) -> None: ...

    def ensure_labels(self, specs: list[LabelSpec]) -> None: ...

    def set_labels(self, issue: int, add: set[str], remove: set[str]) -> None: ...

    def replace_labels(self, issue: int, labels: set[str]) -> None:
        """Make ``labels`` the issue's whole label set, in one call."""
        ...

    def branch_head(self, branch: str) -> str | None: ...

    def recent_default_commits(self, limit: int) -> tuple[str, list[str]]:
        """The default branch's name and its newest ``limit`` (≤ 100) commits, newest first, in one read."""
        ...

    def create_branch(self, branch: str, sha: str) -> None: ...

    def read_tree(self, ref: str) -> dict[str, str]:
        """path -> blob sha for every file at ref (recursive)."""
        ...

    def read_blob(self, sha: str) -> str: ...

    def commit_files(self, branch: str, parent: str, files: Mapping[str, str | None], message: str) -> str:
        """One tree (inline contents) + one commit + one ref update; returns the commit sha."""
        ...

    def find_pull(self, head: str, state: str = "all") -> PullRequest | None: ...

    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest: ...

    def update_pull(self, number: int, *, title: str | None = None, body: str | None = None) -> None: ...

    def mark_ready(self, pull: PullRequest) -> None: ...

    def mark_draft(self, pull: PullRequest) -> None: ...

    def pull_files(self, number: int) -> list[str]: ...

    def dispatch(self, repo: str, event_type: str, payload: Mapping[str, Any]) -> None: ...

    def list_issues(self, label: str, state: str = "open") -> list[Issue]:
        """Issues (not pull requests) carrying ``label``, oldest first."""
        ...

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue: ...

    def update_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None: ...


# --------------------------------------------------------------------------- Portainer


@dataclass(frozen=True)
class PortainerStack:
    """One stack as Portainer's ``GET /api/stacks`` describes it (portainer.Stack)."""

    id: int
    name: str
    status: int  # 1 active, 2 inactive
    endpoint_id: int
    git_url: str = ""
    git_ref: str = ""
    git_config_path: str = ""
    git_hash: str = ""  # GitConfig.ConfigHash: the commit the stack was deployed from


@runtime_checkable
class Portainer(Protocol):
    """Read-only view of a Portainer instance (drift detection)."""

    url: str

    def list_stacks(self) -> list[PortainerStack]:
        """Raise ConfigError for a bad URL or token, PortainerError when Portainer answers with an error."""
        ...


@dataclass(frozen=True)
class Review:
    id: int
    body: str
    author: str
    state: str  # COMMENTED | APPROVED | CHANGES_REQUESTED


@runtime_checkable
class PullReviews(Protocol):
    """Pull-request reviews of one repository: the code review posts COMMENT reviews only."""

    repo: str

    def list_reviews(self, number: int) -> list[Review]: ...

    def create_review(self, number: int, body: str) -> Review:
        """A review of kind COMMENT (never an approval, never a change request)."""
        ...

    def convert_to_draft(self, pull: PullRequest) -> None: ...
