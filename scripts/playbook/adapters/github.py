"""GitHub through PyGithub: ``GitHubForge`` (the ``Forge`` port) and ``GitHubWorkspace``.

This is the only module that imports PyGithub, and it does so lazily. Everything it returns is a
``playbook.ports`` dataclass, and every failure leaves as a ``playbook.errors`` error naming the fix.

Retries are a deliberate table, not PyGithub's defaults (which retry POST and can sleep for an
hour on a rate limit):

    method                      5xx / network        rate limit (403/429)
    GET HEAD PUT DELETE OPTIONS  3 retries, backoff   wait if it fits max_wait_seconds, else RateLimitedError
    POST PATCH                   never (a retried POST can duplicate a comment or PR; the
                                 workspace re-reads state instead of blindly retrying a ref update)
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from playbook import runsummary
from playbook.errors import (
    ConfigError,
    ForgeError,
    ForgePermissionError,
    MissingSecretError,
    NotFoundError,
    RateLimitedError,
)
from playbook.ports import Comment, Forge, Issue, LabelSpec, PullRequest, Review

DEFAULT_BASE_URL = "https://api.github.com"
COMMENTS_PAGE = 100  # GitHub's largest page
FILES_PER_QUERY = 100  # aliased object() reads in one GraphQL query
COMMIT_MUTATION = ("mutation($input: CreateCommitOnBranchInput!) "
                   "{ createCommitOnBranch(input: $input) { commit { oid } } }")
RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRIES = 3
BACKOFF_FACTOR = 0.5
ROLE_NAMES = ("admin", "maintain", "write", "triage", "read")
ACTIONS_PR_SETTING = (
    "Settings → Actions → General → Workflow permissions → "
    "Allow GitHub Actions to create and approve pull requests"
)

# The default branch and its newest commits (git log order, merges and what they merged), in one query.
RECENT_DEFAULT_COMMITS = (
    "query($owner: String!, $name: String!, $n: Int!) { repository(owner: $owner, name: $name) { "
    "defaultBranchRef { name target { ... on Commit { history(first: $n) { nodes { oid } } } } } } }"
)


def git_blob_sha(text: str) -> str:
    """The id git (and GitHub) gives a file with this text, so changes are detected without a read."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _rate_limit_wait(headers: Mapping[str, Any] | None, status: int, secondary_wait: float) -> float | None:
    """Seconds GitHub asks us to wait before retrying, or None when the answer is no rate limit."""
    retry_after = _header(headers, "Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    reset = _header(headers, "x-ratelimit-reset")
    if _header(headers, "x-ratelimit-remaining") == "0" and reset and reset.isdigit():
        return max(0.0, int(reset) - time.time()) + 1
    if status == 429:
        return secondary_wait
    return None


def _budget_retry(budget: float, backoff_factor: float, secondary_wait: float | None = None) -> Any:
    """A GithubRetry that never retries POST/PATCH and whose waits for one call, all retries
    together, never pass ``budget`` seconds — whatever the headers say. A secondary rate limit
    without ``Retry-After`` waits ``secondary_wait`` (GitHub asks for at least 60 s) per attempt."""
    from github.GithubException import RateLimitExceededExceedsMaxWait
    from github.GithubRetry import DEFAULT_SECONDARY_RATE_WAIT, GithubRetry

    def exceeded(retry: Any, response: Any, url: Any, wait: float) -> Exception:
        import json

        try:
            data = json.loads(retry.get_content(response, url) or b"{}")
        except ValueError:
            data = {"message": response.reason}
        return RateLimitExceededExceedsMaxWait(response.status, data, dict(response.headers), wait=wait)

    class BudgetRetry(GithubRetry):
        waited = 0.0

        def new(self, **kw: Any) -> Any:
            retry = super().new(**kw)
            retry.waited = self.waited
            return retry

        def increment(self, method: Any = None, url: Any = None, response: Any = None, error: Any = None,
                      _pool: Any = None, _stacktrace: Any = None) -> Any:
            wait = None
            if response is not None and response.status in (403, 429):
                wait = _rate_limit_wait(response.headers, response.status, self.secondary_rate_wait)
                if wait is not None and self.waited + wait > budget:
                    raise exceeded(self, response, url, wait)
            retry = cast("BudgetRetry", super().increment(method, url, response, error, _pool, _stacktrace))
            planned = wait if wait is not None else retry.get_backoff_time()
            if response is not None and response.status in (403, 429) and self.waited + planned > budget:
                # e.g. a secondary limit without Retry-After: GithubRetry plans its own wait per attempt
                raise exceeded(self, response, url, planned)
            if wait is not None and _header(response.headers, "Retry-After") is None:
                retry.get_backoff_time = lambda: wait  # type: ignore[method-assign]
            retry.waited = self.waited + planned
            return retry

    return BudgetRetry(
        total=RETRIES,
        backoff_factor=backoff_factor,
        backoff_max=budget,
        status_forcelist=[*range(500, 600), 429],
        allowed_methods=RETRIED_METHODS,
        raise_on_status=False,
        secondary_rate_wait=DEFAULT_SECONDARY_RATE_WAIT if secondary_wait is None else secondary_wait,
        max_rate_limit_wait=budget,
    )


class _CallCounter(logging.Handler):
    """PyGithub logs every HTTP exchange on ``github.Requester`` (at DEBUG, after the response):
    each record is one API call, added to the run summary. Nothing is formatted or printed."""

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) >= 6:
            path = str(args[3])
            query = args[5].get("query") if isinstance(args[5], dict) else None
            if path.endswith("/graphql") and isinstance(query, str):  # a query reads; a mutation writes
                path += " (mutation)" if query.lstrip().startswith("mutation") else " (query)"
            runsummary.current().api_call(str(args[0]), path)


