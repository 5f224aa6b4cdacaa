"""One planning step on one issue in a fixed handful of GitHub calls (GraphQL reads, batched writes).

``StepForge`` wraps a ``GitHubForge`` for the run of one step and is itself a ``Forge``:

    read 1  the issue (title, body, state, labels), its newest 100 comments and the node ids of the
            labels the product manages (``issue_query``)
    read 2  the request branch: its head, the request's two directories (every file's text, two
            levels deep) at that head, the default branch's head and the same directories there, and
            the planning PR (``branch_query``) — the workspace is seeded from it, no tree or blob read
    read 3  the tracking comment by the node id the request's state remembers (``comment_query``),
            so it is found without paging however many comments the issue has
    writes  deferred and sent as ONE GraphQL mutation document per flush: the acknowledgement
            (👀 + bmad:working) at once, then whatever the step leaves for the end (tracking comment,
            label changes, the outcome reaction, marking the PR ready) in one document at the end.
            A write that cannot be deferred (a commit, a branch, a PR, a REST fallback) flushes first,
            so writes keep their order and the acknowledgement stays the first write of the run.

Identity comes from GraphQL's ``__typename``: a ``Bot`` author's login is GitHub's login without the
``[bot]`` suffix, so it gets it back here (``login + "[bot]"``) — never by looking at the string. A
``User`` named like the bot minus ``[bot]`` stays that user. Comment ids are ``fullDatabaseId`` (a
BigInt sent as a string), never the 32-bit ``databaseId``.

Labels: GraphQL needs label node ids. Missing product labels are created in the first document the
step sends (``createLabel``); a label that still has no id (e.g. one a person deleted meanwhile) goes
through the REST labels PUT instead, which creates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from playbook.errors import ForgeError
from playbook.ports import Comment, Issue, LabelSpec, PullRequest

COMMENT_FIELDS = "id fullDatabaseId body createdAt lastEditedAt url author { __typename login }"
_BLOB = "... on Blob { text isTruncated }"
DIR_FIELDS = (f"type object {{ ... on Tree {{ entries {{ name type oid object {{ {_BLOB} ... on Tree {{ "
              f"entries {{ name type oid object {{ {_BLOB} }} }} }} }} }} }} }}")
PULL_FIELDS = ("id number title body url isDraft state merged headRefName baseRefName "
               "labels(first: 100) { nodes { name } }")
REACTIONS = {"eyes": "EYES", "+1": "THUMBS_UP", "-1": "THUMBS_DOWN", "confused": "CONFUSED", "heart": "HEART",
             "hooray": "HOORAY", "rocket": "ROCKET", "laugh": "LAUGH"}


def issue_query(labels: int) -> str:
    declared = "".join(f", $l{i}: String!" for i in range(labels))
    aliased = " ".join(f"l{i}: label(name: $l{i}) {{ id name color description }}" for i in range(labels))
    return (f"query($owner: String!, $name: String!, $number: Int!{declared}) "
            f"{{ repository(owner: $owner, name: $name) {{ id "
            f"issue(number: $number) {{ id number title body state locked url author {{ __typename login }} "
            f"labels(first: 100) {{ nodes {{ id name }} }} "
            f"comments(last: 100) {{ totalCount nodes {{ {COMMENT_FIELDS} }} }} }} {aliased} }} }}")


def branch_query(dirs: int) -> str:
    declared = "".join(f", $d{i}: String!" for i in range(dirs))
    files = " ".join(f"d{i}: file(path: $d{i}) {{ {DIR_FIELDS} }}" for i in range(dirs))
    commit = f"target {{ oid ... on Commit {{ {files} }} }}"
    return (f"query($owner: String!, $name: String!, $ref: String!, $baseRef: String!, $head: String!{declared}) "
            f"{{ repository(owner: $owner, name: $name) {{ "
            f"ref(qualifiedName: $ref) {{ {commit} }} base: ref(qualifiedName: $baseRef) {{ {commit} }} "
            f"pullRequests(headRefName: $head, first: 1, orderBy: {{field: CREATED_AT, direction: DESC}}) "
            f"{{ nodes {{ {PULL_FIELDS} }} }} }} }}")


COMMENT_QUERY = (f"query($id: ID!) {{ node(id: $id) {{ __typename ... on IssueComment {{ {COMMENT_FIELDS} "
                 f"issue {{ number repository {{ nameWithOwner }} }} }} }} }}")


def login_of(author: Mapping[str, Any] | None) -> tuple[str, str]:
    """(login, type) as REST spells them: a Bot's GraphQL login gains its ``[bot]`` suffix."""
    if not author:
        return "", "User"
    kind = str(author.get("__typename") or "User")
    login = str(author.get("login") or "")
    if kind == "Bot":
        return login + "[bot]", "Bot"
    return login, "Organization" if kind == "Organization" else "User"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def comment_of(node: Mapping[str, Any]) -> tuple[Comment, str]:
    """A ``Comment`` (id from ``fullDatabaseId``) and its node id."""
    login, kind = login_of(node.get("author"))
    created = _time(node.get("createdAt")) or datetime.now(UTC)
    comment = Comment(id=int(str(node["fullDatabaseId"])), body=str(node.get("body") or ""), author=login,
                      author_type=kind, created_at=created, html_url=str(node.get("url") or ""),
                      updated_at=_time(node.get("lastEditedAt")))
    return comment, str(node["id"])


