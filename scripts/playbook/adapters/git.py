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


def toplevel(path: str | Path) -> Path | None:
    """The root of the git checkout holding ``path``, or None outside any checkout."""
    if not Path(path).is_dir():
        return None
    out = _process.run(["git", "rev-parse", "--show-toplevel"], cwd=path, check=False)
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None


def branch_exists(repo: str | Path, name: str) -> bool:
    return head(repo, f"refs/heads/{name}") is not None


def porcelain(repo: str | Path, *paths: str) -> list[str]:
    """``git status --porcelain`` lines (untracked files listed one by one), optionally for some paths."""
    args = ["status", "--porcelain", "-uall"]
    if paths:
        args += ["--", *paths]
    return [line for line in git(repo, *args).splitlines() if line.strip()]


class GitRefView:
    """Read-only files of one ref (a branch that need not be checked out), for listing requests."""

    def __init__(self, repo: str | Path, ref: str, *, branch: str | None = None) -> None:
        self.repo = Path(repo)
        self.ref = ref
        self.branch = branch or ref
        self._paths: list[str] | None = None

    def _all(self) -> list[str]:
        if self._paths is None:
            out = git(self.repo, "ls-tree", "-r", "--name-only", "-z", self.ref)
            self._paths = sorted(p for p in out.split("\x00") if p)
        return self._paths

    def read(self, path: str) -> str | None:
        rel = _safe_relpath(path)
        if rel not in self._all():
            return None
        return git(self.repo, "show", f"{self.ref}:{rel}")

    def list(self, prefix: str) -> list[str]:
        base = _safe_relpath(prefix).rstrip("/") + "/"
        return [p for p in self._all() if p.startswith(base)]

    def head(self) -> str | None:
        return head(self.repo, self.ref)

    def commit(self, files: Mapping[str, str | None], message: str) -> str | None:
        raise GitError(f"{self.ref} is read-only here", fix=f"git switch {self.branch} to change it")
