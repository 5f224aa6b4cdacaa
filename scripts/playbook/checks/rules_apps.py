"""Convention rules for one compose stack (patterns with applies_to: apps)."""

from __future__ import annotations

import re
from collections.abc import Callable

from playbook.checks import yamldoc
from playbook.checks.compose import referenced_variables
from playbook.checks.findings import WARNING, Finding
from playbook.checks.rules import EXEMPT_LABEL_PREFIX
from playbook.checks.stack import Stack

SLUG = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")
SLUG_MAX = 40
FLOATING_TAGS = frozenset({"latest", "stable", "edge", "nightly", "main", "master", "dev", "develop", "beta"})
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIAL|(^|_)PASS$|(^|_)KEY$")
HOST_RULE = re.compile(r"Host\(`\$\{[A-Z][A-Z0-9_]*HOST\}`\)")
ROUTER_LABEL = re.compile(r"^traefik\.http\.routers\.(?P<router>[^.]+)\.rule$")
SERVICE_PORT_LABEL = re.compile(r"^traefik\.http\.services\.[^.]+\.loadbalancer\.server\.port$")
EXEMPT_METRICS = EXEMPT_LABEL_PREFIX + "prometheus-metrics"
SAFE_READONLY_BINDS = ("/etc/localtime", "/etc/timezone", "/var/run/docker.sock", "/run/docker.sock")
# Values that deploy as a working, guessable password (compared case-insensitively).
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "change_me", "changeit", "password", "passw0rd",
                                 "secret", "letmein", "123456", "12345678"})
# ${VAR:-default}, ${VAR-default}, ${VAR:=default}, ${VAR=default}: a fallback Compose will deploy.
DEFAULTED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-=])(?P<default>[^}]*)\}")
# Ports a web UI answers on; published on the host they bypass Traefik, TLS and Authentik.
WEB_PORTS = frozenset({80, 443, 8080, 8443})
TRAEFIK_IMAGE = re.compile(r"(^|/)traefik:")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name.upper()))


def check_layout(stack: Stack) -> list[Finding]:
    findings = []
    if stack.compose_file.name != "docker-compose.yml":
        findings.append(stack.finding("stack-layout", f"compose file is named {stack.compose_file.name}",
                                      "rename it to docker-compose.yml"))
    if not SLUG.fullmatch(stack.slug) or len(stack.slug) > SLUG_MAX:
        findings.append(stack.finding(
            "stack-layout", f"stack directory {stack.slug!r} is not a <category>-<app> slug",
            f"rename the directory to lowercase words joined by '-', e.g. dns-pihole (at most {SLUG_MAX} chars)"))
    if stack.parent_name != "stacks":
        findings.append(stack.finding("stack-layout", f"stack directory is not directly under stacks/ "
                                                      f"(found under {stack.parent_name or '/'}/)",
                                      f"move it to stacks/{stack.slug}/"))
    for required in (".env.sample", "README.md"):
        if not (stack.dir / required).is_file():
            findings.append(stack.finding("stack-layout", f"{required} is missing",
                                          f"add stacks/{stack.slug}/{required}", file=stack.dir / required))
    if (stack.dir / ".env").exists():
        findings.append(stack.finding("env-committed", ".env is present in the stack directory",
                                      "delete it (values live in Portainer or on the host) and keep `.env` "
                                      "in .gitignore", file=stack.dir / ".env"))
    if "version" in stack.data:
        findings.append(stack.finding("compose-schema", "top-level `version:` is obsolete",
                                      "delete the `version:` line", line=stack.line("version"),
                                      severity=WARNING))
    return findings


