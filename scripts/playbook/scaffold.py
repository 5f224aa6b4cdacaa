"""`playbook scaffold stack`: write a compose stack that already follows every pattern.

The output is a pure function of the inputs (same arguments, same bytes), so a scaffold
can be regenerated and diffed, and `playbook check` passes on it with zero errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from playbook.checks.rules_apps import SLUG, SLUG_MAX, image_problem, is_secret_name
from playbook.errors import StateError, ValidationError
from playbook.prompts import render_package_template

IMAGE = re.compile(r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9][a-z0-9._/-]*"
                   r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
PUBLISHED_PORT = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}:)?(?:\d{1,5}:)?\d{1,5}(?:/(?:tcp|udp))?$")
VOLUME = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]*):(?P<target>/[A-Za-z0-9._/@+-]*)(?::(?P<mode>ro|rw))?$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
RESERVED_ENV = frozenset({"TZ", "SERVICE_HOST"})
SSO_MIDDLEWARE = "authentik@file"


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def validate_service(service: str) -> str:
    if not isinstance(service, str) or not SLUG.fullmatch(service) or len(service) > SLUG_MAX:
        raise ValidationError(
            f"invalid service name {service!r}",
            fix=f"use a <category>-<app> slug: lowercase letters and digits joined by '-', e.g. dns-pihole "
                f"(at most {SLUG_MAX} characters)")
    return service


def _validate(image: str, port: int, extra_ports: list[str], metrics_port: int | None,
              volumes: list[str], environment: dict[str, str], health_path: str) -> None:
    problems = []
    if not IMAGE.fullmatch(image):
        problems.append(f"image {image!r} is not an image reference")
    elif image_problem(image):
        problems.append(f"image {image!r} {image_problem(image)}")
    for label, value in (("port", port), ("metrics port", metrics_port)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536):
            problems.append(f"{label} {value!r} is not a TCP port (1-65535)")
    problems += [f"extra port {p!r} is not [ip:][host:]container[/tcp|udp]" for p in extra_ports
                 if not PUBLISHED_PORT.fullmatch(p)]
    problems += [f"volume {v!r} is not name:/container/path[:ro]" for v in volumes if not VOLUME.fullmatch(v)]
    for name, value in environment.items():
        if not ENV_NAME.fullmatch(name) or name in RESERVED_ENV:
            problems.append(f"environment name {name!r} is not UPPER_SNAKE_CASE or is reserved (TZ, SERVICE_HOST)")
        if "\n" in str(value) or "\r" in str(value):
            problems.append(f"environment value for {name} contains a line break")
    if not HEALTH_PATH.fullmatch(health_path):
        problems.append(f"health path {health_path!r} is not an absolute URL path")
    if problems:
        raise ValidationError("cannot scaffold the stack:", problems=problems,
                              fix="correct the listed arguments (see patterns/stack-layout.md)")


def render_stack(
    service: str,
    *,
    image: str,
    port: int,
    extra_ports: list[str] | None = None,
    metrics_port: int | None = None,
    sso: bool = True,
    volumes: list[str] | None = None,
    environment: dict[str, str] | None = None,
    health_path: str = "/",
) -> dict[str, str]:
    """File name -> content for stacks/<service>/, without touching the disk."""
    validate_service(service)
    extra_ports = list(extra_ports or [])
    volumes = list(volumes or [])
    environment = dict(environment or {})
    _validate(image, port, extra_ports, metrics_port, volumes, environment, health_path)

    names = sorted(environment)
    variables = [(name, str(environment[name]), is_secret_name(name)) for name in names]
    env_lines = [("TZ", _q("${TZ}"))] + [
        (name, _q(f"${{{name}:?set {name}}}" if secret else f"${{{name}}}")) for name, _, secret in variables]
    volume_names = sorted({VOLUME.fullmatch(v)["name"] for v in volumes})  # type: ignore[index]
    router = f"traefik.http.routers.{service}"
    labels = [
        ("traefik.enable", _q("true")),
        ("traefik.docker.network", "proxy"),
        (f"{router}.rule", _q("Host(`${SERVICE_HOST}`)")),
        (f"{router}.entrypoints", "websecure"),
        (f"{router}.tls.certresolver", "letsencrypt"),
    ]
    if sso:
        labels.append((f"{router}.middlewares", SSO_MIDDLEWARE))
        auth_note = f"Authentik forward-auth (`{SSO_MIDDLEWARE}` middleware) in front of every request."
    else:
        labels.append(("homelab.exempt.authentik-forward-auth", _q("the application enforces its own login")))
        auth_note = ("no Authentik forward-auth: the application enforces its own login "
                     "(label `homelab.exempt.authentik-forward-auth`).")
    labels.append((f"traefik.http.services.{service}.loadbalancer.server.port", _q(str(port))))
    if metrics_port is not None:
        labels += [("prometheus.io/scrape", _q("true")), ("prometheus.io/port", _q(str(metrics_port))),
                   ("prometheus.io/path", "/metrics")]
        metrics_note = f"Prometheus scrapes `:{metrics_port}/metrics` (labels `prometheus.io/*`)."
    else:
        labels.append(("homelab.exempt.prometheus-metrics", _q("the image serves no metrics endpoint")))
        metrics_note = ("none: the image serves no metrics endpoint (label "
                        "`homelab.exempt.prometheus-metrics`); add an exporter sidecar to change that.")
    if volume_names:
        labels.append(("backup.restic.volumes", ",".join(volume_names)))
        backup_note = f"Restic backs up the named volumes {', '.join(f'`{v}`' for v in volume_names)}."
    else:
        backup_note = "stateless: no named volumes, nothing to back up."
    probe = f"http://127.0.0.1:{port}{health_path}"
    healthcheck = _q(f"curl -fsS -o /dev/null {probe} || wget -q -O /dev/null {probe} || exit 1")
    common = dict(service=service, image=image, port=port, variables=variables, extra_ports=extra_ports)
    return {
        "docker-compose.yml": render_package_template(
            "stack/docker-compose.yml.j2", **common, environment=env_lines,
            ports=[_q(p) for p in extra_ports], volumes=volumes, volume_names=volume_names,
            healthcheck=f"[\"CMD-SHELL\", {healthcheck}]", labels=labels),
        ".env.sample": render_package_template(
            "stack/env.sample.j2", **common, service_host=f"{service}.example.com"),
        "README.md": render_package_template(
            "stack/README.md.j2", **common, auth_note=auth_note, metrics_note=metrics_note,
            backup_note=backup_note),
    }


def scaffold_stack(
    dest_root: Path,
    service: str,
    *,
    image: str,
    port: int,
    extra_ports: list[str] | None = None,
    metrics_port: int | None = None,
    sso: bool = True,
    volumes: list[str] | None = None,
    environment: dict[str, str] | None = None,
    health_path: str = "/",
    overwrite: bool = False,
) -> list[Path]:
    """Write stacks/<service>/{docker-compose.yml,.env.sample,README.md} under dest_root.

    Existing files with other content are left alone unless overwrite is set.
    """
    files = render_stack(service, image=image, port=port, extra_ports=extra_ports, metrics_port=metrics_port,
                         sso=sso, volumes=volumes, environment=environment, health_path=health_path)
    stack_dir = Path(dest_root) / "stacks" / service
    changed = [name for name, text in files.items()
               if (stack_dir / name).exists() and (stack_dir / name).read_text(encoding="utf-8") != text]
    if changed and not overwrite:
        raise StateError(f"{stack_dir} already holds different {', '.join(changed)}",
                         fix="pass --force to overwrite, or choose another service name")
    stack_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = stack_dir / name
        target.write_text(text, encoding="utf-8", newline="\n")
        written.append(target)
    return written
