"""The offline dev agent: the deterministic scaffolder, for the stacks it knows, when no Claude CLI can run.

It stands in for the CLI behind the same runner seam as ``adapters.claude_cli.run_claude``, so a
run through it meets the same diff policy, checks and report as a Claude run. It calls no model;
its result says so (session ``offline``, 0 turns, $0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playbook.adapters.claude_cli import ClaudeResult
from playbook.errors import PolicyError
from playbook.planning import artifacts
from playbook.ports import Usage

OFFLINE_SESSION = "offline"

_ARR_ENV = {"PUID": "1000", "PGID": "1000"}

# What the offline agent scaffolds for a known service: the recipe in patterns/services/.
# Pi-hole v6 (patterns/services/pihole.md): FTLCONF_ settings, LAN DNS on the bridge network
# (listening mode ALL), port 53 bound to the host's LAN address only, the image's own dig
# healthcheck, upstream resolvers, a v6 exporter, and SQLite copies taken with the database's
# own online backup before Restic reads the volume.
PIHOLE_DNS_BIND = "${DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}"
PIHOLE_BACKUP = ("mkdir -p /etc/pihole/backup"
                 " && pihole-FTL sqlite3 /etc/pihole/gravity.db '.backup /etc/pihole/backup/gravity.db'"
                 " && pihole-FTL sqlite3 /etc/pihole/pihole-FTL.db '.backup /etc/pihole/backup/pihole-FTL.db'")
KNOWN_STACKS: dict[str, dict[str, Any]] = {
    "dns-pihole": {"image": "pihole/pihole:2026.07.2", "port": 80,
                   "extra_ports": [f"{PIHOLE_DNS_BIND}:53:53/tcp", f"{PIHOLE_DNS_BIND}:53:53/udp"],
                   "volumes": ["etc-pihole:/etc/pihole"],
                   "environment": {"FTLCONF_webserver_api_password": "",
                                   "FTLCONF_dns_upstreams": "9.9.9.9;149.112.112.112"},
                   "settings": {"FTLCONF_dns_listeningMode": "ALL"},
                   "host_variables": {"DNS_BIND_ADDRESS": "192.168.1.10"},
                   "image_healthcheck": "the image's own HEALTHCHECK resolves pi.hole with dig, "
                                        "so a dead resolver is reported unhealthy",
                   "backup_pre": PIHOLE_BACKUP,
                   "exporter": {"image": "ekofr/pihole-exporter:v1.2.0", "port": 9617,
                                "environment": {"PIHOLE_HOSTNAME": "dns-pihole", "PIHOLE_PASSWORD": ""}}},
    "media-qbittorrent": {"image": "lscr.io/linuxserver/qbittorrent:4.6.7", "port": 8080,
                          "extra_ports": ["6881:6881/tcp", "6881:6881/udp"],
                          "volumes": ["qbittorrent-config:/config"], "shared_volumes": ["media:/data"],
                          "environment": {**_ARR_ENV, "WEBUI_PORT": "8080"}},
    "media-prowlarr": {"image": "lscr.io/linuxserver/prowlarr:1.31.2", "port": 9696, "health_path": "/ping",
                       "volumes": ["prowlarr-config:/config"], "shared_volumes": ["media:/data"],
                       "environment": dict(_ARR_ENV)},
    "media-sonarr": {"image": "lscr.io/linuxserver/sonarr:4.0.15", "port": 8989, "health_path": "/ping",
                     "volumes": ["sonarr-config:/config"], "shared_volumes": ["media:/data"],
                     "environment": dict(_ARR_ENV)},
    "media-radarr": {"image": "lscr.io/linuxserver/radarr:5.26.2", "port": 7878, "health_path": "/ping",
                     "volumes": ["radarr-config:/config"], "shared_volumes": ["media:/data"],
                     "environment": dict(_ARR_ENV)},
}


def offline_can_do(story: artifacts.Story, kind: str) -> str | None:
    """Why the offline agent cannot implement ``story`` in a ``kind`` repo, or None when it can."""
    if kind != "apps":
        return f"the offline scaffolder writes compose stacks only; story {story.id} targets {kind}"
    if story.service not in KNOWN_STACKS:
        return (f"the offline scaffolder has no template for {story.service!r} "
                f"(it knows {', '.join(sorted(KNOWN_STACKS))})")
    return None


def offline_runner(story: artifacts.Story) -> Any:
    """A ``devrun.Runner`` that scaffolds ``story``'s stack into the run's working directory."""

    def run(prompt: str, *, cwd: Path, **_: Any) -> ClaudeResult:
        from playbook.delivery.scaffold import scaffold_stack

        problem = offline_can_do(story, "apps")
        if problem:
            raise PolicyError(problem, fix="install the Claude Code CLI (scripts/bootstrap) and set ANTHROPIC_API_KEY")
        written = scaffold_stack(Path(cwd), story.service, **KNOWN_STACKS[story.service])
        summary = (f"Offline scaffolder (no model was called): wrote stacks/{story.service}/ "
                   f"({len(written)} files) from the known-services table.")
        return ClaudeResult(subtype="success", is_error=False, result=summary, session_id=OFFLINE_SESSION,
                            num_turns=0, total_cost_usd=0.0, usage=Usage(), returncode=0)

    return run
