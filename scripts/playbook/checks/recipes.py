"""Service recipes as data: what patterns/services/<recipe>.md requires of a known image.

The documents explain; this table is what the checker enforces and what the scaffolder accepts,
and tests/test_patterns.py keeps each document's header in step with its row. A recipe applies
to every service whose image repository it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playbook.checks.findings import Finding
from playbook.checks.stack import Stack

PORT_BIND_VARIABLE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}:")
HTTP_PROBE = re.compile(r"\b(curl|wget)\b|https?://")


@dataclass(frozen=True)
class Recipe:
    name: str                                    # patterns/services/<name>.md
    images: tuple[str, ...]                      # image repositories it covers
    current: str                                 # the pinned, known-good tag the document uses
    minimum: str = ""                            # oldest tag that still follows the recipe
    minimum_why: str = ""
    settings: tuple[str, ...] = ()               # environment names the recipe documents
    required: dict[str, str] = field(default_factory=dict)   # name -> value ("" = any value)
    bridge_only: dict[str, str] = field(default_factory=dict)  # required unless network_mode: host
    replaced: dict[str, str] = field(default_factory=dict)   # old name -> the setting that replaced it
    bind_ports: tuple[int, ...] = ()             # published ports that need a host-address variable
    image_healthcheck: str = ""                  # the image's HEALTHCHECK; a compose HTTP probe hides it
    consistent_backup: bool = False              # a database that needs backup.restic.pre


PIHOLE_SETTINGS = ("FTLCONF_webserver_api_password", "FTLCONF_dns_listeningMode", "FTLCONF_dns_upstreams",
                   "FTLCONF_dns_dnssec", "FTLCONF_dns_revServers", "FTLCONF_dns_hosts", "FTLCONF_dns_domain_name",
                   "FTLCONF_misc_etc_dnsmasq_d", "FTLCONF_webserver_port", "FTLCONF_dhcp_active")

RECIPES: tuple[Recipe, ...] = (
    Recipe("pihole", ("pihole/pihole",), current="2026.07.2", minimum="2025.02.0",
           minimum_why="tags before 2025.02.0 are Pi-hole v5, whose settings and API v6 replaced",
           settings=PIHOLE_SETTINGS,
           required={"FTLCONF_webserver_api_password": "", "FTLCONF_dns_upstreams": ""},
           bridge_only={"FTLCONF_dns_listeningMode": "ALL"},
           replaced={"WEBPASSWORD": "FTLCONF_webserver_api_password", "PIHOLE_DNS_": "FTLCONF_dns_upstreams",
                     "DNSMASQ_LISTENING": "FTLCONF_dns_listeningMode", "DNSSEC": "FTLCONF_dns_dnssec",
                     "REV_SERVER": "FTLCONF_dns_revServers", "WEB_PORT": "FTLCONF_webserver_port"},
           bind_ports=(53,),
           image_healthcheck="dig -p $(pihole-FTL --config dns.port) +short +norecurse +retry=0 @127.0.0.1 pi.hole",
           consistent_backup=True),
    Recipe("pihole", ("ekofr/pihole-exporter",), current="v1.2.0", minimum="v1.0.0",
           minimum_why="releases before v1.0.0 speak only the Pi-hole v5 API",
           settings=("PIHOLE_HOSTNAME", "PIHOLE_PORT", "PIHOLE_PROTOCOL", "PIHOLE_PASSWORD", "PORT"),
           required={"PIHOLE_HOSTNAME": "", "PIHOLE_PASSWORD": ""},
           replaced={"PIHOLE_API_TOKEN": "PIHOLE_PASSWORD"}),
    Recipe("traefik", ("traefik",), current="v3.7.9", minimum="v3.0.0",
           minimum_why="Traefik v2 label and option names differ; the traefik pattern is written for v3"),
    Recipe("authentik-outpost", ("ghcr.io/goauthentik/proxy",), current="2026.8.0",
           settings=("AUTHENTIK_HOST", "AUTHENTIK_INSECURE", "AUTHENTIK_TOKEN", "AUTHENTIK_HOST_BROWSER"),
           required={"AUTHENTIK_HOST": "", "AUTHENTIK_TOKEN": "", "AUTHENTIK_INSECURE": "false"}),
    Recipe("jellyfin", ("jellyfin/jellyfin",), current="10.11.11", settings=("JELLYFIN_PublishedServerUrl",)),
    Recipe("vaultwarden", ("vaultwarden/server",), current="1.37.2",
           settings=("DOMAIN", "SIGNUPS_ALLOWED", "ADMIN_TOKEN", "INVITATIONS_ALLOWED"),
           required={"DOMAIN": "", "SIGNUPS_ALLOWED": "false"}, image_healthcheck="/healthcheck.sh",
           consistent_backup=True),
    Recipe("home-assistant", ("ghcr.io/home-assistant/home-assistant",), current="2026.9.0",
           consistent_backup=True),
    Recipe("arr", ("lscr.io/linuxserver/sonarr", "lscr.io/linuxserver/radarr", "lscr.io/linuxserver/prowlarr"),
           current="4.0.19.2979-ls316", settings=("PUID", "PGID", "UMASK"), required={"PUID": "", "PGID": ""}),
)


def recipe_for(image: str) -> Recipe | None:
    repository = _repository(image)
    return next((r for r in RECIPES if repository in r.images), None)


def documented_settings() -> frozenset[str]:
    return frozenset(name for recipe in RECIPES for name in recipe.settings)


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name.removeprefix("docker.io/").removeprefix("library/")


def _tag(image: str) -> str:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def _version(tag: str) -> tuple[int, ...] | None:
    numbers = re.findall(r"\d+", tag.lstrip("v").split("-", 1)[0])
    return tuple(int(n) for n in numbers) if numbers else None


def _finding(stack: Stack, recipe: Recipe, message: str, fix: str, line: int | None) -> Finding:
    return stack.finding("service-recipe", message, f"{fix}; patterns/services/{recipe.name}.md", line=line)


def check_recipes(stack: Stack) -> list[Finding]:
    findings: list[Finding] = []
    for name, svc in stack.services().items():
        recipe = recipe_for(str(svc.get("image", "")))
        if recipe is None or stack.exemption(name, "service-recipe"):
            continue
        findings.extend(_check_service(stack, name, recipe))
    return findings


def _check_service(stack: Stack, name: str, recipe: Recipe) -> list[Finding]:
    svc = stack.services()[name]
    image = str(svc.get("image", ""))
    findings = []
    tag, minimum = _version(_tag(image)), _version(recipe.minimum)
    if tag is not None and minimum is not None and tag < minimum:
        findings.append(_finding(stack, recipe, f"service {name!r}: {image} is older than {recipe.minimum}: "
                                                f"{recipe.minimum_why}",
                                 f"upgrade to {_repository(image)}:{recipe.current}",
                                 stack.line("services", name, "image")))
    env = stack.environment(name)
    env_line = stack.line("services", name, "environment") or stack.line("services", name)
    for old, new in sorted(recipe.replaced.items()):
        if old in env:
            findings.append(_finding(stack, recipe, f"service {name!r}: {old} is an old setting the image ignores",
                                     f"use {new} instead", stack.line(*env[old][1])))
    required = dict(recipe.required)
    if svc.get("network_mode") != "host":
        required.update(recipe.bridge_only)
    for setting, wanted in sorted(required.items()):
        if setting not in env:
            findings.append(_finding(stack, recipe, f"service {name!r} does not set {setting}",
                                     f"add {setting}: {wanted or '${' + setting + '}'} under environment",
                                     env_line))
        elif wanted and (env[setting][0] or "").strip().lower() != wanted.lower():
            findings.append(_finding(stack, recipe, f"service {name!r}: {setting} is {env[setting][0]!r}, "
                                                    f"not {wanted!r}",
                                     f"set {setting}: {wanted!r}", stack.line(*env[setting][1])))
    ports = svc.get("ports")
    for index, entry in enumerate(ports if isinstance(ports, list) else []):
        text = f"{entry.get('host_ip', '')}:{entry.get('target')}" if isinstance(entry, dict) else str(entry)
        target = str(entry.get("target", "")) if isinstance(entry, dict) else text.split("/")[0].rsplit(":", 1)[-1]
        if target.isdigit() and int(target) in recipe.bind_ports:
            bound = PORT_BIND_VARIABLE.match(text) if not isinstance(entry, dict) else \
                str(entry.get("host_ip", "")).startswith("${")
            if not bound:
                findings.append(_finding(
                    stack, recipe, f"service {name!r} publishes port {target} on every host interface",
                    f"bind it to the LAN address from a variable: \"${{DNS_BIND_ADDRESS:?set DNS_BIND_ADDRESS}}:"
                    f"{target}:{target}/udp\" (and /tcp)", stack.line("services", name, "ports", index)))
    health = svc.get("healthcheck")
    if recipe.image_healthcheck and isinstance(health, dict) and health.get("test"):
        test = health["test"] if isinstance(health["test"], str) else " ".join(map(str, health["test"]))
        if HTTP_PROBE.search(test):
            findings.append(_finding(
                stack, recipe, f"service {name!r} replaces the image's healthcheck "
                               f"(`{recipe.image_healthcheck}`) with an HTTP probe",
                "remove `healthcheck:` so the image's own check runs, and label homelab.exempt.healthcheck "
                "with the reason", stack.line("services", name, "healthcheck")))
    if recipe.consistent_backup and stack.labels(name).get("backup.restic.volumes") \
            and not stack.labels(name).get("backup.restic.pre", "").strip():
        findings.append(_finding(
            stack, recipe, f"service {name!r} keeps a live SQLite database that Restic would copy mid-write",
            "add label backup.restic.pre with the consistent dump the recipe gives",
            stack.line("services", name, "labels")))
    return findings
