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
    from graphql import GraphQLError, parse, validate

    try:
        document = parse(query)
    except GraphQLError as exc:
        return [exc.message]
    return [error.message for error in validate(schema(), document)]


class _Unserved(Exception):
    pass


class _NotFound(Exception):
    pass


class _Stale(Exception):
    pass


def execute(fake: Any, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a validated read query against the fake (its lock is held by the caller)."""
    from graphql import graphql_sync

    def field_resolver(source: Any, info: Any, **args: Any) -> Any:
        if isinstance(source, _Root | _RepositoryNode):
            return getattr(source, info.field_name)(**args)
        if isinstance(source, dict):
            if info.field_name not in source:
                raise _Unserved(f"the fake GitHub does not serve {info.parent_type.name}.{info.field_name}")
            return source[info.field_name]
        raise _Unserved(f"the fake GitHub does not serve {info.parent_type.name}.{info.field_name}")

    def type_resolver(value: Any, info: Any, abstract_type: Any) -> str:
        return str(value["__typename"])

    result = graphql_sync(schema(), query, root_value=_Root(fake, token), variable_values=variables,
                          field_resolver=field_resolver, type_resolver=type_resolver)
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [{"message": e.message, "path": e.path,
                          "type": _ERROR_TYPES.get(type(e.original_error), "FAKE")}
                         for e in result.errors]
    return out


_ERROR_TYPES = {_NotFound: "NOT_FOUND", _Stale: "STALE_DATA"}


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

    def repository(self, owner: str, name: str, **_: Any) -> _RepositoryNode | None:
        repo = self.fake.repos.get(f"{owner}/{name}")
        if repo is None or (repo.tokens is not None and self.token not in repo.tokens):
            raise _NotFound(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return _RepositoryNode(self.fake, repo)


class _RepositoryNode:
    def __init__(self, fake: Any, repo: Any) -> None:
        self.fake, self.repo = fake, repo

    def object(self, expression: str | None = None, oid: str | None = None) -> dict[str, Any] | None:
        if expression is None or ":" not in expression:
            raise _Unserved("the fake GitHub serves object(expression: \"<rev>:<path>\") only")
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
