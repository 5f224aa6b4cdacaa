"""One commit for a step that writes twice: ``/approve`` records the approval and drafts the next
phase, and both land in ONE commit (one tree, one commit, one ref update) instead of two.

``BatchedWorkspace`` wraps any ``Workspace``: commits are collected (later writes win), reads and
listings see them at once, and ``flush`` writes them together with every message kept. The caller
flushes before anything outside git looks at the branch (``github_flow.finish``), so a failed
draft still leaves the approval committed.
"""

from __future__ import annotations

from collections.abc import Mapping

from playbook.ports import Workspace


class BatchedWorkspace:
    def __init__(self, inner: Workspace) -> None:
        self.inner = inner
        self.branch = inner.branch
        self._pending: dict[str, str | None] = {}
        self._messages: list[str] = []

    def __repr__(self) -> str:
        return f"BatchedWorkspace({self.inner!r})"

    def read(self, path: str) -> str | None:
        if path in self._pending:
            return self._pending[path]
        return self.inner.read(path)

    def list(self, prefix: str) -> list[str]:
        prefix = prefix.strip("/")
        listed = set(self.inner.list(prefix))
        for path, text in self._pending.items():
            if prefix in ("", ".") or path.startswith(prefix + "/"):
                if text is None:
                    listed.discard(path)
                else:
                    listed.add(path)
        return sorted(listed)

    def commit(self, files: Mapping[str, str | None], message: str) -> str | None:
        changed = {p: t for p, t in files.items() if self.read(p) != t}
        if not changed:
            return None
        self._pending.update(changed)
        self._messages.append(message)
        return None  # written by flush

    def head(self) -> str | None:
        self.flush()
        return self.inner.head()

    def flush(self) -> str | None:
        """Write everything collected as one commit (nothing when nothing changed)."""
        if not self._pending:
            return None
        files, messages = dict(self._pending), list(self._messages)
        self._pending.clear()
        self._messages.clear()
        return self.inner.commit(files, combined_message(messages))


def combined_message(messages: list[str]) -> str:
    """``bmad(r): approve A r1; draft B r1`` and then every message in full."""
    if len(messages) == 1:
        return messages[0]
    subjects = [m.split("\n", 1)[0] for m in messages]
    prefix = subjects[0].split(": ", 1)[0] + ": " if ": " in subjects[0] else ""
    joined = "; ".join([subjects[0], *(s.removeprefix(prefix) for s in subjects[1:])])
    return joined + "\n\n" + "\n\n".join(messages)
