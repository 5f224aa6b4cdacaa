"""A loopback stand-in for the GitHub REST API (plus the one GraphQL mutation the product sends).

Real HTTP on 127.0.0.1, real git object ids, and every response body checked against GitHub's
OpenAPI description (``openapi_check``): a body the real API could not send is recorded in
``conformance_errors`` and answered with 500, so the test that caused it fails.

Tests drive it with Python helpers (``add_repo``, ``add_issue``, ``push`` ...), inspect it
(``files_at``, ``commits``, ``comments``, ``calls`` ...) and break it on purpose with ``inject``.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import openapi_check
from .git_objects import BLOB_MODE, TREE_MODE, Commit, ObjectStore, Person

DOCS = "https://docs.github.com/rest"
BOT = ("github-actions[bot]", "Bot")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_PERMISSION_FIELD = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read", "none": "none"}


def _graphql_operation(raw: bytes) -> str:
    """"query", or "mutation <first field>" for a GraphQL request body."""
    try:
        text = str(json.loads(raw or b"{}").get("query", ""))
    except (ValueError, AttributeError):
        return ""
    m = re.match(r"\s*mutation\b[^{]*\{(.*)", text, re.S)
    if not m:
        return "query"
    fields, depth = [], 0  # the top-level fields (after any alias), in order
    for token in re.finditer(r"[{}]|(\w+)\s*:\s*(\w+)\s*\(|(\w+)\s*[({]", m.group(1)):
        if token.group(0) == "{":
            depth += 1
        elif token.group(0) == "}":
            depth -= 1
        else:
            if depth == 0:
                fields.append(token.group(2) or token.group(3))
            if token.group(0).endswith("{"):
                depth += 1
    return "mutation " + "+".join(fields)


class ApiError(Exception):
    """Raised by a route handler to answer with a GitHub-shaped error."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors


@dataclass
class Call:
    method: str
    path: str
    status: int
    query: str = ""
    token: str = ""
    operation: str = ""  # GraphQL: "query", or the mutation's field ("mutation createCommitOnBranch")


@dataclass
class Fault:
    method: str
    path_regex: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    apply_first: bool
    delay: float = 0.0


@dataclass
class _Comment:
    id: int
    issue: int
    body: str
    author: tuple[str, str]
    created_at: datetime
    updated_at: datetime
    reactions: dict[int, tuple[str, tuple[str, str]]] = field(default_factory=dict)  # id -> (content, user)


@dataclass
class _Issue:
    number: int
    title: str
    body: str
    author: tuple[str, str]
    labels: list[str]
    created_at: datetime
    state: str = "open"
    locked: bool = False
    is_pull: bool = False


@dataclass
class _Pull:
    number: int
    node_id: str
    head: str
    base: str
    draft: bool
    user: tuple[str, str]
    state: str = "open"
    merged: bool = False
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    head_sha: str = ""
    base_sha_at_merge: str = ""  # GitHub keeps listing a merged PR's files against its old base
    reviews: list[dict[str, Any]] = field(default_factory=list)  # {id, user, body, event, comments, commit_id}


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    issues: dict[int, _Issue] = field(default_factory=dict)
    comments: dict[int, _Comment] = field(default_factory=dict)
    labels: dict[str, _Label] = field(default_factory=dict)  # lower-case name -> label
    pulls: dict[int, _Pull] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] | None = None
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]


def _compile(template: str) -> re.Pattern[str]:
    """Path template -> regex; ``{ref}`` and ``{path}`` may contain slashes."""

    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<{name}>.+)" if name in ("ref", "path") else f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, template) + "$")


