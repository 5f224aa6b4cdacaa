"""`playbook scaffold stack`: write a compose stack that already follows every pattern.

The output is a pure function of the inputs (same arguments, same bytes), so a scaffold
can be regenerated and diffed, and `playbook check` passes on it with zero errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playbook.checks.rules_apps import SLUG, SLUG_MAX, image_problem, is_secret_name
from playbook.errors import StateError, ValidationError
from playbook.planning.prompts import render_package_template

IMAGE = re.compile(r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9][a-z0-9._/-]*"
                   r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
PUBLISHED_PORT = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}:)?(?:\d{1,5}:)?\d{1,5}(?:/(?:tcp|udp))?$")
VOLUME = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]*):(?P<target>/[A-Za-z0-9._/@+-]*)(?::(?P<mode>ro|rw))?$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
RESERVED_ENV = frozenset({"TZ", "SERVICE_HOST"})
SSO_MIDDLEWARE = "authentik@file"
EXPORTER_KEYS = frozenset({"image", "port", "environment", "healthcheck"})
EXPORTER_NO_SHELL = ("exporter images are often scratch builds without a shell; "
                     "Prometheus' up metric for this target is its health signal")


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


def _port_problem(label: str, value: object) -> list[str]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536):
        return [f"{label} {value!r} is not a TCP port (1-65535)"]
    return []


def _image_problems(label: str, image: object) -> list[str]:
    if not isinstance(image, str) or not IMAGE.fullmatch(image):
        return [f"{label} {image!r} is not an image reference"]
    if image_problem(image):
        return [f"{label} {image!r} {image_problem(image)}"]
    return []


def _env_problems(environment: dict[str, str], label: str) -> list[str]:
    problems = []
    for name, value in environment.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name) or name in RESERVED_ENV:
            problems.append(f"{label} name {name!r} is not UPPER_SNAKE_CASE or is reserved (TZ, SERVICE_HOST)")
        if "\n" in str(value) or "\r" in str(value):
            problems.append(f"{label} value for {name} contains a line break")
    return problems


def _exporter_problems(exporter: object, metrics_port: int | None, environment: dict[str, str]) -> list[str]:
    if not isinstance(exporter, dict):
        return [f"exporter {exporter!r} is not a mapping with image, port and environment"]
    problems = [f"exporter key {key!r} is unknown (use {', '.join(sorted(EXPORTER_KEYS))})"
                for key in sorted(map(str, exporter)) if key not in EXPORTER_KEYS]
    if "image" not in exporter or "port" not in exporter:
        problems.append("exporter needs both image and port")
    problems += _image_problems("exporter image", exporter.get("image", ""))
    problems += _port_problem("exporter port", exporter.get("port"))
    env = exporter.get("environment") or {}
    if not isinstance(env, dict):
        return problems + [f"exporter environment {env!r} is not a NAME -> value mapping"]
    problems += _env_problems(env, "exporter environment")
    problems += [f"exporter environment {name} is {env[name]!r} but the main service's is {environment[name]!r}"
                 f" (one .env.sample line serves both)"
                 for name in sorted(set(env) & set(environment), key=str) if str(env[name]) != str(environment[name])]
    if not isinstance(exporter.get("healthcheck", False), bool):
        problems.append("exporter healthcheck must be true (the image has a shell) or false")
    if metrics_port is not None:
        problems.append("pass metrics_port when the application serves /metrics itself, or an exporter when it "
                        "does not, not both (patterns/prometheus.md)")
    return problems


def _validate(image: str, port: int, extra_ports: list[str], metrics_port: int | None,
              volumes: list[str], environment: dict[str, str], health_path: str,
              exporter: dict[str, Any] | None) -> None:
    problems = _image_problems("image", image)
    problems += _port_problem("port", port) + _port_problem("metrics port", metrics_port)
    problems += [f"extra port {p!r} is not [ip:][host:]container[/tcp|udp]" for p in extra_ports
                 if not PUBLISHED_PORT.fullmatch(p)]
    problems += [f"volume {v!r} is not name:/container/path[:ro]" for v in volumes if not VOLUME.fullmatch(v)]
    problems += _env_problems(environment, "environment")
    if not HEALTH_PATH.fullmatch(health_path):
        problems.append(f"health path {health_path!r} is not an absolute URL path")
    if exporter is not None:
        problems += _exporter_problems(exporter, metrics_port, environment)
    if problems:
        raise ValidationError("cannot scaffold the stack:", problems=problems,
                              fix="correct the listed arguments (see patterns/stack-layout.md and "
                                  "patterns/prometheus.md)")


def _variables(environment: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(name, .env.sample value, is secret), sorted so the output does not depend on dict order."""
    return [(name, str(environment[name]), is_secret_name(name)) for name in sorted(environment)]


