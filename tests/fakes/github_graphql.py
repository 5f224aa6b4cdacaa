"""GraphQL for the fake GitHub: every query is validated against GitHub's published schema (npm
``@octokit/graphql-schema``, its introspection JSON) with graphql-core, the way REST answers are
checked against the OpenAPI description; then the reads this project makes are executed against the
fake's repositories: ``repository(owner:, name:) { object(expression: "<rev>:<path>") { ... on Blob
{ text oid byteSize isBinary isTruncated } } }`` (aliased, many at once). A field the fake does not
serve is an error, never a silent null."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_JSON = (Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "graphql-schema"
               / "schema.json")


@functools.cache
def schema() -> Any:
    from graphql import build_client_schema

    if not SCHEMA_JSON.is_file():
        raise RuntimeError(f"{SCHEMA_JSON} is missing: run `scripts/bootstrap --test` (npm ci)")
    data = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
    built = build_client_schema(data.get("data", data))
    # GitHub's published schema breaks a few of graphql-core's own schema rules (deprecation flags
    # that differ between an interface and its implementations, fields declared twice); it is what
    # GitHub serves, so take it as valid and validate QUERIES against it.
    built._validation_errors = []
    return built


def validation_errors(query: str) -> list[str]:
    """Why GitHub would refuse this query (syntax or schema), or [] when it is valid."""
    return list(_checked(query)[1])


@functools.lru_cache(maxsize=512)
def _checked(query: str) -> tuple[Any, tuple[str, ...]]:
    """(parsed document or None, problems) — once per distinct document text: a step sends the same
    few documents with other variables, and validating against GitHub's whole schema is the slow part."""
    from graphql import GraphQLError, parse, validate

    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc.message,)
    return document, tuple(error.message for error in validate(schema(), document))


class _Unserved(Exception):
    pass


class _NotFound(Exception):
    pass


class _Stale(Exception):
    pass


class _Unprocessable(Exception):
    pass


REACTIONS = {"THUMBS_UP": "+1", "THUMBS_DOWN": "-1", "LAUGH": "laugh", "HOORAY": "hooray", "CONFUSED": "confused",
             "HEART": "heart", "ROCKET": "rocket", "EYES": "eyes"}


def actor(who: tuple[str, str]) -> dict[str, Any]:
    """An ``Actor`` as GraphQL shows it: a Bot's login WITHOUT the ``[bot]`` suffix REST shows."""
    login, kind = who
    if kind == "Bot":
        return {"__typename": "Bot", "login": login.removesuffix("[bot]")}
    return {"__typename": "Organization" if kind == "Organization" else "User", "login": login}


def _stamp(moment: Any) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _window(items: list[Any], first: int | None = None, last: int | None = None, **_: Any) -> dict[str, Any]:
    if first is None and last is None:
        raise _Unprocessable("You must provide a `first` or `last` value to properly paginate the connection.")
    if (first or 0) > 100 or (last or 0) > 100:
        raise _Unprocessable("Requesting more than 100 records on a connection is not allowed.")
    chosen = items[:first] if first is not None else items[max(0, len(items) - (last or 0)):]
    return {"totalCount": len(items), "nodes": chosen}


