"""A tiny git object store with real SHA-1 ids, for the fake GitHub API.

Blob ids equal ``git hash-object``; trees and commits are serialised exactly as git does, so
the fake's commit graph can be exported into a real repository and checked with ``git fsck``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

BLOB_MODE = "100644"
TREE_MODE = "40000"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    timestamp: int  # seconds since the epoch, UTC

    def line(self) -> str:
        return f"{self.name} <{self.email}> {self.timestamp} +0000"


@dataclass(frozen=True)
class Commit:
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclass
class ObjectStore:
    """sha -> (kind, raw content); commits and trees are also kept parsed."""

    raw: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    trees: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # sha -> [(mode, name, sha)]
    commits: dict[str, Commit] = field(default_factory=dict)

    def _put(self, kind: str, data: bytes) -> str:
        sha = object_id(kind, data)
        self.raw.setdefault(sha, (kind, data))
        return sha

    def kind(self, sha: str) -> str | None:
        entry = self.raw.get(sha)
        return entry[0] if entry else None

    def put_blob(self, data: bytes) -> str:
        return self._put("blob", data)

    def blob(self, sha: str) -> bytes:
        kind, data = self.raw[sha]
        if kind != "blob":
            raise KeyError(sha)
        return data

    def put_tree(self, entries: list[tuple[str, str, str]]) -> str:
        ordered = sorted(entries, key=lambda e: e[1] + ("/" if e[0] == TREE_MODE else ""))
        data = b"".join(f"{mode} {name}".encode() + b"\0" + bytes.fromhex(sha) for mode, name, sha in ordered)
        sha = self._put("tree", data)
        self.trees[sha] = ordered
        return sha

    def put_commit(self, commit: Commit) -> str:
        lines = [f"tree {commit.tree}"]
        lines += [f"parent {p}" for p in commit.parents]
        lines += [f"author {commit.author.line()}", f"committer {commit.committer.line()}", "", commit.message]
        sha = self._put("commit", "\n".join(lines).encode())
        self.commits[sha] = commit
        return sha

    # ------------------------------------------------------------------ flat views

    def write_flat(self, files: Mapping[str, str]) -> str:
        """Build nested trees from {path: blob sha}; returns the root tree sha."""
        root: dict = {}
        for path, sha in files.items():
            node = root
            *dirs, name = path.split("/")
            for d in dirs:
                node = node.setdefault(d, {})
            node[name] = sha

        def build(node: dict) -> str:
            entries = []
            for name, value in node.items():
                if isinstance(value, dict):
                    entries.append((TREE_MODE, name, build(value)))
                else:
                    entries.append((BLOB_MODE, name, value))
            return self.put_tree(entries)

        return build(root)

    def walk(self, tree_sha: str, prefix: str = "") -> list[tuple[str, str, str]]:
        """Every entry below a tree as (path, mode, sha), trees before their contents."""
        out = []
        for mode, name, sha in self.trees[tree_sha]:
            path = f"{prefix}{name}"
            out.append((path, mode, sha))
            if mode == TREE_MODE:
                out.extend(self.walk(sha, path + "/"))
        return out

    def flat(self, tree_sha: str) -> dict[str, str]:
        """{path: blob sha} for every file below a tree."""
        return {path: sha for path, mode, sha in self.walk(tree_sha) if mode != TREE_MODE}

    def ancestors(self, sha: str) -> list[str]:
        """sha and every commit reachable from it, breadth first."""
        seen: list[str] = []
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.commits:
                continue
            seen.append(current)
            queue.extend(self.commits[current].parents)
        return seen

    def merge_base(self, a: str, b: str) -> str | None:
        reachable = set(self.ancestors(b))
        return next((c for c in self.ancestors(a) if c in reachable), None)


def object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}".encode() + b"\0" + data).hexdigest()  # noqa: S324 - git's id