def check_images(stack: Stack) -> list[Finding]:
    findings = []
    for name, svc in stack.services().items():
        image = svc.get("image")
        if image is None:
            if "build" not in svc:
                findings.append(stack.finding("image-pinned", f"service {name!r} has no image",
                                              "set `image: <repo>:<version>`", line=stack.line("services", name)))
            continue
        problem = image_problem(str(image))
        if problem:
            findings.append(stack.finding(
                "image-pinned", f"service {name!r}: image {image!r} {problem}",
                "pin an exact release tag (e.g. pihole/pihole:2026.07.2) or a digest (@sha256:...)",
                line=stack.line("services", name, "image")))
    return findings


def image_problem(image: str) -> str:
    """Why an image reference is not pinned, or '' when it is."""
    if "@sha256:" in image:
        return ""
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (it means :latest)"
    tag = last.rsplit(":", 1)[1]
    if "$" in tag:
        return "takes its tag from a variable"
    if not tag:
        return "has an empty tag"
    if tag.lower() in FLOATING_TAGS:
        return f"uses the floating tag {tag!r}"
    return ""


def check_runtime(stack: Stack) -> list[Finding]:
    findings = []
    for name, svc in stack.services().items():
        where = stack.line("services", name)
        if svc.get("restart") != "unless-stopped":
            findings.append(stack.finding(
                "restart-policy", f"service {name!r} has restart {svc.get('restart')!r}",
                "set `restart: unless-stopped`", line=stack.line("services", name, "restart") or where))
        health = svc.get("healthcheck")
        if not stack.exemption(name, "healthcheck"):
            if not isinstance(health, dict) or (not health.get("test") and not health.get("disable")):
                findings.append(stack.finding(
                    "healthcheck", f"service {name!r} has no healthcheck",
                    "add `healthcheck:` with `test`, `interval`, `timeout`, `retries`, or label "
                    "homelab.exempt.healthcheck with the reason (e.g. the image defines HEALTHCHECK)",
                    line=where))
            elif health.get("disable"):
                findings.append(stack.finding(
                    "healthcheck", f"service {name!r} disables its healthcheck",
                    "define a healthcheck or document why with label homelab.exempt.healthcheck",
                    line=stack.line("services", name, "healthcheck"), severity=WARNING))
        if "TZ" not in stack.environment(name):
            findings.append(stack.finding(
                "tz-env", f"service {name!r} does not set TZ",
                "add `TZ: ${TZ}` under environment and TZ=Etc/UTC (or your zone) to .env.sample",
                line=stack.line("services", name, "environment") or where))
    return findings


def _routed(stack: Stack) -> list[str]:
    return [name for name in stack.services() if stack.labels(name).get("traefik.enable", "").lower() == "true"]


def check_traefik(stack: Stack) -> list[Finding]:
    findings: list[Finding] = []
    routed = _routed(stack)
    if not routed and not stack.exempt_anywhere("traefik-labels"):
        first = next(iter(stack.services()), None)
        findings.append(stack.finding(
            "traefik-labels", "no service is routed by Traefik (no `traefik.enable=true` label)",
            "add the Traefik labels (enable, router rule Host(`${SERVICE_HOST}`), entrypoints websecure, "
            "tls.certresolver letsencrypt, service port, docker.network proxy) to the web service",
            line=stack.line("services", first) if first else stack.line("services")))
    for name in routed:
        findings.extend(_check_routed_service(stack, name))
    return findings


