"""External validators the checks use when present: Debian's docker-compose and terraform."""

from __future__ import annotations

from dataclasses import dataclass

from playbook import _process


@dataclass(frozen=True)
class Tools:
    docker_compose: str | None = None
    terraform: str | None = None

    @classmethod
    def discover(cls) -> Tools:
        return cls(docker_compose=_process.which("docker-compose"), terraform=_process.which("terraform"))


# The only variables a validator child sees: no tokens, no COMPOSE_* or TF_* from the caller.
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