def _env_lines(variables: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
    """Compose `environment:` entries: TZ, then every variable (secrets with the failing `:?` form)."""
    return [("TZ", _q("${TZ}"))] + [
        (name, _q(f"${{{name}:?set {name}}}" if secret else f"${{{name}}}")) for name, _, secret in variables]


def _scrape_labels(metrics_port: int) -> list[tuple[str, str]]:
    return [("prometheus.io/scrape", _q("true")), ("prometheus.io/port", _q(str(metrics_port))),
            ("prometheus.io/path", "/metrics")]


def _healthcheck(port: int, path: str) -> str:
    probe = f"http://127.0.0.1:{port}{path}"
    return f"[\"CMD-SHELL\", {_q(f'curl -fsS -o /dev/null {probe} || wget -q -O /dev/null {probe} || exit 1')}]"


def _exporter_context(service: str, exporter: dict[str, Any], main_env: dict[str, str]) -> dict[str, Any]:
    """Template values for the `<service>-exporter` sidecar (patterns/prometheus.md, rule 3)."""
    env = {str(k): str(v) for k, v in (exporter.get("environment") or {}).items()}
    variables = _variables(env)
    labels = _scrape_labels(exporter["port"])
    healthcheck = None
    if exporter.get("healthcheck", False):
        healthcheck = _healthcheck(exporter["port"], "/metrics")
    else:
        labels.append(("homelab.exempt.healthcheck", _q(EXPORTER_NO_SHELL)))
    return dict(name=f"{service}-exporter", image=exporter["image"], port=exporter["port"],
                environment=_env_lines(variables), labels=labels, healthcheck=healthcheck,
                variables=[v for v in variables if v[0] not in main_env])


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
    exporter: dict[str, Any] | None = None,
    shared_volumes: list[str] | None = None,
) -> dict[str, str]:
    """File name -> content for stacks/<service>/, without touching the disk.

    ``exporter`` ({"image", "port", "environment", optional "healthcheck"}) adds a
    `<service>-exporter` sidecar for an application that serves no metrics itself: it carries the
    prometheus.io/* labels on the proxy network, is never routed or published, and reaches the
    application at http://<service>.
    """
    validate_service(service)
    extra_ports = list(extra_ports or [])
    volumes = list(volumes or [])
    environment = dict(environment or {})
    _validate(image, port, extra_ports, metrics_port, volumes, environment, health_path, exporter)

    variables = _variables(environment)
    volume_names = sorted({VOLUME.fullmatch(v)["name"] for v in volumes})  # type: ignore[index]
    # Volumes another change provides (e.g. an NFS-backed `media` volume the infra story creates on the
    # host): declared `external`, mounted, and not this stack's to back up (patterns/restic-backup.md, rule 2).
    shared = list(shared_volumes or [])
    bad_shared = [v for v in shared if not VOLUME.fullmatch(v)]
    if bad_shared:
        from playbook.errors import ValidationError

        raise ValidationError(f"shared volume {bad_shared[0]!r} is not name:/path", fix="e.g. media:/data")
    shared_names = sorted({VOLUME.fullmatch(v)["name"] for v in shared})  # type: ignore[index]
    sidecar = _exporter_context(service, exporter, environment) if exporter is not None else None
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
        labels += _scrape_labels(metrics_port)
        metrics_note = f"Prometheus scrapes `:{metrics_port}/metrics` (labels `prometheus.io/*`)."
    elif sidecar is not None:
        metrics_note = (f"the `{sidecar['name']}` sidecar (`{sidecar['image']}`) reads the application at "
                        f"`http://{service}` and serves `:{sidecar['port']}/metrics` on the `proxy` network, "
                        "where Prometheus scrapes it (labels `prometheus.io/*` on the sidecar). It is neither "
                        "routed by Traefik nor published on the host.")
    else:
        labels.append(("homelab.exempt.prometheus-metrics", _q("the image serves no metrics endpoint")))
        metrics_note = ("none: the image serves no metrics endpoint (label "
                        "`homelab.exempt.prometheus-metrics`); add an exporter sidecar to change that.")
    if volume_names:
        labels.append(("backup.restic.volumes", ",".join(volume_names)))
        backup_note = f"Restic backs up the named volumes {', '.join(f'`{v}`' for v in volume_names)}."
    else:
        backup_note = "stateless: no named volumes, nothing to back up."
    common = dict(service=service, image=image, port=port, variables=variables, extra_ports=extra_ports,
                  exporter=sidecar)
    return {
        "docker-compose.yml": render_package_template(
            "stack/docker-compose.yml.j2", **common, environment=_env_lines(variables),
            ports=[_q(p) for p in extra_ports], volumes=volumes + shared, volume_names=volume_names,
            shared_names=shared_names,
            healthcheck=_healthcheck(port, health_path), labels=labels),
        ".env.sample": render_package_template(
            "stack/env.sample.j2", **common, service_host=f"{service}.example.com"),
        "README.md": render_package_template(
            "stack/README.md.j2", **common, auth_note=auth_note, metrics_note=metrics_note,
            backup_note=backup_note),
    }


def scaffold_stack(dest_root: Path, service: str, *, overwrite: bool = False, **options: Any) -> list[Path]:
    """Write stacks/<service>/{docker-compose.yml,.env.sample,README.md} under dest_root.

    ``options`` are those of ``render_stack``. Existing files with other content are left
    alone unless overwrite is set.
    """
    files = render_stack(service, **options)
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