def _pull_of(node: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(node["number"]), title=str(node.get("title") or ""), body=str(node.get("body") or ""),
        head=str(node.get("headRefName") or ""), base=str(node.get("baseRefName") or ""),
        draft=bool(node.get("isDraft")), state="open" if node.get("state") == "OPEN" else "closed",
        merged=bool(node.get("merged")), html_url=str(node.get("url") or ""), node_id=str(node.get("id") or ""),
        labels=tuple(str(n["name"]) for n in ((node.get("labels") or {}).get("nodes") or [])),
    )


@dataclass
class Tree:
    """The files under some directories at one commit: path -> (blob oid, text or None when not given)."""

    head: str | None
    files: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    scope: tuple[str, ...] = ()  # directories listed completely
    used: bool = False  # seeded a workspace already (which then keeps its own tree up to date)


def tree_files(target: Mapping[str, Any] | None, dirs: list[str]) -> Tree:
    if not target:
        return Tree(None)
    tree = Tree(str(target["oid"]))
    complete: list[str] = []
    for i, directory in enumerate(dirs):
        entry = target.get(f"d{i}")
        if entry is None:  # no such directory at this commit: nothing under it
            complete.append(directory)
            continue
        if entry.get("type") != "tree":
            continue
        whole = True
        for child in (entry.get("object") or {}).get("entries") or []:
            path = f"{directory}/{child['name']}"
            if child.get("type") == "blob":
                tree.files[path] = (str(child["oid"]), _text(child))
            elif child.get("type") == "tree":
                for grand in (child.get("object") or {}).get("entries") or []:
                    if grand.get("type") == "blob":
                        tree.files[f"{path}/{grand['name']}"] = (str(grand["oid"]), _text(grand))
                    else:
                        whole = False  # deeper than two levels: read through the REST tree instead
        if whole:
            complete.append(directory)
    tree.scope = tuple(complete)
    return tree


def _text(entry: Mapping[str, Any]) -> str | None:
    blob = entry.get("object") or {}
    text = blob.get("text")
    return None if text is None or blob.get("isTruncated") else str(text)


@dataclass(frozen=True)
class Op:
    """One field of a mutation document: ``field(input: $iN) { selection }``; ``what`` names it in errors."""

    field: str
    input_type: str
    input: dict[str, Any]
    what: str
    selection: str = "clientMutationId"


def mutation_document(ops: list[Op]) -> str:
    declared = ", ".join(f"$i{n}: {op.input_type}!" for n, op in enumerate(ops))
    fields = " ".join(f"m{n}: {op.field}(input: $i{n}) {{ {op.selection} }}" for n, op in enumerate(ops))
    return f"mutation({declared}) {{ {fields} }}"


