"""`playbook scaffold stack`: write a compose stack that already follows every pattern.

The output is a pure function of the inputs (same arguments, same bytes), so a scaffold
can be regenerated and diffed, and `playbook check` passes on it with zero errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playbook.checks.recipes import documented_settings
from playbook.checks.rules_apps import SLUG, SLUG_MAX, image_problem, is_secret_name
from playbook.errors import StateError, ValidationError
from playbook.planning.prompts import render_package_template

IMAGE = re.compile(r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9][a-z0-9._/-]*"
                   r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
# [host address:][host port:]container port[/proto]; the address may come from a variable.
PUBLISHED_PORT = re.compile(r"^(?:(?:(?:\d{1,3}\.){3}\d{1,3}|\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?::\?[^}]*)?\}):)?"
                            r"(?:\d{1,5}:)?\d{1,5}(?:/(?:tcp|udp))?$")
VOLUME = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]*):(?P<target>/[A-Za-z0-9._/@+-]*)(?::(?P<mode>ro|rw))?$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Pi-hole v6 reads FTLCONF_<section>_<setting> with the setting's own camelCase (FTLCONF_dns_upstreams).
FTLCONF_NAME = re.compile(r"^FTLCONF_[A-Za-z][A-Za-z0-9_]*$")
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


def env_name_ok(name: object) -> bool:
    """UPPER_SNAKE_CASE, a Pi-hole FTLCONF_ name, or a setting a service recipe documents."""
    return isinstance(name, str) and name not in RESERVED_ENV and bool(
        ENV_NAME.fullmatch(name) or FTLCONF_NAME.fullmatch(name) or name in documented_settings())


def _env_problems(environment: dict[str, str], label: str) -> list[str]:
    problems = []
    for name, value in environment.items():
        if not env_name_ok(name):
            problems.append(f"{label} name {name!r} is not UPPER_SNAKE_CASE, an FTLCONF_ setting or a setting "
                            "documented in patterns/services/, or is reserved (TZ, SERVICE_HOST)")
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


def _options_problems(settings: dict[str, str], host_variables: dict[str, str], extra_ports: list[str],
                      environment: dict[str, str], image_healthcheck: str | None, backup_pre: str | None) -> list[str]:
    problems = _env_problems(settings, "setting") + _env_problems(host_variables, "host variable")
    problems += [f"setting {name} looks like a secret: pass it in environment (it stays empty in .env.sample)"
                 for name in settings if is_secret_name(name)]
    problems += [f"{name} is given twice (environment, settings, host variables)" for name in
                 sorted(set(settings) & set(environment) | set(host_variables) & (set(environment) | set(settings)))]
    for port in extra_ports:
        match = PUBLISHED_PORT.fullmatch(port)
        if match and match["var"] and match["var"] not in host_variables:
            problems.append(f"extra port {port!r} uses ${{{match['var']}}}: pass it in host_variables so "
                            ".env.sample documents it")
    for label, text in (("image healthcheck reason", image_healthcheck), ("backup pre-command", backup_pre)):
        if text is not None and (not text.strip() or "\n" in text or "\r" in text or "$" in text):
            problems.append(f"{label} {text!r} must be one line, non-empty, without '$' (Compose interpolates it)")
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
    settings: dict[str, str] | None = None,
    host_variables: dict[str, str] | None = None,
    image_healthcheck: str | None = None,
    backup_pre: str | None = None,
    shared_volumes: list[str] | None = None,
) -> dict[str, str]:
    """File name -> content for stacks/<service>/, without touching the disk.

    ``exporter`` ({"image", "port", "environment", optional "healthcheck"}) adds a
    `<service>-exporter` sidecar for an application that serves no metrics itself: it carries the
    prometheus.io/* labels on the proxy network, is never routed or published, and reaches the
    application at http://<service>.

    ``settings`` are fixed, non-secret values written into the compose file itself (a recipe's
    required values, e.g. FTLCONF_dns_listeningMode: ALL); ``host_variables`` are documented in
    .env.sample for Compose to interpolate (e.g. DNS_BIND_ADDRESS in a port) without reaching the
    container. ``image_healthcheck`` is the reason to keep the image's own HEALTHCHECK instead of
    an HTTP probe; ``backup_pre`` the consistent-dump command (label backup.restic.pre).
    """
    validate_service(service)
    extra_ports = list(extra_ports or [])
    volumes = list(volumes or [])
    environment = dict(environment or {})
    settings = dict(settings or {})
    host_variables = dict(host_variables or {})
    _validate(image, port, extra_ports, metrics_port, volumes, environment, health_path, exporter)
    problems = _options_problems(settings, host_variables, extra_ports, environment, image_healthcheck, backup_pre)
    if problems:
        raise ValidationError("cannot scaffold the stack:", problems=problems,
                              fix="correct the listed arguments (see patterns/services/ for each service's settings)")

    variables = _variables(environment)
    volume_names = sorted({VOLUME.fullmatch(v)["name"] for v in volumes})  # type: ignore[index]
    # Volumes another change provides (e.g. an NFS-backed `media` volume the infra story creates on the
    # host): declared `external`, mounted, and not this stack's to back up (patterns/restic-backup.md, rule 2).
    shared = list(shared_volumes or [])
    bad_shared = [v for v in shared if not VOLUME.fullmatch(v)]
    if bad_shared:
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
    if image_healthcheck is not None:
        labels.append(("homelab.exempt.healthcheck", _q(image_healthcheck)))
    if volume_names:
        labels.append(("backup.restic.volumes", ",".join(volume_names)))
        backup_note = f"Restic backs up the named volumes {', '.join(f'`{v}`' for v in volume_names)}."
        if backup_pre is not None:
            labels.append(("backup.restic.pre", _q(backup_pre)))
            backup_note += (" Before each run the backup job executes the `backup.restic.pre` command in the "
                            "container, so the databases are copied consistently, not mid-write.")
    else:
        backup_note = "stateless: no named volumes, nothing to back up."
    common = dict(service=service, image=image, port=port, variables=variables, extra_ports=extra_ports,
                  exporter=sidecar, host_variables=sorted(host_variables.items()),
                  settings=sorted(settings.items()))
    return {
        "docker-compose.yml": render_package_template(
            "stack/docker-compose.yml.j2", **common,
            environment=_env_lines(variables) + [(name, _q(value)) for name, value in sorted(settings.items())],
            ports=[_q(p) for p in extra_ports], volumes=volumes + shared, volume_names=volume_names,
            shared_names=shared_names,
            healthcheck=None if image_healthcheck is not None else _healthcheck(port, health_path), labels=labels),
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