def _check_routed_service(stack: Stack, name: str) -> list[Finding]:
    findings = []
    labels = stack.labels(name)
    labels_line = stack.line("services", name, "labels")

    def need(key: str, expected: str, fix: str) -> None:
        if labels.get(key) != expected:
            got = f"is {labels[key]!r}" if key in labels else "is missing"
            findings.append(stack.finding("traefik-labels", f"service {name!r}: label {key} {got}", fix,
                                          line=stack.label_line(name, key) if key in labels else labels_line))

    need("traefik.docker.network", "proxy", "add label traefik.docker.network=proxy")
    routers = sorted(m["router"] for key in labels if (m := ROUTER_LABEL.match(key)))
    if not routers:
        findings.append(stack.finding("traefik-labels", f"service {name!r} has traefik.enable=true but no router",
                                      f"add label traefik.http.routers.{stack.slug}.rule=Host(`${{SERVICE_HOST}}`)",
                                      line=labels_line))
    for router in routers:
        prefix = f"traefik.http.routers.{router}"
        rule = labels[f"{prefix}.rule"]
        if not HOST_RULE.search(rule):
            findings.append(stack.finding(
                "traefik-labels", f"router {router!r}: rule {rule!r} does not use Host(`${{..._HOST}}`)",
                "use Host(`${SERVICE_HOST}`) and document SERVICE_HOST in .env.sample",
                line=stack.label_line(name, f"{prefix}.rule")))
        if not router.startswith(stack.slug):
            findings.append(stack.finding(
                "traefik-labels", f"router {router!r} is not named after the stack {stack.slug!r}",
                f"name the router {stack.slug} (router names are global in Traefik)",
                line=stack.label_line(name, f"{prefix}.rule")))
        need(f"{prefix}.entrypoints", "websecure", f"add label {prefix}.entrypoints=websecure")
        need(f"{prefix}.tls.certresolver", "letsencrypt", f"add label {prefix}.tls.certresolver=letsencrypt")
        if not stack.exemption(name, "authentik-forward-auth"):
            middlewares = [m.strip() for m in labels.get(f"{prefix}.middlewares", "").split(",")]
            if not any(m.startswith("authentik") and m.endswith(("@file", "@docker")) for m in middlewares):
                findings.append(stack.finding(
                    "authentik-forward-auth", f"router {router!r} has no Authentik forward-auth middleware",
                    f"add label {prefix}.middlewares=authentik@file, or label "
                    "homelab.exempt.authentik-forward-auth with the reason",
                    line=stack.label_line(name, f"{prefix}.middlewares")))
    if not any(SERVICE_PORT_LABEL.match(key) and labels[key].isdigit() for key in labels):
        findings.append(stack.finding(
            "traefik-labels", f"service {name!r} has no numeric loadbalancer.server.port label",
            f"add label traefik.http.services.{stack.slug}.loadbalancer.server.port=<container port>",
            line=labels_line))
    findings.extend(_check_proxy_network(stack, name))
    return findings


def _service_networks(stack: Stack, name: str) -> list[str]:
    networks = stack.services()[name].get("networks")
    if isinstance(networks, dict):
        return [str(n) for n in networks]
    if isinstance(networks, list):
        return [str(n) for n in networks]
    return []


def _check_proxy_network(stack: Stack, name: str) -> list[Finding]:
    findings = []
    if "proxy" not in _service_networks(stack, name):
        findings.append(stack.finding("proxy-network", f"service {name!r} is not on the `proxy` network",
                                      "add `networks: [proxy]` to the service",
                                      line=stack.line("services", name, "networks") or stack.line("services", name)))
    top = stack.data.get("networks")
    proxy = top.get("proxy") if isinstance(top, dict) else None
    if not (isinstance(proxy, dict) and proxy.get("external") is True):
        findings.append(stack.finding("proxy-network", "network `proxy` is not declared external",
                                      "add top-level `networks: {proxy: {external: true}}`",
                                      line=stack.line("networks", "proxy") or stack.line("networks")))
    return findings