class FakeGitHub:
    """State plus request handling; ``start()`` serves it on 127.0.0.1:0."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.objects = ObjectStore()
        self.calls: list[Call] = []
        self.conformance_errors: list[str] = []
        self.faults: list[Fault] = []
        self.identities: dict[str, tuple[str, str]] = {}
        self._lock = threading.RLock()
        self._ids = 1000
        self._clock = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self._routes = self._build_routes()
        self._idle = threading.Condition()
        self._in_flight = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes; without NODELAY each response waits
                # for the client's delayed ACK (~40 ms).
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, payload = fake.handle(self.command, self.path, dict(self.headers), raw)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload:
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests) is not the fake's problem

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ test helpers: setup

    def add_repo(
        self,
        full_name: str,
        files: Mapping[str, str] | None = None,
        default_branch: str = "main",
        *,
        tokens: Iterable[str] | None = None,
    ) -> str:
        """Create a repo with one initial commit holding ``files``; returns that commit's sha."""
        owner, name = full_name.split("/")
        with self._lock:
            repo = _Repo(id=self._next_id(), owner=owner, name=name, default_branch=default_branch)
            repo.tokens = set(tokens) if tokens is not None else None
            self.repos[full_name] = repo
            return self.push(full_name, default_branch, dict(files or {"README.md": f"# {name}\n"}), "Initial commit")

    def set_tokens(self, repo: str, tokens: Iterable[str] | None) -> None:
        """Accept only these tokens for requests about ``repo`` (None: any token)."""
        self.repos[repo].tokens = set(tokens) if tokens is not None else None

    def set_identity(self, token: str, login: str, user_type: str = "User") -> None:
        """Who a token acts as (comments, PRs and commits it creates); default github-actions[bot]."""
        self.identities[token] = (login, user_type)

    def add_issue(
        self, repo: str, title: str, body: str = "", labels: Iterable[str] = (), author: str = "owner"
    ) -> int:
        with self._lock:
            r = self.repos[repo]
            number = self._take_number(r)
            for name in labels:
                self._ensure_label(r, name)
            r.issues[number] = _Issue(number, title, body, (author, "User"), list(labels), self._now())
            return number

    def add_comment(self, repo: str, issue: int, body: str, author: str, author_type: str = "User",
                    created_at: datetime | None = None) -> int:
        """A comment written by a person (``created_at``: when, if the test needs a real time)."""
        with self._lock:
            comment = self._add_comment(self.repos[repo], issue, body, (author, author_type))
            if created_at is not None:
                comment.created_at = comment.updated_at = created_at.replace(microsecond=0)
            return comment.id

    def set_permission(self, repo: str, user: str, perm: str) -> None:
        if perm not in _PERMISSION_FIELD:
            raise ValueError(f"unknown permission {perm!r}")
        self.repos[repo].permissions[user] = perm

    def push(self, repo: str, branch: str, files: Mapping[str, str | None], message: str) -> str:
        """Commit on top of ``branch`` (created when missing) as someone else would; returns the sha."""
        with self._lock:
            r = self.repos[repo]
            parent = r.refs.get(branch) or r.refs.get(r.default_branch)  # new branches start at the default
            flat = self.objects.flat(self.objects.commits[parent].tree) if parent else {}
            for path, text in files.items():
                if text is None:
                    flat.pop(path, None)
                else:
                    flat[path] = self.objects.put_blob(text.encode())
            sha = self._commit(self.objects.write_flat(flat), [parent] if parent else [], message, ("owner", "User"))
            r.refs[branch] = sha
            return sha

    def merge_pull(self, repo: str, number: int) -> str:
        """Merge like the merge button; returns the merge commit sha."""
        with self._lock:
            return self._merge(self.repos[repo], number, None, ("owner", "User"))

    def close_issue(self, repo: str, number: int) -> None:
        self.repos[repo].issues[number].state = "closed"

    # ------------------------------------------------------------------ test helpers: inspection

    def branch_head(self, repo: str, branch: str) -> str | None:
        return self.repos[repo].refs.get(branch)

    def files_at(self, repo: str, ref: str) -> dict[str, str]:
        with self._lock:
            commit = self._resolve_commit(self.repos[repo], ref)
            flat = self.objects.flat(self.objects.commits[commit].tree)
            return {path: self.objects.blob(sha).decode() for path, sha in flat.items()}

    def commits(self, repo: str, branch: str) -> list[str]:
        """Commit messages reachable from ``branch``, newest first (first-parent order)."""
        with self._lock:
            out, sha = [], self.repos[repo].refs.get(branch)
            while sha:
                commit = self.objects.commits[sha]
                out.append(commit.message)
                sha = commit.parents[0] if commit.parents else None
            return out

    def comments(self, repo: str, issue: int) -> list[str]:
        r = self.repos[repo]
        return [c.body for c in sorted(r.comments.values(), key=lambda c: c.id) if c.issue == issue]

    def reactions(self, repo: str, comment_id: int) -> list[tuple[str, str]]:
        """(content, login) of every reaction on a comment, oldest first."""
        with self._lock:
            comment = self.repos[repo].comments[comment_id]
            return [(content, who[0]) for _, (content, who) in sorted(comment.reactions.items())]

    def edit_comment_body(self, repo: str, comment_id: int, body: str) -> None:
        """A person edits their comment (``updated_at`` moves)."""
        with self._lock:
            comment = self.repos[repo].comments[comment_id]
            comment.body = body
            comment.updated_at = max(self._now(), comment.created_at + timedelta(seconds=1))

    def labels(self, repo: str, issue: int | None = None) -> list[str]:
        """Labels on an issue, or every label of the repo when ``issue`` is None."""
        r = self.repos[repo]
        if issue is None:
            return [label.name for label in r.labels.values()]
        return list(r.issues[issue].labels)

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        r = self.repos[repo]
        return [
            {
                "number": p.number, "head": p.head, "base": p.base, "draft": p.draft, "state": p.state,
                "merged": p.merged, "title": r.issues[p.number].title, "body": r.issues[p.number].body,
                "merge_commit_sha": p.merge_commit_sha, "user": p.user[0],
            }
            for p in r.pulls.values()
        ]

    def dispatches(self, repo: str) -> list[dict[str, Any]]:
        return list(self.repos[repo].dispatches)

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if (method is None or c.method == method.upper()) and (path_contains is None or path_contains in c.path)
            )

    # ------------------------------------------------------------------ fault injection

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        apply_first: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``apply_first`` performs the request THEN answers with the fault (the "5xx but it landed"
        case). ``delay`` sleeps before answering (with ``status=0`` the real answer is just slow).
        """
        if body is None and status >= 400:
            body = {"message": "Server Error"} if status >= 500 else {"message": "Error", "documentation_url": DOCS}
        with self._lock:
            self.faults.append(
                Fault(method.upper(), re.compile(path_regex), status, body, dict(headers or {}), times, apply_first, delay)
            )

    def inject_slow(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        self.inject(method, path_regex, 0, times=times, delay=seconds)

    def inject_rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        primary: bool = True,
        reset_in: int = 3000,
        retry_after: int | None = None,
        status: int = 403,
        times: int = 1,
    ) -> None:
        """A primary (quota spent until reset) or secondary (abuse) rate-limit answer, as GitHub words them."""
        reset = int(time.time()) + reset_in
        headers = {"x-ratelimit-limit": "5000", "x-ratelimit-used": "5000" if primary else "12",
                   "x-ratelimit-remaining": "0" if primary else "4988", "x-ratelimit-reset": str(reset),
                   "x-ratelimit-resource": "core"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        message = (
            "API rate limit exceeded for installation ID 1234."
            if primary
            else "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        )
        body = {"message": message, "documentation_url": DOCS + "/overview/rate-limits-for-the-rest-api"}
        self.inject(method, path_regex, status, body=body, headers=headers, times=times)

    # ------------------------------------------------------------------ request handling

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no request is being served (e.g. a slow one whose client already gave up)."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        with self._idle:
            self._in_flight += 1
        try:
            return self._handle(method, raw_path, headers, raw)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        method = method.upper()
        parsed = urllib.parse.urlsplit(raw_path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        token = self._token(headers)
        operation = _graphql_operation(raw) if path == "/graphql" else ""
        # a fault can target one mutation: inject("POST", r"/graphql/createCommitOnBranch", ...)
        fault = self._take_fault(method, path + ("/" + operation.split()[-1] if operation.startswith("mutation") else ""))
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        with self._lock:
            status, body, extra, template = self._dispatch(method, path, query, token, raw, fault)
            if fault is not None and fault.status:
                # An injected answer (after the write, with apply_first). 5xx bodies are GitHub's
                # HTML/plain error pages in real life, so only client errors are checked.
                status, body, extra = fault.status, fault.body, dict(fault.headers)
                problems = self._check(template, method, status, body) if status < 500 else []
            else:
                problems = self._check(template, method, status, body)
            if problems:
                self.conformance_errors.extend(problems)
                status, body, extra = 500, {"message": "fake GitHub response failed OpenAPI validation",
                                            "errors": problems}, {}
            self.calls.append(Call(method, path, status, parsed.query, token, operation))
        out_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "x-github-request-id": hashlib.sha1(f"{len(self.calls)}".encode()).hexdigest()[:16].upper(),  # noqa: S324
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
        }
        out_headers.update(extra)
        payload = b"" if body is None else json.dumps(body).encode()
        return status, out_headers, payload

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_regex.search(path):
                    fault.times -= 1
                    return fault
        return None

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], token: str, raw: bytes, fault: Fault | None
    ) -> tuple[int, Any, dict[str, str], str | None]:
        """Run the matching route (unless a plain fault pre-empts it) -> (status, body, headers, template)."""
        route, params = self._match(method, path)
        template = route.template if route else None
        if fault is not None and fault.status and not fault.apply_first:
            return fault.status, fault.body, dict(fault.headers), template
        if not token:
            return 401, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}, {}, template
        if route is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}, None
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}, {}, template
        try:
            repo = None
            if "owner" in params:
                repo = self.repos.get(f"{params['owner']}/{params['repo']}")
                if repo is None:
                    raise ApiError(404, "Not Found")
                if repo.tokens is not None and token not in repo.tokens:
                    raise ApiError(401, "Bad credentials")
            result = route.handler(repo=repo, params=params, query=query, payload=payload, token=token)
        except ApiError as exc:
            return exc.status, exc.body, {}, template
        status, body, *rest = result
        return status, body, (rest[0] if rest else {}), template

    def _check(self, template: str | None, method: str, status: int, body: Any) -> list[str]:
        if template == "/graphql":
            return []
        if template is None or not openapi_check.documents(template, method, status):
            if status >= 400:  # GitHub answers any route with its basic error object
                problems = openapi_check.check_response("/repos/{owner}/{repo}", "get", 404, body)
                return [f"{method} {template or '(no route)'} → {status}: {p}" for p in problems]
            if template is None:
                return [f"{method} (no route) → {status}: unexpected success status"]
        return openapi_check.check_response(template, method, status, body)

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method:
                m = route.pattern.match(path)
                if m:
                    return route, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return None, {}

    @staticmethod
    def _token(headers: Mapping[str, str]) -> str:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() in ("token", "bearer") else ""

    def _build_routes(self) -> list[_Route]:
        table = [
            ("GET", "/repos/{owner}/{repo}", self._get_repo),
            ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", self._get_permission),
            ("GET", "/repos/{owner}/{repo}/issues", self._list_issues),
            ("POST", "/repos/{owner}/{repo}/issues", self._create_issue),
            ("GET", "/repos/{owner}/{repo}/issues/{issue_number}", self._get_issue),
            ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}", self._update_issue),
            ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", self._list_comments),
            ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", self._create_comment),
            ("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}", self._get_comment),
            ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", self._edit_comment),
            ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", self._create_reaction),
            ("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}",
             self._delete_reaction),
            ("GET", "/repos/{owner}/{repo}/labels", self._list_labels),
            ("POST", "/repos/{owner}/{repo}/labels", self._create_label),
            ("PATCH", "/repos/{owner}/{repo}/labels/{name}", self._update_label),
            ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", self._add_labels),
            ("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", self._remove_label),
            ("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels", self._replace_labels),
            ("GET", "/repos/{owner}/{repo}/git/ref/{ref}", self._get_ref),
            ("POST", "/repos/{owner}/{repo}/git/refs", self._create_ref),
            ("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", self._update_ref),
            ("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}", self._get_tree),
            ("POST", "/repos/{owner}/{repo}/git/trees", self._create_tree),
            ("POST", "/repos/{owner}/{repo}/git/commits", self._create_commit),
            ("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}", self._get_commit),
            ("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}", self._get_blob),
            ("GET", "/repos/{owner}/{repo}/contents/{path}", self._get_contents),
            ("GET", "/repos/{owner}/{repo}/pulls", self._list_pulls),
            ("POST", "/repos/{owner}/{repo}/pulls", self._create_pull),
            ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", self._get_pull),
            ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", self._update_pull),
            ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", self._list_pull_files),
            ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", self._merge_pull),
            ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", self._list_reviews),
            ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", self._create_review),
            ("POST", "/repos/{owner}/{repo}/dispatches", self._dispatch_event),
            ("POST", "/graphql", self._graphql),
        ]
        return [_Route(m, t, _compile(t), h) for m, t, h in table]

    # ------------------------------------------------------------------ small internals

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _now(self) -> datetime:
        self._clock += 1
        return _EPOCH + timedelta(seconds=self._clock)

    def _take_number(self, r: _Repo) -> int:
        number = r.next_number
        r.next_number += 1
        return number

    def _actor(self, token: str) -> tuple[str, str]:
        return self.identities.get(token, BOT)

    def _ensure_label(self, r: _Repo, name: str) -> _Label:
        key = name.lower()
        if key not in r.labels:
            r.labels[key] = _Label(self._next_id(), name, "ededed", None)
        return r.labels[key]

    def _add_comment(self, r: _Repo, issue: int, body: str, author: tuple[str, str]) -> _Comment:
        if issue not in r.issues:
            raise ApiError(404, "Not Found")
        now = self._now()
        comment = _Comment(self._next_id(), issue, body, author, now, now)
        r.comments[comment.id] = comment
        return comment

    def _commit(self, tree: str, parents: list[str], message: str, who: tuple[str, str]) -> str:
        stamp = int(self._now().timestamp())
        person = Person(who[0], f"{who[0]}@users.noreply.example.invalid", stamp)
        return self.objects.put_commit(Commit(tree, tuple(parents), person, person, message))

    def _resolve_commit(self, r: _Repo, ref: str) -> str:
        """A branch name, ``refs/heads/x`` or a commit sha -> commit sha."""
        ref = ref.removeprefix("refs/heads/").removeprefix("heads/")
        if ref in r.refs:
            return r.refs[ref]
        if ref in self.objects.commits:
            return ref
        raise ApiError(404, "Not Found")

    def _resolve_tree(self, r: _Repo, treeish: str) -> str:
        if self.objects.kind(treeish) == "tree":
            return treeish
        return self.objects.commits[self._resolve_commit(r, treeish)].tree

    @staticmethod
    def _int(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise ApiError(404, "Not Found") from None

    def _paginate(self, items: list[Any], query: dict[str, list[str]], path: str) -> tuple[list[Any], dict[str, str]]:
        per_page = max(1, min(100, int(query.get("per_page", ["30"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        links = []

        def link(n: int, rel: str) -> str:
            q = {k: v[0] for k, v in query.items()}
            q.update(per_page=str(per_page), page=str(n))
            return f'<{self.url}{path}?{urllib.parse.urlencode(q)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        chunk = items[(page - 1) * per_page : page * per_page]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    # ------------------------------------------------------------------ JSON shapes

    def _api(self, r: _Repo, suffix: str = "") -> str:
        return f"{self.url}/repos/{r.full_name}{suffix}"

    def _html(self, r: _Repo, suffix: str = "") -> str:
        return f"https://github.com/{r.full_name}{suffix}"

    def _user(self, who: tuple[str, str]) -> dict[str, Any]:
        login, kind = who
        uid = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)  # noqa: S324 - stable fake id
        base = f"{self.url}/users/{urllib.parse.quote(login)}"
        return {
            "login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"https://avatars.example.invalid/u/{uid}",
            "gravatar_id": "", "url": base, "html_url": f"https://github.com/{login}",
            "followers_url": base + "/followers", "following_url": base + "/following{/other_user}",
            "gists_url": base + "/gists{/gist_id}", "starred_url": base + "/starred{/owner}{/repo}",
            "subscriptions_url": base + "/subscriptions", "organizations_url": base + "/orgs",
            "repos_url": base + "/repos", "events_url": base + "/events{/privacy}",
            "received_events_url": base + "/received_events", "type": kind, "site_admin": False,
            "user_view_type": "public",
        }

    def _repo_json(self, r: _Repo, schema: str = "full-repository") -> dict[str, Any]:
        value = {
            "id": r.id, "node_id": f"R_{r.id}", "name": r.name, "full_name": r.full_name,
            "owner": self._user((r.owner, "User")), "private": True, "html_url": self._html(r),
            "description": None, "fork": False, "url": self._api(r), "default_branch": r.default_branch,
            "visibility": "private", "created_at": _EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": _EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"), "pushed_at": _EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "clone_url": f"https://github.com/{r.full_name}.git", "git_url": f"git://github.com/{r.full_name}.git",
            "ssh_url": f"git@github.com:{r.full_name}.git", "svn_url": self._html(r), "homepage": None,
            "language": None, "mirror_url": None, "archived": False, "disabled": False, "has_issues": True,
            "topics": [], "license": None, "network_count": 0, "subscribers_count": 0,
        }
        for key in ("archive", "assignees", "blobs", "branches", "collaborators", "comments", "commits",
                    "compare", "contents", "contributors", "deployments", "downloads", "events", "forks",
                    "git_commits", "git_refs", "git_tags", "hooks", "issue_comment", "issue_events", "issues",
                    "keys", "labels", "languages", "merges", "milestones", "notifications", "pulls", "releases",
                    "stargazers", "statuses", "subscribers", "subscription", "tags", "teams", "trees"):
            value[f"{key}_url"] = self._api(r, f"/{key}")
        return openapi_check.fill_required(openapi_check.schema_of(schema), value)

    @staticmethod
    def _stamp(moment: datetime | None) -> str | None:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

    def _label_json(self, r: _Repo, label: _Label) -> dict[str, Any]:
        return {
            "id": label.id, "node_id": f"LA_{label.id}", "url": self._api(r, "/labels/" + urllib.parse.quote(label.name)),
            "name": label.name, "color": label.color, "default": False, "description": label.description,
        }

    def _issue_json(self, r: _Repo, issue: _Issue) -> dict[str, Any]:
        url = self._api(r, f"/issues/{issue.number}")
        value: dict[str, Any] = {
            "id": issue.number * 7919 + r.id, "node_id": f"I_{r.id}_{issue.number}", "url": url,
            "repository_url": self._api(r), "labels_url": url + "/labels{/name}", "comments_url": url + "/comments",
            "events_url": url + "/events", "html_url": self._html(r, f"/issues/{issue.number}"),
            "number": issue.number, "state": issue.state, "title": issue.title, "body": issue.body,
            "user": self._user(issue.author),
            "labels": [self._label_json(r, r.labels[n.lower()]) for n in issue.labels if n.lower() in r.labels],
            "assignee": None, "assignees": [], "milestone": None, "locked": issue.locked,
            "active_lock_reason": None, "comments": sum(1 for c in r.comments.values() if c.issue == issue.number),
            "closed_at": None, "created_at": self._stamp(issue.created_at), "updated_at": self._stamp(issue.created_at),
            "author_association": "OWNER" if issue.author[0] == r.owner else "NONE",
        }
        if issue.is_pull:
            pull = r.pulls[issue.number]
            value["pull_request"] = {
                "url": self._api(r, f"/pulls/{issue.number}"), "html_url": self._html(r, f"/pull/{issue.number}"),
                "diff_url": self._html(r, f"/pull/{issue.number}.diff"),
                "patch_url": self._html(r, f"/pull/{issue.number}.patch"), "merged_at": self._stamp(pull.merged_at),
            }
        return openapi_check.fill_required(openapi_check.schema_of("issue"), value)

    def _comment_json(self, r: _Repo, c: _Comment) -> dict[str, Any]:
        value = {
            "id": c.id, "node_id": f"IC_{c.id}", "url": self._api(r, f"/issues/comments/{c.id}"),
            "html_url": self._html(r, f"/issues/{c.issue}#issuecomment-{c.id}"), "body": c.body,
            "user": self._user(c.author), "created_at": self._stamp(c.created_at),
            "updated_at": self._stamp(c.updated_at), "issue_url": self._api(r, f"/issues/{c.issue}"),
            "author_association": "OWNER" if c.author[0] == r.owner else "NONE",
        }
        return openapi_check.fill_required(openapi_check.schema_of("issue-comment"), value)

    def _ref_json(self, r: _Repo, branch: str) -> dict[str, Any]:
        sha = r.refs[branch]
        return {
            "ref": f"refs/heads/{branch}", "node_id": f"REF_{r.id}_{branch}",
            "url": self._api(r, f"/git/refs/heads/{branch}"),
            "object": {"type": "commit", "sha": sha, "url": self._api(r, f"/git/commits/{sha}")},
        }

    def _tree_json(self, r: _Repo, tree_sha: str, recursive: bool) -> dict[str, Any]:
        if recursive:
            entries = self.objects.walk(tree_sha)
        else:
            entries = [(name, mode, sha) for mode, name, sha in self.objects.trees[tree_sha]]
        items = []
        for path, mode, sha in entries:
            kind = "tree" if mode == TREE_MODE else "blob"
            item = {"path": path, "mode": "040000" if kind == "tree" else mode, "type": kind, "sha": sha,
                    "url": self._api(r, f"/git/{kind}s/{sha}")}
            if kind == "blob":
                item["size"] = len(self.objects.blob(sha))
            items.append(item)
        return {"sha": tree_sha, "url": self._api(r, f"/git/trees/{tree_sha}"), "tree": items, "truncated": False}

    def _commit_json(self, r: _Repo, sha: str) -> dict[str, Any]:
        c = self.objects.commits[sha]

        def person(p: Person) -> dict[str, str]:
            moment = datetime.fromtimestamp(p.timestamp, UTC)
            return {"name": p.name, "email": p.email, "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}

        return {
            "sha": sha, "node_id": f"C_{sha[:12]}", "url": self._api(r, f"/git/commits/{sha}"),
            "html_url": self._html(r, f"/commit/{sha}"), "author": person(c.author), "committer": person(c.committer),
            "message": c.message, "tree": {"sha": c.tree, "url": self._api(r, f"/git/trees/{c.tree}")},
            "parents": [{"sha": p, "url": self._api(r, f"/git/commits/{p}"), "html_url": self._html(r, f"/commit/{p}")}
                        for p in c.parents],
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                             "verified_at": None},
        }

    def _pull_json(self, r: _Repo, p: _Pull, schema: str = "pull-request") -> dict[str, Any]:
        issue = r.issues[p.number]
        url = self._api(r, f"/pulls/{p.number}")
        html = self._html(r, f"/pull/{p.number}")
        head_sha = r.refs.get(p.head, p.head_sha)
        repo_json = self._repo_json(r, "repository")

        def part(branch: str, sha: str) -> dict[str, Any]:
            return {"label": f"{r.owner}:{branch}", "ref": branch, "sha": sha, "user": self._user((r.owner, "User")),
                    "repo": repo_json}

        value: dict[str, Any] = {
            "url": url, "id": p.number * 104729 + r.id, "node_id": p.node_id, "html_url": html,
            "diff_url": html + ".diff", "patch_url": html + ".patch", "issue_url": self._api(r, f"/issues/{p.number}"),
            "commits_url": url + "/commits", "review_comments_url": url + "/comments",
            "review_comment_url": self._api(r, "/pulls/comments{/number}"),
            "comments_url": self._api(r, f"/issues/{p.number}/comments"),
            "statuses_url": self._api(r, f"/statuses/{head_sha}"), "number": p.number, "state": p.state,
            "locked": False, "title": issue.title, "user": self._user(p.user), "body": issue.body,
            "labels": [self._label_json(r, r.labels[n.lower()]) for n in issue.labels if n.lower() in r.labels],
            "milestone": None, "active_lock_reason": None, "created_at": self._stamp(issue.created_at),
            "updated_at": self._stamp(issue.created_at), "closed_at": self._stamp(p.merged_at),
            "merged_at": self._stamp(p.merged_at), "merge_commit_sha": p.merge_commit_sha, "assignee": None,
            "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "head": part(p.head, head_sha), "base": part(p.base, r.refs.get(p.base, "")),
            "_links": {k: {"href": v} for k, v in {
                "self": url, "html": html, "issue": self._api(r, f"/issues/{p.number}"),
                "comments": self._api(r, f"/issues/{p.number}/comments"), "review_comments": url + "/comments",
                "review_comment": self._api(r, "/pulls/comments{/number}"), "commits": url + "/commits",
                "statuses": self._api(r, f"/statuses/{head_sha}")}.items()},
            "author_association": "OWNER" if p.user[0] == r.owner else "NONE", "auto_merge": None,
            "draft": p.draft,
        }
        if schema == "pull-request":
            value.update({
                "merged": p.merged, "mergeable": None if p.merged else True, "rebaseable": None,
                "mergeable_state": "clean" if not p.merged else "unknown", "merged_by": None,
                "comments": sum(1 for c in r.comments.values() if c.issue == p.number), "review_comments": 0,
                "maintainer_can_modify": False, "commits": len(self._pull_commits(r, p)),
                "additions": 0, "deletions": 0, "changed_files": len(self._pull_diff(r, p)),
            })
        return openapi_check.fill_required(openapi_check.schema_of(schema), value)

    # ------------------------------------------------------------------ routes: repo, issues, comments, labels

    def _get_repo(self, repo: _Repo, **_: Any) -> tuple:
        return 200, self._repo_json(repo)

    def _get_permission(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        user = params["username"]
        perm = repo.permissions.get(user)
        if perm is None and user == repo.owner:
            perm = "admin"
        if perm is None:
            raise ApiError(404, f"{user} is not a user")
        collaborator = self._user((user, "User"))
        collaborator["permissions"] = {"admin": perm == "admin", "maintain": perm in ("admin", "maintain"),
                                       "push": perm in ("admin", "maintain", "write"),
                                       "triage": perm != "read" and perm != "none", "pull": perm != "none"}
        collaborator["role_name"] = perm
        body = {"permission": _PERMISSION_FIELD[perm], "role_name": perm, "user": collaborator}
        return 200, openapi_check.fill_required(openapi_check.schema_of("repository-collaborator-permission"), body)

    def _issue(self, repo: _Repo, number: str) -> _Issue:
        issue = repo.issues.get(self._int(number))
        if issue is None:
            raise ApiError(404, "Not Found")
        return issue

    def _get_issue(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        return 200, self._issue_json(repo, self._issue(repo, params["issue_number"]))

    def _list_issues(self, repo: _Repo, query: dict, **_: Any) -> tuple:
        state = (query.get("state") or ["open"])[0]
        wanted = {n.lower() for n in (query.get("labels") or [""])[0].split(",") if n}
        items = [self._issue_json(repo, i) for _, i in sorted(repo.issues.items())
                 if (state == "all" or i.state == state) and wanted <= {n.lower() for n in i.labels}]
        if (query.get("direction") or ["desc"])[0] == "desc":
            items.reverse()
        chunk, links = self._paginate(items, query, f"/repos/{repo.full_name}/issues")
        return 200, chunk, links

    def _create_issue(self, repo: _Repo, payload: dict, token: str, **_: Any) -> tuple:
        title = payload.get("title")
        if not isinstance(title, str) or not title:
            raise ApiError(422, "Validation Failed", [{"resource": "Issue", "code": "missing_field", "field": "title"}])
        body = payload.get("body") or ""
        if not isinstance(body, str) or len(body) > 65536:
            raise ApiError(422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "body"}])
        labels = [str(n) for n in payload.get("labels") or []]
        for name in labels:
            self._ensure_label(repo, name)
        number = self._take_number(repo)
        repo.issues[number] = _Issue(number, title, body, self._actor(token), labels, self._now())
        return 201, self._issue_json(repo, repo.issues[number])

    def _update_issue(self, repo: _Repo, params: dict[str, str], payload: dict, **_: Any) -> tuple:
        issue = self._issue(repo, params["issue_number"])
        if "body" in payload:
            if not isinstance(payload["body"], str) or len(payload["body"]) > 65536:
                raise ApiError(422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "body"}])
            issue.body = payload["body"]
        if "state" in payload:
            if payload["state"] not in ("open", "closed"):
                raise ApiError(422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "state"}])
            issue.state = payload["state"]
        return 200, self._issue_json(repo, issue)

    def _list_comments(self, repo: _Repo, params: dict[str, str], query: dict, **_: Any) -> tuple:
        issue = self._issue(repo, params["issue_number"])
        items = [self._comment_json(repo, c) for c in sorted(repo.comments.values(), key=lambda c: c.id)
                 if c.issue == issue.number]
        chunk, links = self._paginate(items, query, f"/repos/{repo.full_name}/issues/{issue.number}/comments")
        return 200, chunk, links

    def _create_comment(self, repo: _Repo, params: dict[str, str], payload: dict, token: str, **_: Any) -> tuple:
        issue = self._issue(repo, params["issue_number"])
        body = payload.get("body")
        if not isinstance(body, str) or not body:
            raise ApiError(422, "Validation Failed", [{"resource": "IssueComment", "code": "missing_field", "field": "body"}])
        if len(body) > 65536:
            raise ApiError(422, "Validation Failed", [{"resource": "IssueComment", "code": "custom", "field": "body",
                                                       "message": "body is too long (maximum is 65536 characters)"}])
        comment = self._add_comment(repo, issue.number, body, self._actor(token))
        return 201, self._comment_json(repo, comment)

    def _get_comment(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        comment = repo.comments.get(self._int(params["comment_id"]))
        if comment is None:
            raise ApiError(404, "Not Found")
        return 200, self._comment_json(repo, comment)

    def _edit_comment(self, repo: _Repo, params: dict[str, str], payload: dict, **_: Any) -> tuple:
        comment = repo.comments.get(self._int(params["comment_id"]))
        if comment is None:
            raise ApiError(404, "Not Found")
        body = payload.get("body")
        if not isinstance(body, str) or len(body) > 65536:
            raise ApiError(422, "Validation Failed", [{"resource": "IssueComment", "code": "invalid", "field": "body"}])
        comment.body = body
        comment.updated_at = self._now()
        return 200, self._comment_json(repo, comment)

    REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

    def _create_reaction(self, repo: _Repo, params: dict[str, str], payload: dict, token: str, **_: Any) -> tuple:
        comment = repo.comments.get(self._int(params["comment_id"]))
        if comment is None:
            raise ApiError(404, "Not Found")
        content = payload.get("content")
        if content not in self.REACTIONS:
            raise ApiError(422, "Validation Failed", [{"resource": "Reaction", "code": "invalid", "field": "content"}])
        who = self._actor(token)
        for rid, (have, user) in comment.reactions.items():
            if have == content and user == who:  # GitHub answers 200 with the existing reaction
                return 200, self._reaction_json(rid, content, who)
        rid = self._next_id()
        comment.reactions[rid] = (content, who)
        return 201, self._reaction_json(rid, content, who)

    def _delete_reaction(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        comment = repo.comments.get(self._int(params["comment_id"]))
        if comment is None or comment.reactions.pop(self._int(params["reaction_id"]), None) is None:
            raise ApiError(404, "Not Found")
        return 204, None

    def _reaction_json(self, rid: int, content: str, who: tuple[str, str]) -> dict[str, Any]:
        return {"id": rid, "node_id": f"REA_{rid}", "user": self._user(who), "content": content,
                "created_at": self._stamp(self._now())}

    def _list_labels(self, repo: _Repo, query: dict, **_: Any) -> tuple:
        items = [self._label_json(repo, label) for label in repo.labels.values()]
        chunk, links = self._paginate(items, query, f"/repos/{repo.full_name}/labels")
        return 200, chunk, links

    def _create_label(self, repo: _Repo, payload: dict, **_: Any) -> tuple:
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(422, "Validation Failed", [{"resource": "Label", "code": "missing_field", "field": "name"}])
        if name.lower() in repo.labels:
            raise ApiError(422, "Validation Failed", [{"resource": "Label", "code": "already_exists", "field": "name"}])
        color = str(payload.get("color", "ededed")).lstrip("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise ApiError(422, "Validation Failed", [{"resource": "Label", "code": "invalid", "field": "color"}])
        label = _Label(self._next_id(), name, color, payload.get("description"))
        repo.labels[name.lower()] = label
        return 201, self._label_json(repo, label)

    def _update_label(self, repo: _Repo, params: dict[str, str], payload: dict, **_: Any) -> tuple:
        label = repo.labels.get(params["name"].lower())
        if label is None:
            raise ApiError(404, "Not Found")
        if "new_name" in payload:
            repo.labels.pop(label.name.lower())
            label.name = payload["new_name"]
            repo.labels[label.name.lower()] = label
        if "color" in payload:
            label.color = str(payload["color"]).lstrip("#")
        if "description" in payload:
            label.description = payload["description"]
        return 200, self._label_json(repo, label)

    def _add_labels(self, repo: _Repo, params: dict[str, str], payload: Any, **_: Any) -> tuple:
        issue = self._issue(repo, params["issue_number"])
        names = payload.get("labels", []) if isinstance(payload, dict) else payload
        if not isinstance(names, list) or not names:
            raise ApiError(422, "Invalid request.\n\nNo subschema in \"anyOf\" matched.")
        for name in names:
            name = name["name"] if isinstance(name, dict) else str(name)
            label = self._ensure_label(repo, name)
            if label.name.lower() not in {n.lower() for n in issue.labels}:
                issue.labels.append(label.name)
        return 200, [self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels]

    def _replace_labels(self, repo: _Repo, params: dict[str, str], payload: Any, **_: Any) -> tuple:
        issue = self._issue(repo, params["issue_number"])
        names = payload.get("labels", []) if isinstance(payload, dict) else payload
        if not isinstance(names, list):
            raise ApiError(422, "Invalid request.\n\nNo subschema in \"anyOf\" matched.")
        issue.labels = []
        for name in names:
            label = self._ensure_label(repo, name["name"] if isinstance(name, dict) else str(name))
            if label.name.lower() not in {n.lower() for n in issue.labels}:
                issue.labels.append(label.name)
        return 200, [self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels]

    def _remove_label(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        issue = self._issue(repo, params["issue_number"])
        wanted = params["name"].lower()
        if wanted not in {n.lower() for n in issue.labels}:
            raise ApiError(404, "Label does not exist")
        issue.labels = [n for n in issue.labels if n.lower() != wanted]
        return 200, [self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels]

    # ------------------------------------------------------------------ routes: git data

    def _get_ref(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        ref = params["ref"]
        if not ref.startswith("heads/") or ref[len("heads/"):] not in repo.refs:
            raise ApiError(404, "Not Found")
        return 200, self._ref_json(repo, ref[len("heads/"):])

    def _create_ref(self, repo: _Repo, payload: dict, **_: Any) -> tuple:
        ref, sha = payload.get("ref", ""), payload.get("sha", "")
        if not isinstance(ref, str) or not ref.startswith("refs/heads/") or ref.count("/") < 2:
            raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
        branch = ref[len("refs/heads/"):]
        if sha not in self.objects.commits:
            raise ApiError(422, "Object does not exist")
        if branch in repo.refs:
            raise ApiError(422, "Reference already exists")
        repo.refs[branch] = sha
        return 201, self._ref_json(repo, branch)

    def _update_ref(self, repo: _Repo, params: dict[str, str], payload: dict, **_: Any) -> tuple:
        ref = params["ref"]
        branch = ref[len("heads/"):] if ref.startswith("heads/") else None
        if branch is None or branch not in repo.refs:
            raise ApiError(422, "Reference does not exist")
        sha = payload.get("sha", "")
        if sha not in self.objects.commits:
            raise ApiError(422, "Object does not exist")
        if not payload.get("force") and repo.refs[branch] not in self.objects.ancestors(sha):
            raise ApiError(422, "Update is not a fast forward")
        repo.refs[branch] = sha
        return 200, self._ref_json(repo, branch)

    def _get_tree(self, repo: _Repo, params: dict[str, str], query: dict, **_: Any) -> tuple:
        tree = self._resolve_tree(repo, params["tree_sha"])
        recursive = query.get("recursive", [""])[0] not in ("", "0", "false")
        return 200, self._tree_json(repo, tree, recursive)

    def _create_tree(self, repo: _Repo, payload: dict, **_: Any) -> tuple:
        entries = payload.get("tree")
        if not isinstance(entries, list):
            raise ApiError(422, "Invalid tree info")
        base = payload.get("base_tree")
        flat: dict[str, str] = {}
        if base:
            if self.objects.kind(base) != "tree":
                raise ApiError(404, "Not Found")  # GitHub: base_tree must be a tree sha
            flat = self.objects.flat(base)
        for entry in entries:
            path = entry.get("path", "")
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise ApiError(422, f"tree.path contains a malformed path component: {path!r}")
            if entry.get("mode") not in (BLOB_MODE, "100755") or entry.get("type", "blob") != "blob":
                raise ApiError(422, "Only blob entries are supported by this fake")
            if "content" in entry:
                flat[path] = self.objects.put_blob(str(entry["content"]).encode())
            elif entry.get("sha") is None:
                if path not in flat:
                    raise ApiError(422, f"GitRPC::BadObjectState: {path} does not exist")
                flat.pop(path, None)
            else:
                if self.objects.kind(entry["sha"]) != "blob":
                    raise ApiError(422, f"tree.sha {entry['sha']} is not a valid blob")
                flat[path] = entry["sha"]
        tree = self.objects.write_flat(flat)
        return 201, self._tree_json(repo, tree, recursive=False)

    def _create_commit(self, repo: _Repo, payload: dict, token: str, **_: Any) -> tuple:
        tree, parents, message = payload.get("tree"), payload.get("parents", []), payload.get("message")
        if not isinstance(message, str) or self.objects.kind(tree or "") != "tree":
            raise ApiError(422, "Tree SHA does not exist")
        if any(p not in self.objects.commits for p in parents):
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        sha = self._commit(tree, parents, message, self._actor(token))
        return 201, self._commit_json(repo, sha)

    def _get_commit(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        if params["commit_sha"] not in self.objects.commits:
            raise ApiError(404, "Not Found")
        return 200, self._commit_json(repo, params["commit_sha"])

    def _get_blob(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        sha = params["file_sha"]
        if self.objects.kind(sha) != "blob":
            raise ApiError(404, "Not Found")
        data = self.objects.blob(sha)
        encoded = base64.encodebytes(data).decode()  # GitHub wraps at 60 columns; any wrapping decodes
        return 200, {"sha": sha, "node_id": f"B_{sha[:12]}", "size": len(data), "url": self._api(repo, f"/git/blobs/{sha}"),
                     "content": encoded, "encoding": "base64"}

    def _get_contents(self, repo: _Repo, params: dict[str, str], query: dict, **_: Any) -> tuple:
        ref = query.get("ref", [repo.default_branch])[0]
        commit = self._resolve_commit(repo, ref)
        flat = self.objects.flat(self.objects.commits[commit].tree)
        path = params["path"].strip("/")
        if path not in flat:
            raise ApiError(404, "Not Found")
        sha = flat[path]
        data = self.objects.blob(sha)
        api = self._api(repo, f"/contents/{path}?ref={ref}")
        html = self._html(repo, f"/blob/{ref}/{path}")
        git = self._api(repo, f"/git/blobs/{sha}")
        value = {"type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
                 "path": path, "content": base64.encodebytes(data).decode(), "sha": sha, "url": api, "git_url": git,
                 "html_url": html, "download_url": f"https://raw.example.invalid/{repo.full_name}/{ref}/{path}",
                 "_links": {"self": api, "git": git, "html": html}}
        return 200, openapi_check.fill_required(openapi_check.schema_of("content-file"), value)

    # ------------------------------------------------------------------ routes: pulls, dispatch, GraphQL

    def _pull(self, repo: _Repo, number: str) -> _Pull:
        pull = repo.pulls.get(self._int(number))
        if pull is None:
            raise ApiError(404, "Not Found")
        return pull

    def _pull_commits(self, r: _Repo, p: _Pull) -> list[str]:
        head = r.refs.get(p.head, p.head_sha)
        base = r.refs.get(p.base)
        excluded = set(self.objects.ancestors(base)) if base else set()
        return [c for c in self.objects.ancestors(head) if c not in excluded] if head else []

    def _pull_diff(self, r: _Repo, p: _Pull) -> list[tuple[str, str, str | None, str | None]]:
        """(path, status, old blob, new blob) between the merge base and the head."""
        head = p.head_sha if p.merged and p.head_sha else r.refs.get(p.head, p.head_sha)
        base_tip = p.base_sha_at_merge or r.refs.get(p.base)
        base_sha = self.objects.merge_base(head, base_tip) if head and base_tip else None
        old = self.objects.flat(self.objects.commits[base_sha].tree) if base_sha else {}
        new = self.objects.flat(self.objects.commits[head].tree) if head else {}
        out = []
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            status = "added" if path not in old else "removed" if path not in new else "modified"
            out.append((path, status, old.get(path), new.get(path)))
        return out

    def _list_pulls(self, repo: _Repo, query: dict, **_: Any) -> tuple:
        state = query.get("state", ["open"])[0]
        head = query.get("head", [None])[0]
        base = query.get("base", [None])[0]
        if state not in ("open", "closed", "all"):
            raise ApiError(422, "Validation Failed", [{"resource": "Search", "field": "state", "code": "invalid"}])
        items = []
        for p in sorted(repo.pulls.values(), key=lambda p: -p.number):
            if state != "all" and p.state != state:
                continue
            if head and head not in (f"{repo.owner}:{p.head}", p.head):
                continue
            if base and base != p.base:
                continue
            items.append(self._pull_json(repo, p, "pull-request-simple"))
        chunk, links = self._paginate(items, query, f"/repos/{repo.full_name}/pulls")
        return 200, chunk, links

    def _create_pull(self, repo: _Repo, payload: dict, token: str, **_: Any) -> tuple:
        head = str(payload.get("head", "")).split(":")[-1]
        base = str(payload.get("base", ""))
        title = payload.get("title")
        if not title or not isinstance(title, str):
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "missing_field", "field": "title"}])
        if head not in repo.refs or base not in repo.refs:
            missing = "head" if head not in repo.refs else "base"
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "invalid", "field": missing}])
        for p in repo.pulls.values():
            if p.state == "open" and p.head == head and p.base == base:
                raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                           "message": f"A pull request already exists for {repo.owner}:{head}."}])
        number = self._take_number(repo)
        pull = _Pull(number, f"PR_{repo.id}_{number}", head, base, bool(payload.get("draft", False)), self._actor(token))
        if not self._pull_commits(repo, pull):
            repo.next_number -= 1
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                       "message": f"No commits between {base} and {head}"}])
        repo.issues[number] = _Issue(number, title, payload.get("body") or "", pull.user, [], self._now(), is_pull=True)
        repo.pulls[number] = pull
        return 201, self._pull_json(repo, pull)

    def _get_pull(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        return 200, self._pull_json(repo, self._pull(repo, params["pull_number"]))

    def _update_pull(self, repo: _Repo, params: dict[str, str], payload: dict, **_: Any) -> tuple:
        pull = self._pull(repo, params["pull_number"])
        issue = repo.issues[pull.number]
        if "title" in payload:
            issue.title = payload["title"]
        if "body" in payload:
            issue.body = payload["body"] or ""
        if payload.get("state") in ("open", "closed") and not pull.merged:
            pull.state = issue.state = payload["state"]
        if "base" in payload:
            if payload["base"] not in repo.refs:
                raise ApiError(422, "Validation Failed", [{"resource": "PullRequest", "code": "invalid", "field": "base"}])
            pull.base = payload["base"]
        return 200, self._pull_json(repo, pull)

    def _list_pull_files(self, repo: _Repo, params: dict[str, str], query: dict, **_: Any) -> tuple:
        pull = self._pull(repo, params["pull_number"])
        items = []
        for path, status, old, new in self._pull_diff(repo, pull):
            before = self.objects.blob(old).decode(errors="replace").splitlines() if old else []
            after = self.objects.blob(new).decode(errors="replace").splitlines() if new else []
            diff = list(difflib.unified_diff(before, after, lineterm="", n=3))[2:]
            added = sum(1 for line in diff if line.startswith("+"))
            removed = sum(1 for line in diff if line.startswith("-"))
            sha = new or old or ""
            items.append({
                "sha": sha, "filename": path, "status": status, "additions": added, "deletions": removed,
                "changes": added + removed, "blob_url": self._html(repo, f"/blob/{sha}/{path}"),
                "raw_url": self._html(repo, f"/raw/{sha}/{path}"),
                "contents_url": self._api(repo, f"/contents/{path}?ref={sha}"), "patch": "\n".join(diff),
            })
        chunk, links = self._paginate(items, query, f"/repos/{repo.full_name}/pulls/{pull.number}/files")
        return 200, chunk, links

    def _merge(self, repo: _Repo, number: int, message: str | None, who: tuple[str, str]) -> str:
        pull = repo.pulls.get(number)
        if pull is None:
            raise ApiError(404, "Not Found")
        if pull.state != "open" or pull.draft:
            raise ApiError(405, "Pull Request is not mergeable")
        head, base = repo.refs[pull.head], repo.refs[pull.base]
        ancestor = self.objects.merge_base(head, base)
        common = self.objects.flat(self.objects.commits[ancestor].tree) if ancestor else {}
        ours = self.objects.flat(self.objects.commits[base].tree)
        theirs = self.objects.flat(self.objects.commits[head].tree)
        merged = dict(ours)
        for path in set(common) | set(theirs):
            if theirs.get(path) == common.get(path):
                continue  # unchanged on the PR side
            if ours.get(path) not in (common.get(path), theirs.get(path)):
                raise ApiError(405, "Pull Request is not mergeable")
            if path in theirs:
                merged[path] = theirs[path]
            else:
                merged.pop(path, None)
        title = repo.issues[number].title
        text = message or f"Merge pull request #{number} from {repo.owner}/{pull.head}\n\n{title}"
        sha = self._commit(self.objects.write_flat(merged), [base, head], text, who)
        repo.refs[pull.base] = sha
        pull.head_sha, pull.base_sha_at_merge = head, base
        pull.state = repo.issues[number].state = "closed"
        pull.merged, pull.merged_at, pull.merge_commit_sha = True, self._now(), sha
        return sha

    def _merge_pull(self, repo: _Repo, params: dict[str, str], payload: dict, token: str, **_: Any) -> tuple:
        sha = self._merge(repo, self._int(params["pull_number"]), payload.get("commit_message"), self._actor(token))
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def _dispatch_event(self, repo: _Repo, payload: dict, token: str, **_: Any) -> tuple:
        event_type = payload.get("event_type")
        client_payload = payload.get("client_payload", {})
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
            raise ApiError(422, "Invalid request.\n\nFor 'properties/event_type', nil is not a string.")
        if not isinstance(client_payload, dict) or len(client_payload) > 10:
            raise ApiError(422, "Invalid request.\n\nNo more than 10 properties are allowed; "
                                f"{len(client_payload)} were supplied.")
        repo.dispatches.append({"event_type": event_type, "client_payload": client_payload, "token": token})
        return 204, None

    def _review_json(self, r: _Repo, p: _Pull, review: dict[str, Any]) -> dict[str, Any]:
        html = self._html(r, f"/pull/{p.number}") + f"#pullrequestreview-{review['id']}"
        state = {"COMMENT": "COMMENTED", "APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}[review["event"]]
        return {
            "id": review["id"], "node_id": f"PRR_{review['id']}", "user": self._user(review["user"]),
            "body": review["body"], "state": state, "html_url": html,
            "pull_request_url": self._api(r, f"/pulls/{p.number}"),
            "_links": {"html": {"href": html}, "pull_request": {"href": self._api(r, f"/pulls/{p.number}")}},
            "submitted_at": review["submitted_at"], "commit_id": review["commit_id"], "author_association": "NONE",
        }

    def _list_reviews(self, repo: _Repo, params: dict[str, str], **_: Any) -> tuple:
        pull = self._pull(repo, params["pull_number"])
        return 200, [self._review_json(repo, pull, review) for review in pull.reviews]

    def _create_review(self, repo: _Repo, params: dict[str, str], payload: dict, token: str, **_: Any) -> tuple:
        pull = self._pull(repo, params["pull_number"])
        event = payload.get("event")
        if event not in ("COMMENT", "APPROVE", "REQUEST_CHANGES"):
            raise ApiError(422, "Validation Failed", [{"resource": "PullRequestReview", "code": "invalid",
                                                       "field": "event"}])
        if event == "COMMENT" and not payload.get("body"):
            raise ApiError(422, "Unprocessable Entity", [{"message": "Body is required for a COMMENT review"}])
        review = {"id": self._next_id(), "user": self._actor(token), "body": payload.get("body") or "", "event": event,
                  "comments": list(payload.get("comments") or []), "commit_id": repo.refs.get(pull.head, pull.head_sha),
                  "submitted_at": self._now().strftime("%Y-%m-%dT%H:%M:%SZ")}
        pull.reviews.append(review)
        return 200, self._review_json(repo, pull, review)

    def _graphql(self, payload: dict, token: str, **_: Any) -> tuple:
        from fakes import github_graphql

        query = str(payload.get("query", ""))
        variables = payload.get("variables") or {}
        problems = github_graphql.validation_errors(query)  # against @octokit/graphql-schema
        if problems:  # GitHub answers 200 with the errors; PyGithub raises on them
            return 200, {"errors": [{"message": p} for p in problems]}
        # queries and mutations alike are executed against the schema (inputs are checked too)
        return 200, github_graphql.execute(self, token, query, variables)

