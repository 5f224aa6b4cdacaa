"""Local git: a Workspace over a checked-out branch, and the few git commands we need."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path, PurePosixPath

from playbook import _process
from playbook.errors import GitError, ProcessError

# Commits made by the tool carry this identity unless git already has one configured.
DEFAULT_IDENTITY = ("-c", "user.name=homelab-playbook", "-c", "user.email=homelab-playbook@users.noreply.github.com")


@lru_cache(maxsize=32)
def _identity_args(repo: str) -> tuple[str, ...]:
    found = _process.run(["git", "config", "user.email"], cwd=repo, check=False).stdout.strip()
    return () if found else DEFAULT_IDENTITY


def git(repo: str | Path, *args: str, check: bool = True, input: str | None = None) -> str:
    extra = _identity_args(str(repo)) if args and args[0] in {"commit", "merge", "revert"} else ()
    try:
        return _process.run(["git", *extra, *args], cwd=repo, check=check, input=input).stdout
    except ProcessError as exc:
        raise GitError(f"git {' '.join(args[:3])} failed in {repo}: {exc.stderr.strip() or exc.stdout.strip()}",
                       fix="check the repository state (`git status`) and try again") from None


def init_repo(path: str | Path, *, branch: str = "main") -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    return path


def current_branch(repo: str | Path) -> str:
    return git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()


def head(repo: str | Path, ref: str = "HEAD") -> str | None:
    out = git(repo, "rev-parse", "--verify", "-q", ref + "^{commit}", check=False).strip()
    return out or None


def _safe_relpath(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in path or "\x00" in path:
        raise GitError(f"refusing to write outside the repository: {path!r}", fix="use a relative path")
    return str(p)


class GitWorkspace:
    """Files of the checked-out branch in a local repository; one commit per ``commit`` call."""

    def __init__(self, repo: str | Path, branch: str | None = None) -> None:
        self.repo = Path(repo)
        self.branch = branch or current_branch(self.repo)
        if current_branch(self.repo) != self.branch:
            raise GitError(f"{self.repo} has {current_branch(self.repo)!r} checked out, not {self.branch!r}",
                           fix=f"git -C {self.repo} switch {self.branch}")

    def read(self, path: str) -> str | None:
        file = self.repo / _safe_relpath(path)
        try:
            return file.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            return None

    def list(self, prefix: str) -> list[str]:
        base = self.repo / _safe_relpath(prefix)
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.repo).as_posix()) for p in base.rglob("*") if p.is_file() and ".git" not in p.parts
        )

    def head(self) -> str | None:
        return head(self.repo)

    def commit(self, files: Mapping[str, str | None], message: str) -> str | None:
        paths = []
        for path, text in files.items():
            rel = _safe_relpath(path)
            target = self.repo / rel
            paths.append(rel)
            if text is None:
                if target.exists():
                    target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target, text)
        if not paths:
            return None
        git(self.repo, "add", "-A", "--", *paths)
        if not git(self.repo, "diff", "--cached", "--name-only", "--", *paths).strip():
            return None
        git(self.repo, "commit", "-q", "-m", message, "--", *paths)
        return head(self.repo)


def _atomic_write(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