def check_prometheus(stack: Stack) -> list[Finding]:
    """patterns/prometheus.md: scrape labels on a proxy-network service; metrics never published or routed.

    The exemption waives only "nothing is scraped": a service that is scraped is always checked.
    """
    findings = []
    exempt = stack.exempt_anywhere("prometheus-metrics")
    scraped = [n for n in stack.services() if stack.labels(n).get("prometheus.io/scrape", "").lower() == "true"]
    if not scraped:
        if exempt:
            return []
        first = next(iter(stack.services()), None)
        return [stack.finding(
            "prometheus-metrics", "no service carries prometheus.io/scrape=true",
            "label the service that serves metrics (or an exporter sidecar) with prometheus.io/scrape, "
            "prometheus.io/port and prometheus.io/path, or label homelab.exempt.prometheus-metrics "
            "with the reason", line=stack.line("services", first) if first else None)]
    if exempt:
        holder = next(n for n in stack.services() if stack.exemption(n, "prometheus-metrics"))
        findings.append(stack.finding(
            "prometheus-metrics", f"service {holder!r} waives prometheus-metrics although "
                                  f"{', '.join(repr(n) for n in scraped)} is scraped",
            "remove label homelab.exempt.prometheus-metrics",
            line=stack.label_line(holder, EXEMPT_METRICS), severity=WARNING))
    for name in scraped:
        labels = stack.labels(name)
        port = labels.get("prometheus.io/port", "")
        if not port.isdigit():
            findings.append(stack.finding("prometheus-metrics", f"service {name!r}: prometheus.io/port is "
                                                                "missing or not a number",
                                          "add label prometheus.io/port=<metrics port>",
                                          line=stack.label_line(name, "prometheus.io/port")))
        if not labels.get("prometheus.io/path", "").startswith("/"):
            findings.append(stack.finding("prometheus-metrics", f"service {name!r}: prometheus.io/path is "
                                                                "missing or not an absolute path",
                                          "add label prometheus.io/path=/metrics",
                                          line=stack.label_line(name, "prometheus.io/path")))
        if "proxy" not in _service_networks(stack, name):
            findings.append(stack.finding("prometheus-metrics", f"service {name!r} is scraped but not on the "
                                                                "`proxy` network Prometheus reaches",
                                          "add `networks: [proxy]` to the service",
                                          line=stack.line("services", name)))
        if port.isdigit():
            for index in _publishing(stack, name, int(port)):
                findings.append(stack.finding(
                    "prometheus-metrics", f"service {name!r} publishes its metrics port {port} with `ports:`",
                    "remove the port mapping: Prometheus scrapes the container over the proxy network",
                    line=stack.line("services", name, "ports", index)))
    for name in stack.services():
        if name.endswith("-exporter") and name in _routed(stack):
            findings.append(stack.finding(
                "prometheus-metrics", f"exporter {name!r} is routed by Traefik",
                "remove its traefik.* labels: metrics stay on the proxy network, never behind a router",
                line=stack.label_line(name, "traefik.enable")))
    return findings


def _publishing(stack: Stack, name: str, port: int) -> list[int]:
    """Indexes of `ports:` entries that publish container port `port` (short or long syntax, ranges)."""
    entries = stack.services()[name].get("ports")
    hits = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        target = str(entry.get("target", "")) if isinstance(entry, dict) else str(entry).split("/")[0].rsplit(":", 1)[-1]
        low, _, high = target.partition("-")
        if low.isdigit() and (high or low).isdigit() and int(low) <= port <= int(high or low):
            hits.append(index)
    return hits


def check_web_ports(stack: Stack) -> list[Finding]:
    """patterns/traefik.md: web UIs are reached through Traefik, never on a host port."""
    findings = []
    for name, svc in stack.services().items():
        if TRAEFIK_IMAGE.search(str(svc.get("image", ""))) or stack.exemption(name, "web-port-published"):
            continue
        labels = stack.labels(name)
        routed = [int(v) for k, v in labels.items() if SERVICE_PORT_LABEL.match(k) and v.isdigit()]
        ports = set(routed) | WEB_PORTS
        for port in sorted(ports):
            for index in _publishing(stack, name, port):
                if _is_udp(stack, name, index):
                    continue
                why = "the port Traefik routes to" if port in routed else "a web port"
                findings.append(stack.finding(
                    "web-port-published", f"service {name!r} publishes {why} ({port}) on the host, "
                                          "bypassing Traefik, TLS and Authentik",
                    "remove the `ports:` entry and route it with the Traefik labels (or label "
                    "homelab.exempt.web-port-published with the reason)",
                    line=stack.line("services", name, "ports", index)))
    return findings