def _count_api_calls() -> None:
    logger = logging.getLogger("github.Requester")
    if not any(isinstance(h, _CallCounter) for h in logger.handlers):
        logger.addHandler(_CallCounter())
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # the records carry headers and bodies: never to the root log


class GitHubForge:
    """The ``Forge`` port for one repository ("owner/name") over the REST API."""

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        max_wait_seconds: float = 60,
        timeout: int = 30,
        token_variable: str = "GITHUB_TOKEN",
        backoff_factor: float = BACKOFF_FACTOR,
        secondary_wait_seconds: float | None = None,
        default_branch: str | None = None,
    ) -> None:
        if not token:
            raise MissingSecretError(token_variable)
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise ConfigError(f"repository {repo!r} is not owner/name", fix="set GITHUB_REPOSITORY to owner/name")
        self.repo = repo
        self._token = token
        self._token_variable = token_variable
        self._base_url = base_url.rstrip("/")
        self._max_wait = float(max_wait_seconds)
        self._timeout = timeout
        self._backoff_factor = backoff_factor
        self._secondary_wait = secondary_wait_seconds
        self._client: Any = None
        self._repo_obj: Any = None
        self._default_branch: str | None = default_branch or None  # known from the event: no read

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"GitHubForge(repo={self.repo!r}, base_url={self._base_url!r})"

    # ------------------------------------------------------------------ plumbing

    @property
    def _gh(self) -> Any:
        if self._client is None:
            import github

            _count_api_calls()

            self._client = github.Github(
                auth=github.Auth.Token(self._token),
                base_url=self._base_url,
                timeout=self._timeout,
                per_page=100,
                retry=_budget_retry(self._max_wait, self._backoff_factor, self._secondary_wait),
                seconds_between_requests=0,
                seconds_between_writes=0,
                lazy=True,
                user_agent="homelab-playbook",
            )
        return self._client

    @property
    def _repo(self) -> Any:
        if self._repo_obj is None:
            self._repo_obj = self._gh.get_repo(self.repo)
        return self._repo_obj

    def _url(self, suffix: str, repo: str | None = None) -> str:
        return f"{self._base_url}/repos/{repo or self.repo}{suffix}"

    def _request(self, method: str, url: str, *, input: Any = None, parameters: Any = None) -> Any:
        _, data = self._gh.requester.requestJsonAndCheck(method, url, parameters=parameters, input=input)
        return data

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    @contextmanager
    def _errors(self, action: str, scope: str = "contents") -> Iterator[None]:
        """Turn PyGithub and network failures into playbook errors that say what to do."""
        import github
        import requests

        try:
            yield
        except github.GithubException as exc:
            raise self._translate(action, scope, exc) from None
        except requests.exceptions.RequestException as exc:
            err = ForgeError(
                self._scrub(f"{action}: could not reach {self._base_url} ({type(exc).__name__})"),
                fix="check the network and GITHUB_API_URL, then re-run the workflow",
            )
            err.retryable = True
            raise err from None

    def _translate(self, action: str, scope: str, exc: Any) -> ForgeError | ConfigError:
        from github.GithubException import RateLimitExceededException

        status = int(getattr(exc, "status", 0) or 0)
        data = exc.data if isinstance(exc.data, dict) else {"message": str(exc.data or "")}
        message = str(data.get("message") or "")
        details = [e.get("message") or e.get("code") for e in data.get("errors") or [] if isinstance(e, dict)]
        if details:  # e.g. 422 "Validation Failed" says why only here ("body is too long ...")
            message = f"{message} ({'; '.join(str(d) for d in details if d)})"
        headers = exc.headers or {}
        lowered = message.lower()
        is_rate_limit = isinstance(exc, RateLimitExceededException) or (
            status in (403, 429)
            and ("rate limit" in lowered or _header(headers, "x-ratelimit-remaining") == "0")
        )
        where = f"{action} in {self.repo}"
        if is_rate_limit:
            reset = _header(headers, "x-ratelimit-reset")
            if _header(headers, "x-ratelimit-remaining") == "0" and reset and reset.isdigit():
                at = datetime.fromtimestamp(int(reset), UTC).strftime("%H:%M")
                text = f"{where}: GitHub API rate limit exhausted; it resets at {at} UTC; re-run then"
            else:
                wait = getattr(exc, "wait", None) or _header(headers, "Retry-After")
                asked = f"{float(wait):.0f}s" if wait and str(wait).replace(".", "", 1).isdigit() else "a while"
                text = (
                    f"{where}: GitHub secondary rate limit (the next wait, {asked}, would pass the "
                    f"{self._max_wait:.0f}s budget for one call)"
                )
            return RateLimitedError(self._scrub(text), fix="re-run the workflow after the wait; the run is resumable")
        detail = self._scrub(f"{where} failed: HTTP {status}: {message or 'no message'}")
        if status == 401:
            return ConfigError(
                detail,
                fix=f"set {self._token_variable} to a valid, unexpired token with access to {self.repo}",
            )
        if status == 403 and "not permitted to create or approve pull requests" in lowered:
            return ForgePermissionError(detail, fix=f"enable {ACTIONS_PR_SETTING}")
        if status == 403 and "resource not accessible" in lowered:
            return ForgePermissionError(
                detail,
                fix=f"grant the workflow job `permissions: {scope}: write` (this product needs "
                "contents: write, issues: write and pull-requests: write)",
            )
        if status == 403:
            return ForgePermissionError(
                detail, fix=f"give {self._token_variable} {scope}: write access to {self.repo}"
            )
        if status in (404, 410):
            return NotFoundError(
                detail, fix=f"check that it still exists and that {self._token_variable} can see {self.repo}"
            )
        err = ForgeError(detail, fix="re-run the workflow; if it keeps failing check https://www.githubstatus.com")
        err.retryable = status >= 500
        return err

    # ------------------------------------------------------------------ repository and people

    def default_branch(self) -> str:
        if self._default_branch is None:
            with self._errors("reading the repository"):
                self._default_branch = str(self._request("GET", self._url(""))["default_branch"])
        return self._default_branch

    def permission(self, username: str) -> str:
        """admin | maintain | write | triage | read | none; any failure but 404 raises (callers fail closed)."""
        url = self._url(f"/collaborators/{urllib.parse.quote(username, safe='')}/permission")
        try:
            with self._errors(f"reading {username}'s permission"):
                data = self._request("GET", url)
        except NotFoundError:
            return "none"
        role = str(data.get("role_name") or "")
        if role in ROLE_NAMES:
            return role
        # Custom roles keep their own name; the base permission is what they grant.
        base = str(data.get("permission") or "none")
        return base if base in ROLE_NAMES else "none"

    # ------------------------------------------------------------------ issues, comments, labels

    def get_issue(self, number: int) -> Issue:
        with self._errors(f"reading issue #{number}", "issues"):
            data = self._request("GET", self._url(f"/issues/{number}"))
        return _issue(data)

    def list_comments(self, issue: int, *, page: int | None = None) -> list[Comment]:
        with self._errors(f"listing comments on issue #{issue}", "issues"):
            if page is not None:  # one request: that page only (per_page is the client's 100)
                data = self._request("GET", self._url(f"/issues/{int(issue)}/comments"),
                                     parameters={"per_page": COMMENTS_PAGE, "page": max(1, int(page))})
                return [_comment_from_json(c) for c in data]
            return [_comment(c) for c in self._repo.get_issue(issue).get_comments()]

    def create_comment(self, issue: int, body: str) -> Comment:
        with self._errors(f"commenting on issue #{issue}", "issues"):
            return _comment(self._repo.get_issue(issue).create_comment(body))

    def get_comment(self, comment_id: int) -> Comment:
        with self._errors(f"reading comment {comment_id}", "issues"):
            data = self._request("GET", self._url(f"/issues/comments/{int(comment_id)}"))
        user = data.get("user") or {}

        def stamp(value: Any) -> datetime | None:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None

        created = stamp(data.get("created_at")) or datetime.now(UTC)
        return Comment(id=int(data["id"]), body=data.get("body") or "", author=user.get("login") or "",
                       author_type=user.get("type") or "User", created_at=created,
                       html_url=data.get("html_url") or "", updated_at=stamp(data.get("updated_at")))

    def edit_comment(self, comment_id: int, body: str) -> None:
        with self._errors(f"editing comment {comment_id}", "issues"):
            self._request("PATCH", self._url(f"/issues/comments/{int(comment_id)}"), input={"body": body})

    def add_reaction(self, comment_id: int, content: str) -> int:
        url = self._url(f"/issues/comments/{int(comment_id)}/reactions")
        with self._errors(f"reacting to comment {comment_id}", "issues"):
            return int(self._request("POST", url, input={"content": content})["id"])

    def delete_reaction(self, comment_id: int, reaction_id: int) -> None:
        url = self._url(f"/issues/comments/{int(comment_id)}/reactions/{int(reaction_id)}")
        try:
            with self._errors(f"removing a reaction from comment {comment_id}", "issues"):
                self._request("DELETE", url)
        except NotFoundError:
            return  # already gone: the end state we want

    def ensure_labels(self, specs: list[LabelSpec]) -> None:
        with self._errors("syncing labels", "issues"):
            existing = {label.name.lower(): label for label in self._repo.get_labels()}
            for spec in specs:
                color = spec.color.lstrip("#").lower()
                label = existing.get(spec.name.lower())
                if label is None:
                    self._create_label(spec.name, color, spec.description)
                elif (label.color or "").lower() != color or (label.description or "") != spec.description:
                    label.edit(label.name, color, spec.description)

    def _create_label(self, name: str, color: str, description: str) -> None:
        import github

        try:
            self._repo.create_label(name, color, description)
        except github.GithubException as exc:  # another run created it first
            if exc.status != 422 or "already_exists" not in str(exc.data):
                raise

    def set_labels(self, issue: int, add: set[str], remove: set[str]) -> None:
        import github

        with self._errors(f"labelling issue #{issue}", "issues"):
            gh_issue = self._repo.get_issue(issue)
            if add:
                gh_issue.add_to_labels(*sorted(add))
            for name in sorted(remove - add):
                try:
                    gh_issue.remove_from_labels(name)
                except github.GithubException as exc:
                    if exc.status != 404:  # 404 "Label does not exist": already the end state we want
                        raise

    def replace_labels(self, issue: int, labels: set[str]) -> None:
        with self._errors(f"labelling issue #{issue}", "issues"):
            self._request("PUT", self._url(f"/issues/{int(issue)}/labels"), input={"labels": sorted(labels)})

    # ------------------------------------------------------------------ git data

    def branch_head(self, branch: str) -> str | None:
        try:
            with self._errors(f"reading branch {branch}"):
                data = self._request("GET", self._url(f"/git/ref/heads/{urllib.parse.quote(branch)}"))
        except NotFoundError:
            return None
        return str(data["object"]["sha"])

    def recent_default_commits(self, limit: int) -> tuple[str, list[str]]:
        data = self.graphql_read(RECENT_DEFAULT_COMMITS, {"n": max(1, min(limit, 100))},
                                 "reading the default branch's recent commits")
        ref = (data.get("repository") or {}).get("defaultBranchRef") or {}
        nodes = ((ref.get("target") or {}).get("history") or {}).get("nodes") or []
        return str(ref.get("name") or ""), [str(n["oid"]) for n in nodes if isinstance(n, dict) and n.get("oid")]

    def create_branch(self, branch: str, sha: str) -> None:
        with self._errors(f"creating branch {branch}"):
            self._request("POST", self._url("/git/refs"), input={"ref": f"refs/heads/{branch}", "sha": sha})

    def read_tree(self, ref: str) -> dict[str, str]:
        with self._errors(f"reading the tree at {ref}"):
            data = self._request(
                "GET", self._url(f"/git/trees/{urllib.parse.quote(ref, safe='')}"), parameters={"recursive": 1}
            )
        if data.get("truncated"):
            raise ForgeError(
                f"the tree of {self.repo} at {ref} is too large for one API read",
                fix="keep generated files in a smaller repository or directory",
            )
        return {e["path"]: e["sha"] for e in data.get("tree", []) if e.get("type") == "blob"}

    def read_blob(self, sha: str) -> str:
        import base64

        with self._errors(f"reading blob {sha[:12]}"):
            data = self._request("GET", self._url(f"/git/blobs/{sha}"))
        return base64.b64decode(data.get("content") or "").decode("utf-8", errors="replace")

    def read_files(self, commit: str, paths: list[str]) -> dict[str, str | None]:
        """The text of many files at one commit in one GraphQL query per FILES_PER_QUERY files
        (aliased ``object(expression:)`` reads); None for a path that is not a file there."""
        found: dict[str, str | None] = {}
        owner, name = self.repo.split("/")
        for start in range(0, len(paths), FILES_PER_QUERY):
            chunk = paths[start:start + FILES_PER_QUERY]
            declared = ", ".join(f"$e{i}: String!" for i in range(len(chunk)))
            fields = " ".join(f"f{i}: object(expression: $e{i}) {{ ... on Blob {{ text isTruncated }} }}"
                              for i in range(len(chunk)))
            query = (f"query($owner: String!, $name: String!, {declared}) "
                     f"{{ repository(owner: $owner, name: $name) {{ {fields} }} }}")
            variables: dict[str, Any] = {"owner": owner, "name": name,
                                         **{f"e{i}": f"{commit}:{path}" for i, path in enumerate(chunk)}}
            with self._errors(f"reading {len(chunk)} files at {commit[:12]}"):
                _, data = self._gh.requester.graphql_query(query, variables)
            repository = (data.get("data") or {}).get("repository") or {}
            for i, path in enumerate(chunk):
                blob = repository.get(f"f{i}")
                if blob is not None and blob.get("isTruncated"):
                    blob = {"text": self.read_blob_at(commit, path)}
                found[path] = None if blob is None else str(blob.get("text") or "")
        return found

    def graphql_read(self, query: str, variables: Mapping[str, Any], action: str) -> dict[str, Any]:
        """One GraphQL query in this repository (``$owner``/``$name`` filled in); its ``data``."""
        owner, name = self.repo.split("/")
        with self._errors(action):
            _, data = self._gh.requester.graphql_query(query, {"owner": owner, "name": name, **variables}
                                                       if "$owner" in query else dict(variables))
        return dict(data.get("data") or {})

    def graphql_mutate(self, document: str, variables: Mapping[str, Any],
                       action: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One mutation document: (data, errors). GitHub runs its fields one after another and answers
        200 with ``errors`` (each with a ``path``) for the fields that failed; the caller names them."""
        requester = self._gh.requester
        with self._errors(action, "issues"):
            _, data = requester.requestJsonAndCheck("POST", requester.graphql_url,
                                                    input={"query": document, "variables": dict(variables)})
        errors = [e for e in (data or {}).get("errors") or [] if isinstance(e, dict)]
        return dict((data or {}).get("data") or {}), errors

    def begin_step(self, issue: int, labels: list[LabelSpec]) -> Any:
        """A ``StepForge`` for one step on ``issue`` (its first GraphQL read happens here)."""
        from playbook.adapters.github_step import StepForge

        return StepForge(self, issue, labels)

    def read_dir(self, commit: str, directory: str) -> dict[str, tuple[str, str | None]]:
        """Every file under ``directory`` at ``commit``, two levels deep, with its text, in ONE query:
        path -> (blob id, text, or None when GitHub gives none: binary or truncated)."""
        from playbook.adapters.github_step import DIR_FIELDS, tree_files

        query = ("query($owner: String!, $name: String!, $rev: String!, $d0: String!) "
                 "{ repository(owner: $owner, name: $name) { object(expression: $rev) "
                 f"{{ ... on Commit {{ oid d0: file(path: $d0) {{ {DIR_FIELDS} }} }} }} }} }}")
        data = self.graphql_read(query, {"rev": commit, "d0": directory}, f"reading {directory} at {commit[:12]}")
        return tree_files((data.get("repository") or {}).get("object"), [directory]).files

    def read_blob_at(self, commit: str, path: str) -> str:
        """One file through REST (for a blob GraphQL truncates)."""
        tree = self.read_tree(commit)
        return self.read_blob(tree[path])

    def commit_files(self, branch: str, parent: str, files: Mapping[str, str | None], message: str) -> str:
        """One GraphQL ``createCommitOnBranch`` (inline contents, None deletes), whatever the number of
        files. It lands only while the branch head is still ``parent`` (``expectedHeadOid``): a
        branch that moved is a ``ForgeError`` (GitHub's STALE_DATA), and the workspace re-reads and
        re-applies — the same compare-and-swap a fast-forward-only ref update gave, in one call."""
        import base64

        headline, _, body = message.partition("\n")
        changes: dict[str, Any] = {
            "additions": [{"path": path, "contents": base64.b64encode(text.encode("utf-8")).decode("ascii")}
                          for path, text in sorted(files.items()) if text is not None],
            "deletions": [{"path": path} for path, text in sorted(files.items()) if text is None],
        }
        commit_message = {"headline": headline, **({"body": body.strip("\n")} if body.strip() else {})}
        variables = {"input": {
            "branch": {"repositoryNameWithOwner": self.repo, "branchName": branch},
            "expectedHeadOid": parent, "message": commit_message, "fileChanges": changes,
        }}
        with self._errors(f"committing to {branch}"):
            _, data = self._gh.requester.graphql_query(COMMIT_MUTATION, variables)
        commit = ((data.get("data") or {}).get("createCommitOnBranch") or {}).get("commit") or {}
        if not commit.get("oid"):
            raise ForgeError(f"committing to {branch} in {self.repo}: GitHub returned no commit",
                             fix="re-run the workflow; the commit is retried from the current branch state")
        return str(commit["oid"])

    # ------------------------------------------------------------------ pull requests

    def get_pull(self, number: int) -> PullRequest:
        with self._errors(f"reading pull request #{number}", "pull-requests"):
            return _pull(self._repo.get_pull(number))

    def find_pull(self, head: str, state: str = "all") -> PullRequest | None:
        owner = self.repo.split("/")[0]
        with self._errors(f"looking for a pull request from {head}", "pull-requests"):
            for pull in self._repo.get_pulls(state=state, head=f"{owner}:{head}"):
                return _pull(pull)
        return None

    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        with self._errors(f"opening a pull request from {head}", "pull-requests"):
            return _pull(self._repo.create_pull(base=base, head=head, title=title, body=body, draft=draft))

    def update_pull(self, number: int, *, title: str | None = None, body: str | None = None) -> None:
        changes = {k: v for k, v in {"title": title, "body": body}.items() if v is not None}
        if changes:
            with self._errors(f"updating pull request #{number}", "pull-requests"):
                self._request("PATCH", self._url(f"/pulls/{int(number)}"), input=changes)

    def mark_ready(self, pull: PullRequest) -> None:
        with self._errors(f"marking pull request #{pull.number} ready for review", "pull-requests"):
            self._repo.get_pull(pull.number).mark_ready_for_review()

    def list_reviews(self, number: int) -> list[Review]:
        with self._errors(f"listing reviews of pull request #{number}", "pull-requests"):
            return [Review(r.id, r.body or "", r.user.login if r.user else "", r.state)
                    for r in self._repo.get_pull(number).get_reviews()]

    def create_review(self, number: int, body: str) -> Review:
        with self._errors(f"reviewing pull request #{number}", "pull-requests"):
            review = self._repo.get_pull(number).create_review(body=body, event="COMMENT")
        return Review(review.id, review.body or "", review.user.login if review.user else "", review.state)

    def convert_to_draft(self, pull: PullRequest) -> None:
        with self._errors(f"converting pull request #{pull.number} to a draft", "pull-requests"):
            self._repo.get_pull(pull.number).convert_to_draft()

    def mark_draft(self, pull: PullRequest) -> None:
        with self._errors(f"turning pull request #{pull.number} back into a draft", "pull-requests"):
            self._repo.get_pull(pull.number).convert_to_draft()

    def pull_files(self, number: int) -> list[str]:
        with self._errors(f"listing files of pull request #{number}", "pull-requests"):
            return [f.filename for f in self._repo.get_pull(number).get_files()]

    def list_issues(self, label: str, state: str = "open") -> list[Issue]:
        """One page of up to 100 (the drift issue is one; more than 100 with one label is not ours to page)."""
        query = {"labels": label, "state": state, "sort": "created", "direction": "asc", "per_page": 100}
        with self._errors(f"listing issues labeled {label}", "issues"):
            data = self._request("GET", self._url("/issues"), parameters=query)
        return [_issue(i) for i in data or [] if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        with self._errors("opening an issue", "issues"):
            return _issue(self._request("POST", self._url("/issues"), input={"title": title, "body": body,
                                                                              "labels": labels}))

    def update_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None:
        fields = {k: v for k, v in (("body", body), ("state", state)) if v is not None}
        with self._errors(f"updating issue #{number}", "issues"):
            self._request("PATCH", self._url(f"/issues/{number}"), input=fields)

    def dispatch(self, repo: str, event_type: str, payload: Mapping[str, Any]) -> None:
        """repository_dispatch to another repository, with this forge's token."""
        with self._errors(f"sending {event_type} to {repo}"):
            self._request(
                "POST", self._url("/dispatches", repo), input={"event_type": event_type, "client_payload": dict(payload)}
            )


def _issue(data: Any) -> Issue:
    """An issue from its REST JSON (plain dicts: no lazy PyGithub object, so no surprise extra GETs)."""
    return Issue(
        number=int(data["number"]),
        title=data.get("title") or "",
        body=data.get("body") or "",
        state=data.get("state") or "open",
        labels=tuple(label["name"] for label in data.get("labels") or []),
        html_url=data.get("html_url") or "",
        author=(data.get("user") or {}).get("login") or "",
        locked=bool(data.get("locked")),
        comments=int(data.get("comments") or 0),
    )


def _comment(c: Any) -> Comment:
    return Comment(
        id=int(c.id),
        body=c.body or "",
        author=c.user.login if c.user else "",
        author_type=c.user.type if c.user else "User",
        created_at=c.created_at,
        html_url=c.html_url or "",
        updated_at=c.updated_at,
    )


def _comment_from_json(c: Mapping[str, Any]) -> Comment:
    user = c.get("user") or {}
    return Comment(
        id=int(c["id"]),
        body=c.get("body") or "",
        author=user.get("login") or "",
        author_type=user.get("type") or "User",
        created_at=datetime.fromisoformat(str(c["created_at"]).replace("Z", "+00:00")),
        html_url=c.get("html_url") or "",
    )


def _pull(p: Any) -> PullRequest:
    return PullRequest(
        number=int(p.number),
        title=p.title or "",
        body=p.body or "",
        head=p.head.ref,
        base=p.base.ref,
        draft=bool(p.draft),
        state=p.state,
        merged=p.merged_at is not None,
        html_url=p.html_url or "",
        node_id=p.node_id or "",
        labels=tuple(label.name for label in p.labels),
    )


class GitHubWorkspace:
    """The ``Workspace`` port on one branch, through the Git Data API.

    The tree is read once and blobs on demand; a commit is a fixed handful of calls whatever the
    number of files. A lost race on the ref (someone pushed) or a failure whose effect is unknown
    (5xx after the write landed) is handled the same way: re-read the branch, keep what already
    matches, re-apply the rest on top.
    """

    def __init__(self, forge: Forge, branch: str, *, base_branch: str, max_attempts: int = 3) -> None:
        self.branch = branch
        self._forge = forge
        self._base_branch = base_branch
        self._max_attempts = max_attempts
        self._head: str | None = None  # branch head, None while the branch does not exist
        self._start: str | None = None  # the commit the tree was read from
        self._tree: dict[str, str] | None = None
        self._scope: tuple[str, ...] | None = None  # None: _tree is the whole tree; else only these dirs
        self._blobs: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"GitHubWorkspace({self._forge!r}, branch={self.branch!r})"

    def _load(self) -> dict[str, str]:
        if self._tree is None:
            head = self._forge.branch_head(self.branch)
            start = head or self._forge.branch_head(self._base_branch)
            if start is None:
                raise NotFoundError(
                    f"neither {self.branch!r} nor the base branch {self._base_branch!r} exists in {self._forge.repo}",
                    fix="create the base branch (push an initial commit) or fix the configured branch name",
                )
            self._head, self._start = head, start
            self._tree = self._forge.read_tree(start)
            self._scope = None
        return self._tree

    def seed(self, head: str | None, start: str, files: Mapping[str, tuple[str, str | None]],
             scope: tuple[str, ...]) -> None:
        """Start from what one GraphQL read already saw: the head, and every file (blob id and text)
        under the directories in ``scope`` at ``start``. Anything outside them reads the whole tree."""
        self._head, self._start = head, start
        self._tree = {path: oid for path, (oid, _) in files.items()}
        self._scope = tuple(scope)
        for oid, text in files.values():
            if text is not None and git_blob_sha(text) == oid:
                self._blobs[oid] = text

    def _covers(self, path: str) -> bool:
        return self._scope is None or any(path == d or path.startswith(d + "/") for d in self._scope)

    def _tree_for(self, *paths: str) -> dict[str, str]:
        """The tree, read whole (one REST call) only when a path lies outside the seeded directories."""
        if self._tree is not None and all(self._covers(p) for p in paths):
            return self._tree
        if self._tree is not None and self._start is not None:
            self._tree = self._forge.read_tree(self._start)
            self._scope = None
            return self._tree
        return self._load()

    def prefetch(self, paths: list[str]) -> None:
        """Read every listed file not read yet in one GraphQL round trip (instead of one per file)."""
        safe = [_safe_path(p) for p in paths]
        tree = self._tree_for(*safe)
        wanted = sorted({p for p in safe if p in tree and tree[p] not in self._blobs})
        if len(wanted) < 2 or self._start is None or not hasattr(self._forge, "read_files"):
            return
        common = _common_dir(wanted)
        if len(wanted) > FILES_PER_QUERY and common and hasattr(self._forge, "read_dir"):
            # many files under one directory (the reconcile's every story): that directory, two
            # levels deep with every text, in ONE query instead of one query per 100 files
            for path, (oid, text) in self._forge.read_dir(self._start, common).items():
                if text is not None and tree.get(path) == oid and git_blob_sha(text) == oid:
                    self._blobs[oid] = text
            wanted = [p for p in wanted if tree[p] not in self._blobs]
            if len(wanted) < 2:
                return
        for path, text in self._forge.read_files(self._start, wanted).items():
            if text is not None and git_blob_sha(text) == tree[path]:
                self._blobs[tree[path]] = text  # only what matches the tree; anything else is read again

    def read(self, path: str) -> str | None:
        safe = _safe_path(path)
        sha = self._tree_for(safe).get(safe)
        if sha is None:
            return None
        if sha not in self._blobs:
            self._blobs[sha] = self._forge.read_blob(sha)
        return self._blobs[sha]

    def list(self, prefix: str) -> list[str]:
        prefix = prefix.strip("/")
        if prefix in ("", "."):
            return sorted(self._load() if self._scope is None else self._tree_for(""))
        paths = self._tree_for(_safe_path(prefix))
        return sorted(p for p in paths if p.startswith(_safe_path(prefix) + "/"))

    def head(self) -> str | None:
        if self._tree is None:
            self._load()
        return self._head

    def commit(self, files: Mapping[str, str | None], message: str) -> str | None:
        wanted = {_safe_path(path): text for path, text in files.items()}
        last: ForgeError | None = None
        for attempt in range(self._max_attempts):
            tree = self._tree_for(*wanted)
            changes = {p: t for p, t in wanted.items() if tree.get(p) != (None if t is None else git_blob_sha(t))}
            if not changes:
                return None if attempt == 0 else self._head  # a retry found our commit already there
            try:
                if self._head is None:
                    self._forge.create_branch(self.branch, self._start or "")
                    self._head = self._start
                sha = self._forge.commit_files(self.branch, self._head or "", changes, message)
            except (ForgePermissionError, RateLimitedError):
                raise  # re-reading cannot help
            except ForgeError as exc:  # conflict, 5xx, vanished branch: look again before retrying
                last = exc
                self._tree = None
                continue
            self._head = self._start = sha
            for path, text in changes.items():
                if text is None:
                    tree.pop(path, None)
                else:
                    tree[path] = git_blob_sha(text)
                    self._blobs[tree[path]] = text
            return sha
        assert last is not None
        raise ForgeError(
            f"could not commit to {self.branch} in {self._forge.repo} after {self._max_attempts} attempts: "
            f"{last.message}",
            fix=last.fix or "re-run the workflow; the commit is retried from the current branch state",
        )


def _common_dir(paths: list[str]) -> str:
    """The deepest directory every path lies under ("" when they share none)."""
    parts = [p.split("/")[:-1] for p in paths]
    common: list[str] = []
    for names in zip(*parts, strict=False):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    return "/".join(common)


def _safe_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\x00" in path or ".." in parts or "" in parts[:-1]:
        raise ForgeError(f"refusing to write outside the repository: {path!r}", fix="use a relative POSIX path")
    return path.rstrip("/")