class StepForge:
    """A ``Forge`` for one step on one issue (see the module docstring); anything else goes to ``base``."""

    def __init__(self, base: Any, issue: int, labels: list[LabelSpec]) -> None:
        self.base = base
        self.repo: str = base.repo
        self.number = issue
        self._specs = {spec.name.lower(): spec for spec in labels}
        self._queue: list[Op] = []
        self._branch: str | None = None
        self._trees: dict[str, Tree] = {}
        self._pull: PullRequest | None = None
        self.tracking_node: dict[int, str] = {}
        self._workspaces: dict[tuple[str, str], Any] = {}
        data = base.graphql_read(issue_query(len(labels)), {"number": issue, **{
            f"l{i}": spec.name for i, spec in enumerate(labels)}}, f"reading issue #{issue}")
        repository = data.get("repository") or {}
        self.repository_id = str(repository.get("id") or "")
        self._label_ids: dict[str, str] = {}
        self._label_info: dict[str, dict[str, Any]] = {}
        for i in range(len(labels)):
            node = repository.get(f"l{i}")
            if node:
                self._label_ids[str(node["name"]).lower()] = str(node["id"])
                self._label_info[str(node["name"]).lower()] = node
        node = repository.get("issue")
        self.issue: Issue | None = None
        self.issue_id = ""
        self.comments: list[Comment] = []
        self.comment_count = 0
        self._comment_nodes: dict[int, str] = {}
        self._labels: dict[str, str] = {}  # name -> node id, the issue's labels now
        if node:
            self.issue_id = str(node["id"])
            for label in (node.get("labels") or {}).get("nodes") or []:
                self._labels[str(label["name"])] = str(label["id"])
                self._label_ids.setdefault(str(label["name"]).lower(), str(label["id"]))
            comments = node.get("comments") or {}
            for c in comments.get("nodes") or []:
                comment, node_id = comment_of(c)
                self.comments.append(comment)
                self._comment_nodes[comment.id] = node_id
            self.comment_count = int(comments.get("totalCount") or 0)
            login, _ = login_of(node.get("author"))
            self.issue = Issue(number=int(node["number"]), title=str(node.get("title") or ""),
                               body=str(node.get("body") or ""), state=str(node.get("state") or "OPEN").lower(),
                               labels=tuple(self._labels), html_url=str(node.get("url") or ""), author=login,
                               locked=bool(node.get("locked")), comments=self.comment_count)

    def __repr__(self) -> str:
        return f"StepForge({self.base!r}, issue={self.number})"

    def __getattr__(self, name: str) -> Any:  # every Forge call the step does not batch
        return getattr(self.base, name)

    # ------------------------------------------------------------------ reads

    def load_branch(self, branch: str, base: str, dirs: list[str]) -> None:
        """Read 2: the branch, the default branch and the request's directories on both, and its PR."""
        variables = {"ref": f"refs/heads/{branch}", "baseRef": f"refs/heads/{base}", "head": branch,
                     **{f"d{i}": d for i, d in enumerate(dirs)}}
        data = self.base.graphql_read(branch_query(len(dirs)), variables, f"reading branch {branch}")
        repository = data.get("repository") or {}
        self._branch = branch
        self._workspaces.clear()
        self._trees = {branch: tree_files((repository.get("ref") or {}).get("target"), dirs),
                       base: tree_files((repository.get("base") or {}).get("target"), dirs)}
        nodes = (repository.get("pullRequests") or {}).get("nodes") or []
        self._pull = _pull_of(nodes[0]) if nodes else None
        self._pull_loaded = True

    def text_at(self, branch: str, path: str) -> str | None:
        tree = self._trees.get(branch)
        found = tree.files.get(path) if tree else None
        return found[1] if found else None

    def read_comment_node(self, node_id: str, issue: int) -> Comment | None:
        """Read 3: one comment by its node id — None when it is gone, not an issue comment, or not on
        ``issue`` of this repository (a remembered id never leads to another issue's comment)."""
        try:
            data = self.base.graphql_read(COMMENT_QUERY, {"id": node_id}, "reading the tracking comment")
        except ForgeError:
            return None
        node = data.get("node")
        if not node or node.get("__typename") != "IssueComment":
            return None
        where = node.get("issue") or {}
        if where.get("number") != issue or str((where.get("repository") or {}).get("nameWithOwner") or "").lower() \
                != self.repo.lower():
            return None
        comment, nid = comment_of(node)
        self._comment_nodes[comment.id] = nid
        return comment

    def get_issue(self, number: int) -> Issue:
        if number == self.number and self.issue is not None:
            return replace(self.issue, labels=tuple(self._labels))
        return self.base.get_issue(number)

    def find_pull(self, head: str, state: str = "all") -> PullRequest | None:
        if head == self._branch and getattr(self, "_pull_loaded", False):
            return self._pull
        return self.base.find_pull(head, state)

    def branch_head(self, branch: str) -> str | None:
        if branch in self._trees:
            return self._trees[branch].head
        return self.base.branch_head(branch)

    def workspace(self, branch: str, base: str) -> Any:
        """The branch's workspace, seeded from read 2 — one instance per branch for the whole step, so
        a second command in the same run sees the first one's commit (the seed is never reused stale)."""
        from playbook.adapters.github import GitHubWorkspace

        if (branch, base) in self._workspaces:
            return self._workspaces[branch, base]
        ws = GitHubWorkspace(self, branch, base_branch=base)
        self._workspaces[branch, base] = ws
        tree = self._trees.get(branch)
        start = tree if tree is not None and tree.head else self._trees.get(base)
        if tree is not None and start is not None and start.head and not tree.used:
            ws.seed(tree.head, start.head, dict(start.files), start.scope)
            tree.used = True
        return ws

    # ------------------------------------------------------------------ writes that wait

    def _issue_op(self, add: set[str], remove: set[str]) -> list[Op] | None:
        """Ops moving the issue's labels, or None when a label has no node id (then REST does it)."""
        missing = [n for n in add if n.lower() not in self._label_ids]
        if missing:
            return None
        ops = []
        adding = sorted(n for n in add if n not in self._labels)
        removing = sorted(n for n in remove if n in self._labels and n not in add)
        if adding:
            ops.append(Op("addLabelsToLabelable", "AddLabelsToLabelableInput",
                          {"labelableId": self.issue_id, "labelIds": [self._label_ids[n.lower()] for n in adding]},
                          f"labelling issue #{self.number} ({', '.join(adding)})"))
        if removing:
            ops.append(Op("removeLabelsFromLabelable", "RemoveLabelsFromLabelableInput",
                          {"labelableId": self.issue_id, "labelIds": [self._labels[n] for n in removing]},
                          f"removing {', '.join(removing)} from issue #{self.number}"))
        for name in adding:
            self._labels[name] = self._label_ids[name.lower()]
        for name in removing:
            self._labels.pop(name, None)
        return ops

    def set_labels(self, issue: int, add: set[str], remove: set[str]) -> None:
        pull = self._pull
        if issue == self.number and self.issue_id:
            ops = self._issue_op(add, remove)
            if ops is not None:
                self._queue.extend(ops)
                return
        elif pull is not None and issue == pull.number and pull.node_id and not remove \
                and all(n.lower() in self._label_ids for n in add):
            wanted = sorted(n for n in add if n not in pull.labels)
            if wanted:
                self._queue.append(Op("addLabelsToLabelable", "AddLabelsToLabelableInput",
                                      {"labelableId": pull.node_id,
                                       "labelIds": [self._label_ids[n.lower()] for n in wanted]},
                                      f"labelling pull request #{pull.number}"))
                self._pull = replace(pull, labels=(*pull.labels, *wanted))
            return
        self.flush()
        self.base.set_labels(issue, add, remove)

    def replace_labels(self, issue: int, labels: set[str]) -> None:
        if issue == self.number and self.issue_id:
            ops = self._issue_op(set(labels), set(self._labels) - set(labels))
            if ops is not None:
                self._queue.extend(ops)
                return
        self.flush()
        self.base.replace_labels(issue, labels)
        if issue == self.number:
            self._labels = {n: self._label_ids.get(n.lower(), "") for n in labels}

    def edit_comment(self, comment_id: int, body: str) -> None:
        node_id = self._comment_nodes.get(comment_id)
        if node_id is None:
            self.flush()
            self.base.edit_comment(comment_id, body)
            return
        # a later edit of the same comment replaces a waiting one (the last body is what GitHub keeps)
        self._queue = [op for op in self._queue if not (op.field == "updateIssueComment" and op.input["id"] == node_id)]
        self._queue.append(Op("updateIssueComment", "UpdateIssueCommentInput", {"id": node_id, "body": body},
                              f"updating comment {comment_id}"))

    def add_reaction(self, comment_id: int, content: str) -> int:
        node_id = self._comment_nodes.get(comment_id)
        if node_id is None or content not in REACTIONS:
            self.flush()
            return int(self.base.add_reaction(comment_id, content))
        self._queue.append(Op("addReaction", "AddReactionInput", {"subjectId": node_id, "content": REACTIONS[content]},
                              f"reacting {content} to comment {comment_id}"))
        return 0

    def mark_ready(self, pull: PullRequest) -> None:
        if not pull.node_id:
            self.flush()
            self.base.mark_ready(pull)
            return
        self._queue.append(Op("markPullRequestReadyForReview", "MarkPullRequestReadyForReviewInput",
                              {"pullRequestId": pull.node_id}, f"marking pull request #{pull.number} ready"))

    def ensure_labels(self, specs: list[LabelSpec]) -> None:
        """Create or correct the product's labels, from what read 1 saw (no listing)."""
        for spec in specs:
            have = self._label_info.get(spec.name.lower())
            color = spec.color.lstrip("#").lower()
            if have is None and self.repository_id:
                self._queue.append(Op("createLabel", "CreateLabelInput",
                                      {"repositoryId": self.repository_id, "name": spec.name, "color": color,
                                       "description": spec.description},
                                      f"creating label {spec.name}", "label { id name }"))
            elif have is None:
                self.flush()
                self.base.ensure_labels([spec])
            elif str(have.get("color") or "").lower() != color or (have.get("description") or "") != spec.description:
                self._queue.append(Op("updateLabel", "UpdateLabelInput",
                                      {"id": have["id"], "color": color, "description": spec.description},
                                      f"updating label {spec.name}"))

    # ------------------------------------------------------------------ writes now

    def acknowledge(self, comment_id: int, label: str) -> None:
        """👀 on the command and ``label`` on the issue in one document: the run's first write."""
        if comment_id not in self._comment_nodes:
            self.base.add_reaction(comment_id, "eyes")
        else:
            self.add_reaction(comment_id, "eyes")
        self.set_labels(self.number, {label}, set())
        self.flush()

    def create_comment(self, issue: int, body: str) -> Comment:
        if issue != self.number or not self.issue_id:
            self.flush()
            return self.base.create_comment(issue, body)
        op = Op("addComment", "AddCommentInput", {"subjectId": self.issue_id, "body": body},
                f"commenting on issue #{issue}", f"commentEdge {{ node {{ {COMMENT_FIELDS} }} }}")
        results = self._send([*self._take(), op])
        node = ((results[-1] or {}).get("commentEdge") or {}).get("node")
        if not node:
            raise ForgeError(f"commenting on issue #{issue} in {self.repo}: GitHub returned no comment",
                             fix="re-run the workflow")
        comment, node_id = comment_of(node)
        self._comment_nodes[comment.id] = node_id
        self.tracking_node[comment.id] = node_id
        return comment

    def node_id(self, comment_id: int) -> str:
        return self._comment_nodes.get(comment_id, "")

    def create_branch(self, branch: str, sha: str) -> None:
        self.flush()
        self.base.create_branch(branch, sha)
        if branch in self._trees:
            self._trees[branch].head = sha

    def commit_files(self, branch: str, parent: str, files: Mapping[str, str | None], message: str) -> str:
        self.flush()
        try:
            sha = str(self.base.commit_files(branch, parent, files, message))
        except ForgeError:
            self._trees.pop(branch, None)  # the branch may have moved: its head is read again, not remembered
            raise
        if branch in self._trees:
            self._trees[branch].head = sha
        return sha

    def create_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        self.flush()
        pull: PullRequest = self.base.create_pull(head, base, title, body, draft)
        if head == self._branch:
            self._pull = pull
        return pull

    def dispatch(self, repo: str, event_type: str, payload: Mapping[str, Any]) -> None:
        self.flush()
        self.base.dispatch(repo, event_type, payload)

    def _take(self) -> list[Op]:
        ops, self._queue = self._queue, []
        return ops

    def flush(self) -> None:
        """Send every waiting write as one mutation document (nothing when none waits)."""
        ops = self._take()
        if ops:
            self._send(ops)

    def _send(self, ops: list[Op]) -> list[dict[str, Any] | None]:
        data, errors = self.base.graphql_mutate(mutation_document(ops), {f"i{n}": op.input for n, op in enumerate(ops)},
                                                " and ".join(op.what for op in ops))
        results = [data.get(f"m{n}") for n in range(len(ops))]
        for op, result in zip(ops, results, strict=True):
            label = (result or {}).get("label") if op.field == "createLabel" else None
            if label:  # a label created now can be set in the step's next document
                self._label_ids[str(label["name"]).lower()] = str(label["id"])
                self._label_info[str(label["name"]).lower()] = {**op.input, "id": label["id"]}
        if errors:
            failed: dict[int, str] = {}
            for error in errors:
                path = error.get("path") or []
                alias = str(path[0]) if path else ""
                n = int(alias[1:]) if alias[:1] == "m" and alias[1:].isdigit() else -1
                failed[n] = str(error.get("message") or error.get("type") or "failed")
            named = "; ".join(f"{ops[n].what if 0 <= n < len(ops) else 'the request'}: {msg}"
                              for n, msg in sorted(failed.items()))
            landed = [op.what for n, op in enumerate(ops) if n not in failed and results[n] is not None]
            raise ForgeError(
                f"GitHub refused part of a batched write in {self.repo}: {named}"
                + (f" (done: {', '.join(landed)})" if landed else ""),
                fix="re-run the workflow: every part is safe to repeat (labels, reactions and the tracking "
                    "comment end in the same state)",
            )
        return results
