"""The OS-level boundary of a dev run: the Claude Code CLI as a separate, unprivileged user.

The CLI's permission rules are the first fence; this is the one that still holds if the CLI
has a bug or a rule is wrong. The playbook (running as root, e.g. under ``sudo`` on a GitHub
runner) copies what the story needs into a scratch directory owned by the agent user and starts
the CLI there with ``setpriv``: a different uid and gid, no supplementary groups, no new
privileges. The runner's home, ``_temp`` with the file-command files (``$GITHUB_ENV``,
``$GITHUB_OUTPUT``, …), other checkouts and ``/proc/<pid>/environ`` of the runner's processes
belong to other users, so the kernel refuses them whatever the CLI does.

``unreachable`` checks this before the run, as the agent user itself: a path it can read or
write is refused with the fix, never silently accepted.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from playbook import _process
from playbook.errors import ConfigError

SETPRIV = "setpriv"
USER_FIX = ("create the user once on the runner: `sudo useradd --system --user-group --no-create-home "
            "--shell /usr/sbin/nologin bmad-agent`, and run `playbook dev` as root (e.g. `sudo -E`)")


@dataclass(frozen=True)
class AgentUser:
    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, name: str) -> AgentUser:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ConfigError(f"the agent user {name!r} does not exist", fix=USER_FIX) from None
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise ConfigError(f"the agent user {name!r} is root or in group root", fix=USER_FIX)
        if os.geteuid() != 0:
            raise ConfigError("running the CLI as another user needs root", fix=USER_FIX)
        return cls(name, entry.pw_uid, entry.pw_gid)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run as this user: other uid/gid, no groups, no way back up (no_new_privs)."""
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--no-new-privs",
                "--", *argv]

    def give(self, path: Path) -> None:
        """Make ``path`` (a file or a tree we just created) the agent's own."""
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), self.uid, self.gid)
        os.lchown(path, self.uid, self.gid)

    def can(self, path: Path, mode: str) -> bool:
        """Whether this user can ``r``ead / ``w``rite / e``x``ecute ``path`` (test(1) as the user)."""
        done = _process.run(self.wrap(["test", f"-{mode}", str(path)]), env={"PATH": os.defpath}, check=False)
        return done.returncode == 0

    def unreachable(self, paths: Sequence[Path]) -> list[str]:
        """The problems with ``paths`` the agent must not reach; an empty list means all are shut."""
        problems = []
        for path in paths:
            if not os.path.lexists(path):
                continue
            for mode, verb in (("r", "read"), ("w", "write")):
                if self.can(path, mode):
                    problems.append(f"{path}: the agent user {self.name} can {verb} it")
        return problems
