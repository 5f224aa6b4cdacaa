"""The copy of a target checkout a dev run works in, never the checkout itself.

The CLI runs in ``<scratch>/work``: the target's tracked and untracked files that are not
ignored and not secret-bearing (``secretscan.is_secret_file``), with a fresh git baseline whose
``.git`` the agent cannot write. With an agent user (``adapters.agent_user``) the work tree and
a private ``home`` are that user's; the scratch root is ``0711`` root and so are the work tree's root and ``.git``, so the agent reaches its
own two directories and nothing beside them. Afterwards the diff policy judges the copy and
only the patch that passed is applied back to the real checkout.

The dev run and the code review enter the box the same way, through ``confine``: the paths the
agent must not reach (``shut_paths``) are checked as the agent user before anything starts (a path
it could read or write refuses the run), then the copy is made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from playbook import _process
from playbook.adapters.agent_user import AgentUser
from playbook.delivery import secretscan
from playbook.delivery.diffpolicy import SAFE_GIT
from playbook.errors import GitError, PolicyError, ProcessError

BASELINE_IDENTITY = ("-c", "user.name=playbook", "-c", "user.email=playbook@localhost", "-c", "commit.gpgsign=false")


@dataclass(frozen=True)
class Scratch:
    root: Path
    work: Path
    home: Path
    left_out: tuple[str, ...]  # secret-bearing files the agent never sees

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _git(cwd: Path, *args: str) -> str:
    try:
        return _process.run([*SAFE_GIT, *args], cwd=cwd, env={"PATH": os.defpath, "HOME": str(cwd),
                                                            "GIT_CONFIG_NOSYSTEM": "1"}).stdout
    except ProcessError as exc:
        raise GitError(f"git {args[0]} failed in {cwd}: {exc.stderr.strip()}",
                       fix="make sure --repo-dir is a git checkout of the target repository") from None


def visible_files(repo_dir: Path) -> list[str]:
    """Tracked and untracked, not ignored, present on disk."""
    out = _git(repo_dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted({p for p in out.split("\0") if p and os.path.lexists(repo_dir / p)})


def prepare(repo_dir: Path, *, write_prefixes: tuple[str, ...] = (), agent: AgentUser | None = None,
            parent: Path | None = None) -> Scratch:
    """Copy ``repo_dir`` into a new scratch directory (under ``parent``, default the system temp).

    The work tree's root and its ``.git`` stay root's: the agent cannot replace the git
    metadata the diff policy reads. The top directories of ``write_prefixes`` are created
    for it, so a story can add the first stack or module.
    """
    root = Path(tempfile.mkdtemp(prefix="bmad-dev-", dir=parent))
    os.chmod(root, 0o711)
    work, home = root / "work", root / "home"
    work.mkdir()
    home.mkdir(mode=0o700)
    left_out = []
    for rel in visible_files(repo_dir):
        if secretscan.is_secret_file(rel):
            left_out.append(rel)
            continue
        source, dest = repo_dir / rel, work / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        elif source.is_file():
            shutil.copy2(source, dest)
    for prefix in write_prefixes:
        top = prefix.strip("/").split("/")[0]
        if top and not top.startswith("."):
            (work / top).mkdir(exist_ok=True)
    _git(work, "init", "-q", "-b", "baseline")
    _git(work, "add", "-A")
    _git(work, *BASELINE_IDENTITY, "commit", "-q", "--no-verify", "--allow-empty", "-m", "baseline")
    if agent is not None:
        for entry in work.iterdir():
            if entry.name != ".git":
                agent.give(entry)
        agent.give(home)
    return Scratch(root, work, home, tuple(left_out))


def shut_paths(*, playbook_dir: Path, out_dir: Path, repo_dir: Path, protected: Sequence[Path] = ()) -> list[Path]:
    """What the agent must never reach: the playbook checkout, the result directory, the real
    checkout (it works on the copy) and ``protected`` (the runner's home, temp, file-command files)."""
    return [playbook_dir.resolve(), out_dir.resolve(), repo_dir.resolve(), *(Path(p) for p in protected)]


def confine(repo_dir: Path, *, shut: Sequence[Path], agent: AgentUser | None, what: str,
            write_prefixes: tuple[str, ...] = (), parent: Path | None = None) -> Scratch:
    """The pre-flight check as the agent user, then the scratch copy (``what`` names the run refused)."""
    if agent is not None:
        problems = agent.unreachable(shut)
        if problems:
            raise PolicyError(f"the agent user can reach files it must not; the {what} did not start",
                              violations=problems,
                              fix="make the runner's home and temp private (chmod 700) and keep checkouts out of "
                                  "world-readable directories")
    return prepare(repo_dir, write_prefixes=write_prefixes, agent=agent, parent=parent)


def apply_back(patch: Path, repo_dir: Path) -> None:
    """Apply the judged patch to the real checkout (nothing else ever reaches it)."""
    if patch.is_file() and patch.stat().st_size:
        _git(repo_dir, "apply", "--whitespace=nowarn", str(patch.resolve()))