def _is_udp(stack: Stack, name: str, index: int) -> bool:
    entry = stack.services()[name].get("ports", [])[index]
    if isinstance(entry, dict):
        return str(entry.get("protocol", "tcp")).lower() == "udp"
    return str(entry).lower().endswith("/udp")


PORTAINER_ENV_FILE = "stack.env"


def check_portainer_paths(stack: Stack) -> list[Finding]:
    """patterns/stack-layout.md rule 5: paths that exist in Portainer's clone of the repository."""
    findings = []
    for name, svc in stack.services().items():
        mounts = svc.get("volumes")
        for index, mount in enumerate(mounts if isinstance(mounts, list) else []):
            source = str(mount.get("source", "")) if isinstance(mount, dict) and mount.get("type") == "bind" else \
                str(mount).split(":")[0] if isinstance(mount, str) else ""
            if not source.startswith("."):
                continue
            if ".." in source.split("/") or "$" in source or (stack.dir / source).exists():
                continue  # climbing out is the bind-mounts rule's finding
            problem = (f"bind source {source!r} is not committed in the stack directory (Docker would create "
                       "an empty directory in its place)")
            findings.append(stack.finding("portainer-paths", f"service {name!r}: {problem}",
                                          f"commit {source} in stacks/{stack.slug}/ or use a named volume",
                                          line=stack.line("services", name, "volumes", index)))
        env_files = svc.get("env_file")
        entries = env_files if isinstance(env_files, list) else [env_files] if env_files else []
        for index, entry in enumerate(entries):
            path = str(entry.get("path", "")) if isinstance(entry, dict) else str(entry)
            if path.removeprefix("./") != PORTAINER_ENV_FILE:
                findings.append(stack.finding(
                    "portainer-paths", f"service {name!r}: env_file {path!r} is not in Portainer's clone",
                    f"use env_file: {PORTAINER_ENV_FILE} (Portainer writes it from the stack's variables), or "
                    "pass each variable under environment:",
                    line=stack.line("services", name, "env_file", index) or stack.line("services", name, "env_file")))
    return findings


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def check_backup(stack: Stack) -> list[Finding]:
    findings = []
    top = stack.data.get("volumes")
    declared = {str(k): v for k, v in top.items()} if isinstance(top, dict) else {}
    owned = [k for k, v in declared.items() if not (isinstance(v, dict) and v.get("external"))]
    listed: dict[str, tuple[str, str]] = {}
    for name in stack.services():
        for key in ("backup.restic.volumes", "backup.restic.exclude"):
            for volume in _split(stack.labels(name).get(key, "")):
                listed[volume] = (name, key)
    for volume, (service, key) in sorted(listed.items()):
        if volume not in declared:
            findings.append(stack.finding("restic-backup", f"label {key} on {service!r} names {volume!r}, "
                                                           "which is not a top-level volume",
                                          "list only volumes declared under top-level `volumes:`",
                                          line=stack.label_line(service, key)))
    for volume in owned:
        if volume not in listed:
            findings.append(stack.finding(
                "restic-backup", f"named volume {volume!r} is not listed for backup",
                f"add {volume} to label backup.restic.volumes (or backup.restic.exclude for caches)",
                line=stack.line("volumes", volume)))
    for name, svc in stack.services().items():
        mounts = svc.get("volumes")
        for index, mount in enumerate(mounts if isinstance(mounts, list) else []):
            problem = _bind_problem(mount)
            if problem:
                findings.append(stack.finding(
                    "bind-mounts", f"service {name!r}: {problem}",
                    "use a named volume (listed in backup.restic.volumes) for data; bind only "
                    "read-only files or paths under the stack directory (./...)",
                    line=stack.line("services", name, "volumes", index)))
    return findings