def execute(fake: Any, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a validated read query against the fake (its lock is held by the caller)."""
    from graphql import execute_sync

    def field_resolver(source: Any, info: Any, **args: Any) -> Any:
        if isinstance(source, _Root | _RepositoryNode):
            if not hasattr(source, info.field_name):
                raise _Unserved(f"the fake GitHub does not serve {info.parent_type.name}.{info.field_name}")
            return getattr(source, info.field_name)(**args)
        if isinstance(source, dict):
            if info.field_name not in source:
                raise _Unserved(f"the fake GitHub does not serve {info.parent_type.name}.{info.field_name}")
            value = source[info.field_name]
            return value(**args) if callable(value) else value  # a field with arguments
        raise _Unserved(f"the fake GitHub does not serve {info.parent_type.name}.{info.field_name}")

    def type_resolver(value: Any, info: Any, abstract_type: Any) -> str:
        return str(value["__typename"])

    document, problems = _checked(query)
    if document is None or problems:  # the caller answers these before executing; never run one
        return {"errors": [{"message": p} for p in problems]}
    result = execute_sync(schema(), document, root_value=_Root(fake, token), variable_values=variables,
                          field_resolver=field_resolver, type_resolver=type_resolver)
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [{"message": e.message, "path": e.path,
                          "locations": [{"line": loc.line, "column": loc.column} for loc in e.locations or []],
                          "type": _ERROR_TYPES.get(type(e.original_error), "FAKE")}
                         for e in result.errors]
    return out


_ERROR_TYPES = {_NotFound: "NOT_FOUND", _Stale: "STALE_DATA", _Unprocessable: "UNPROCESSABLE"}


class _Root:
    def __init__(self, fake: Any, token: str) -> None:
        self.fake, self.token = fake, token

    def _repo(self, full_name: str) -> Any:
        repo = self.fake.repos.get(full_name)
        if repo is None or (repo.tokens is not None and self.token not in repo.tokens):
            raise _NotFound(f"Could not resolve to a Repository with the name '{full_name}'.")
        return repo

    def createCommitOnBranch(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - GraphQL's name
        """The mutation as GitHub documents it: file additions (base64) and deletions applied on top
        of the branch head, only when that head is still ``expectedHeadOid`` (else STALE_DATA)."""
        import base64

        branch = input["branch"]
        if "repositoryNameWithOwner" not in branch or "branchName" not in branch:
            raise _Unserved("the fake GitHub takes a branch by repositoryNameWithOwner and branchName")
        repo, name = self._repo(branch["repositoryNameWithOwner"]), branch["branchName"]
        if name not in repo.refs:
            raise _NotFound(f"A ref named 'refs/heads/{name}' does not exist")
        head = repo.refs[name]
        if input["expectedHeadOid"] != head:
            raise _Stale(f"Expected branch to point to \"{input['expectedHeadOid']}\" but it did not. "
                         "Pull and try again.")
        objects = self.fake.objects
        flat = dict(objects.flat(objects.commits[head].tree))
        changes = input.get("fileChanges") or {}
        for deletion in changes.get("deletions") or []:
            flat.pop(deletion["path"], None)
        for addition in changes.get("additions") or []:
            flat[addition["path"]] = objects.put_blob(base64.b64decode(addition["contents"], validate=True))
        message = input["message"]
        text = message["headline"] + (f"\n\n{message['body']}" if message.get("body") else "")
        tree = objects.write_flat(flat)
        sha = self.fake._commit(tree, [head], text, self.fake._actor(self.token))
        repo.refs[name] = sha
        return {"clientMutationId": input.get("clientMutationId"), "commit": {"oid": sha, "tree": {"oid": tree}}}

    # -- nodes ----------------------------------------------------------------------------

    def _visible(self) -> list[Any]:
        return [r for r in self.fake.repos.values() if r.tokens is None or self.token in r.tokens]

    def _comment(self, node_id: str) -> tuple[Any, Any]:
        for repo in self._visible():
            if node_id.startswith("IC_") and node_id[3:].isdigit() and int(node_id[3:]) in repo.comments:
                return repo, repo.comments[int(node_id[3:])]
        raise _NotFound(f"Could not resolve to a node with the global id of '{node_id}'")

    def _labelable(self, node_id: str) -> tuple[Any, Any]:
        for repo in self._visible():
            for issue in repo.issues.values():
                if node_id == issue_node_id(repo, issue.number):
                    return repo, issue
            for pull in repo.pulls.values():
                if pull.node_id == node_id:
                    return repo, repo.issues[pull.number]
        raise _NotFound(f"Could not resolve to a node with the global id of '{node_id}'")

    def _label(self, repo: Any, node_id: str) -> Any:
        for label in repo.labels.values():
            if f"LA_{label.id}" == node_id:
                return label
        raise _NotFound(f"Could not resolve to a node with the global id of '{node_id}'")

    def node(self, id: str) -> dict[str, Any] | None:  # noqa: A002 - GraphQL's name
        try:
            repo, comment = self._comment(id)
        except _NotFound:
            return None  # GitHub answers null (and an error) for an unknown id; null is enough here
        return comment_node(self.fake, repo, comment)

    # -- mutations (each as GitHub documents it; several in one document run one after another) --

    def addReaction(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        repo, comment = self._comment(input["subjectId"])
        content, who = REACTIONS[input["content"]], self.fake._actor(self.token)
        if not any(have == content and user == who for have, user in comment.reactions.values()):
            comment.reactions[self.fake._next_id()] = (content, who)  # a repeated reaction is the same one
        return {"clientMutationId": input.get("clientMutationId"),
                "reaction": {"content": input["content"]}, "subject": comment_node(self.fake, repo, comment)}

    def addLabelsToLabelable(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        repo, issue = self._labelable(input["labelableId"])
        for label in [self._label(repo, i) for i in input["labelIds"]]:
            if label.name.lower() not in {n.lower() for n in issue.labels}:
                issue.labels.append(label.name)
        return {"clientMutationId": input.get("clientMutationId")}

    def removeLabelsFromLabelable(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        repo, issue = self._labelable(input["labelableId"])
        gone = {self._label(repo, i).name.lower() for i in input["labelIds"]}
        issue.labels = [n for n in issue.labels if n.lower() not in gone]
        return {"clientMutationId": input.get("clientMutationId")}

    def updateIssueComment(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        repo, comment = self._comment(input["id"])
        if len(input["body"]) > 65536:
            raise _Unprocessable("Body is too long (maximum is 65536 characters)")
        comment.body = input["body"]
        comment.updated_at = self.fake._now()
        return {"clientMutationId": input.get("clientMutationId"), "issueComment": comment_node(self.fake, repo, comment)}

    def addComment(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        repo, issue = self._labelable(input["subjectId"])
        if not input["body"] or len(input["body"]) > 65536:
            raise _Unprocessable("Body is too long (maximum is 65536 characters)" if input["body"] else
                                 "Body can't be blank")
        comment = self.fake._add_comment(repo, issue.number, input["body"], self.fake._actor(self.token))
        return {"clientMutationId": input.get("clientMutationId"),
                "commentEdge": {"cursor": f"c{comment.id}", "node": comment_node(self.fake, repo, comment)}}

    def createLabel(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import re

        repo = next((r for r in self._visible() if f"R_{r.id}" == input["repositoryId"]), None)
        if repo is None:
            raise _NotFound(f"Could not resolve to a node with the global id of '{input['repositoryId']}'")
        if input["name"].lower() in repo.labels:
            raise _Unprocessable("Name has already been taken")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", input["color"]):
            raise _Unprocessable("Color is invalid")
        from fakes.github_api import _Label

        label = _Label(self.fake._next_id(), input["name"], input["color"], input.get("description"))
        repo.labels[label.name.lower()] = label
        return {"clientMutationId": input.get("clientMutationId"), "label": label_node(label)}

    def updateLabel(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        for repo in self._visible():
            for label in repo.labels.values():
                if f"LA_{label.id}" == input["id"]:
                    label.color = input.get("color", label.color)
                    label.description = input.get("description", label.description)
                    return {"clientMutationId": input.get("clientMutationId"), "label": label_node(label)}
        raise _NotFound(f"Could not resolve to a node with the global id of '{input['id']}'")

    def _draft(self, input: dict[str, Any], draft: bool) -> dict[str, Any]:
        for repo in self._visible():
            for pull in repo.pulls.values():
                if pull.node_id == input["pullRequestId"]:
                    pull.draft = draft
                    return {"clientMutationId": input.get("clientMutationId"),
                            "pullRequest": pull_node(self.fake, repo, pull)}
        raise _NotFound(f"Could not resolve to a node with the global id of '{input['pullRequestId']}'")

    def markPullRequestReadyForReview(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._draft(input, False)

    def convertPullRequestToDraft(self, input: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._draft(input, True)

    def repository(self, owner: str, name: str, **_: Any) -> _RepositoryNode | None:
        repo = self.fake.repos.get(f"{owner}/{name}")
        if repo is None or (repo.tokens is not None and self.token not in repo.tokens):
            raise _NotFound(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return _RepositoryNode(self.fake, repo)


def issue_node_id(repo: Any, number: int) -> str:
    return f"I_{repo.id}_{number}"


def label_node(label: Any) -> dict[str, Any]:
    return {"__typename": "Label", "id": f"LA_{label.id}", "name": label.name, "color": label.color,
            "description": label.description}


def comment_node(fake: Any, repo: Any, c: Any) -> dict[str, Any]:
    edited = c.updated_at if c.updated_at and c.updated_at > c.created_at else None
    return {"__typename": "IssueComment", "id": f"IC_{c.id}", "fullDatabaseId": str(c.id), "body": c.body,
            "createdAt": _stamp(c.created_at), "updatedAt": _stamp(c.updated_at), "lastEditedAt": _stamp(edited),
            "url": f"https://github.com/{repo.full_name}/issues/{c.issue}#issuecomment-{c.id}",
            "author": actor(c.author),
            "issue": {"__typename": "Issue", "number": c.issue, "repository": {"nameWithOwner": repo.full_name}}}


def pull_node(fake: Any, repo: Any, p: Any) -> dict[str, Any]:
    issue = repo.issues.get(p.number)
    return {"__typename": "PullRequest", "id": p.node_id, "number": p.number, "title": issue.title if issue else "",
            "body": issue.body if issue else "", "url": f"https://github.com/{repo.full_name}/pull/{p.number}",
            "isDraft": p.draft, "state": "MERGED" if p.merged else p.state.upper(), "merged": p.merged,
            "headRefName": p.head, "baseRefName": p.base,
            "labels": lambda **a: _window([label_node(repo.labels[n.lower()]) for n in (issue.labels if issue else [])], **a)}


class _RepositoryNode:
    def __init__(self, fake: Any, repo: Any) -> None:
        self.fake, self.repo = fake, repo

    def id(self) -> str:
        return f"R_{self.repo.id}"

    def issue(self, number: int) -> dict[str, Any]:
        found = self.repo.issues.get(number)
        if found is None or found.is_pull:
            raise _NotFound(f"Could not resolve to an issue or pull request with the number of {number}.")
        repo, fake = self.repo, self.fake
        comments = [comment_node(fake, repo, c) for c in sorted(repo.comments.values(), key=lambda c: c.id)
                    if c.issue == number]
        return {"__typename": "Issue", "id": issue_node_id(repo, number), "number": number, "title": found.title,
                "body": found.body, "state": found.state.upper(), "locked": found.locked,
                "url": f"https://github.com/{repo.full_name}/issues/{number}", "author": actor(found.author),
                "labels": lambda **a: _window([label_node(repo.labels[n.lower()]) for n in found.labels], **a),
                "comments": lambda **a: _window(comments, **a)}

    def label(self, name: str) -> dict[str, Any] | None:
        found = self.repo.labels.get(name.lower())
        return label_node(found) if found is not None else None

    def defaultBranchRef(self) -> dict[str, Any] | None:  # noqa: N802 - GraphQL's name
        return self.ref(f"refs/heads/{self.repo.default_branch}")

    def ref(self, qualifiedName: str) -> dict[str, Any] | None:  # noqa: N803 - GraphQL's name
        if not qualifiedName.startswith("refs/heads/"):
            raise _Unserved("the fake GitHub serves ref(qualifiedName: \"refs/heads/...\") only")
        sha = self.repo.refs.get(qualifiedName[len("refs/heads/"):])
        if sha is None:
            return None
        return {"__typename": "Ref", "name": qualifiedName[len("refs/heads/"):], "prefix": "refs/heads/",
                "target": self._commit(sha)}

    def _commit(self, sha: str) -> dict[str, Any]:
        objects = self.fake.objects

        def entry(path: str, mode: str, oid: str) -> dict[str, Any]:
            name = path.rsplit("/", 1)[-1]
            if mode == "40000":
                obj: dict[str, Any] = {"__typename": "Tree", "oid": oid, "entries": [
                    entry(f"{path}/{n}", m, o) for m, n, o in objects.trees[oid]]}
            else:
                data = objects.blob(oid)
                obj = {"__typename": "Blob", "oid": oid, "text": data.decode("utf-8", errors="replace"),
                       "byteSize": len(data), "isBinary": False, "isTruncated": False}
            return {"name": name, "path": path, "oid": oid, "type": "tree" if mode == "40000" else "blob",
                    "mode": int(mode, 8), "object": obj}

        def file(path: str) -> dict[str, Any] | None:
            found = {p: (m, o) for p, m, o in objects.walk(objects.commits[sha].tree)}.get(path.strip("/"))
            return entry(path.strip("/"), *found) if found else None

        def history(first: int | None = None, **args: Any) -> dict[str, Any]:
            """`git log` from this commit: every ancestor once, newest committer time first."""
            if set(args) - {"last"}:
                raise _Unserved(f"the fake GitHub serves history(first:) only, not {sorted(args)}")
            commits, seen, order, frontier = objects.commits, {sha}, [], [sha]
            while frontier:
                frontier.sort(key=lambda c: commits[c].committer.timestamp)
                current = frontier.pop()
                order.append(current)
                for parent in commits[current].parents:
                    if parent not in seen:
                        seen.add(parent)
                        frontier.append(parent)
            return _window([{"__typename": "Commit", "oid": c} for c in order], first=first, **args)

        return {"__typename": "Commit", "oid": sha, "file": file, "history": history}

    def pullRequests(self, headRefName: str | None = None, **args: Any) -> dict[str, Any]:  # noqa: N802
        order = args.pop("orderBy", None) or {}
        args.pop("states", None)
        pulls = [p for p in sorted(self.repo.pulls.values(), key=lambda p: p.number)
                 if headRefName is None or p.head == headRefName]
        if order.get("direction") == "DESC":
            pulls.reverse()
        return _window([pull_node(self.fake, self.repo, p) for p in pulls], **args)

    def object(self, expression: str | None = None, oid: str | None = None) -> dict[str, Any] | None:
        if expression is None:
            raise _Unserved("the fake GitHub serves object(expression: ...) only")
        if ":" not in expression:  # a revision alone: the commit
            try:
                return self._commit(self.fake._resolve_commit(self.repo, expression))
            except Exception:  # noqa: BLE001 - an unknown revision is null, as on GitHub
                return None
        rev, _, path = expression.partition(":")
        try:
            commit = self.fake._resolve_commit(self.repo, rev)
        except Exception:  # noqa: BLE001 - an unknown revision is null, as on GitHub
            return None
        sha = self.fake.objects.flat(self.fake.objects.commits[commit].tree).get(path)
        if sha is None:
            return None
        data = self.fake.objects.blob(sha)
        return {"__typename": "Blob", "text": data.decode("utf-8", errors="replace"), "oid": sha,
                "byteSize": len(data), "isBinary": False, "isTruncated": False}
