"""BatchedWorkspace: two commits of one step become one, reads see them at once, messages are kept."""

from __future__ import annotations

from playbook.planning.batched import BatchedWorkspace, combined_message


class Recording:
    branch = "b"

    def __init__(self) -> None:
        self.files: dict[str, str] = {"a.md": "A", "dir/old.md": "O"}
        self.commits: list[tuple[dict, str]] = []

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def list(self, prefix: str) -> list[str]:
        return sorted(p for p in self.files if p.startswith(prefix.strip("/") + "/"))

    def commit(self, files, message):
        self.commits.append((dict(files), message))
        for path, text in files.items():
            if text is None:
                self.files.pop(path, None)
            else:
                self.files[path] = text
        return f"sha{len(self.commits)}"

    def head(self) -> str | None:
        return f"sha{len(self.commits)}"


def test_two_commits_become_one_with_both_messages():
    inner = Recording()
    ws = BatchedWorkspace(inner)
    assert ws.commit({"a.md": "A2"}, "bmad(1-x): approve Product Brief r1\n\nApproved by owner.") is None
    assert ws.read("a.md") == "A2"  # visible before the flush
    ws.commit({"dir/new.md": "N", "dir/old.md": None}, "bmad(1-x): draft PRD r1\n\nModel: m")
    assert ws.list("dir") == ["dir/new.md"]
    assert inner.commits == []
    assert ws.flush() == "sha1"
    ((files, message),) = inner.commits
    assert files == {"a.md": "A2", "dir/new.md": "N", "dir/old.md": None}
    assert message.split("\n", 1)[0] == "bmad(1-x): approve Product Brief r1; draft PRD r1"
    assert "Approved by owner." in message and "Model: m" in message
    assert ws.flush() is None  # nothing left


def test_unchanged_writes_commit_nothing_and_head_flushes_first():
    inner = Recording()
    ws = BatchedWorkspace(inner)
    assert ws.commit({"a.md": "A"}, "no change") is None
    assert ws.flush() is None and inner.commits == []
    ws.commit({"a.md": "B"}, "one")
    assert ws.head() == "sha1" and inner.commits[0][1] == "one"


def test_single_message_is_kept_as_is():
    assert combined_message(["only\n\nbody"]) == "only\n\nbody"