def _bind_problem(mount: object) -> str:
    if isinstance(mount, dict):
        if mount.get("type") != "bind":
            return ""
        source, read_only = str(mount.get("source", "")), bool(mount.get("read_only"))
    else:
        parts = str(mount).split(":")
        source = parts[0]
        if len(parts) < 2 or not source.startswith(("/", ".", "~", "$")):
            return ""  # anonymous or named volume
        read_only = len(parts) >= 3 and "ro" in parts[2].split(",")
    inside = source.startswith("./") and ".." not in source.split("/")
    if inside:
        return ""
    if read_only and source.startswith(SAFE_READONLY_BINDS + ("/",)):
        return ""
    return f"writable bind mount of {source!r} outside the stack directory"


def check_env(stack: Stack) -> list[Finding]:
    findings = []
    sample_file = stack.dir / ".env.sample"
    sample = stack.env_sample
    used = referenced_variables(stack)
    if sample is not None:
        for line in sample.bad_lines:
            findings.append(stack.finding("env-documented", "line is not NAME=value or a # comment",
                                          "write one NAME=value per line", line=line, file=sample_file))
        for name, path in sorted(used.items()):
            if name not in sample.values:
                findings.append(stack.finding("env-documented", f"${{{name}}} is not documented in .env.sample",
                                              f"add a comment and {name}=<example> to .env.sample",
                                              line=stack.line(*path)))
        for name, value in sorted(sample.values.items()):
            if is_secret_name(name) and value:
                findings.append(stack.finding(
                    "env-secret", f"{name} has a value in .env.sample",
                    f"leave it empty ({name}=) and set the real value in Portainer; placeholders such as "
                    "'changeme' are refused because they deploy as a working password",
                    line=sample.lines[name], file=sample_file))
            if name not in used:
                findings.append(stack.finding("env-documented", f"{name} is not used by the compose file",
                                              "remove it from .env.sample", line=sample.lines[name],
                                              file=sample_file, severity=WARNING))
    for path, text in yamldoc.strings(stack.data):
        for match in DEFAULTED.finditer(text):
            if is_secret_name(match["name"]) or match["default"].strip().lower() in PLACEHOLDER_SECRETS:
                findings.append(stack.finding(
                    "env-secret", f"${{{match['name']}{match['op']}{match['default']}}} deploys a default secret "
                                  "when the variable is unset",
                    f"use ${{{match['name']}:?set {match['name']}}} so the stack refuses to start without it",
                    line=stack.line(*path)))
    if sample is not None:
        for name, value in sorted(sample.values.items()):
            if not is_secret_name(name) and value.strip().lower() in PLACEHOLDER_SECRETS:
                findings.append(stack.finding(
                    "env-secret", f"{name}={value} in .env.sample is a placeholder that deploys as a real value",
                    f"leave it empty ({name}=) or give a real, non-secret example",
                    line=sample.lines[name], file=sample_file))
    for name in stack.services():
        for var, (env_value, path) in stack.environment(name).items():
            if env_value and "$" not in env_value and env_value.strip().lower() in PLACEHOLDER_SECRETS \
                    and not is_secret_name(var):
                findings.append(stack.finding(
                    "env-secret", f"service {name!r}: {var} is set to the placeholder {env_value!r}",
                    f"use {var}: ${{{var}:?set {var}}} and document it in .env.sample",
                    line=stack.line(*path)))
            if is_secret_name(var) and env_value and "$" not in env_value:
                findings.append(stack.finding(
                    "env-secret", f"service {name!r}: {var} is set to a literal value",
                    f"use {var}: ${{{var}:?set {var}}} and leave {var}= empty in .env.sample",
                    line=stack.line(*path)))
    return findings


APP_RULES: tuple[Callable[[Stack], list[Finding]], ...] = (
    check_layout, check_images, check_runtime, check_traefik, check_web_ports, check_prometheus, check_backup,
    check_env, check_portainer_paths,
)
