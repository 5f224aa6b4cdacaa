"""The fake GitHub plus the repository settings `playbook doctor` reads.

Adds, with the same OpenAPI validation of every body:

* ``GET /repos/{owner}/{repo}/actions/permissions/workflow`` — the "Allow GitHub Actions to
  create and approve pull requests" setting (``can_approve_pull_request_reviews``; off by
  default, as on GitHub);
* ``GET /repos/{owner}/{repo}/actions/secrets`` — secret names (never values), paginated;
* ``permissions`` on ``GET /repos/{owner}/{repo}``, per token, as GitHub reports them for the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .github_api import _EPOCH, ApiError, FakeGitHub, _compile, _Repo, _Route


class FakeGitHubSetup(FakeGitHub):
    def __init__(self) -> None:
        super().__init__()
        self.pr_setting: dict[str, bool] = {}
        self.secrets: dict[str, set[str]] = {}
        self.read_only_tokens: dict[str, set[str]] = {}  # repo -> tokens that may read but not push

    # ------------------------------------------------------------------ test helpers

    def allow_actions_pull_requests(self, repo: str, allowed: bool = True) -> None:
        self.pr_setting[repo] = allowed

    def set_secrets(self, repo: str, names: Iterable[str]) -> None:
        self.secrets[repo] = set(names)

    def read_only(self, repo: str, token: str) -> None:
        self.read_only_tokens.setdefault(repo, set()).add(token)

    # ------------------------------------------------------------------ routes

    def _build_routes(self) -> list[_Route]:
        extra = [
            ("GET", "/repos/{owner}/{repo}/actions/permissions/workflow", self._get_workflow_permissions),
            ("GET", "/repos/{owner}/{repo}/actions/secrets", self._list_secrets),
        ]
        routes = [r if r.template != "/repos/{owner}/{repo}" else _Route(r.method, r.template, r.pattern,
                                                                          self._get_repo_as_caller)
                  for r in super()._build_routes()]
        return routes + [_Route(m, t, _compile(t), h) for m, t, h in extra]

    def _get_repo_as_caller(self, repo: _Repo, token: str, **_: Any) -> tuple:
        body = self._repo_json(repo)
        push = token not in self.read_only_tokens.get(repo.full_name, set())
        body["permissions"] = {"admin": push, "maintain": push, "push": push, "triage": True, "pull": True}
        return 200, body

    def _get_workflow_permissions(self, repo: _Repo, **_: Any) -> tuple:
        return 200, {"default_workflow_permissions": "read",
                     "can_approve_pull_request_reviews": self.pr_setting.get(repo.full_name, False)}

    def _list_secrets(self, repo: _Repo, query: dict, **_: Any) -> tuple:
        if repo.full_name not in self.secrets:
            raise ApiError(403, "Resource not accessible by personal access token")
        stamp = _EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")
        names = sorted(self.secrets[repo.full_name])
        page, headers = self._paginate(names, query, f"/repos/{repo.full_name}/actions/secrets")
        body = {"total_count": len(names),
                "secrets": [{"name": n, "created_at": stamp, "updated_at": stamp} for n in page]}
        return 200, body, headers

