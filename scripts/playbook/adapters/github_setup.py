"""Read-only GitHub calls `playbook doctor` needs: repository settings, secret names, files.

Built on ``GitHubForge`` (same client, retry budget and error translation); every method takes
the repository it reads, because one doctor run looks at the playbook and each target. Nothing
here writes, and secret *values* are never requested (the API only ever returns names).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playbook.adapters.github import GitHubForge
from playbook.errors import ForgePermissionError, NotFoundError

SECRETS_PAGE = 100


class GitHubSetupReader(GitHubForge):
    """The ``SetupReader`` port of ``playbook.intake.doctor`` over the REST API."""

    @contextmanager
    def _reading(self, repo: str, action: str, scope: str = "Contents: read") -> Iterator[None]:
        """``_errors`` for a call about ``repo``: errors and fixes name that repository and the read scope."""
        home, self.repo = self.repo, repo
        try:
            with self._errors(action, scope):
                yield
        except ForgePermissionError as exc:
            exc.fix = (f"give {self._token_variable} the \"{scope}\" repository permission on {repo} "
                       "(fine-grained token), or run doctor with a token that administers it")
            raise
        finally:
            self.repo = home

    def repository(self, repo: str) -> dict[str, Any] | None:
        """The repository as this token sees it (``permissions`` included), or None when it cannot."""
        try:
            with self._reading(repo, "reading the repository"):
                return dict(self._request("GET", self._url("", repo)))
        except NotFoundError:
            return None

    def workflow_permissions(self, repo: str) -> dict[str, Any]:
        with self._reading(repo, "reading the Actions workflow permissions", scope="Administration: read"):
            return dict(self._request("GET", self._url("/actions/permissions/workflow", repo)))

    def secret_names(self, repo: str) -> set[str]:
        names: set[str] = set()
        page = 1
        with self._reading(repo, "listing the Actions secret names", scope="Secrets: read"):
            while True:
                data = self._request("GET", self._url("/actions/secrets", repo),
                                     parameters={"per_page": SECRETS_PAGE, "page": page})
                batch = [str(s["name"]) for s in data.get("secrets") or []]
                names.update(batch)
                if len(batch) < SECRETS_PAGE or len(names) >= int(data.get("total_count") or 0):
                    return names
                page += 1

    def label_names(self, repo: str) -> set[str]:
        with self._reading(repo, "listing labels", scope="Issues: read"):
            gh_repo = self._gh.get_repo(repo)
            return {label.name for label in gh_repo.get_labels()}

    def file_text(self, repo: str, path: str, ref: str | None = None) -> tuple[str, str] | None:
        """(text, blob sha) of a file on ``ref`` (default branch when None), or None when absent."""
        suffix = "/contents/" + urllib.parse.quote(path)
        try:
            with self._reading(repo, f"reading {path}"):
                data = self._request("GET", self._url(suffix, repo), parameters={"ref": ref} if ref else None)
        except NotFoundError:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        return base64.b64decode(data.get("content") or "").decode("utf-8", "replace"), str(data["sha"])

    def commit_exists(self, repo: str, sha: str) -> bool:
        try:
            with self._reading(repo, f"reading commit {sha[:12]}"):
                self._request("GET", self._url(f"/git/commits/{sha}", repo))
        except NotFoundError:
            return False
        return True

    def default_head(self, repo: str) -> str | None:
        """The commit at the tip of ``repo``'s default branch."""
        info = self.repository(repo)
        if info is None:
            return None
        branch = urllib.parse.quote(str(info["default_branch"]))
        try:
            with self._reading(repo, "reading the default branch"):
                data = self._request("GET", self._url(f"/git/ref/heads/{branch}", repo))
        except NotFoundError:
            return None
        return str(data["object"]["sha"])
